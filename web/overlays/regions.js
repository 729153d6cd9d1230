// DS9 regions on the image: the set (in the store, every change one undoable step), each shape drawn
// through the WCS (sky regions: positions, sizes in arcsec and angles from the sky's axes), selected with a
// click, moved by dragging, resized and turned by its handles, read from files and links and written as
// DS9 text. The selected region's panel (statistics, edit dialog) is overlays/region-panel.js.
import * as L from '../vendor/leaflet/leaflet-src.esm.js';
import { $, showError, flash } from '../ui.js';
import { about, esc } from '../lib/format.js';
import { SKY, rotate, boxCorners, ellipsePts, arrowHead, fixed, flag, colourOf, handles, toPixelRegion, fromPixelRegion }
  from '../lib/shapes.js';

export function mountRegions({ store, map, session, place, actions, hook }) {
  const { toLatLng, toFits } = place;
  const st = () => store.get();
  const px = () => 1 / 2 ** st().src.zmax; // map units per FITS pixel
  const probe = hook.tools;
  probe.undo = []; probe.redo = [];
  const layer = L.featureGroup().addTo(map);
  const fits = (e) => { const p = toFits(e.latlng); return [+p.x.toFixed(2), +p.y.toFixed(2)]; };

  // Sky regions: points through the WCS, sizes from arcsec, and angles (DS9 measures them from the sky's
  // axes) turned by the image's own rotation, taken from where north points at the region.
  async function toPixels(r) {
    if (!SKY.includes(r.system)) return { pts: r.points, scale: 1, turn: 0 };
    const { src } = st();
    if (!src.wcs) throw new Error(`a ${r.system} region needs an image with a WCS`);
    const [lon, lat] = r.points[0];
    const north = [lon, Math.min(lat + 1 / 3600, 90)];
    const j = await session.call('image.sky_to_pixel', { ...place.here(), points: [...r.points, north], frame: r.system });
    const n = j.pixels.pop();
    if (j.pixels.some((p) => p == null)) throw new Error(`a ${r.system} region is not on this image's projection`);
    const turn = n ? (Math.atan2(n[1] - j.pixels[0][1], n[0] - j.pixels[0][0]) * 180) / Math.PI - 90 : 0;
    return { pts: j.pixels, scale: 1 / src.wcs.pixel_scale_arcsec, turn };
  }
  /** Pixels → sky positions in a region's system (degrees), through the server's readout. */
  async function toSky(pts, system) {
    const want = { j2000: 'fk5' }[system] ?? system;
    if (!['fk5', 'icrs', 'galactic', 'ecliptic'].includes(want)) throw new Error(`a ${system} region cannot be moved here`);
    const j = await session.call('image.pixels', { ...place.here(), points: pts, sky: { system: want, format: 'degrees' } });
    return j.pixels.map((q) => {
      if (!q.sky) throw new Error('the new position has no sky coordinates');
      return [+q.sky.lon.toFixed(8), +q.sky.lat.toFixed(8)];
    });
  }
  /** A pixel region made from `r0` back in r0's own system and units. */
  async function unpix(r0, rp, p) {
    const out = fromPixelRegion(r0, rp, p);
    if (SKY.includes(r0.system)) out.points = await toSky(rp.points, r0.system);
    return out;
  }

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

  // ---- the set of regions, with undo ----------------------------------------------------------------
  /** Replace the regions (one undoable step), selecting `select`. */
  async function commit(next, select = st().selected) {
    probe.undo.push(JSON.stringify(st().regions));
    if (probe.undo.length > 200) probe.undo.shift();
    probe.redo = [];
    await store.update({ regions: next, selected: select != null && select < next.length ? select : null }, 'regions');
  }
  async function undo(from, to) {
    if (!from.length) return;
    to.push(JSON.stringify(st().regions));
    const regions = JSON.parse(from.pop());
    const { selected } = st();
    await store.update({ regions, selected: selected != null && selected >= regions.length ? null : selected }, 'regions');
  }
  $('region-undo').onclick = () => undo(probe.undo, probe.redo);
  $('region-redo').onclick = () => undo(probe.redo, probe.undo);
  // The regions as DS9 text, kept for the link (short sets only: a URL is no place for thousands).
  async function regionsChanged({ regions }) {
    await render();
    let text = '';
    try {
      text = regions.length ? (await session.call('regions.export', { regions })).text : '';
    } catch { text = ''; }
    $('region-undo').disabled = !probe.undo.length;
    $('region-redo').disabled = !probe.redo.length;
    if (regions === st().regions) await store.update({ regionsText: text }, 'regions-text');
  }
  store.subscribe((s, prev) => (s.regions !== prev.regions ? regionsChanged(s) : render()), ['regions', 'selected']);

  let seq = 0;
  /** Draw every region on the image shown, and the selected one's handles. */
  async function render() {
    const mine = ++seq;
    const shapes = [];
    const problems = [];
    const { regions, selected } = st();
    if (st().src) {
      for (const [i, r] of regions.entries()) {
        try {
          const p = await toPixels(r);
          shapes.push([i, r, p, shapeOf(r, p.pts, p.scale, p.turn, i === selected)]);
        } catch (e) { problems.push(e.message); }
      }
    }
    if (mine !== seq) return;
    layer.clearLayers();
    probe.placed = new Map();
    const drawing = () => st().tool;
    for (const [i, r, p, s] of shapes) {
      if (r.props?.text && r.shape !== 'text') {
        s.bindTooltip(`<span style="color:${esc(colourOf(r))}">${esc(r.props.text)}</span>`,
          { permanent: true, direction: 'top', className: 'region-text' });
      }
      // A click selects; a drag of the selected region moves it; a double click edits it.
      s.on('click', (e) => { if (drawing()) return; L.DomEvent.stopPropagation(e); select(i); });
      s.on('mousedown', (e) => startMove(e, i));
      s.on('dblclick', (e) => { if (drawing()) return; L.DomEvent.stopPropagation(e); select(i); actions.editRegion(); });
      layer.addLayer(s);
      probe.placed.set(i, p);
    }
    const sel = regions[selected];
    if (sel && probe.placed.has(selected) && !fixed(sel, 'edit')) {
      for (const h of handles(toPixelRegion(sel, probe.placed.get(selected)))) {
        const m = L.marker(toLatLng(...h.at), {
          icon: L.divIcon({ className: `region-handle ${h.kind}`, iconSize: [9, 9] }), keyboard: false, zIndexOffset: 1000,
        });
        m.on('mousedown', (e) => startHandle(e, h));
        layer.addLayer(m);
      }
    }
    $('region-count').textContent = regions.length ? `${regions.length} region${regions.length > 1 ? 's' : ''}` : '';
    if (problems.length) showError(`regions: ${[...new Set(problems)].join('; ')}`);
    probe.regionsDrawn = shapes.length;
  }
  function select(i) {
    const r = st().regions[i];
    if (!r || flag(r, 'select') === '0') return;
    store.update({ selected: i }, 'select');
  }
  const deselect = () => store.update({ selected: null }, 'select');
  async function deleteSelected() {
    const { regions, selected } = st();
    const r = regions[selected];
    if (!r || fixed(r, 'delete')) return;
    await commit(regions.filter((_, i) => i !== selected), null);
  }

  // ---- reading and writing DS9 files ---------------------------------------------------------------
  /** Regions read from a file or a link: added, and what was not read is said, line by line. */
  async function addRegions(r, what) {
    if (r.unknown?.length) {
      const lines = r.unknown.map((u) => `line ${u.line} (${u.reason}): ${u.text}`);
      showError(`${what}: ${r.unknown.length} line${r.unknown.length > 1 ? 's' : ''} not read — ${lines.join('; ')}`);
    }
    probe.unknown = r.unknown ?? [];
    if (r.regions.length) await commit([...st().regions, ...r.regions], null);
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
  async function load(path) {
    try {
      await addRegions(await session.call('regions.load', { path }), path);
      flash(`${st().regions.length} regions`, 1200);
    } catch (err) { showError(about(path, err.message)); }
  }
  $('region-export').onclick = async () => {
    try {
      const r = await session.call('regions.export', { regions: st().regions });
      probe.exported = r.text;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([r.text], { type: 'text/plain' }));
      a.download = `${(st().src?.path.split('/').pop() || 'toyz').replace(/\.fits(\.fz|\.gz)?$/i, '')}.reg`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    } catch (err) { showError(`export: ${err.message}`); }
  };
  $('region-clear').onclick = () => commit([], null);

  // ---- moving: drag the selected region; sky regions get their new positions back through the WCS ------
  let move = null;
  function startMove(e, i) {
    if (st().tool || i !== st().selected || e.originalEvent.button !== 0) return;
    if (fixed(st().regions[i], 'move')) return;
    L.DomEvent.stopPropagation(e);
    map.dragging.disable();
    move = { i, from: fits(e), preview: null };
  }
  map.on('mousemove', (e) => {
    if (!move) return;
    const b = fits(e); const p = probe.placed.get(move.i); const r = st().regions[move.i];
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
    const r = structuredClone(st().regions[m.i]);
    const p = probe.placed.get(m.i);
    const moved = p.pts.map(([x, y]) => [+(x + m.d[0]).toFixed(3), +(y + m.d[1]).toFixed(3)]);
    try {
      r.points = SKY.includes(r.system) ? await toSky(moved, r.system) : moved;
    } catch (err) { showError(`move: ${err.message}`); return; }
    const next = [...st().regions];
    next[m.i] = r;
    await commit(next, m.i);
  });

  // ---- resizing and turning: handles worked in image pixels, then back in the region's own units -------
  let handleDrag = null;
  function startHandle(e, h) {
    if (st().tool || e.originalEvent.button !== 0) return;
    L.DomEvent.stopPropagation(e);
    map.dragging.disable();
    handleDrag = { h, i: st().selected, preview: null, rp: null };
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
      const next = [...st().regions];
      next[d.i] = await unpix(st().regions[d.i], d.rp, probe.placed.get(d.i));
      await commit(next, d.i);
    } catch (err) { showError(`resize: ${err.message}`); }
  });

  document.addEventListener('keydown', (e) => {
    if (/INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) return;
    const ctrl = e.ctrlKey || e.metaKey;
    const { selected, tool } = st();
    if (ctrl && e.key.toLowerCase() === 'z') {
      e.preventDefault();
      undo(e.shiftKey ? probe.redo : probe.undo, e.shiftKey ? probe.undo : probe.redo);
    } else if (ctrl && e.key.toLowerCase() === 'y') { e.preventDefault(); undo(probe.redo, probe.undo); }
    else if ((e.key === 'Delete' || e.key === 'Backspace') && selected != null) { e.preventDefault(); deleteSelected(); }
    else if (e.key === 'Escape' && selected != null && !tool) deselect();
  });

  return {
    commit, render, load, shapeOf, deleteSelected, deselect,
    /** Regions in a link (DS9 text). */
    async restore(text) {
      try {
        await addRegions(await session.call('regions.import', { text }), 'regions in the link');
      } catch (e) { showError(`regions in the link: ${e.message}`); }
    },
    /** Where region i is on the image shown ({pts, scale, turn}). */
    placed: (i) => probe.placed?.get(i),
  };
}
