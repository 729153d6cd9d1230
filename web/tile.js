// Frames side by side (DS9's tile mode): the shown frame keeps the main map with every tool, in its own
// pane; each other frame gets a small map of its own in the next panes, following the main map's view
// through the frame lock (the same sky position and arcsec per screen pixel, the same pixel and zoom,
// or nothing). A click in another frame's pane shows that frame in the main map.
import * as L from './vendor/leaflet/leaflet-src.esm.js';
import { seamlessTileLayer } from './seamless.js';
import { $ } from './ui.js';

export function installTile({ store, map, session, place, actions, hook }) {
  const { fitsOf, latLngOf, boundsOf } = place;
  const view = store.get;
  const switchFrame = (i) => actions.switchFrame(i);
  const maps = new Map(); // frame index → {el, map, layer, url}
  const tile = { on: false, maps };
  hook.tile = tile;
  /** Pane rectangles (percent of the area above the status line) for n frames: 2 side by side, 3–4 in a
   * 2×2 grid. */
  function panes(n) {
    if (n <= 2) return [[0, 0, 50, 100], [50, 0, 50, 100]];
    return [[0, 0, 50, 50], [50, 0, 50, 50], [0, 50, 50, 50], [50, 50, 50, 50]];
  }
  // The area above the status line, as the main map's own CSS (inset: 0 0 var(--status-h) 0).
  const putPane = (el, [x, y, w, h]) => Object.assign(el.style, {
    left: `${x}%`, width: `${w}%`, top: `calc((100% - var(--status-h)) * ${y / 100})`,
    height: `calc((100% - var(--status-h)) * ${h / 100})`,
    right: 'auto', bottom: 'auto',
  });
  function layout() {
    const frames = view().frames.filter((f) => f?.src);
    tile.on = $('tile').checked && frames.length > 1;
    const main = $('map');
    main.classList.toggle('tiled', tile.on);
    if (!tile.on) {
      for (const m of maps.values()) { m.map.remove(); m.el.remove(); }
      maps.clear();
      main.removeAttribute('style');
      map.invalidateSize();
      return;
    }
    const n = Math.min(view().frames.length, 4);
    const rects = panes(n);
    putPane(main, rects[view().active % 4]);
    for (const [i, m] of maps) if (i >= n || i === view().active || !view().frames[i]?.src) { m.map.remove(); m.el.remove(); maps.delete(i); }
    for (let i = 0; i < n; i++) {
      if (i === view().active || !view().frames[i]?.src) continue;
      let m = maps.get(i);
      if (!m) {
        const el = document.createElement('div');
        el.className = 'tile-frame';
        el.dataset.frame = i;
        main.parentElement.append(el);
        const lm = L.map(el, { crs: L.CRS.Simple, zoomSnap: 0, attributionControl: false, zoomControl: false, minZoom: -3,
          dragging: false, scrollWheelZoom: false, doubleClickZoom: false, boxZoom: false, keyboard: false, touchZoom: false,
          fadeAnimation: false });
        const label = document.createElement('div');
        label.className = 'tile-label';
        el.append(label);
        el.addEventListener('click', () => switchFrame(Number(el.dataset.frame)));
        m = { el, map: lm, layer: null, url: null, label };
        maps.set(i, m);
      }
      m.el.dataset.frame = i;
      putPane(m.el, rects[i]);
      const f = view().frames[i];
      m.label.textContent = `${i + 1}: ${f.src.path.split('/').pop()}`;
      m.map.invalidateSize();
      if (m.url !== f.src.tiles) {
        if (m.layer) m.map.removeLayer(m.layer);
        m.layer = seamlessTileLayer(f.src.tiles, {
          tileSize: 256, minZoom: -3, maxNativeZoom: f.src.zmax, minNativeZoom: 0, maxZoom: f.src.zmax + 6,
          noWrap: true, bounds: boundsOf(f.src), keepBuffer: 2,
        }).addTo(m.map);
        m.map.setMaxZoom(f.src.zmax + 6);
        m.url = f.src.tiles;
      }
    }
    map.invalidateSize();
    follow();
  }
  // The other frames follow the main map's view through the lock.
  let followSeq = 0;
  async function follow() {
    if (!tile.on || !view().src) return;
    const seq = ++followSeq;
    const lock = view().locks.frame;
    const src = view().src;
    const c = fitsOf(src, map.getCenter());
    const zoom = map.getZoom();
    let world = null;
    if (lock === 'wcs' && src.wcs) {
      try {
        world = (await session.call('image.pixels', { path: src.path, hdu: src.selector, points: [[c.x, c.y]] })).pixels[0].world;
      } catch { world = null; }
    }
    for (const [i, m] of maps) {
      const f = view().frames[i];
      if (seq !== followSeq || !f?.src) return;
      const at = (x, y) => latLngOf(f.src, x, y);
      let p = lock === 'none' ? null : [c.x, c.y];
      let z = zoom - src.zmax + f.src.zmax;
      if (world && f.src.wcs) {
        try {
          const r = await session.call('image.sky_to_pixel', { path: f.src.path, hdu: f.src.selector, points: [[world.lon, world.lat]], frame: world.frame });
          if (r.pixels[0]) { p = r.pixels[0]; z += Math.log2(f.src.wcs.pixel_scale_arcsec / src.wcs.pixel_scale_arcsec) || 0; }
        } catch { /* the pixel lock's position then */ }
      }
      if (seq !== followSeq) return;
      if (p) m.map.setView(at(p[0], p[1]), z, { animate: false });
      else if (!m.placed) m.map.fitBounds(boundsOf(f.src), { animate: false });
      m.placed = true;
    }
    tile.followed = (tile.followed || 0) + 1;
  }
  map.on('moveend', follow);
  $('tile').onchange = () => {
    // Side by side, nothing blinks.
    if ($('tile').checked && $('blink').checked) { $('blink').checked = false; $('blink').dispatchEvent(new Event('change')); }
    layout();
  };
  // The panes follow the frames (a new one, another shown).
  store.subscribe(() => { if ($('tile').checked) queueMicrotask(layout); }, ['frames', 'active']);
}
