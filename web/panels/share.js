// Sharing and keeping the view: copy its link or a PNG cutout's link, and pre-render every tile of the
// current rendering into the server's cache, with progress and a cancel button.
import { $, busy, flash, showError } from '../ui.js';
import { specParams } from '../lib/render.js';

export function mountShare({ store, map, session, place, hook }) {
  $('build-tiles').onclick = async () => {
    if (!store.get().src) return;
    const job = session.call('tiles.build', { ...place.here(), ...specParams(store.get().spec) },
      (done, total) => busy(`building tiles ${done} / ${total}`, () => job.cancel()));
    busy('building tiles…', () => job.cancel());
    try {
      const r = await job;
      hook.lastBuild = r;
      flash(r.up_to_date ? `all ${r.tiles} tiles were already built` : `${r.tiles} tiles ready (${r.written} rendered now)`, 2000);
    } catch (e) {
      hook.lastBuild = { error: e.message };
      const stopped = /cancel|stopped/.test(e.message);
      if (stopped) flash('tile build stopped', 2000);
      else { busy(''); showError(`tile build: ${e.message}`); }
    }
  };
  async function copy(text, what) {
    try { await navigator.clipboard.writeText(text); flash(`${what} copied`, 1200); }
    catch { window.prompt(`Copy this ${what}`, text); }
  }
  $('copy-link').onclick = () => copy(location.href, 'link');
  /** The link of a PNG of the view as the screen shows it: its centre, its size in image pixels as
   * displayed, the orientation and turn, and at most as many pixels as the window has (fewer when zoomed
   * in: never more than one per image pixel). */
  const imageLink = () => {
    const { src, spec } = store.get();
    const size = map.getSize();
    const f = place.zoomFactor();
    const w = Math.min(65536, Math.max(1, Math.round(size.x / f)));
    const h = Math.min(65536, Math.max(1, Math.round(size.y / f)));
    const c = place.toFits(map.getCenter());
    const q = new URLSearchParams({ path: src.path, hdu: src.selector, x: c.x.toFixed(2), y: c.y.toFixed(2), w, h,
      max: Math.min(4096, Math.max(size.x, size.y)), format: 'png', ...specParams(spec) });
    return `${location.origin}/api/cutout?${q}`;
  };
  hook.imageLink = imageLink;
  $('copy-image').onclick = () => copy(imageLink(), 'image link');
}
