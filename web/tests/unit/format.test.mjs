// How the viewer writes numbers: sexagesimal, values, sizes, zooms, cuts and colour-bar ticks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sexa, formatWorld, formatValue, fmtSize, fmtZoom, fmtSpectral, cutLabel, fittingTicks, about, esc } from '../../lib/format.js';

test('sexagesimal: hours and degrees, rounded once so a minute never shows 60 seconds', () => {
  assert.equal(sexa(150.1000375, true), '10:00:24.009');
  assert.equal(sexa(2.2, false), '+02:12:00.00');
  assert.equal(sexa(-0.5, false), '-00:30:00.00');
  assert.equal(sexa(-0.0000001, false), '+00:00:00.00'); // rounds to zero: no minus sign
  assert.equal(sexa(359.99999999, true), '00:00:00.000'); // 24h wraps to 0
  assert.equal(sexa((59.9999 / 3600) * 15, true), '00:01:00.000'); // not 00:00:60.000
  assert.equal(sexa(-(59.9999 / 3600), false), '-00:01:00.00');
});

test('sky positions name their frame and axes', () => {
  assert.equal(formatWorld({ frame: 'icrs', lon: 150, lat: -2.5 }),
    '  α 10:00:00.000 δ -02:30:00.00  (150.000000, -2.500000 icrs)');
  assert.equal(formatWorld({ frame: 'galactic', lon: 12.5, lat: 0.25 }), '  l 12.500000 b 0.250000 (galactic)');
  assert.equal(formatWorld({ frame: 'supergalactic', lon: 1, lat: 2 }), '  lon 1.000000 lat 2.000000 (supergalactic)');
});

test('values keep the digits their type holds', () => {
  assert.equal(formatValue(6010, 16), '6010');
  assert.equal(formatValue(0.1 + 0.2, -64), '0.30000000000000004');
  assert.equal(formatValue(Math.fround(0.1), -32), '0.100000001');
  assert.equal(formatValue(1e-300, -64), '1e-300');
});

test('sizes in the binary unit that fits', () => {
  assert.deepEqual([0, 812, 5734, 63963136, 2040109465, 2 ** 50].map(fmtSize),
    ['0 B', '812 B', '5.6 KiB', '61 MiB', '1.9 GiB', '1024 TiB']);
});

test('zoom factors', () => {
  assert.deepEqual([4, 1.25, 1, 0.5, 1 / 3.05, 2 ** 0.1].map(fmtZoom), ['×4', '×1.25', '×1', '1/2', '1/3.05', '×1.07']);
});

test('spectral coordinates and cut labels', () => {
  assert.equal(fmtSpectral({ value: 1420405751.7667, unit: 'Hz' }), '1420405750 Hz');
  assert.equal(fmtSpectral({ value: 0.5 }), '0.5');
  assert.equal(cutLabel('percentile=90'), '90 %');
  assert.equal(cutLabel('percentile=0.5,99.8'), '0.5–99.8 %');
  assert.equal(cutLabel('zscale'), 'zscale');
});

test('colour-bar ticks: a label that would touch the one before it is left out', () => {
  const t = (pos, label) => ({ pos, label });
  const ticks = [t(0, '0'), t(0.5, '1000'), t(0.9, '5000'), t(0.95, '8000'), t(1, '10000')];
  // 240 px: '1000' spans 108–132, '5000' 204–228; '8000' at 228 would touch it; '10000' starts at 222.
  assert.deepEqual(fittingTicks(ticks, 240).map((x) => x.label), ['0', '1000', '5000']);
  assert.deepEqual(fittingTicks(ticks, 2400).map((x) => x.label), ['0', '1000', '5000', '8000', '10000']);
});

test('an error about a file names the file once', () => {
  assert.equal(about('a.fits', 'no such file'), 'a.fits: no such file');
  assert.equal(about('a.fits', 'a.fits: not a FITS file'), 'a.fits: not a FITS file');
  assert.equal(about('cat.csv', new Error('x').message), 'cat.csv: x');
});

test('text for markup escapes what HTML would read', () => {
  assert.equal(esc('<b>"M31" & co</b>'), '&lt;b&gt;&quot;M31&quot; &amp; co&lt;/b&gt;');
  assert.equal(esc(3.5), '3.5');
});
