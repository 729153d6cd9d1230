// The frames row: a button per frame (click to show it), a new frame, DS9's lock scale and lock
// colorbar, what a switch keeps (sky, pixel or nothing), and blink at a rate.
import { $ } from '../ui.js';

export function mountFrames({ store, actions }) {
  function render({ src, frames, active }) {
    $('frames-box').hidden = !src;
    const box = $('frames');
    box.innerHTML = '';
    frames.forEach((f, i) => {
      const b = document.createElement('button');
      b.textContent = String(i + 1);
      b.title = f?.src ? f.src.path : '(empty)';
      b.className = i === active ? 'active' : '';
      b.onclick = () => actions.switchFrame(i);
      box.append(b);
    });
  }
  const locks = () => ({ frame: $('lock').value, scale: $('lock-scale').checked, colours: $('lock-colours').checked });
  $('lock').onchange = () => store.update({ locks: locks() }, 'locks');
  $('lock-scale').onchange = $('lock-colours').onchange = async () => {
    await store.update({ locks: locks() }, 'locks');
    actions.lockRendering();
  };
  $('new-frame').onclick = () => actions.newFrame();
  let blinkTimer = null;
  function blink() {
    clearInterval(blinkTimer);
    if (!$('blink').checked || store.get().frames.length < 2) return;
    let pending = false;
    blinkTimer = setInterval(async () => {
      if (pending) return; // a slow switch skips ticks rather than queueing them
      pending = true;
      try {
        const { active, frames } = store.get();
        await actions.switchFrame((active + 1) % frames.length);
      } finally { pending = false; }
    }, Math.max(50, Number($('blink-ms').value) || 500));
  }
  $('blink').onchange = blink;
  $('blink-ms').onchange = blink;
  store.subscribe(render, ['src', 'frames', 'active']);
  store.update({ locks: locks() }, 'locks');
}
