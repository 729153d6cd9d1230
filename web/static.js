// The standalone page written by `toyz tiles build --out`: tiles.json beside it says what the tiles are,
// and there is no server to ask (positions and TAN sky coordinates only; the tiles are colours).
import { seamlessTileLayer } from './seamless.js';
import { $, showError } from './ui.js';
import { tanWorld } from './lib/geometry.js';
import * as link from './lib/url.js';

export async function startStatic({ store, map, place }, manifest) {
  document.body.classList.add('static');
  $('conn').textContent = 'static';
  let m;
  try {
    const r = await fetch(manifest);
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    m = await r.json();
  } catch (e) {
    showError(`${manifest}: ${e.message} — serve this folder with any web server (a file:// page cannot read it)`);
    return;
  }
  const name = String(m.source.path).split(/[\\/]/).pop();
  const src = { path: name, hdu: m.source.hdu, width: m.width, height: m.height, zmax: m.zmax, wcs: m.wcs,
    bunit: m.bunit, tiles: m.layout, render: m.render, zoom: m.zoom };
  const world = tanWorld(m.wcs);
  $('status').textContent = `Move over the image for x, y${world ? ' and sky coordinates' : ''}.`;
  document.title = `${name} — toyz`;
  const info = $('static-info');
  info.hidden = false;
  const spec = Object.fromEntries(m.render.spec.split(';').map((kv) => [kv.split('=')[0], kv.slice(kv.indexOf('=') + 1)]));
  const notes = ['Pixel values need a toyz server: these tiles are colours.'];
  if (!world) {
    notes.push(m.wcs ? `Sky coordinates of a ${m.wcs.ctype.join('/')} image need a toyz server.`
      : 'No WCS in the header: no sky coordinates.');
  }
  info.innerHTML = '';
  const add = (tag, text) => { const e = document.createElement(tag); e.textContent = text; info.append(e); return e; };
  add('h3', name).className = 'name';
  add('div', `${m.width} × ${m.height} px, HDU ${m.source.hdu}, zoom ${m.zoom[0]}–${m.zoom[1]} of ${m.zmax}`);
  add('div', `stretch ${spec.stretch}, cut ${spec.cut}, cmap ${spec.cmap}${spec.invert === '1' ? ', inverted' : ''}`);
  add('div', `${(+m.render.lo).toPrecision(6)} … ${(+m.render.hi).toPrecision(6)} ${m.bunit ?? ''}`);
  for (const n of notes) add('p', n).className = 'note';
  const layer = seamlessTileLayer(m.layout, {
    tileSize: m.tile_size, minZoom: -3, maxNativeZoom: m.zoom[1], minNativeZoom: m.zoom[0], maxZoom: m.zmax + 6,
    noWrap: true, bounds: place.boundsOf(src), keepBuffer: 4,
  });
  layer.on('tileerror', () => showError('a tile failed to load: is the whole folder served?'));
  layer.addTo(map);
  map.setMaxZoom(m.zmax + 6);
  await store.update({ src, layer, world }, 'static');
  const v = link.decode(location.search);
  if (v.center?.x != null) {
    map.setView(place.toLatLng(v.center.x, v.center.y), v.zoom ?? m.zmax, { animate: false });
  } else map.fitBounds(place.bounds(), { animate: false });
}
