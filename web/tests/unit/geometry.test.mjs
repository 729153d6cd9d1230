// The viewer's geometry: FITS pixels ↔ the displayed image ↔ the map, for every orientation and a turn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ORIENTS, toDisplay, fromDisplay, turnVec, fitsOf, latLngOf, boundsOf, clampRect, tanWorld, edgeCrossing } from '../../lib/geometry.js';

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} vs ${b}`);
const src = (orient, extra = {}) => ({ width: 300, height: 200, zmax: 1, orient, ...extra });

test('each of the 8 orientations maps the corners where a flip and quarter turns put them', () => {
  // FITS (1, 1) (bottom-left) and (300, 1) (bottom-right) of a 300 × 200 image.
  const want = {
    none: [[1, 1], [300, 1]],
    r90: [[200, 1], [200, 300]], // a quarter turn counter-clockwise: the bottom edge goes up the right
    r180: [[300, 200], [1, 200]],
    r270: [[1, 300], [1, 1]],
    fx: [[300, 1], [1, 1]],
    'fx+r90': [[200, 300], [200, 1]],
    fy: [[1, 200], [300, 200]],
    'fx+r270': [[1, 1], [1, 300]],
  };
  for (const o of ORIENTS) {
    assert.deepEqual([toDisplay(src(o), 1, 1), toDisplay(src(o), 300, 1)], want[o], o);
  }
});

test('fromDisplay undoes toDisplay for every orientation, with and without a turn', () => {
  for (const o of ORIENTS) {
    for (const angle of [0, 30, -117.5]) {
      const s = src(o, angle ? { angle, display: { width: 420, height: 390 } } : {});
      for (const [x, y] of [[1, 1], [300, 200], [17.25, 183.5], [150.5, 100.5]]) {
        const [dx, dy] = toDisplay(s, x, y);
        const [bx, by] = fromDisplay(s, dx, dy);
        close(bx, x, 1e-9); close(by, y, 1e-9);
      }
    }
  }
});

test('a turn keeps the centre at the centre of the turned bounding box', () => {
  const s = src('none', { angle: 45, display: { width: 355, height: 355 } });
  const [x, y] = toDisplay(s, 150.5, 100.5);
  close(x, 178); close(y, 178);
});

test('directions turn as positions do', () => {
  for (const o of ORIENTS) {
    const s = src(o, { angle: 20, display: { width: 400, height: 400 } });
    const [ax, ay] = toDisplay(s, 10, 10); const [bx, by] = toDisplay(s, 13, 14);
    const [vx, vy] = turnVec(s, [3, 4]);
    close(vx, bx - ax, 1e-9); close(vy, by - ay, 1e-9);
  }
});

test('map positions: pixel centres, the image on the map, and back', () => {
  const s = src('none');
  // zmax 1: two map units per… one map unit is 2 pixels; FITS (1, 200) is the top-left pixel.
  assert.deepEqual(latLngOf(s, 1, 200), [-0.25, 0.25]);
  assert.deepEqual(latLngOf(s, 0.5, 200.5), [-0, 0]);
  assert.deepEqual(boundsOf(s), [[-100, 0], [0, 150]]);
  for (const o of ORIENTS) {
    const t = src(o);
    const [lat, lng] = latLngOf(t, 42.5, 17);
    const p = fitsOf(t, { lat, lng });
    close(p.x, 42.5); close(p.y, 17);
  }
});

test('a rectangle is clamped to whole pixels inside the image, whatever its corners', () => {
  assert.deepEqual(clampRect(src('none'), [350.2, -4, 10.4, 120.6]), [10, 1, 300, 121]);
});

test('TAN: the reference pixel is the reference position; other projections are left to the server', () => {
  const w = { frame: 'icrs', ctype: ['RA---TAN', 'DEC--TAN'], crval: [150, 2], crpix: [100, 50],
    cd: [[-7.3e-5, 0], [0, 7.3e-5]] };
  const f = tanWorld(w);
  const c = f(100, 50);
  close(c.lon, 150); close(c.lat, 2); assert.equal(c.frame, 'icrs');
  // One pixel east (x − 1 with CD1_1 < 0) is 7.3e-5° / cos δ of right ascension.
  close(f(99, 50).lon - 150, 7.3e-5 / Math.cos((2 * Math.PI) / 180), 1e-10);
  assert.equal(tanWorld({ ...w, ctype: ['RA---SIN', 'DEC--SIN'] }), null);
  assert.equal(tanWorld(null), null);
});

test('a grid line is labelled where it crosses the screen\'s edge, in the order asked', () => {
  // A line running up and to the right across a 400×300 screen: it enters at the bottom, leaves at the right.
  const line = [[[100, 350], [200, 250], [450, 0]]];
  assert.deepEqual(edgeCrossing(line, 400, 300, ['bottom', 'left']), { x: 150, y: 300, edge: 'bottom' });
  assert.deepEqual(edgeCrossing(line, 400, 300, ['left', 'right']), { x: 400, y: 50, edge: 'right' });
  // One that never reaches the left edge falls back to the next edge; one wholly inside has no label.
  assert.equal(edgeCrossing(line, 400, 300, ['left', 'top']), null);
  assert.equal(edgeCrossing([[[10, 10], [20, 20]]], 400, 300, ['bottom', 'left', 'top', 'right']), null);
  // Crossings beyond the edge's span do not count.
  assert.equal(edgeCrossing([[[-50, 350], [-10, 250]]], 400, 300, ['bottom']), null);
});
