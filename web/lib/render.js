// The render spec (stretch, cut, colormap, contrast/bias, orientation) as the server takes it, and the
// contrast/bias arithmetic of its renderer: pure functions (no DOM), unit-tested.

/** The default spec of a new viewer. */
export const DEFAULT_SPEC = Object.freeze({ stretch: 'linear', cut: 'zscale', cmap: 'grey', invert: false, contrast: 1, bias: 0.5 });

/** The view's spec → the render parameters of /api/sources and the jobs: a `range` cut carries its
 * levels, contrast and bias are rounded to 3 decimals, defaults are left out. */
export function specParams(s) {
  const p = { stretch: s.stretch, cmap: s.cmap, invert: s.invert, contrast: +s.contrast.toFixed(3), bias: +s.bias.toFixed(3) };
  p.cut = s.cut === 'range' ? `range=${s.lo},${s.hi}` : s.cut;
  if (s.nan) p.nan = s.nan;
  if (s.orient && s.orient !== 'none') p.orient = s.orient;
  if (s.angle) p.angle = s.angle;
  return p;
}

/** A cut as written in a link or the parameters → the spec's fields: {cut} or {cut: 'range', lo, hi}. */
export function parseCut(cut) {
  if (!cut.startsWith('range=')) return { cut };
  const [lo, hi] = cut.slice(6).split(',').map(Number);
  return { cut: 'range', lo, hi };
}

/** The stretches that take a parameter: [name, default, what it does]. */
export const STRETCH_PARAM = {
  log: ['a', 1000, 'log(a·t + 1) / log(a + 1): larger a lifts faint values more'],
  power: ['p', 3, 't^p'],
  asinh: ['a', 0.1, 'softening: asinh(t/a) / asinh(1/a); smaller a is closer to a log'],
  sinh: ['a', 1 / 3, 'sinh(t/a) / sinh(1/a)'],
};

/** A tile's palette index after contrast/bias, from its neutral index, as the server's renderer
 * computes it: index = 1 + round(254·s) (0 is NaN, kept), with s = clamp((s₀ − bias)·contrast + ½),
 * inverted if asked. Returns the 256-entry table neutral index → index. */
export function contrastBiasTable(contrast, bias, invert) {
  const table = new Uint8Array(256);
  for (let n = 1; n < 256; n++) {
    let s = ((n - 1) / 254 - bias) * contrast + 0.5;
    s = Math.min(1, Math.max(0, s));
    if (invert) s = 1 - s;
    table[n] = 1 + Math.round(s * 254);
  }
  return table;
}

/** Right-drag as in DS9: the pointer's place in the map (fractions 0…1 from the left and the top)
 * → {contrast, bias}: left/right is bias (0…1), up/down contrast (0.1…10 on a log scale, 1 at
 * mid-height). */
export function dragContrastBias(fx, fy) {
  const bias = Math.min(1, Math.max(0, fx));
  const contrast = Math.min(10, Math.max(0.1, 10 ** ((0.5 - fy) * 2)));
  return { contrast, bias };
}
