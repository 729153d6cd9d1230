// Navigation aids of the viewer, as DS9 has them: a panner (the whole image small, with the view's box;
// click or drag in it to move the view), a magnifier (the screen around the cursor, ×4 or ×8, drawn from
// the tiles already shown), a crosshair that the arrow keys move one image pixel at a time with the
// readout following it, and the keyboard shortcuts with the `?` overlay that lists them.
import * as L from './vendor/leaflet/leaflet-src.esm.js';
import { $ } from './ui.js';

export function installNav({ store, map, place, hook, STATIC }) {
  const { toFits, toLatLng } = place;
  const view = store.get;
  /** The readout is about the crosshair while it is on. */
  const readout = (pos) => store.update({ cursor: pos }, 'cursor');
  const prefs = (() => { try { return JSON.parse(localStorage.getItem('toyz.nav') || '{}'); } catch { return {}; } })();
  const savePrefs = () => localStorage.setItem('toyz.nav', JSON.stringify({
    panner: $('show-panner').checked, magnify: $('magnifier-zoom').value,
  }));
  if (prefs.panner === false) $('show-panner').checked = false;
  if (prefs.magnify) $('magnifier-zoom').value = prefs.magnify;

  // ---- panner: level 0 of the pyramid (the whole image in one tile) -------------------------------
  // The panner's longer side and the magnifier's: 160 px, less on a small map (22 % of its shorter
  // side, at least 96 px), so the two never cover much of it.
  const cornerSize = () => {
    const m = map.getSize();
    return Math.round(Math.max(96, Math.min(160, 0.22 * Math.min(m.x, m.y))));
  };
  const pan = { k: 1 };
  function pannerSource() {
    const S = cornerSize();
    const mag = $('magnifier');
    if (mag.width !== S) { mag.width = S; mag.height = S; }
    const box = $('panner');
    box.hidden = !view().src || !$('show-panner').checked;
    if (box.hidden) return;
    const s = 2 ** view().src.zmax;
    // The (oriented) image's size in tile 0/0/0.
    const w0 = (view().src.display?.width ?? view().src.width) / s; const h0 = (view().src.display?.height ?? view().src.height) / s;
    pan.k = S / Math.max(w0, h0);
    box.style.width = `${Math.round(w0 * pan.k)}px`;
    box.style.height = `${Math.round(h0 * pan.k)}px`;
    const img = $('panner-img');
    const url = view().src.tiles.replace('{z}', 0).replace('{x}', 0).replace('{y}', 0);
    if (img.getAttribute('src') !== url) img.src = url;
    img.style.width = img.style.height = `${256 * pan.k}px`;
    pannerBox();
  }
  function pannerBox() {
    if ($('panner').hidden || !map._loaded) return; // (a new image's layer comes before its view)
    const b = map.getBounds();
    const v = $('panner-view');
    v.style.left = `${b.getWest() * pan.k}px`;
    v.style.top = `${-b.getNorth() * pan.k}px`;
    v.style.width = `${(b.getEast() - b.getWest()) * pan.k}px`;
    v.style.height = `${(b.getNorth() - b.getSouth()) * pan.k}px`;
  }
  map.on('move zoom viewreset', pannerBox);
  map.on('resize', () => { if (view().src) pannerSource(); });
  const pannerTo = (e) => {
    const r = $('panner').getBoundingClientRect();
    map.panTo(L.latLng(-(e.clientY - r.top) / pan.k, (e.clientX - r.left) / pan.k), { animate: false });
  };
  $('panner').addEventListener('pointerdown', (e) => {
    if (!view().src) return;
    e.preventDefault();
    $('panner').setPointerCapture(e.pointerId);
    pannerTo(e);
  });
  $('panner').addEventListener('pointermove', (e) => { if (e.buttons & 1 && view().src) pannerTo(e); });
  $('show-panner').onchange = () => { savePrefs(); pannerSource(); };

  // ---- magnifier ------------------------------------------------------------------------------------
  let lastPoint = null; // container point the magnifier shows
  function magnify(cp) {
    lastPoint = cp;
    const box = $('magnifier-box');
    box.hidden = !view().src || $('magnifier-zoom').value === 'off';
    if (box.hidden || !cp) return;
    const cv = $('magnifier');
    const g = cv.getContext('2d');
    const M = Number($('magnifier-zoom').value);
    const W = cv.width; const span = W / M;
    g.imageSmoothingEnabled = false;
    g.fillStyle = '#000';
    g.fillRect(0, 0, W, W);
    const mr = map.getContainer().getBoundingClientRect();
    const x0 = mr.left + cp.x - span / 2; const y0 = mr.top + cp.y - span / 2;
    const tiles = view().layer?.getContainer()?.querySelectorAll('img.leaflet-tile-loaded') ?? [];
    for (const img of tiles) {
      const r = img.getBoundingClientRect();
      const ax = Math.max(x0, r.left); const bx = Math.min(x0 + span, r.right);
      const ay = Math.max(y0, r.top); const by = Math.min(y0 + span, r.bottom);
      if (bx <= ax || by <= ay) continue;
      const fx = img.naturalWidth / r.width; const fy = img.naturalHeight / r.height;
      g.drawImage(img, (ax - r.left) * fx, (ay - r.top) * fy, (bx - ax) * fx, (by - ay) * fy,
        (ax - x0) * M, (ay - y0) * M, (bx - ax) * M, (by - ay) * M);
    }
    // The image pixel under the cursor, outlined (at least a few screen pixels wide).
    const f = toFits(map.containerPointToLatLng(cp));
    const a = map.latLngToContainerPoint(toLatLng(Math.round(f.x) - 0.5, Math.round(f.y) + 0.5));
    const b = map.latLngToContainerPoint(toLatLng(Math.round(f.x) + 0.5, Math.round(f.y) - 0.5));
    const side = Math.max(4, (b.x - a.x) * M);
    const cx = W / 2 + ((a.x + b.x) / 2 - cp.x) * M; const cy = W / 2 + ((a.y + b.y) / 2 - cp.y) * M;
    g.strokeStyle = '#fd6';
    g.lineWidth = 1;
    g.strokeRect(Math.round(cx - side / 2) + 0.5, Math.round(cy - side / 2) + 0.5, Math.round(side), Math.round(side));
  }
  map.on('mousemove', (e) => { if (!cross.on) magnify(e.containerPoint); });
  // Tiles that arrive later (a zoom, a new rendering) are shown in it too.
  map.on('zoomend moveend', () => { if (lastPoint) magnify(cross.on ? crossPoint() : lastPoint); });
  const redrawSoon = () => requestAnimationFrame(() => lastPoint && magnify(cross.on ? crossPoint() : lastPoint));
  $('magnifier-zoom').onchange = () => { savePrefs(); magnify(lastPoint); };

  // ---- crosshair ------------------------------------------------------------------------------------
  const cross = { on: false, x: null, y: null, layer: L.layerGroup().addTo(map) };
  hook.crosshair = cross;
  const crossPoint = () => map.latLngToContainerPoint(toLatLng(cross.x, cross.y));
  function setCrosshair(on) {
    cross.on = on;
    store.update({ crosshair: on }, 'crosshair');
    $('crosshair').classList.toggle('on', on);
    map.getContainer().classList.toggle('crosshair', on);
    if (!on) { cross.layer.clearLayers(); return; }
    if (cross.x == null && view().src) {
      const c = toFits(map.getCenter());
      placeCross(c.x, c.y);
    } else if (view().src) placeCross(cross.x, cross.y);
  }
  function placeCross(x, y) {
    const w = view().src.width; const h = view().src.height;
    cross.x = Math.min(w, Math.max(1, Math.round(x)));
    cross.y = Math.min(h, Math.max(1, Math.round(y)));
    cross.layer.clearLayers();
    const o = { color: '#fd6', weight: 1, opacity: 0.9, interactive: false, className: 'crosshair-line' };
    L.polyline([toLatLng(0.5, cross.y), toLatLng(w + 0.5, cross.y)], o).addTo(cross.layer);
    L.polyline([toLatLng(cross.x, 0.5), toLatLng(cross.x, h + 0.5)], o).addTo(cross.layer);
    readout({ x: cross.x, y: cross.y });
    magnify(crossPoint());
  }
  map.on('click', (e) => { if (cross.on && view().src) placeCross(toFits(e.latlng).x, toFits(e.latlng).y); });
  $('crosshair').onclick = () => setCrosshair(!cross.on);
  // The arrow keys move the crosshair (before Leaflet's keyboard, which would pan the map).
  document.addEventListener('keydown', (e) => {
    if (!cross.on || !view().src || /INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) return;
    const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] }[e.key];
    if (!d) return;
    e.preventDefault();
    e.stopPropagation();
    const n = e.shiftKey ? 10 : 1;
    placeCross(cross.x + d[0] * n, cross.y + d[1] * n);
    // Keep it in view.
    const p = crossPoint(); const s = map.getSize();
    if (p.x < 0 || p.y < 0 || p.x > s.x || p.y > s.y) map.panTo(toLatLng(cross.x, cross.y), { animate: false });
  }, true);

  // ---- keyboard shortcuts: one table drives both the keys and the `?` overlay ----------------------------
  const shortcuts = [];
  /** Add a shortcut: `keys` as shown, `what` it does, and `run` (or null for keys handled elsewhere). */
  function shortcut(keys, what, run, match) {
    shortcuts.push({ keys, what, run, match: match ?? ((e) => e.key === keys) });
  }
  document.addEventListener('keydown', (e) => {
    if (/INPUT|SELECT|TEXTAREA/.test(e.target.tagName) || e.ctrlKey || e.metaKey || e.altKey) return;
    const s = shortcuts.find((k) => k.run && k.match(e));
    if (!s) return;
    e.preventDefault();
    s.run(e);
  });
  function showKeys(on) {
    const box = $('keys');
    box.hidden = !on;
    if (!on) return;
    const rows = shortcuts.map((s) => {
      const tr = document.createElement('tr');
      const k = document.createElement('td');
      for (const part of s.keys.split(' ')) { const kbd = document.createElement('kbd'); kbd.textContent = part; k.append(kbd, ' '); }
      const w = document.createElement('td');
      w.textContent = s.what;
      tr.append(k, w);
      return tr;
    });
    $('keys-list').replaceChildren(...rows);
  }
  shortcut('c', 'crosshair on/off (click places it)', () => setCrosshair(!cross.on));
  shortcut('?', 'this list of shortcuts', () => showKeys($('keys').hidden));
  shortcut('Esc', 'close this list and panels; stop drawing', () => showKeys(false), (e) => e.key === 'Escape');
  $('keys-close').onclick = () => showKeys(false);
  $('keys').onclick = (e) => { if (e.target === $('keys')) showKeys(false); };
  $('keys-open').onclick = () => showKeys(true);

  // A new image or rendering: the panner shows it, the magnifier redraws once its tiles are in.
  if (!STATIC) {
    store.subscribe(() => {
      pannerSource();
      if (view().src && cross.on) placeCross(cross.x ?? 1, cross.y ?? 1);
      redrawSoon();
    }, ['src', 'layer']);
  }
  store.subscribe(redrawSoon, ['loads']);

  return { shortcut };
}
