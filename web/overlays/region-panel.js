// The selected region's panel: its statistics (regions.stats: pixels, area, sum, mean, median, std,
// extremes, surface brightness, annulus rings), its histogram and, for a line, its profile; delete; and
// the edit dialog (geometry in the region's own units and DS9 properties, checked by the server).
import { $, showError } from '../ui.js';
import { fixed, flag, GEOM } from '../lib/shapes.js';

export function mountRegionPanel({ store, session, place, actions, hook }, regions, plots) {
  const st = () => store.get();
  const probe = hook.tools;
  let statsSeq = 0;
  async function showSelected() {
    const box = $('region-box');
    const r = st().regions[st().selected];
    box.hidden = !r;
    if (!r) { $('region-edit').hidden = true; return; }
    $('region-title').textContent = `${st().selected + 1}: ${r.shape} (${r.system})${r.exclude ? ', excluded' : ''}`;
    $('region-profile').hidden = r.shape !== 'line';
    $('region-delete').disabled = fixed(r, 'delete');
    $('region-edit-open').disabled = fixed(r, 'edit');
    const seq = ++statsSeq;
    $('region-stats').textContent = 'measuring…';
    try {
      const j = await session.call('regions.stats', { ...place.here(), regions: [r], bins: 64 });
      if (seq !== statsSeq) return;
      const s = j.regions[0];
      probe.stats = s;
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
  function openEdit() {
    const r = st().regions[st().selected];
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
  $('region-close').onclick = () => regions.deselect();
  $('region-delete').onclick = () => regions.deleteSelected();
  $('region-hist').onclick = () => {
    const s = probe.stats;
    if (!s?.histogram) return;
    const h = s.histogram; const w = (h.hi - h.lo) / h.bins || 1;
    plots.plot({
      title: `histogram of region ${st().selected + 1} (${s.npix} pixels)`, xlabel: st().src.bunit || 'value', ylabel: 'pixels (log)',
      x: h.counts.map((_, i) => h.lo + (i + 0.5) * w), y: h.counts, kind: 'bars', logy: true, marks: [s.mean],
    });
  };
  $('region-profile').onclick = () => {
    const p = regions.placed(st().selected);
    if (p) plots.profile(p.pts[0], p.pts[1]);
  };
  $('region-edit-open').onclick = openEdit;
  $('edit-color').oninput = () => { $('edit-colorname').value = $('edit-color').value; };
  $('edit-cancel').onclick = () => { $('region-edit').hidden = true; };
  $('edit-apply').onclick = async () => {
    const old = st().regions[st().selected];
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
      const next = [...st().regions];
      next[st().selected] = back.regions[0];
      $('region-edit').hidden = true;
      await regions.commit(next, st().selected);
    } catch (err) { showError(`edit: ${err.message}`); }
  };
  store.subscribe(showSelected, ['regions', 'selected']);
  actions.editRegion = openEdit;
}
