// Zoom: screen pixels per image pixel. One wheel notch is ×1.25 (or ÷1.25) about the cursor, applied at
// once, so notches in quick succession all count; trackpads' small steps zoom in proportion. The zoom
// menu sets exact factors. Past 1:1 pixels are drawn crisp, below it smooth.
import { $ } from '../ui.js';
import { fmtZoom } from '../lib/format.js';

const NOTCH = Math.log2(1.25);

export function mountZoom({ store, map, place, actions }) {
  const zmax = () => store.get().src.zmax;
  const zoomOf = (factor) => zmax() + Math.log2(factor);
  let wheelAnchor = null;
  $('map').addEventListener('wheel', (e) => {
    e.preventDefault();
    if (!store.get().src) return;
    const px = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaMode === 2 ? e.deltaY * 800 : e.deltaY;
    // A mouse notch is 50–120 px of delta depending on the system: one notch each; smaller steps are
    // a trackpad's, counted in proportion.
    const notches = Math.abs(px) >= 50 ? Math.sign(px) * Math.max(1, Math.round(Math.abs(px) / 100)) : px / 100;
    const z = Math.min(map.getMaxZoom(), Math.max(map.getMinZoom(), map.getZoom() - notches * NOTCH));
    // The point under the cursor is kept from the first notch of a run: Leaflet places the map on whole
    // screen pixels, and re-reading the point at each notch would add up those roundings as a drift.
    const at = map.mouseEventToContainerPoint(e);
    const a = wheelAnchor;
    const same = a && a.at.equals(at) && a.center.equals(map.getCenter()) && a.zoom === map.getZoom();
    const ll = same ? a.ll : map.containerPointToLatLng(at);
    const c = map.unproject(map.project(ll, z).subtract(at.subtract(map.getSize().divideBy(2))), z);
    map.setView(c, z, { animate: false });
    wheelAnchor = { at, ll, center: map.getCenter(), zoom: map.getZoom() };
  }, { passive: false });
  function showZoom() {
    if (!store.get().src) return;
    const f = place.zoomFactor();
    $('map').classList.toggle('crisp', f > 1.0001);
    const sel = $('zoom');
    const exact = [...sel.options].find((o) => o.value !== 'fit' && o.value !== 'now'
      && Math.abs(Math.log2(Number(o.value)) - Math.log2(f)) < 1e-6);
    const now = sel.querySelector('option[value=now]');
    now.hidden = !!exact;
    now.textContent = fmtZoom(f);
    sel.value = exact ? exact.value : 'now';
    $('zoom-readout').textContent = fmtZoom(f);
    const st = $('status');
    if (/ {2}zoom \S+$/.test(st.textContent)) st.textContent = st.textContent.replace(/ {2}zoom \S+$/, `  zoom ${fmtZoom(f)}`);
  }
  map.on('zoomend', showZoom);
  // Another image has another scale: the same map zoom is another factor.
  store.subscribe(showZoom, ['src']);
  for (let k = -5; k <= 5; k++) {
    const o = document.createElement('option');
    o.value = String(2 ** k);
    o.textContent = fmtZoom(2 ** k);
    $('zoom').append(o);
  }
  $('zoom').onchange = (e) => {
    if (e.target.value === 'fit') actions.fit();
    else if (e.target.value !== 'now') map.setZoom(zoomOf(Number(e.target.value)), { animate: false });
    showZoom();
  };
  $('fit').onclick = () => actions.fit();
  /** Zoom 1:1, one screen pixel per image pixel. */
  return { oneToOne: () => store.get().src && map.setZoom(zmax(), { animate: false }) };
}
