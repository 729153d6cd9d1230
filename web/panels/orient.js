// Orientation: flips and quarter turns, a further angle, and north up by the WCS.
import { $, showError, flash } from '../ui.js';
import { ORIENTS, turnVec } from '../lib/geometry.js';

export function mountOrient({ store, session, place, actions }) {
  $('orient').onchange = (e) => actions.setOrient(e.target.value);
  $('angle').onchange = (e) => actions.setOrient(store.get().spec.orient || 'none', Number(e.target.value) || 0);
  // North up: of the 8 orientations, the one that puts north nearest straight up with east to the left;
  // what is left of the image's rotation is said.
  $('north-up').onclick = async () => {
    const { src } = store.get();
    if (!src?.wcs) { showError('north up needs an image with a WCS'); return; }
    try {
      const g = await session.call('image.graticule', { ...place.here(), rect: place.viewPixels(), lines: 2 });
      if (!g.north || !g.east) throw new Error('no north at the centre of the view');
      let best = null;
      ORIENTS.forEach((name) => {
        const turned = { ...src, orient: name, angle: 0 };
        const [nx, ny] = turnVec(turned, g.north); const [ex] = turnVec(turned, g.east);
        const off = Math.abs(Math.atan2(nx, ny)) + (ex < 0 ? 0 : 10);
        if (!best || off < best.off) best = { name, off, deg: (Math.atan2(nx, ny) * 180) / Math.PI };
      });
      // The nearest of the eight, then the rest of the way by turning the pixels (nearest pixel).
      const rest = Math.abs(best.deg) > 0.01 ? best.deg : 0;
      await actions.setOrient(best.name, rest);
      flash(`north up, east left (${best.name}${rest ? `, turned ${rest.toFixed(2)}°` : ''})`, 2500);
    } catch (e) { showError(`north up: ${e.message}`); }
  };
}
