import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStore, changed } from '../../lib/store.js';

test('update merges a patch into a new state and tells subscribers what it was before', async () => {
  const s = createStore({ a: 1, spec: { cmap: 'grey' } });
  const seen = [];
  s.subscribe((now, prev, action) => seen.push([now.a, prev.a, action]));
  const before = s.get();
  await s.update({ a: 2 }, 'set-a');
  assert.deepEqual(seen, [[2, 1, 'set-a']]);
  assert.equal(before.a, 1, 'the old state is not changed');
  assert.equal(s.get().spec, before.spec, 'fields not in the patch keep their identity');
  assert.ok(Object.isFrozen(s.get()));
});

test('a patch may be a function of the state', async () => {
  const s = createStore({ n: 1 });
  await s.update((st) => ({ n: st.n + 1 }));
  await s.update((st) => ({ n: st.n * 10 }));
  assert.equal(s.get().n, 20);
});

test('a patch that changes nothing notifies no one', async () => {
  const s = createStore({ a: 1 });
  let calls = 0;
  s.subscribe(() => calls++);
  await s.update({ a: 1 });
  await s.update(null);
  assert.equal(calls, 0);
});

test('a subscriber with keys hears only about those fields', async () => {
  const s = createStore({ src: null, spec: {}, n: 0 });
  const heard = [];
  s.subscribe((st) => heard.push(st.n), ['src', 'spec']);
  await s.update({ n: 1 });
  await s.update({ spec: { cmap: 'hot' }, n: 2 });
  await s.update({ n: 3 });
  await s.update({ src: { id: 'x' }, n: 4 });
  assert.deepEqual(heard, [2, 4]);
});

test('unsubscribe stops the calls', async () => {
  const s = createStore({ a: 0 });
  let calls = 0;
  const off = s.subscribe(() => calls++);
  await s.update({ a: 1 });
  off();
  await s.update({ a: 2 });
  assert.equal(calls, 1);
});

test('update waits for subscribers that do work, and one failing does not stop the others', async () => {
  const errors = [];
  const s = createStore({ a: 0 }, { onError: (e) => errors.push(e.message) });
  const done = [];
  s.subscribe(async () => { await new Promise((r) => setTimeout(r, 5)); done.push('slow'); });
  s.subscribe(() => { throw new Error('boom'); });
  s.subscribe(async () => { throw new Error('async boom'); });
  s.subscribe(() => done.push('fast'));
  await s.update({ a: 1 });
  assert.deepEqual(done.sort(), ['fast', 'slow']);
  assert.deepEqual(errors.sort(), ['async boom', 'boom']);
});

test('changed compares fields by identity', () => {
  const spec = { cmap: 'grey' };
  assert.equal(changed({ spec }, { spec }, 'spec'), false);
  assert.equal(changed({ spec: { ...spec } }, { spec }, 'spec'), true);
  assert.equal(changed({ a: 1, b: 2 }, { a: 1, b: 3 }, 'a', 'b'), true);
});
