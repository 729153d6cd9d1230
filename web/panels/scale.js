// The scale-limits panel: the view's histogram with the cut levels, dragged (or typed) to set them, and
// preset cuts. It follows the view (each move asks for the histogram of what is in view).
import { $, showError, canvas2d } from '../ui.js';

export function mountScale({ store, map, session, place, actions, hook }) {
  const panel = { hist: null, drag: null, lo: 0, hi: 1 };
  hook.scale = panel;
  const shown = () => !$('scale-box').hidden;

  async function histogram() {
    const { src } = store.get();
    if (!src) return;
    const { lo, hi } = src.render;
    const span = hi - lo || Math.abs(lo) || 1;
    let a = lo - span / 2; let b = hi + span / 2;
    const st = src.stats;
    if ($('scale-wide').checked && st?.min != null) { a = Math.min(a, st.min); b = Math.max(b, st.max); }
    try {
      const r = await session.call('image.histogram', { ...place.here(), rect: place.viewPixels(), bins: 256, lo: a, hi: b });
      Object.assign(panel, { hist: r, lo, hi });
      draw();
    } catch (e) { showError(`histogram: ${e.message}`); }
  }
  const xOf = (v) => { const h = panel.hist; return ((v - h.lo) / (h.hi - h.lo)) * $('scale-hist').clientWidth; };
  const valueAt = (x) => { const h = panel.hist; return h.lo + (x / $('scale-hist').clientWidth) * (h.hi - h.lo); };
  function draw() {
    const h = panel.hist;
    if (!h) return;
    const cv = $('scale-hist');
    const { g, W, H } = canvas2d(cv);
    const top = Math.log10(Math.max(...h.counts) + 1) || 1;
    g.fillStyle = '#58a';
    h.counts.forEach((n, i) => {
      if (!n) return;
      const y = (Math.log10(n + 1) / top) * (H - 14);
      g.fillRect((i * W) / h.bins, H - 12 - y, Math.max(1, W / h.bins), y);
    });
    g.fillStyle = '#999';
    g.font = '10px system-ui, sans-serif';
    g.textAlign = 'left'; g.fillText(String(+h.lo.toPrecision(5)), 2, H - 2);
    g.textAlign = 'right'; g.fillText(String(+h.hi.toPrecision(5)), W - 2, H - 2);
    for (const [k, v] of [['lo', panel.lo], ['hi', panel.hi]]) {
      const x = Math.round(xOf(v)) + 0.5;
      g.strokeStyle = '#fd6'; g.lineWidth = 1.5;
      g.beginPath(); g.moveTo(x, 0); g.lineTo(x, H - 12); g.stroke();
      g.fillStyle = '#fd6'; g.fillRect(x - 4, 0, 8, 8);
      g.textAlign = k === 'lo' ? 'right' : 'left';
      g.fillText(String(+v.toPrecision(6)), x + (k === 'lo' ? -6 : 6), 10);
    }
    $('scale-lo').value = +panel.lo.toPrecision(7);
    $('scale-hi').value = +panel.hi.toPrecision(7);
  }
  function apply() {
    const { lo, hi } = panel;
    if (!(hi > lo)) { showError('the upper limit must be above the lower'); return; }
    actions.setSpec({ cut: 'range', lo: +lo.toPrecision(7), hi: +hi.toPrecision(7) });
  }
  const cv = $('scale-hist');
  cv.addEventListener('pointerdown', (e) => {
    if (!panel.hist) return;
    const x = e.offsetX;
    // The nearer limit follows the pointer (a click elsewhere moves it there, as in DS9).
    panel.drag = Math.abs(x - xOf(panel.lo)) <= Math.abs(x - xOf(panel.hi)) ? 'lo' : 'hi';
    cv.setPointerCapture(e.pointerId);
    panel[panel.drag] = valueAt(x);
    draw();
  });
  cv.addEventListener('pointermove', (e) => {
    if (!panel.drag) return;
    panel[panel.drag] = valueAt(Math.min(Math.max(e.offsetX, 0), cv.clientWidth));
    draw();
  });
  cv.addEventListener('pointerup', () => {
    if (!panel.drag) return;
    panel.drag = null;
    apply();
  });
  for (const id of ['scale-lo', 'scale-hi']) {
    $(id).onchange = () => { panel.lo = Number($('scale-lo').value); panel.hi = Number($('scale-hi').value); apply(); };
  }
  $('scale-wide').onchange = histogram;
  for (const b of $('scale-presets').children) b.onclick = () => actions.setSpec({ cut: b.dataset.cut });
  $('scale-open').onclick = () => { $('scale-box').hidden = !$('scale-box').hidden; if (shown()) histogram(); };
  $('scale-close').onclick = () => { $('scale-box').hidden = true; };
  map.on('moveend', () => { if (shown()) histogram(); });
  // A new rendering moves the cut levels: the panel shows them.
  store.subscribe((s, prev, action) => { if (action === 'render' && shown()) histogram(); }, ['src']);
}
