// The permalink: encode(view) → query and decode(query) → view, a round trip; old links read the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, decode, regionBody, catalogSpec } from '../../lib/url.js';

const full = {
  path: 'data/sky one.fits', hdu: 'SCI', plane: 3,
  center: { ra: 150.1234567, dec: -2.5 }, zoom: 3.1416,
  spec: { stretch: 'asinh=0.05', cut: 'range', lo: -3.5, hi: 1000, cmap: 'heat', invert: true, nan: '#ff0000ff', orient: 'fx+r90', angle: 12.5, contrast: 1.5, bias: 0.25 },
  overlays: { grid: true, compass: false, catalogs: ['data/stars.csv', 'data/b.fits'], regions: 'image\ncircle(1,2,3) # text={a&b}' },
  frames: [{ path: 'data/sky one.fits', hdu: 'SCI' }, { path: 'data/a,b@c.fits', hdu: '0' }], active: 1,
};

test('every field of a view survives the round trip', () => {
  assert.deepEqual(decode(encode(full)), full);
});

test('a plain view: pixel centre, defaults left out of the link', () => {
  const v = { path: 'data/ramp.fits', hdu: '0', center: { x: 12.25, y: 40 }, zoom: 2,
    spec: { stretch: 'linear', cut: 'zscale', cmap: 'grey', invert: false, contrast: 1, bias: 0.5 } };
  const q = encode(v);
  assert.equal(q, 'path=data%2Framp.fits&hdu=0&x=12.25&y=40.00&zoom=2&stretch=linear&cut=zscale&cmap=grey');
  const back = decode(q);
  // Absent from the link: invert, contrast and bias come back absent (the viewer's defaults).
  assert.deepEqual(back, { path: 'data/ramp.fits', hdu: '0', center: { x: 12.25, y: 40 }, zoom: 2,
    spec: { stretch: 'linear', cut: 'zscale', cmap: 'grey' } });
});

test('positions and zoom are written to the precision a log needs', () => {
  const q = new URLSearchParams(encode({ center: { ra: 10.123456789, dec: 1 }, zoom: 1.234567 }));
  assert.equal(q.get('ra'), '10.1234568');
  assert.equal(q.get('dec'), '1.0000000');
  assert.equal(q.get('zoom'), '1.2346');
});

test('a link from an earlier toyz reads as it always did', () => {
  const v = decode('?path=data%2Fsky.fits&hdu=0&x=300.00&y=200.00&zoom=1.5&stretch=log&cut=percentile%3D99.5&cmap=viridis'
    + '&invert=true&contrast=2&bias=0.3&grid=1&catalog=data%2Fstars.csv&frames=data%252Fsky.fits%400,data%252Fr.fits%40SCI&active=7');
  assert.deepEqual(v, {
    path: 'data/sky.fits', hdu: '0', center: { x: 300, y: 200 }, zoom: 1.5,
    spec: { stretch: 'log', cut: 'percentile=99.5', cmap: 'viridis', invert: true, contrast: 2, bias: 0.3 },
    overlays: { grid: true, catalogs: ['data/stars.csv'] },
    frames: [{ path: 'data/sky.fits', hdu: '0' }, { path: 'data/r.fits', hdu: 'SCI' }],
    active: 1, // clamped to the frames there are
  });
});

test('the standalone page\'s link: a centre and a zoom only', () => {
  assert.equal(encode({ center: { x: 5, y: 6.5 }, zoom: 0 }), 'x=5.00&y=6.50&zoom=0');
  assert.deepEqual(decode('x=5.00&y=6.50&zoom=0'), { center: { x: 5, y: 6.5 }, zoom: 0 });
});

test('a broken frame name is kept as written, not thrown', () => {
  assert.deepEqual(decode('frames=%25E0%25A4%25A,b').frames, [{ path: '%E0%A4%A' }, { path: 'b' }]);
});

test('a link keeps the regions DS9 writes behind a #: text and vector, not the header or comments', () => {
  const exported = '# Region file format: DS9 version 4.1\nglobal color=green\nimage\ncircle(1,2,3)\n'
    + '# text(80,450) text={Hello there}\n# vector(200,450,40,30) vector=1\n# a comment\n\n';
  assert.equal(regionBody(exported),
    'global color=green\nimage\ncircle(1,2,3)\n# text(80,450) text={Hello there}\n# vector(200,450,40,30) vector=1');
});

test('a catalog from a FITS table keeps its HDU in the link', () => {
  assert.equal(catalogSpec({ path: 'aud/mef.fits', hdu: 'CAT' }), 'aud/mef.fits[CAT]');
  assert.equal(catalogSpec({ path: 'data/stars.csv', hdu: undefined }), 'data/stars.csv');
});
