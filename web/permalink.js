// The URL holds the view: every change of the image, its rendering, the frames, the overlays or the map
// writes it (lib/url.js encodes it), and a page opened on such a link (or a workspace) restores it.
// The state is read in one synchronous step and only the newest write lands: the sky position of the
// centre needs a round trip, and a frame switch during it must not mix one frame's path with another's.
import * as link from './lib/url.js';

/** The overlays as a link holds them: grid, compass, catalogs, and the regions as DS9 text when short
 * enough for a link (a workspace keeps them all). */
function linkOverlays(s) {
  const regions = link.regionBody(s.regionsText);
  return { grid: s.grid.lines, compass: s.grid.compass, catalogs: s.catalogs.map(link.catalogSpec),
    regions: regions.length <= 4000 ? regions : '' };
}

export function mountPermalink({ store, map, session, place, actions, hook, STATIC }) {
  let seq = 0;
  let lastCentre = { key: null, world: null };
  hook.urlPending = 0;
  async function write() {
    if (!store.get().src) return;
    hook.urlPending++;
    try { await writeNow(); } finally { hook.urlPending--; }
  }
  async function writeNow() {
    const mine = ++seq;
    const { src, spec, frames, active } = store.get();
    const c = place.toFits(map.getCenter());
    if (STATIC) {
      history.replaceState(null, '', `${location.pathname}?${link.encode({ center: c, zoom: map.getZoom() })}`);
      return;
    }
    // A frame switch writes the link and also moves the map (which writes it again): ask once per centre.
    const key = JSON.stringify([src.path, src.selector, c.x, c.y]);
    let world = lastCentre.key === key ? lastCentre.world : null;
    if (src.wcs && lastCentre.key !== key) {
      try {
        const r = await session.call('image.pixels', { path: src.path, hdu: src.selector, plane: src.plane, points: [[c.x, c.y]] });
        world = r.pixels[0].world;
        lastCentre = { key, world };
      } catch { world = null; }
    }
    if (mine !== seq || src !== store.get().src) return;
    const q = link.encode({
      path: src.path, hdu: src.selector, plane: src.planes > 1 ? src.plane : undefined,
      center: world ? { ra: world.lon, dec: world.lat } : c, zoom: map.getZoom(), spec,
      overlays: linkOverlays(store.get()),
      frames: frames.map((f) => ({ path: f.src.path, hdu: f.src.selector })), active,
    });
    history.replaceState(null, '', `/view?${q}`);
  }
  map.on('moveend', () => write());
  store.subscribe(() => write(), ['src', 'frames', 'active', 'grid', 'catalogs', 'regionsText']);

  /** Open what a link names: its frames (each in its own frame), the active one where the link points,
   * then its overlays. */
  async function restore(v, browse) {
    await store.update((s) => ({ spec: { ...s.spec, ...v.spec, invert: v.spec?.invert ?? false } }), 'restore');
    const { path, hdu, plane, zoom } = v;
    await browse(path ? path.split('/').slice(0, -1).join('/') : '');
    if (!path) return;
    // The sky centre as a pixel of the image: through its WCS, on the image or off it (tile and lock
    // modes leave a view there; /api/pixel refuses a pixel outside the image).
    let center = null;
    if (v.center?.ra != null) {
      try {
        const r = await session.call('image.sky_to_pixel', { path, ...(hdu ? { hdu } : {}), plane: plane ?? 0, points: [[v.center.ra, v.center.dec]] });
        const px = r.pixels[0];
        if (px) center = { x: px[0], y: px[1] };
      } catch { center = null; }
    } else if (v.center) center = v.center;
    const frames = v.frames ?? [];
    const active = v.active ?? 0;
    // The active frame opens on the link's view (no Fit first); with several frames the others come first.
    for (let i = 0; i < frames.length; i++) {
      if (i > 0) await actions.newFrame();
      await actions.open(i === active ? { ...frames[i], at: center, zoom } : frames[i]);
    }
    if (!frames.length) await actions.open({ path, hdu, plane, at: center, zoom });
    if (frames.length > 1 && store.get().active !== active) await actions.switchFrame(active);
    const { src } = store.get();
    if (center && src) map.setView(place.toLatLng(center.x, center.y), zoom ?? src.zmax, { animate: false });
    if (src) await actions.restoreOverlays(v.overlays ?? {});
  }
  return { restore, decode: link.decode };
}
