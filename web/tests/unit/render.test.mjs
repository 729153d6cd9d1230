// The render spec as the server takes it, and the contrast/bias arithmetic of its renderer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SPEC, specParams, parseCut, contrastBiasTable, dragContrastBias } from '../../lib/render.js';

test('a spec becomes render parameters: range levels, rounding, defaults left out', () => {
  assert.deepEqual(specParams(DEFAULT_SPEC),
    { stretch: 'linear', cmap: 'grey', invert: false, contrast: 1, bias: 0.5, cut: 'zscale' });
  assert.deepEqual(specParams({ ...DEFAULT_SPEC, cut: 'range', lo: -3.5, hi: 1e4, contrast: 1.23456, bias: 0.1, nan: '#ff0000ff', orient: 'r90', angle: 12.5 }),
    { stretch: 'linear', cmap: 'grey', invert: false, contrast: 1.235, bias: 0.1, cut: 'range=-3.5,10000', nan: '#ff0000ff', orient: 'r90', angle: 12.5 });
  assert.equal(specParams({ ...DEFAULT_SPEC, orient: 'none' }).orient, undefined);
});

test('cuts parse back into the spec', () => {
  assert.deepEqual(parseCut('range=-3.5,10000'), { cut: 'range', lo: -3.5, hi: 10000 });
  assert.deepEqual(parseCut('percentile=99.5'), { cut: 'percentile=99.5' });
});

test('neutral contrast/bias leaves every index as it is; NaN (0) stays 0', () => {
  const t = contrastBiasTable(1, 0.5, false);
  for (let n = 1; n < 256; n++) assert.equal(t[n], n);
  assert.equal(t[0], 0);
});

test('invert reverses the indices; contrast 2 about bias 0.5 doubles the distance from the middle, clamped', () => {
  const inv = contrastBiasTable(1, 0.5, true);
  assert.equal(inv[1], 255); assert.equal(inv[255], 1); assert.equal(inv[128], 128);
  const c2 = contrastBiasTable(2, 0.5, false);
  assert.equal(c2[128], 128); // the middle stays
  assert.equal(c2[1 + 127 + 32], 1 + 127 + 64);
  assert.equal(c2[20], 1); assert.equal(c2[250], 255);
  // Bias 0.25: what was the middle (s₀ = ½) shows at three quarters, 1 + round(254 · ¾).
  assert.equal(contrastBiasTable(1, 0.25, false)[128], 192);
});

test('right-drag: left/right is bias, up/down contrast on a log scale from 0.1 to 10', () => {
  assert.deepEqual(dragContrastBias(0.5, 0.5), { contrast: 1, bias: 0.5 });
  assert.deepEqual(dragContrastBias(-1, 0), { contrast: 10, bias: 0 });
  assert.deepEqual(dragContrastBias(2, 1), { contrast: 0.1, bias: 1 });
  assert.ok(Math.abs(dragContrastBias(0.3, 0.25).contrast - Math.sqrt(10)) < 1e-12);
});
