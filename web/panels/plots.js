// Plots: a profile along a line (image.profile) with the line on the image, the histogram of the view,
// and the canvas they are drawn on (bars or a line, log counts, round ticks, marks).
import * as L from '../vendor/leaflet/leaflet-src.esm.js';
import { $, showError, busy, canvas2d } from '../ui.js';

export function mountPlots({ store, map, session, place, hook }) {
  const st = () => store.get();
  const probe = hook.tools;
  const profileLayer = L.layerGroup().addTo(map);
  async function profile(a, b) {
    try {
      const r = await session.call('image.profile', { ...place.here(), from: a, to: b });
      profileLayer.clearLayers();
      L.polyline([place.toLatLng(...a), place.toLatLng(...b)], { color: '#fd6', weight: 1.5, className: 'profile-line' }).addTo(profileLayer);
      plot({
        title: `profile (${a[0].toFixed(1)}, ${a[1].toFixed(1)}) → (${b[0].toFixed(1)}, ${b[1].toFixed(1)})`,
        xlabel: 'pixels along the line', ylabel: st().src.bunit || 'value',
        x: r.points.map((p) => p.d), y: r.points.map((p) => p.value), kind: 'line', points: r.points,
      });
    } catch (e) { showError(`profile: ${e.message}`); }
  }
  $('histogram').onclick = async () => {
    if (!st().src) return;
    const rect = place.viewPixels();
    const { lo, hi } = st().src.render;
    const span = hi - lo;
    try {
      busy('histogram…');
      const r = await session.call('image.histogram', { ...place.here(), rect, bins: 128, lo: lo - span * 0.25, hi: hi + span * 0.25 });
      busy('');
      const w = (r.hi - r.lo) / r.bins;
      plot({
        title: `histogram of the view [${rect.join(', ')}]${r.stride > 1 ? `, every ${r.stride}th pixel` : ''}`,
        xlabel: st().src.bunit || 'value', ylabel: 'pixels (log)',
        x: r.counts.map((_, i) => r.lo + (i + 0.5) * w), y: r.counts, kind: 'bars', logy: true, marks: [lo, hi],
        sample: r.sample_size, nan: r.sample_nan,
      });
    } catch (e) { busy(''); showError(`histogram: ${e.message}`); }
  };
  $('plot-close').onclick = () => { $('plot-box').hidden = true; profileLayer.clearLayers(); probe.plot = null; };

  function plot(p) {
    probe.plot = p;
    $('plot-box').hidden = false;
    $('plot-title').textContent = p.title;
    const cv = $('plot');
    const { g, W, H } = canvas2d(cv);
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

  return { profile, plot, clear: () => profileLayer.clearLayers() };
}
