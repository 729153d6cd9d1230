// The viewer's state in one place: what image is shown and how (source, render spec, orientation),
// the frames, and the counters scripts wait on. Modules read it with get(), change it with update(),
// and react to changes with subscribe(); no module keeps its own copy of another's state.
//
// State is replaced, never mutated: update() makes a new top-level object, and a changed field gets a
// new value (update({ spec: { ...spec, cmap } })), so a subscriber compares fields by identity.

/**
 * A store over `initial`. `update(patch, action)` merges `patch` (an object, or a function of the state
 * returning one) and calls every subscriber with (state, previous state, action). A subscriber given
 * `keys` is called only when one of those fields changed. update() returns a promise that settles when
 * the subscribers' own work (a returned promise) has; a failing subscriber goes to `onError` and does not
 * stop the others.
 */
export function createStore(initial = {}, { onError = (e) => console.error(e) } = {}) {
  let state = Object.freeze({ ...initial });
  const subs = new Set();
  return {
    get: () => state,
    update(patch, action = 'update') {
      const prev = state;
      const p = typeof patch === 'function' ? patch(prev) : patch;
      if (!p || Object.keys(p).every((k) => p[k] === prev[k])) return Promise.resolve();
      state = Object.freeze({ ...prev, ...p });
      const work = [];
      for (const s of [...subs]) {
        if (s.keys && !s.keys.some((k) => state[k] !== prev[k])) continue;
        try {
          work.push(Promise.resolve(s.fn(state, prev, action)).catch(onError));
        } catch (e) {
          onError(e);
        }
      }
      return Promise.all(work).then(() => undefined);
    },
    /** Call `fn(state, prev, action)` after each change (of one of `keys`, when given); returns the
     * function that stops it. */
    subscribe(fn, keys = null) {
      const s = { fn, keys };
      subs.add(s);
      return () => subs.delete(s);
    },
  };
}

/** Whether any of `keys` differs between two states. */
export const changed = (state, prev, ...keys) => keys.some((k) => state[k] !== prev[k]);
