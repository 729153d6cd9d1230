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
    const key = JSON.stringify([ask, want, compass]);
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
        const near = (a, b) => Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b));
        const edge = near(y, rect[1]) ? 'bottom' : near(x, rect[0]) ? 'left' : near(y, rect[3]) ? 'top' : near(x, rect[2]) ? 'right' : 'inside';
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
      // FITS y grows upwards, the screen's downwards.
      const arrow = (v, name) => {
        const [dx, dy] = [v[0] * 24, -v[1] * 24];
        return `<line x1="40" y1="40" x2="${40 + dx}" y2="${40 + dy}" marker-end="url(#tip)"/>` +
          `<text x="${40 + dx * 1.42}" y="${40 + dy * 1.42}">${name}</text>`;
      };
      box.innerHTML = `<svg width="80" height="80" viewBox="0 0 80 80"><defs><marker id="tip" viewBox="0 0 6 6" refX="5" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#fd6"/></marker></defs>${arrow(g.north, 'N')}${arrow(g.east, 'E')}</svg>`;
      box.dataset.north = g.north.map((v) => v.toFixed(4)).join(',');
      box.dataset.east = g.east.map((v) => v.toFixed(4)).join(',');
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
  function boxCorners([cx, cy], [w, h], angle) {
    const a = ((angle || 0) * Math.PI) / 180; const c = Math.cos(a); const s = Math.sin(a);
    return [[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]].map(([u, v]) => [cx + u * c - v * s, cy + u * s + v * c]);
  }
  async function regionShape(r) {
    const { pts, scale, turn } = await toPixels(r);
    return shapeOf(r, pts, scale, turn);
  }
  function shapeOf(r, pts, scale, turn = 0) {
    const ll = pts.map(([x, y]) => toLatLng(x, y));
    const o = { color: r.props?.color || '#3f3', weight: Number(r.props?.width) || 1.5, fill: false, className: `region ${r.shape}` };
    if (r.exclude) o.dashArray = '4 4';
    switch (r.shape) {
      case 'circle': return L.circle(ll[0], { ...o, radius: r.radius * scale * px() });
      case 'box': return L.polygon(boxCorners(pts[0], r.size.map((v) => v * scale), (r.angle || 0) + turn).map(([x, y]) => toLatLng(x, y)), o);
      case 'polygon': return L.polygon(ll, o);
      case 'line': return L.polyline(ll, o);
      case 'point': return L.circleMarker(ll[0], { ...o, radius: 4 });
      default: throw new Error(`unknown shape ${r.shape}`);
    }
  }
  // The regions as DS9 text, kept for the link (short sets only: a URL is no place for thousands).
  async function regionsChanged() {
    await renderRegions();
    try {
      state.regionsText = state.regions.length ? (await session.call('regions.export', { regions: state.regions })).text : '';
    } catch { state.regionsText = ''; }
    changed();
  }
  let regionSeq = 0;
  async function renderRegions() {
    const seq = ++regionSeq;
    const shapes = [];
    const problems = [];
    if (view.src) {
      for (const r of state.regions) {
        try { shapes.push([r, await regionShape(r)]); } catch (e) { problems.push(e.message); }
      }
    }
    if (seq !== regionSeq) return;
    regionLayer.clearLayers();
    for (const [r, s] of shapes) {
      if (r.props?.text) {
        const color = /^#?[\w]+$/.test(r.props.color || '') ? r.props.color : '#3f3';
        s.bindTooltip(`<span style="color:${color}">${esc(r.props.text)}</span>`, { permanent: true, direction: 'top', className: 'region-text' });
      }
      regionLayer.addLayer(s);
    }
    $('region-count').textContent = state.regions.length ? `${state.regions.length} region${state.regions.length > 1 ? 's' : ''}` : '';
    if (problems.length) showError(`regions: ${[...new Set(problems)].join('; ')}`);
    state.regionsDrawn = shapes.length;
  }
  $('region-import').onchange = async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    try {
      const r = await session.call('regions.import', { text: await f.text() });
      state.regions.push(...r.regions);
      await regionsChanged();
    } catch (err) { showError(about(f.name, err.message)); }
    e.target.value = '';
  };
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
  $('region-clear').onclick = () => { state.regions = []; regionsChanged(); };

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
    const d = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (shape === 'circle') return { shape, system: 'image', points: [a], radius: +Math.max(d, 1).toFixed(2) };
    if (shape === 'box') {
      return { shape, system: 'image', points: [[(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]], size: [Math.max(Math.abs(b[0] - a[0]), 1), Math.max(Math.abs(b[1] - a[1]), 1)], angle: 0 };
    }
    if (shape === 'line') return { shape, system: 'image', points: [a, b] };
    return { shape: 'point', system: 'image', points: [b] };
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
    state.regions.push(regionFrom(tool.shape, a, b));
    await regionsChanged();
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
    if (v.length >= 3) { state.regions.push({ shape: 'polygon', system: 'image', points: v }); await regionsChanged(); }
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
  return {
    async sourceChanged() {
      drawGrid();
      for (const c of state.catalogs) await placeCatalog(c);
      await renderRegions();
      profileLayer.clearLayers();
    },
    loadCatalog,
    /** Every region as DS9 text (a workspace keeps them all, a link only a small set). */
    regionsText() {
      return (state.regionsText || '').split('\n').filter((l) => l && !l.startsWith('#')).join('\n');
    },
    /** URL parameters of the overlays: grid, compass, catalog (repeated), regions (DS9 text). */
    urlParams() {
      const out = [];
      if ($('grid').checked) out.push(['grid', '1']);
      if (!$('compass').checked) out.push(['compass', '0']);
      for (const c of state.catalogs) out.push(['catalog', c.path]);
      const body = (state.regionsText || '').split('\n').filter((l) => l && !l.startsWith('#')).join('\n');
      if (body && body.length <= 4000) out.push(['regions', body]);
      return out;
    },
    /** Reopen the overlays a link names (after its image is open). */
    async restore(q) {
      $('grid').checked = q.get('grid') === '1';
      $('compass').checked = q.get('compass') !== '0';
      drawGrid();
      for (const c of q.getAll('catalog')) await loadCatalog(c);
      if (q.get('regions')) {
        try {
          const r = await session.call('regions.import', { text: q.get('regions') });
          state.regions.push(...r.regions);
          await regionsChanged();
        } catch (e) { showError(`regions in the link: ${e.message}`); }
      }
    },
  };
}
