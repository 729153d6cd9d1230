// Overlays and tools of the viewer: coordinate grid and compass (image.graticule), catalogs as markers
// with a popup of their row (catalog.load / catalog.positions / catalog.rows), DS9 regions drawn with
// the mouse, imported and exported (regions.import / regions.export, sky regions placed through
// image.sky_to_pixel), a line profile and a histogram of the view, both plotted in a small chart.
import * as L from './vendor/leaflet/leaflet-src.esm.js';

export function installTools(t) {
  const { map, view, session, toFits, toLatLng, here: src, viewRect, viewPixels, busy, showError, about, $ } = t;
  const changed = () => t.changed && t.changed(); // the overlays are part of the link
  const px = () => 1 / 2 ** view.src.zmax; // map units per FITS pixel
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
  const state = { catalogs: [], regions: [], plot: null };
  window.toyz.tools = state;

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
    if (!view.src || !view.src.wcs || (!want && !compass)) {
      gridKey = null;
      ++gridSeq;
      gridLayer.clearLayers();
      $('compass-box').hidden = true;
      return;
    }
    // Zoomed far out on a small image the view may be huge: ask for at most 16 images' worth around it.
    const [x1, y1, x2, y2] = viewRect();
    const cx = (x1 + x2) / 2; const cy = (y1 + y2) / 2;
    const hw = Math.min((x2 - x1) / 2, 8 * view.src.width); const hh = Math.min((y2 - y1) / 2, 8 * view.src.height);
    const rect = [cx - hw, cy - hh, cx + hw, cy + hh];
    const ask = JSON.stringify([view.src.path, view.src.selector, rect]);
    const key = JSON.stringify([ask, want, compass, view.src.orient]);
    if (key === gridKey) return;
    gridKey = key;
    const seq = ++gridSeq;
    if (gridAsk?.key !== ask) {
      gridAsk = { key: ask, reply: session.call('image.graticule', { ...src(), rect, lines: 6 }) };
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
        if (!l.label_at) continue;
        const [x, y] = l.label_at;
        // Which side of the screen the label sits on (the view may be turned or flipped).
        const sp = map.latLngToContainerPoint(toLatLng(x, y)); const size = map.getSize();
        const gaps = { left: sp.x, right: size.x - sp.x, top: sp.y, bottom: size.y - sp.y };
        const side = Object.entries(gaps).sort((a, b) => a[1] - b[1])[0];
        const edge = side[1] < 3 ? side[0] : 'inside';
        L.marker(toLatLng(x, y), {
          pane: 'grid', interactive: false, keyboard: false,
          icon: L.divIcon({ className: `grid-label ${edge}`, html: `<span>${esc(l.label)}</span>`, iconSize: [0, 0] }),
        }).addTo(gridLayer);
      }
      // Labels of two axes meet near the corners: a label touching one already placed is left out.
      const placed = [];
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
  $('grid').onchange = () => { drawGrid(); changed(); };
  $('compass').onchange = () => { drawGrid(); changed(); };

  // ---- catalogs -----------------------------------------------------------------------------------
  // Positions per image are cached (blinking frames do not ask again); only the newest placement of a
  // catalog is drawn, and not at all once the catalog was removed or the image changed meanwhile.
  async function placeCatalog(c) {
    const seq = c.seq = (c.seq || 0) + 1;
    const on = view.src;
    if (!on) return;
    const key = `${on.path}@${on.selector}`;
    c.cache = c.cache || new Map();
    let pos = c.cache.get(key);
    if (!pos) {
      try { pos = await session.call('catalog.positions', { catalog: c.id, ...src() }); } catch (e) {
        if (seq === c.seq) showError(about(c.path, e.message));
        return;
      }
      c.cache.set(key, pos);
    }
    if (seq !== c.seq || on !== view.src || !state.catalogs.includes(c)) return;
    if (c.layer) map.removeLayer(c.layer);
    c.layer = null;
    const many = pos.positions.length > 2000;
    const renderer = many ? L.canvas({ padding: 0.5 }) : undefined;
    const layer = L.layerGroup();
    for (const [i, x, y] of pos.positions) {
      const m = L.circleMarker(toLatLng(x, y), { radius: 7, color: c.color, weight: 1.5, fill: false, className: 'catalog', renderer });
      m.on('click', async () => {
        const r = await session.call('catalog.rows', { catalog: c.id, offset: i, limit: 1 });
        const row = r.rows[0] || [];
        const cells = r.columns.map((k, j) => `<tr><th>${esc(k)}</th><td>${esc(typeof row[j] === 'number' ? +row[j].toPrecision(10) : row[j])}</td></tr>`).join('');
        m.bindPopup(`<div class="row-popup"><b>${esc(c.path)}</b> row ${i + 1}<table>${cells}</table></div>`, { maxWidth: 360 }).openPopup();
      });
      layer.addLayer(m);
    }
    layer.addTo(map);
    c.layer = layer;
    c.count = pos.count;
    c.by = pos.by;
    renderCatalogList();
  }
  function renderCatalogList() {
    const ul = $('catalogs');
    ul.innerHTML = '';
    for (const c of state.catalogs) {
      const li = document.createElement('li');
      li.innerHTML = `<span class="swatch" style="border-color:${c.color}"></span>${esc(c.path.split('/').pop())} <span class="size">${c.count ?? 0} of ${c.total}</span> `;
      const x = document.createElement('button');
      x.textContent = '×';
      x.title = 'remove';
      x.onclick = () => { c.seq = (c.seq || 0) + 1; if (c.layer) map.removeLayer(c.layer); state.catalogs = state.catalogs.filter((o) => o !== c); renderCatalogList(); changed(); };
      li.append(x);
      ul.append(li);
    }
  }
  const COLORS = ['#f5f', '#ff5', '#5ff', '#fa5', '#5f5'];
  // After a reconnect the server session is new and has none of this page's catalogs.
  session.onReconnect.push(async () => {
    for (const c of state.catalogs) {
      try {
        const r = await session.call('catalog.load', { path: c.path, hdu: c.hdu, limit: 0 });
        c.id = r.catalog;
        c.cache = new Map();
        await placeCatalog(c);
      } catch (e) { showError(about(`catalog ${c.path}`, e.message)); }
    }
  });
  async function loadCatalog(spec) {
    const [path, hdu] = spec.split('[');
    busy('loading catalog…');
    try {
      const r = await session.call('catalog.load', { path: path.trim(), hdu: hdu ? hdu.replace(']', '') : undefined, limit: 0 });
      const c = { id: r.catalog, path: r.path, hdu: hdu ? hdu.replace(']', '') : undefined, total: r.total, color: COLORS[state.catalogs.length % COLORS.length] };
      state.catalogs.push(c);
      await placeCatalog(c);
      changed();
      busy(`${c.count} of ${c.total} catalog rows on this image`);
      setTimeout(() => busy(''), 1500);
    } catch (e) { busy(''); showError(String(e.message).includes(path) ? e.message : `catalog ${path}: ${e.message}`); }
  }
  $('catalog-load').onclick = () => { const v = $('catalog-path').value.trim(); if (v) loadCatalog(v); };
  $('catalog-path').onkeydown = (e) => { if (e.key === 'Enter') $('catalog-load').onclick(); };

  // ---- DS9 regions --------------------------------------------------------------------------------
  // Every shape the server reads (regions.import): drawn, selected with a click (its statistics from
  // regions.stats), moved by dragging, edited in a dialog, deleted with Delete; every change can be undone.
  const regionLayer = L.featureGroup().addTo(map);
  const SKY = ['fk5', 'icrs', 'j2000', 'galactic', 'fk4', 'ecliptic'];
  // Sky regions: points through the WCS, sizes from arcsec, and angles (DS9 measures them from the sky's
  // axes) turned by the image's own rotation, taken from where north points at the region.
  async function toPixels(r) {
    if (!SKY.includes(r.system)) return { pts: r.points, scale: 1, turn: 0 };
    if (!view.src.wcs) throw new Error(`a ${r.system} region needs an image with a WCS`);
    const [lon, lat] = r.points[0];
    const north = [lon, Math.min(lat + 1 / 3600, 90)];
    const j = await session.call('image.sky_to_pixel', { ...src(), points: [...r.points, north], frame: r.system });
    const n = j.pixels.pop();
    if (j.pixels.some((p) => p == null)) throw new Error(`a ${r.system} region is not on this image's projection`);
    const turn = n ? (Math.atan2(n[1] - j.pixels[0][1], n[0] - j.pixels[0][0]) * 180) / Math.PI - 90 : 0;
    return { pts: j.pixels, scale: 1 / view.src.wcs.pixel_scale_arcsec, turn };
  }
  const rotate = ([cx, cy], pts, angle) => {
    const a = (angle * Math.PI) / 180; const c = Math.cos(a); const s = Math.sin(a);
    return pts.map(([u, v]) => [cx + u * c - v * s, cy + u * s + v * c]);
  };
  const boxCorners = (c, [w, h], angle) => rotate(c, [[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], angle || 0);
  const ellipsePts = (c, a, b, angle) => rotate(c, Array.from({ length: 96 }, (_, i) => {
    const t = (i / 96) * 2 * Math.PI;
    return [a * Math.cos(t), b * Math.sin(t)];
  }), angle || 0);
  // An arrow head at `to` pointing away from `from`, `len` image pixels long.
  const arrowHead = (from, to, len) => {
    const a = Math.atan2(to[1] - from[1], to[0] - from[0]);
    return [[to[0] - len * Math.cos(a - 0.45), to[1] - len * Math.sin(a - 0.45)], to, [to[0] - len * Math.cos(a + 0.45), to[1] - len * Math.sin(a + 0.45)]];
  };
  // DS9's point kinds as small symbols in screen pixels.
  const POINT_SVG = {
    circle: (s) => `<circle cx="${s / 2}" cy="${s / 2}" r="${s / 2 - 1}"/>`,
    box: (s) => `<rect x="1" y="1" width="${s - 2}" height="${s - 2}"/>`,
    diamond: (s) => `<path d="M${s / 2} 1 L${s - 1} ${s / 2} L${s / 2} ${s - 1} L1 ${s / 2} Z"/>`,
    cross: (s) => `<path d="M${s / 2} 0 V${s} M0 ${s / 2} H${s}"/>`,
    x: (s) => `<path d="M1 1 L${s - 1} ${s - 1} M${s - 1} 1 L1 ${s - 1}"/>`,
    arrow: (s) => `<path d="M1 ${s - 1} L${s - 1} 1 M${s - 1} 1 H${s / 2} M${s - 1} 1 V${s / 2}"/>`,
    boxcircle: (s) => `<rect x="1" y="1" width="${s - 2}" height="${s - 2}"/><circle cx="${s / 2}" cy="${s / 2}" r="${s / 2 - 2}"/>`,
  };
  const colourOf = (r) => (/^#?[\w]+$/.test(r.props?.color || '') ? r.props.color : '#3f3');
  function shapeOf(r, pts, scale, turn = 0, selected = false) {
    const ll = pts.map(([x, y]) => toLatLng(x, y));
    const color = colourOf(r);
    const weight = (Number(r.props?.width) || 1.5) + (selected ? 2 : 0);
    // Filled with nothing: a click anywhere inside selects the region, as in DS9.
    const o = { color, weight, fill: true, fillOpacity: 0, className: `region ${r.shape}${selected ? ' selected' : ''}` };
    if (r.exclude || r.props?.dash === '1') o.dashArray = '5 4';
    const poly = (p) => L.polygon(p.map(([x, y]) => toLatLng(x, y)), o);
    const line = (p, extra = {}) => L.polyline(p.map(([x, y]) => toLatLng(x, y)), { ...o, fill: false, ...extra });
    const angle = (r.angle || 0) + turn;
    switch (r.shape) {
      case 'circle': return L.circle(ll[0], { ...o, radius: r.radius * scale * px() });
      case 'ellipse': return poly(ellipsePts(pts[0], r.radii[0] * scale, r.radii[1] * scale, angle));
      case 'box': return poly(boxCorners(pts[0], r.size.map((v) => v * scale), angle));
      case 'polygon': return L.polygon(ll, o);
      case 'annulus': return L.featureGroup(r.radii.map((v) => L.circle(ll[0], { ...o, radius: v * scale * px() })));
      case 'line': {
        const [a, b] = pts;
        const [s, e] = (r.props?.line || '0 0').split(/\s+/).map(Number);
        const head = Math.max(Math.hypot(b[0] - a[0], b[1] - a[1]) * 0.08, 2);
        const parts = [line([a, b])];
        if (s) parts.push(line(arrowHead(b, a, head)));
        if (e) parts.push(line(arrowHead(a, b, head)));
        return parts.length > 1 ? L.featureGroup(parts) : parts[0];
      }
      case 'vector': {
        const a = pts[0]; const len = r.length * scale; const t = (angle * Math.PI) / 180;
        const b = [a[0] + len * Math.cos(t), a[1] + len * Math.sin(t)];
        const parts = [line([a, b])];
        if ((r.props?.vector ?? '1') !== '0') parts.push(line(arrowHead(a, b, Math.max(len * 0.12, 2))));
        return L.featureGroup(parts);
      }
      case 'point': {
        const [kind, size] = (r.props?.point || 'boxcircle').split(/\s+/);
        const s = Math.min(40, Math.max(5, Number(size) || 11)) + (selected ? 4 : 0);
        const draw = POINT_SVG[kind] || POINT_SVG.boxcircle;
        return L.marker(ll[0], {
          icon: L.divIcon({ className: `region point${selected ? ' selected' : ''}`, iconSize: [s, s],
            html: `<svg width="${s}" height="${s}" stroke="${esc(color)}" stroke-width="${selected ? 2.5 : 1.5}" fill="none">${draw(s)}</svg>` }),
          keyboard: false,
        });
      }
      case 'text': {
        const size = Number((r.props?.font || '').split(/\s+/)[1]) || 11;
        return L.marker(ll[0], {
          icon: L.divIcon({ className: `region text${selected ? ' selected' : ''}`, iconSize: [0, 0],
            html: `<span style="color:${esc(color)};font-size:${size}px">${esc(r.props?.text ?? '')}</span>` }),
          keyboard: false,
        });
      }
      default: throw new Error(`unknown shape ${r.shape}`);
    }
  }
  const flag = (r, k) => r.props?.[k];
  const fixed = (r, what) => flag(r, 'fixed') === '1' || flag(r, what) === '0';

  // ---- the set of regions, with undo ----------------------------------------------------------------
  state.undo = []; state.redo = [];
  state.selected = null;
  /** Replace the regions (one undoable step). */
  async function commit(next, select = state.selected) {
    state.undo.push(JSON.stringify(state.regions));
    if (state.undo.length > 200) state.undo.shift();
    state.redo = [];
    state.regions = next;
    state.selected = select != null && select < next.length ? select : null;
    await regionsChanged();
  }
  async function undo(from, to) {
    if (!from.length) return;
    to.push(JSON.stringify(state.regions));
    state.regions = JSON.parse(from.pop());
    if (state.selected != null && state.selected >= state.regions.length) state.selected = null;
    await regionsChanged();
  }
  $('region-undo').onclick = () => undo(state.undo, state.redo);
  $('region-redo').onclick = () => undo(state.redo, state.undo);
  // The regions as DS9 text, kept for the link (short sets only: a URL is no place for thousands).
  async function regionsChanged() {
    await renderRegions();
    try {
      state.regionsText = state.regions.length ? (await session.call('regions.export', { regions: state.regions })).text : '';
    } catch { state.regionsText = ''; }
    $('region-undo').disabled = !state.undo.length;
    $('region-redo').disabled = !state.redo.length;
    showSelected();
    changed();
  }
  let regionSeq = 0;
  async function renderRegions() {
    const seq = ++regionSeq;
    const shapes = [];
    const problems = [];
    if (view.src) {
      for (const [i, r] of state.regions.entries()) {
        try {
          const p = await toPixels(r);
          shapes.push([i, r, p, shapeOf(r, p.pts, p.scale, p.turn, i === state.selected)]);
        } catch (e) { problems.push(e.message); }
      }
    }
    if (seq !== regionSeq) return;
    regionLayer.clearLayers();
    state.placed = new Map();
    for (const [i, r, p, s] of shapes) {
      if (r.props?.text && r.shape !== 'text') {
        s.bindTooltip(`<span style="color:${esc(colourOf(r))}">${esc(r.props.text)}</span>`, { permanent: true, direction: 'top', className: 'region-text' });
      }
      // A click selects; a drag of the selected region moves it.
      s.on('click', (e) => { if (tool) return; L.DomEvent.stopPropagation(e); select(i); });
      s.on('mousedown', (e) => startMove(e, i));
      s.on('dblclick', (e) => { if (tool) return; L.DomEvent.stopPropagation(e); select(i); openEdit(); });
      regionLayer.addLayer(s);
      state.placed.set(i, p);
    }
    const sel = state.regions[state.selected];
    if (sel && state.placed.has(state.selected) && !fixed(sel, 'edit')) {
      for (const h of handles(pix(sel, state.placed.get(state.selected)))) {
        const m = L.marker(toLatLng(...h.at), {
          icon: L.divIcon({ className: `region-handle ${h.kind}`, iconSize: [9, 9] }), keyboard: false, zIndexOffset: 1000,
        });
        m.on('mousedown', (e) => startHandle(e, h));
        regionLayer.addLayer(m);
      }
    }
    $('region-count').textContent = state.regions.length ? `${state.regions.length} region${state.regions.length > 1 ? 's' : ''}` : '';
    if (problems.length) showError(`regions: ${[...new Set(problems)].join('; ')}`);
    state.regionsDrawn = shapes.length;
  }
  /** Regions read from a file or a link: added, and what was not read is said, line by line. */
  async function addRegions(r, what) {
    if (r.unknown?.length) {
      const lines = r.unknown.map((u) => `line ${u.line} (${u.reason}): ${u.text}`);
      showError(`${what}: ${r.unknown.length} line${r.unknown.length > 1 ? 's' : ''} not read — ${lines.join('; ')}`);
    }
    state.unknown = r.unknown ?? [];
    if (r.regions.length) await commit([...state.regions, ...r.regions], null);
  }
  $('region-import').onchange = async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    try {
      await addRegions(await session.call('regions.import', { text: await f.text() }), f.name);
    } catch (err) { showError(about(f.name, err.message)); }
    e.target.value = '';
  };
  /** A region file on the server (a .reg in the file list). */
  async function loadRegions(path) {
    try {
      await addRegions(await session.call('regions.load', { path }), path);
      busy(`${state.regions.length} regions`); setTimeout(() => busy(''), 1200);
    } catch (err) { showError(about(path, err.message)); }
  }
  $('region-export').onclick = async () => {
    try {
      const r = await session.call('regions.export', { regions: state.regions });
      state.exported = r.text;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([r.text], { type: 'text/plain' }));
      a.download = `${(view.src?.path.split('/').pop() || 'toyz').replace(/\.fits(\.fz|\.gz)?$/i, '')}.reg`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    } catch (err) { showError(`export: ${err.message}`); }
  };
  $('region-clear').onclick = () => commit([], null);

  // ---- the selected region: statistics, histogram, profile, edit, delete ------------------------------
  function select(i) {
    const r = state.regions[i];
    if (!r || flag(r, 'select') === '0') return;
    state.selected = i;
    renderRegions();
    showSelected();
  }
  let statsSeq = 0;
  async function showSelected() {
    const box = $('region-box');
    const r = state.regions[state.selected];
    box.hidden = !r;
    if (!r) { $('region-edit').hidden = true; return; }
    $('region-title').textContent = `${state.selected + 1}: ${r.shape} (${r.system})${r.exclude ? ', excluded' : ''}`;
    $('region-profile').hidden = r.shape !== 'line';
    $('region-delete').disabled = fixed(r, 'delete');
    $('region-edit-open').disabled = fixed(r, 'edit');
    const seq = ++statsSeq;
    $('region-stats').textContent = 'measuring…';
    try {
      const j = await session.call('regions.stats', { ...src(), regions: [r], bins: 64 });
      if (seq !== statsSeq) return;
      const s = j.regions[0];
      state.stats = s;
      const unit = j.bunit ? ` ${j.bunit}` : '';
      const f = (v) => (v == null ? '—' : Number.isInteger(v) ? String(v) : String(+v.toPrecision(7)));
      const rows = s.note ? [['', s.note]] : [
        ['pixels', `${f(s.npix)}${s.area_px !== s.npix ? ` finite of ${f(s.area_px)}` : ''}`],
        ['area', `${f(s.area_px)} px${s.area_arcsec2 != null ? `, ${f(s.area_arcsec2)} arcsec²` : ''}`],
        ['sum', f(s.sum) + unit], ['mean', f(s.mean) + unit], ['median', f(s.median) + unit], ['std', f(s.std) + unit],
        ['min', f(s.min) + unit], ['max', f(s.max) + unit],
        ['surface brightness', s.surface_brightness != null ? `${f(s.surface_brightness)}${unit}/arcsec²` : '—'],
      ];
      for (const ring of s.rings ?? []) rows.push([`ring ${f(ring.inner)}–${f(ring.outer)}`, `${f(ring.npix)} px, mean ${f(ring.mean)}, median ${f(ring.median)}, sum ${f(ring.sum)}`]);
      const t = document.createElement('table');
      for (const [k, v] of rows) {
        const tr = t.insertRow();
        tr.insertCell().textContent = k;
        tr.insertCell().textContent = v;
        tr.dataset.stat = k;
      }
      $('region-stats').replaceChildren(t);
    } catch (e) {
      if (seq === statsSeq) $('region-stats').textContent = e.message;
    }
  }
  $('region-close').onclick = () => { state.selected = null; renderRegions(); showSelected(); };
  $('region-delete').onclick = () => deleteSelected();
  async function deleteSelected() {
    const r = state.regions[state.selected];
    if (!r || fixed(r, 'delete')) return;
    await commit(state.regions.filter((_, i) => i !== state.selected), null);
  }
  $('region-hist').onclick = () => {
    const s = state.stats;
    if (!s?.histogram) return;
    const h = s.histogram; const w = (h.hi - h.lo) / h.bins || 1;
    plot({
      title: `histogram of region ${state.selected + 1} (${s.npix} pixels)`, xlabel: view.src.bunit || 'value', ylabel: 'pixels (log)',
      x: h.counts.map((_, i) => h.lo + (i + 0.5) * w), y: h.counts, kind: 'bars', logy: true, marks: [s.mean],
    });
  };
  $('region-profile').onclick = () => {
    const p = state.placed.get(state.selected);
    if (p) profile(p.pts[0], p.pts[1]);
  };

  // Moving: drag the selected region; sky regions get their new positions back through the WCS.
  let move = null;
  function startMove(e, i) {
    if (tool || i !== state.selected || e.originalEvent.button !== 0) return;
    const r = state.regions[i];
    if (fixed(r, 'move')) return;
    L.DomEvent.stopPropagation(e);
    map.dragging.disable();
    move = { i, from: fits(e), preview: null };
  }
  map.on('mousemove', (e) => {
    if (!move) return;
    const b = fits(e); const p = state.placed.get(move.i); const r = state.regions[move.i];
    const d = [b[0] - move.from[0], b[1] - move.from[1]];
    if (move.preview) map.removeLayer(move.preview);
    move.preview = shapeOf(r, p.pts.map(([x, y]) => [x + d[0], y + d[1]]), p.scale, p.turn, true).addTo(map);
    move.d = d;
  });
  map.on('mouseup', async () => {
    if (!move) return;
    const m = move; move = null;
    map.dragging.enable();
    if (m.preview) map.removeLayer(m.preview);
    if (!m.d || (!m.d[0] && !m.d[1])) return;
    const r = structuredClone(state.regions[m.i]);
    const p = state.placed.get(m.i);
    const moved = p.pts.map(([x, y]) => [+(x + m.d[0]).toFixed(3), +(y + m.d[1]).toFixed(3)]);
    try {
      r.points = SKY.includes(r.system) ? await toSky(moved, r.system) : moved;
    } catch (err) { showError(`move: ${err.message}`); return; }
    const next = [...state.regions];
    next[m.i] = r;
    await commit(next, m.i);
  });
  /** Pixels → sky positions in a region's system (degrees), through the server's readout. */
  async function toSky(pts, system) {
    const want = { j2000: 'fk5' }[system] ?? system;
    if (!['fk5', 'icrs', 'galactic', 'ecliptic'].includes(want)) throw new Error(`a ${system} region cannot be moved here`);
    const j = await session.call('image.pixels', { ...src(), points: pts, sky: { system: want, format: 'degrees' } });
    return j.pixels.map((q) => {
      if (!q.sky) throw new Error('the new position has no sky coordinates');
      return [+q.sky.lon.toFixed(8), +q.sky.lat.toFixed(8)];
    });
  }

  // Resizing and rotating: handles on the selected region, worked in image pixels (`pix`) and turned
  // back into the region's own system and units (`unpix`).
  function pix(r, p) {
    const k = p.scale;
    return {
      ...structuredClone(r), system: 'image', points: p.pts,
      radius: r.radius != null ? r.radius * k : undefined, radii: r.radii?.map((v) => v * k),
      size: r.size?.map((v) => v * k), length: r.length != null ? r.length * k : undefined,
      angle: r.angle != null ? r.angle + p.turn : undefined,
    };
  }
  async function unpix(r0, rp, p) {
    const out = structuredClone(rp);
    out.system = r0.system;
    for (const k of ['radius', 'radii', 'size', 'length', 'angle']) if (out[k] === undefined) delete out[k];
    const round = (v) => +v.toFixed(SKY.includes(r0.system) ? 4 : 3);
    if (out.radius != null) out.radius = round(out.radius / p.scale);
    if (out.radii) out.radii = out.radii.map((v) => round(v / p.scale));
    if (out.size) out.size = out.size.map((v) => round(v / p.scale));
    if (out.length != null) out.length = round(out.length / p.scale);
    if (out.angle != null) out.angle = +(((out.angle - p.turn) % 360 + 360) % 360).toFixed(3);
    out.points = SKY.includes(r0.system) ? await toSky(rp.points, r0.system) : rp.points.map(([x, y]) => [+x.toFixed(3), +y.toFixed(3)]);
    return out;
  }
  const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const deg = (a, b) => (Math.atan2(b[1] - a[1], b[0] - a[0]) * 180) / Math.PI;
  /** The handles of a region in image pixels: where each sits and the region it makes when dragged to q. */
  function handles(rp) {
    const c = rp.points[0];
    const at = (u, v, angle = rp.angle || 0) => rotate(c, [[u, v]], angle)[0];
    switch (rp.shape) {
      case 'circle': return [{ kind: 'size', at: [c[0] + rp.radius, c[1]], drag: (q) => ({ ...rp, radius: Math.max(dist(q, c), 0.5) }) }];
      case 'annulus': {
        const out = rp.radii[rp.radii.length - 1];
        return [{ kind: 'size', at: [c[0] + out, c[1]], drag: (q) => ({ ...rp, radii: rp.radii.map((v) => (v * Math.max(dist(q, c), 0.5)) / out) }) }];
      }
      case 'ellipse': return [
        { kind: 'rotate', at: at(rp.radii[0], 0), drag: (q) => ({ ...rp, radii: [Math.max(dist(q, c), 0.5), rp.radii[1]], angle: deg(c, q) }) },
        { kind: 'size', at: at(0, rp.radii[1]), drag: (q) => ({ ...rp, radii: [rp.radii[0], Math.max(dist(q, c), 0.5)] }) },
      ];
      case 'box': {
        const [w, h] = rp.size;
        const local = (q) => rotate([0, 0], [[q[0] - c[0], q[1] - c[1]]], -(rp.angle || 0))[0];
        return [
          { kind: 'size', at: at(w / 2, h / 2), drag: (q) => { const [u, v] = local(q); return { ...rp, size: [Math.max(2 * Math.abs(u), 1), Math.max(2 * Math.abs(v), 1)] }; } },
          { kind: 'rotate', at: at(0, h / 2 + Math.max(h * 0.25, 3)), drag: (q) => ({ ...rp, angle: deg(c, q) - 90 }) },
        ];
      }
      case 'vector': return [{ kind: 'rotate', at: at(rp.length, 0), drag: (q) => ({ ...rp, length: Math.max(dist(q, c), 0.5), angle: deg(c, q) }) }];
      case 'line':
      case 'polygon':
        return rp.points.map((v, i) => ({ kind: 'size', at: v, drag: (q) => ({ ...rp, points: rp.points.map((w, j) => (j === i ? q : w)) }) }));
      default: return [];
    }
  }
  let handleDrag = null;
  function startHandle(e, h) {
    if (tool || e.originalEvent.button !== 0) return;
    L.DomEvent.stopPropagation(e);
    map.dragging.disable();
    handleDrag = { h, i: state.selected, preview: null, rp: null };
  }
  map.on('mousemove', (e) => {
    if (!handleDrag) return;
    handleDrag.rp = handleDrag.h.drag(fits(e));
    if (handleDrag.preview) map.removeLayer(handleDrag.preview);
    handleDrag.preview = shapeOf(handleDrag.rp, handleDrag.rp.points, 1, 0, true).addTo(map);
  });
  map.on('mouseup', async () => {
    if (!handleDrag) return;
    const d = handleDrag; handleDrag = null;
    map.dragging.enable();
    if (d.preview) map.removeLayer(d.preview);
    if (!d.rp) return;
    try {
      const next = [...state.regions];
      next[d.i] = await unpix(state.regions[d.i], d.rp, state.placed.get(d.i));
      await commit(next, d.i);
    } catch (err) { showError(`resize: ${err.message}`); }
  });

  // Editing: the region's geometry in its own units and its DS9 properties.
  const GEOM = {
    circle: ['radius'], ellipse: ['r1', 'r2', 'angle'], box: ['width', 'height', 'angle'], annulus: ['radii'],
    vector: ['length', 'angle'], text: ['text'], point: ['kind'], line: ['arrows'], polygon: [],
  };
  function openEdit() {
    const r = state.regions[state.selected];
    if (!r || fixed(r, 'edit')) return;
    const f = $('region-edit');
    f.hidden = false;
    const v = {
      points: r.points.map((p) => p.map((x) => +x.toFixed(8)).join(',')).join(' '),
      radius: r.radius, r1: r.radii?.[0], r2: r.radii?.[1], radii: r.radii?.join(','), width: r.size?.[0], height: r.size?.[1],
      angle: r.angle, length: r.length, text: r.props?.text, kind: r.props?.point, arrows: r.props?.line,
    };
    for (const el of f.querySelectorAll('[data-geom]')) {
      const k = el.dataset.geom;
      el.closest('label').hidden = k !== 'points' && !GEOM[r.shape].includes(k);
      el.value = v[k] ?? '';
    }
    $('edit-color').value = /^#[0-9a-f]{6}$/i.test(r.props?.color || '') ? r.props.color : '#33ff33';
    $('edit-colorname').value = r.props?.color ?? '';
    $('edit-width').value = r.props?.width ?? '';
    $('edit-dash').checked = r.props?.dash === '1';
    $('edit-font').value = r.props?.font ?? '';
    $('edit-tags').value = (r.tags ?? []).join(', ');
    $('edit-include').checked = !r.exclude;
    $('edit-role').value = (r.flags ?? []).find((x) => x === 'source' || x === 'background') ?? '';
    for (const k of ['select', 'edit', 'move', 'delete', 'fixed']) $(`edit-${k}`).checked = k === 'fixed' ? flag(r, 'fixed') === '1' : flag(r, k) !== '0';
  }
  $('region-edit-open').onclick = openEdit;
  $('edit-color').oninput = () => { $('edit-colorname').value = $('edit-color').value; };
  $('edit-cancel').onclick = () => { $('region-edit').hidden = true; };
  $('edit-apply').onclick = async () => {
    const old = state.regions[state.selected];
    if (!old) return;
    const r = structuredClone(old);
    const g = (k) => $('region-edit').querySelector(`[data-geom=${k}]`).value.trim();
    const num = (k) => { const x = Number(g(k)); if (!Number.isFinite(x)) throw new Error(`${k}: not a number`); return x; };
    try {
      r.points = g('points').split(/\s+/).filter(Boolean).map((p) => {
        const q = p.split(',').map(Number);
        if (q.length !== 2 || !q.every(Number.isFinite)) throw new Error(`position '${p}': x,y`);
        return q;
      });
      if (r.points.length !== old.points.length) throw new Error(`a ${r.shape} has ${old.points.length} point${old.points.length > 1 ? 's' : ''}`);
      if (r.shape === 'circle') r.radius = num('radius');
      if (r.shape === 'ellipse') { r.radii = [num('r1'), num('r2')]; r.angle = num('angle'); }
      if (r.shape === 'box') { r.size = [num('width'), num('height')]; r.angle = num('angle'); }
      if (r.shape === 'annulus') r.radii = g('radii').split(',').map(Number);
      if (r.shape === 'vector') { r.length = num('length'); r.angle = num('angle'); }
      const props = { ...(r.props ?? {}) };
      const set = (k, v) => { if (v === '' || v == null) delete props[k]; else props[k] = String(v); };
      if (r.shape === 'text') set('text', g('text')); else set('text', old.props?.text);
      if (r.shape === 'point') set('point', g('kind'));
      if (r.shape === 'line') set('line', g('arrows'));
      set('color', $('edit-colorname').value.trim());
      set('width', $('edit-width').value.trim());
      set('dash', $('edit-dash').checked ? '1' : (old.props?.dash != null ? '0' : ''));
      set('font', $('edit-font').value.trim());
      for (const k of ['select', 'edit', 'move', 'delete']) set(k, $(`edit-${k}`).checked ? (old.props?.[k] != null ? '1' : '') : '0');
      set('fixed', $('edit-fixed').checked ? '1' : (old.props?.fixed != null ? '0' : ''));
      r.props = props;
      r.tags = $('edit-tags').value.split(',').map((x) => x.trim()).filter(Boolean);
      r.exclude = !$('edit-include').checked;
      r.flags = [...(r.flags ?? []).filter((x) => x !== 'source' && x !== 'background'), ...($('edit-role').value ? [$('edit-role').value] : [])];
      // The server checks the result as it would read it (radii increasing, a text's text, …).
      const text = (await session.call('regions.export', { regions: [r] })).text;
      const back = await session.call('regions.import', { text });
      const next = [...state.regions];
      next[state.selected] = back.regions[0];
      $('region-edit').hidden = true;
      await commit(next, state.selected);
    } catch (err) { showError(`edit: ${err.message}`); }
  };
  document.addEventListener('keydown', (e) => {
    if (/INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) return;
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && e.key.toLowerCase() === 'z') { e.preventDefault(); undo(e.shiftKey ? state.redo : state.undo, e.shiftKey ? state.undo : state.redo); }
    else if (ctrl && e.key.toLowerCase() === 'y') { e.preventDefault(); undo(state.redo, state.undo); }
    else if ((e.key === 'Delete' || e.key === 'Backspace') && state.selected != null) { e.preventDefault(); deleteSelected(); }
    else if (e.key === 'Escape' && state.selected != null && !tool) { state.selected = null; renderRegions(); showSelected(); }
  });

  // ---- mouse tools: draw a region, or a profile line -------------------------------------------------
  let tool = null; // {kind: 'region'|'profile', shape, start, preview, vertices}
  function setTool(next) {
    if (tool?.preview) map.removeLayer(tool.preview);
    tool = next;
    $('draw').classList.toggle('on', tool?.kind === 'region');
    $('profile').classList.toggle('on', tool?.kind === 'profile');
    map.getContainer().classList.toggle('drawing', !!tool);
    if (tool) { map.dragging.disable(); map.doubleClickZoom.disable(); } else { map.dragging.enable(); map.doubleClickZoom.enable(); }
  }
  $('draw').onclick = () => setTool(tool?.kind === 'region' ? null : { kind: 'region', shape: $('shape').value, vertices: [] });
  $('shape').onchange = () => { if (tool?.kind === 'region') setTool({ kind: 'region', shape: $('shape').value, vertices: [] }); };
  $('profile').onclick = () => setTool(tool?.kind === 'profile' ? null : { kind: 'profile' });
  const fits = (e) => { const p = toFits(e.latlng); return [+p.x.toFixed(2), +p.y.toFixed(2)]; };
  function regionFrom(shape, a, b) {
    const d = +Math.max(Math.hypot(b[0] - a[0], b[1] - a[1]), 1).toFixed(2);
    const ang = +((Math.atan2(b[1] - a[1], b[0] - a[0]) * 180) / Math.PI).toFixed(2);
    switch (shape) {
      case 'circle': return { shape, system: 'image', points: [a], radius: d };
      case 'ellipse': return { shape, system: 'image', points: [a], radii: [d, +Math.max(d / 2, 1).toFixed(2)], angle: ang };
      case 'annulus': return { shape, system: 'image', points: [a], radii: [+(d / 2).toFixed(2), d] };
      case 'box':
        return { shape, system: 'image', points: [[(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]], size: [Math.max(Math.abs(b[0] - a[0]), 1), Math.max(Math.abs(b[1] - a[1]), 1)], angle: 0 };
      case 'line': return { shape, system: 'image', points: [a, b] };
      case 'vector': return { shape, system: 'image', points: [a], length: d, angle: ang, props: { vector: '1' } };
      case 'text': return { shape, system: 'image', points: [b], props: { text: 'text' } };
      default: return { shape: 'point', system: 'image', points: [b] };
    }
  }
  map.on('mousedown', (e) => {
    if (!tool || !view.src || e.originalEvent.button !== 0) return;
    if (tool.kind === 'region' && tool.shape === 'polygon') return;
    tool.start = fits(e);
  });
  map.on('mousemove', (e) => {
    if (!tool?.start) return;
    const b = fits(e);
    if (tool.preview) map.removeLayer(tool.preview);
    const r = tool.kind === 'profile' ? { shape: 'line', system: 'image', points: [tool.start, b] } : regionFrom(tool.shape, tool.start, b);
    tool.preview = shapeOf(r, r.points, 1).addTo(map);
  });
  map.on('mouseup', async (e) => {
    if (!tool?.start) return;
    const a = tool.start; const b = fits(e);
    tool.start = null;
    if (tool.preview) { map.removeLayer(tool.preview); tool.preview = null; }
    if (tool.kind === 'profile') { await profile(a, b); return; }
    const r = regionFrom(tool.shape, a, b);
    await commit([...state.regions, r], state.regions.length);
    if (r.shape === 'text') openEdit();
  });
  map.on('click', (e) => {
    if (tool?.kind !== 'region' || tool.shape !== 'polygon' || !view.src) return;
    tool.vertices.push(fits(e));
    if (tool.preview) map.removeLayer(tool.preview);
    tool.preview = L.polyline(tool.vertices.map(([x, y]) => toLatLng(x, y)), { color: '#3f3', weight: 1.5, dashArray: '3 3' }).addTo(map);
  });
  map.on('dblclick', async () => {
    if (tool?.kind !== 'region' || tool.shape !== 'polygon') return;
    // A double click also sent two clicks: the last vertex is there twice.
    const v = tool.vertices.filter((p, i, a) => i === 0 || p[0] !== a[i - 1][0] || p[1] !== a[i - 1][1]);
    if (tool.preview) { map.removeLayer(tool.preview); tool.preview = null; }
    tool.vertices = [];
    if (v.length >= 3) await commit([...state.regions, { shape: 'polygon', system: 'image', points: v }], state.regions.length);
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && tool) setTool(null); });

  // ---- plots: profile and histogram ---------------------------------------------------------------
  const profileLayer = L.layerGroup().addTo(map);
  async function profile(a, b) {
    try {
      const r = await session.call('image.profile', { ...src(), from: a, to: b });
      profileLayer.clearLayers();
      L.polyline([toLatLng(...a), toLatLng(...b)], { color: '#fd6', weight: 1.5, className: 'profile-line' }).addTo(profileLayer);
      plot({
        title: `profile (${a[0].toFixed(1)}, ${a[1].toFixed(1)}) → (${b[0].toFixed(1)}, ${b[1].toFixed(1)})`,
        xlabel: 'pixels along the line', ylabel: view.src.bunit || 'value',
        x: r.points.map((p) => p.d), y: r.points.map((p) => p.value), kind: 'line', points: r.points,
      });
    } catch (e) { showError(`profile: ${e.message}`); }
  }
  $('histogram').onclick = async () => {
    if (!view.src) return;
    const rect = viewPixels();
    const lo = view.src.render.lo; const hi = view.src.render.hi;
    const span = hi - lo;
    try {
      busy('histogram…');
      const r = await session.call('image.histogram', { ...src(), rect, bins: 128, lo: lo - span * 0.25, hi: hi + span * 0.25 });
      busy('');
      const w = (r.hi - r.lo) / r.bins;
      plot({
        title: `histogram of the view [${rect.join(', ')}]${r.stride > 1 ? `, every ${r.stride}th pixel` : ''}`,
        xlabel: view.src.bunit || 'value', ylabel: 'pixels (log)',
        x: r.counts.map((_, i) => r.lo + (i + 0.5) * w), y: r.counts, kind: 'bars', logy: true, marks: [lo, hi],
        sample: r.sample_size, nan: r.sample_nan,
      });
    } catch (e) { busy(''); showError(`histogram: ${e.message}`); }
  };
  $('plot-close').onclick = () => { $('plot-box').hidden = true; profileLayer.clearLayers(); state.plot = null; };

  function plot(p) {
    state.plot = p;
    $('plot-box').hidden = false;
    $('plot-title').textContent = p.title;
    const cv = $('plot');
    const dpr = window.devicePixelRatio || 1;
    const W = cv.clientWidth; const H = cv.clientHeight;
    cv.width = W * dpr; cv.height = H * dpr;
    const g = cv.getContext('2d');
    g.scale(dpr, dpr);
    g.clearRect(0, 0, W, H);
    const m = { l: 56, r: 10, t: 8, b: 30 };
    const ys = p.y.map((v) => (v == null ? null : p.logy ? Math.log10(v + 1) : v));
    const fin = ys.filter((v) => v != null && Number.isFinite(v));
    const range = (a) => a.reduce(([lo, hi], v) => [Math.min(lo, v), Math.max(hi, v)], [Infinity, -Infinity]);
    const [x0, x1] = range(p.x);
    let [y0, y1] = fin.length ? range(fin) : [0, 1];
    if (p.logy) y0 = 0;
    if (y1 === y0) { y1 += 1; y0 -= p.logy ? 0 : 1; }
    const X = (v) => m.l + ((v - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
    const Y = (v) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
    g.strokeStyle = '#666'; g.fillStyle = '#aaa'; g.font = '10px system-ui, sans-serif'; g.lineWidth = 1;
    g.strokeRect(m.l, m.t, W - m.l - m.r, H - m.t - m.b);
    // Round ticks; at most a dozen, even for a range of a few ulps.
    const ticks = (a, b, n) => {
      const s = 10 ** Math.floor(Math.log10((b - a) / n || 1));
      const st = [1, 2, 5, 10].map((k) => k * s).find((k) => (b - a) / k <= n) || s * 10;
      const first = Math.ceil(a / st);
      const out = [];
      for (let k = 0; k < 12 && (first + k) * st <= b + st * 1e-9; k++) out.push(+((first + k) * st).toPrecision(12));
      return out;
    };
    g.textAlign = 'center';
    for (const v of ticks(x0, x1, 6)) { g.fillText(String(+v.toPrecision(6)), X(v), H - m.b + 12); }
    g.textAlign = 'right';
    for (const v of ticks(y0, y1, 4)) { g.fillText(p.logy ? `1e${v}` : String(+v.toPrecision(6)), m.l - 4, Y(v) + 3); }
    g.textAlign = 'center';
    g.fillText(p.xlabel, m.l + (W - m.l - m.r) / 2, H - 4);
    g.save(); g.translate(10, m.t + (H - m.t - m.b) / 2); g.rotate(-Math.PI / 2); g.fillText(p.ylabel, 0, 0); g.restore();
    g.strokeStyle = '#8cf'; g.fillStyle = '#58a';
    if (p.kind === 'bars') {
      const half = (p.x.length > 1 ? p.x[1] - p.x[0] : 1) / 2;
      ys.forEach((v, i) => {
        if (!v) return;
        const a = Math.floor(X(p.x[i] - half)); const b = Math.ceil(X(p.x[i] + half));
        g.fillRect(a, Y(v), Math.max(1, b - a), H - m.b - Y(v));
      });
    } else {
      g.beginPath();
      let pen = false;
      ys.forEach((v, i) => { if (v == null) { pen = false; return; } if (pen) g.lineTo(X(p.x[i]), Y(v)); else g.moveTo(X(p.x[i]), Y(v)); pen = true; });
      g.stroke();
    }
    g.strokeStyle = '#fd6';
    for (const v of p.marks || []) { g.beginPath(); g.moveTo(X(v), m.t); g.lineTo(X(v), H - m.b); g.stroke(); }
  }

  // ---- a new image (open, frame switch): everything placed again on it ------------------------------
  /** Every region as DS9 text (a workspace keeps them all, a link only a small set). */
  function regionsText() {
    return (state.regionsText || '').split('\n').filter((l) => l && !l.startsWith('#')).join('\n');
  }

  return {
    async sourceChanged() {
      drawGrid();
      for (const c of state.catalogs) await placeCatalog(c);
      await renderRegions();
      profileLayer.clearLayers();
    },
    loadCatalog,
    loadRegions,
    regionsText,
    /** The overlays as a link holds them (lib/url.js): grid, compass, catalogs, regions (DS9 text, when
     * short enough for a link; a workspace keeps them all). */
    overlays() {
      const body = regionsText();
      return { grid: $('grid').checked, compass: $('compass').checked, catalogs: state.catalogs.map((c) => c.path),
        regions: body.length <= 4000 ? body : '' };
    },
    /** Reopen the overlays a link names (after its image is open). */
    async restore(o) {
      $('grid').checked = o.grid === true;
      $('compass').checked = o.compass !== false;
      drawGrid();
      for (const c of o.catalogs ?? []) await loadCatalog(c);
      if (o.regions) {
        try {
          await addRegions(await session.call('regions.import', { text: o.regions }), 'regions in the link');
        } catch (e) { showError(`regions in the link: ${e.message}`); }
      }
    },
  };
}
