// Cubes: a plane slider and number, [ and ] step, play at a rate. The plane is part of the source (and
// of the link); another plane opens where the view is (same centre and zoom).
import { $ } from '../ui.js';
import { fmtSpectral } from '../lib/format.js';

export function mountCube({ store, map, actions }) {
  let playTimer = null;
  function show(src) {
    $('cube-box').hidden = !(src.planes > 1);
    if (src.planes <= 1) { stop(); return; }
    $('plane').max = src.planes - 1;
    $('plane').value = src.plane;
    $('plane-n').max = src.planes - 1;
    $('plane-n').value = src.plane;
    $('plane-of').textContent = `of 0–${src.planes - 1}`;
    $('plane-wcs').textContent = src.spectral ? `${src.spectral.ctype} ${fmtSpectral(src.spectral)}` : '';
  }
  /** The plane shown, or asked for and on its way (so quick steps add up). */
  const planeNow = () => Number($('plane').value);
  /** Show plane `n` of the cube where the view is (same centre and zoom). */
  function setPlane(n) {
    const { src } = store.get();
    if (!src || src.planes <= 1) return Promise.resolve();
    const p = ((n % src.planes) + src.planes) % src.planes;
    if (p === planeNow() && p === src.plane) return Promise.resolve();
    $('plane').value = p;
    $('plane-n').value = p;
    return actions.open({ path: src.path, hdu: src.selector, plane: p, center: map.getCenter(), zoom: map.getZoom() });
  }
  function stop() {
    clearInterval(playTimer);
    playTimer = null;
    $('play').textContent = '▶ play';
    $('play').classList.remove('on');
  }
  function play() {
    if (playTimer) { stop(); return; }
    if (!(store.get().src?.planes > 1)) return;
    $('play').textContent = '■ stop';
    $('play').classList.add('on');
    let pending = false;
    const fps = Math.min(30, Math.max(0.5, Number($('play-fps').value) || 4));
    playTimer = setInterval(async () => {
      if (pending) return; // a slow plane skips ticks rather than queueing them
      pending = true;
      try { await setPlane(planeNow() + 1); } finally { pending = false; }
    }, 1000 / fps);
  }
  $('plane').oninput = () => setPlane(Number($('plane').value));
  $('plane-n').onchange = () => setPlane(Math.round(Number($('plane-n').value)) || 0);
  $('play').onclick = play;
  $('play-fps').onchange = () => { if (playTimer) { stop(); play(); } };
  store.subscribe((s) => { if (s.src) show(s.src); }, ['src']);
  return { step: (d) => setPlane(planeNow() + d), play };
}
