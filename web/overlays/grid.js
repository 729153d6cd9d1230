// The coordinate grid and the compass: the graticule of the view (image.graticule), its labels on the
// screen's edges, and N/E arrows as they point on screen (the view may be turned or flipped).
import * as L from '../vendor/leaflet/leaflet-src.esm.js';
import { $, showError } from '../ui.js';
import { esc } from '../lib/format.js';
import { edgeCrossing } from '../lib/geometry.js';

export function mountGrid({ store, map, session, place, hook }) {
  const src = () => store.get().src;
  const { toLatLng, viewRect } = place;
  const state = hook.tools;
  // ---- coordinate grid and compass ----------------------------------------------------------------
  map.createPane('grid').style.zIndex = 450;
  map.getPane('grid').style.pointerEvents = 'none';
  const gridLayer = L.layerGroup().addTo(map);
  let gridSeq = 0;
  let gridKey = null; // what the drawn grid is of: a frame switch both moves the map and changes the image
  let gridAsk = null; // the last graticule asked for ({key, reply}): ticking the grid or the compass
  // redraws from it instead of asking the server the same question again
  async function drawGrid() {
    const want = $('grid').checked; const compass = $('compass').checked;
    if (!src() || !src().wcs || (!want && !compass)) {
      gridKey = null;
      ++gridSeq;
      gridLayer.clearLayers();
      $('compass-box').hidden = true;
      return;
    }
    // Zoomed far out on a small image the view may be huge: ask for at most 16 images' worth around it.
    const [x1, y1, x2, y2] = viewRect();
    const cx = (x1 + x2) / 2; const cy = (y1 + y2) / 2;
    const hw = Math.min((x2 - x1) / 2, 8 * src().width); const hh = Math.min((y2 - y1) / 2, 8 * src().height);
    const rect = [cx - hw, cy - hh, cx + hw, cy + hh];
    const ask = JSON.stringify([src().path, src().selector, rect]);
    const key = JSON.stringify([ask, want, compass, src().orient]);
    if (key === gridKey) return;
    gridKey = key;
    const seq = ++gridSeq;
    if (gridAsk?.key !== ask) {
      gridAsk = { key: ask, reply: session.call('image.graticule', { ...place.here(), rect, lines: 6 }) };
      state.gridAsked = (state.gridAsked || 0) + 1;
      if (map._panAnim?._inProgress) state.gridGlideAsks = (state.gridGlideAsks || 0) + 1;
    }
    let g;
    try { g = await gridAsk.reply; } catch (e) {
      if (gridAsk?.key === ask) gridAsk = null; // a failed answer is not kept
      if (seq !== gridSeq) return;
      gridKey = null;
      gridLayer.clearLayers();
      $('compass-box').hidden = true;
      showError(`grid: ${e.message}`);
      return;
    }
    if (seq !== gridSeq) return;
    gridLayer.clearLayers();
    state.grid = g;
    if (want) {
      for (const l of g.lines) {
        for (const s of l.segments) {
          L.polyline(s.map(([x, y]) => toLatLng(x, y)), { pane: 'grid', color: '#8cf', weight: 1, opacity: 0.65, interactive: false, className: 'grid-line' }).addTo(gridLayer);
        }
        // Labelled where the line crosses the edge of the screen (longitudes preferably at the bottom,
        // latitudes at the left, as DS9 does), found on screen: on a turned or flipped view the
        // image's edges are not the screen's. A line that crosses no edge is not labelled.
        const size = map.getSize();
        const onScreen = l.segments.map((seg) => seg.map(([x, y]) => { const q = map.latLngToContainerPoint(toLatLng(x, y)); return [q.x, q.y]; }));
        const order = l.axis === 'lon' ? ['bottom', 'top', 'left', 'right'] : ['left', 'right', 'bottom', 'top'];
        const at = edgeCrossing(onScreen, size.x, size.y, order);
        if (!at) continue;
        const { edge } = at;
        L.marker(map.containerPointToLatLng([at.x, at.y]), {
          pane: 'grid', interactive: false, keyboard: false,
          icon: L.divIcon({ className: `grid-label ${edge}`, html: `<span>${esc(l.label)}</span>`, iconSize: [0, 0] }),
        }).addTo(gridLayer);
      }
      // Labels of two axes meet near the corners: a label touching one already placed is left out, as
      // is one under the zoom buttons or the panner, magnifier and compass (hidden there).
      const placed = [...document.querySelectorAll('#corner > :not([hidden]), .leaflet-control-zoom')]
        .map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0);
      for (const el of map.getPane('grid').querySelectorAll('.grid-label span')) {
        const r = el.getBoundingClientRect();
        const hit = placed.some((q) => r.left < q.right + 4 && q.left < r.right + 4 && r.top < q.bottom + 2 && q.top < r.bottom + 2);
        if (hit) el.parentElement.remove(); else placed.push(r);
      }
    }
    const box = $('compass-box');
    box.hidden = !(compass && g.north && g.east);
    if (!box.hidden) {
      // The arrows as they point on screen (the view may be turned or flipped).
      const at = toLatLng((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2);
      const onScreen = (v) => {
        const c = (rect[0] + rect[2]) / 2; const d = (rect[1] + rect[3]) / 2; const k = (rect[2] - rect[0]) / 100 || 1;
        const a = map.latLngToContainerPoint(at); const b = map.latLngToContainerPoint(toLatLng(c + v[0] * k, d + v[1] * k));
        const n = Math.hypot(b.x - a.x, b.y - a.y) || 1;
        return [(b.x - a.x) / n, (b.y - a.y) / n];
      };
      const arrow = (v, name) => {
        const [dx, dy] = onScreen(v).map((u) => u * 24);
        return `<line x1="40" y1="40" x2="${40 + dx}" y2="${40 + dy}" marker-end="url(#tip)"/>` +
          `<text x="${40 + dx * 1.42}" y="${40 + dy * 1.42}">${name}</text>`;
      };
      box.innerHTML = `<svg width="80" height="80" viewBox="0 0 80 80"><defs><marker id="tip" viewBox="0 0 6 6" refX="5" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#fd6"/></marker></defs>${arrow(g.north, 'N')}${arrow(g.east, 'E')}</svg>`;
      box.dataset.north = g.north.map((v) => v.toFixed(4)).join(',');
      box.dataset.east = g.east.map((v) => v.toFixed(4)).join(',');
      // Screen directions (x right, y down).
      box.dataset.screenNorth = onScreen(g.north).map((v) => v.toFixed(4)).join(',');
      box.dataset.screenEast = onScreen(g.east).map((v) => v.toFixed(4)).join(',');
    }
  }
  map.on('moveend', drawGrid);
  // While the view glides after a flick (Leaflet's inertia runs on for a second or two at a crawl), the
  // grid follows at most every 200 ms instead of waiting for the glide's end.
  let gridLast = 0;
  map.on('move', () => {
    if (!map._panAnim?._inProgress || performance.now() - gridLast < 200) return;
    gridLast = performance.now();
    drawGrid();
  });
  const toggles = () => ({ lines: $('grid').checked, compass: $('compass').checked });
  $('grid').onchange = $('compass').onchange = () => { drawGrid(); store.update({ grid: toggles() }, 'grid'); };
  store.update({ grid: toggles() }, 'grid');
  // Another image or orientation: the grid of what is in view now.
  store.subscribe(() => drawGrid(), ['src']);
  return {
    /** Show the grid and compass a link names. */
    restore(o) {
      $('grid').checked = o.grid === true;
      $('compass').checked = o.compass !== false;
      drawGrid();
      return store.update({ grid: toggles() }, 'grid');
    },
    draw: drawGrid,
  };
}
