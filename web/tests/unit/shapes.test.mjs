// Region geometry: outlines, drawing by drag, handles, and the round trip into pixels and back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rotate, boxCorners, ellipsePts, arrowHead, fixed, colourOf, regionFrom, toPixelRegion, fromPixelRegion, handles }
  from '../../lib/shapes.js';

const near = (a, b, eps = 1e-9) => a.flat().forEach((v, i) => assert.ok(Math.abs(v - b.flat()[i]) <= eps, `${a} vs ${b}`));

test('outlines turn counter-clockwise about their centre', () => {
  near(rotate([10, 10], [[1, 0]], 90), [[10, 11]]);
  near(boxCorners([0, 0], [4, 2], 0), [[-2, -1], [2, -1], [2, 1], [-2, 1]]);
  near(boxCorners([0, 0], [4, 2], 90), [[1, -2], [1, 2], [-1, 2], [-1, -2]]);
  const e = ellipsePts([5, 5], 3, 1, 0);
  assert.equal(e.length, 96);
  near([e[0], e[24]], [[8, 5], [5, 6]]);
  const head = arrowHead([0, 0], [10, 0], 2);
  near([head[1]], [[10, 0]]);
  assert.ok(head[0][0] < 10 && head[2][0] < 10 && head[0][1] * head[2][1] < 0, 'the head opens back along the line');
});

test('DS9 properties: fixed refuses all, edit=0 one thing; colours', () => {
  assert.equal(fixed({ props: { fixed: '1' } }, 'move'), true);
  assert.equal(fixed({ props: { move: '0' } }, 'move'), true);
  assert.equal(fixed({ props: { move: '0' } }, 'edit'), false);
  assert.equal(fixed({}, 'delete'), false);
  assert.equal(colourOf({ props: { color: 'red' } }), 'red');
  assert.equal(colourOf({ props: { color: 'url(x)' } }), '#3f3', 'only names and #hex reach CSS');
});

test('a drag draws each shape from its start to its end', () => {
  assert.deepEqual(regionFrom('circle', [10, 10], [13, 14]), { shape: 'circle', system: 'image', points: [[10, 10]], radius: 5 });
  assert.deepEqual(regionFrom('box', [10, 10], [20, 14]).size, [10, 4]);
  assert.deepEqual(regionFrom('box', [10, 10], [20, 14]).points, [[15, 12]]);
  assert.deepEqual(regionFrom('line', [1, 2], [3, 4]).points, [[1, 2], [3, 4]]);
  const v = regionFrom('vector', [0, 0], [0, 10]);
  assert.equal(v.angle, 90);
  assert.equal(v.length, 10);
  assert.equal(regionFrom('ellipse', [0, 0], [0, 0.2]).radii[0], 1, 'a click still makes a region of one pixel');
  assert.equal(regionFrom('anything', [0, 0], [4, 4]).shape, 'point');
});

test('a sky region goes into pixels and back unchanged', () => {
  const r = { shape: 'box', system: 'fk5', points: [[150.1, 2.2]], size: [20, 10], angle: 30, props: { color: 'red' } };
  const p = { pts: [[100, 200]], scale: 2.5, turn: -12 };
  const rp = toPixelRegion(r, p);
  assert.equal(rp.system, 'image');
  assert.deepEqual(rp.size, [50, 25]);
  assert.equal(rp.angle, 18);
  const back = fromPixelRegion(r, rp, p);
  assert.deepEqual(back.size, r.size);
  assert.equal(back.angle, 30);
  assert.equal(back.system, 'fk5');
  assert.equal('radius' in back, false, 'fields the shape has not stay absent');
  assert.deepEqual(back.props, r.props);
});

test('handles resize and turn in pixels', () => {
  const [size] = handles({ shape: 'circle', points: [[0, 0]], radius: 3 });
  assert.deepEqual(size.at, [3, 0]);
  assert.equal(size.drag([0, 5]).radius, 5);
  const [corner, turn] = handles({ shape: 'box', points: [[0, 0]], size: [4, 2], angle: 0 });
  near([corner.at], [[2, 1]]);
  assert.deepEqual(corner.drag([3, -2]).size, [6, 4]);
  assert.ok(Math.abs(turn.drag([-1, 0]).angle - 90) < 1e-9, 'the turn handle above the box, dragged left, turns it 90°');
  const poly = handles({ shape: 'polygon', points: [[0, 0], [1, 0], [0, 1]] });
  assert.equal(poly.length, 3);
  assert.deepEqual(poly[1].drag([5, 5]).points, [[0, 0], [5, 5], [0, 1]]);
  assert.deepEqual(handles({ shape: 'text', points: [[0, 0]] }), []);
});
