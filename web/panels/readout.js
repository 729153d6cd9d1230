// The status line: the pixel under the cursor (or the crosshair) with its value, CCD, plane and sky
// position, and the zoom. One request is in flight at a time and the latest position wins. The sky
// system and format are a preference of this browser, kept across pages.
import { $ } from '../ui.js';
import { formatWorld, formatValue, fmtSpectral, fmtZoom } from '../lib/format.js';

export function mountReadout({ store, map, session, place, STATIC }) {
  const st = () => store.get();
  const zoomText = () => `  zoom ${fmtZoom(place.zoomFactor())}`;
  const skyWanted = () => ({ system: $('sky-system').value, format: $('sky-format').value });
  const mark = (ix, iy) => { $('status').dataset.x = ix; $('status').dataset.y = iy; };

  /** The standalone page's readout: position and sky from tiles.json, no values (tiles are colours). */
  function staticReadout(pos) {
    const { src, world } = st();
    const ix = Math.round(pos.x); const iy = Math.round(pos.y);
    const inside = ix >= 1 && iy >= 1 && ix <= src.width && iy <= src.height;
    let text = `x ${ix}  y ${iy}  value ${inside ? 'n/a' : '—'}`;
    if (world) text += formatWorld(world(pos.x, pos.y));
    $('status').textContent = text + zoomText();
    mark(ix, iy);
  }
  let inflight = false;
  let pendingPos = null;
  async function readout(pos) {
    if (STATIC) { staticReadout(pos); return; }
    if (inflight) { pendingPos = pos; return; }
    inflight = true;
    try {
      const src = st().src;
      const r = await session.call('image.pixels', { ...place.here(), points: [[pos.x, pos.y]], sky: skyWanted() });
      const p = r.pixels[0];
      const ix = Math.round(p.x); const iy = Math.round(p.y);
      const value = p.value == null ? (p.outside ? '—' : p.ccd === null ? 'none' : 'NaN')
        : (p.text ?? formatValue(p.value, src.bitpix));
      let text = `x ${ix}  y ${iy}  value ${value}${src.bunit ? ` ${src.bunit}` : ''}`;
      if (p.ccd !== undefined) text += p.ccd ? `  ${p.ccd.name} [${Math.round(p.ccd.x)}, ${Math.round(p.ccd.y)}]` : '  (gap)';
      if (src.planes > 1) text += `  plane ${src.plane}${src.spectral ? ` ${src.spectral.ctype} ${fmtSpectral(src.spectral)}` : ''}`;
      if (p.sky) text += `  ${p.sky.names[0]} ${p.sky.lon_text} ${p.sky.names[1]} ${p.sky.lat_text} (${p.sky.frame})`;
      else if (p.world) text += `  (a ${p.world.frame} position has no ${skyWanted().system} coordinates here)`;
      $('status').textContent = text + zoomText();
      mark(ix, iy);
    } catch (e) {
      $('status').textContent = e.message;
    } finally {
      inflight = false;
      if (pendingPos) { const p = pendingPos; pendingPos = null; readout(p); }
    }
  }
  map.on('mousemove', (e) => {
    if (st().src && !st().crosshair) store.update({ cursor: place.toFits(e.latlng) }, 'cursor');
  });
  store.subscribe((s) => { if (s.src && s.cursor) readout(s.cursor); }, ['cursor']);
  // The readout follows the mouse; until it moves, say what the line will show (another plane of the
  // same cube reads out where the cursor or crosshair is).
  store.subscribe((s, prev, action) => {
    if (action !== 'open' || s.crosshair) return;
    const same = prev.src?.path === s.src.path && prev.src.selector === s.src.selector;
    if (same && s.cursor) readout(s.cursor);
    else $('status').textContent = `${s.src.path}: move over the image for its pixel values${s.src.wcs ? ' and sky coordinates' : ''}.`;
  }, ['src']);

  try {
    const saved = JSON.parse(localStorage.getItem('toyz.sky') || '{}');
    if (saved.system) $('sky-system').value = saved.system;
    if (saved.format) $('sky-format').value = saved.format;
  } catch { /* a bad stored value: the defaults */ }
  for (const id of ['sky-system', 'sky-format']) {
    $(id).onchange = () => {
      localStorage.setItem('toyz.sky', JSON.stringify(skyWanted()));
      if (st().src && st().cursor) readout(st().cursor);
    };
  }
}
