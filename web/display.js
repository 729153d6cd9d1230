// The image shown and how: opening a source, rendering it again with a new spec, the frames (switch,
// new, lock), the orientation, and the tile layers swapped without flashing. These are the store's
// actions that talk to the server; the panels call them and render from the store.
import * as L from './vendor/leaflet/leaflet-src.esm.js';
import { seamlessTileLayer } from './seamless.js';
import { specParams } from './lib/render.js';
import { about } from './lib/format.js';
import { showError, busy } from './ui.js';

const pct = (done, total) => Math.round((100 * done) / Math.max(total, 1));

export function mountDisplay(ctx) {
  const { store, map, session, place } = ctx;
  const st = () => store.get();
  let goodSpec = null; // the spec of the rendering shown, which a refused one goes back to

  // ---- one change of the shown image at a time ------------------------------------------------------
  // Opening, re-rendering and frame switches all wait for the server; run one after another, a blink tick
  // or a colormap change during another's round trip would otherwise land in the wrong frame.
  let queue = Promise.resolve();
  function serial(task) {
    queue = queue.then(task).catch((e) => showError(String(e?.message ?? e)));
    return queue;
  }

  /** Change what is shown; the shown frame keeps the same source, spec and layer. */
  function show(patch, action) {
    return store.update((s) => {
      const n = { ...s, ...patch };
      const frames = (patch.frames ?? s.frames).slice();
      frames[n.active] = { src: n.src, spec: n.spec, layer: n.layer };
      return { ...patch, frames };
    }, action);
  }

  // ---- tile layers --------------------------------------------------------------------------------------
  function makeLayer(src) {
    const layer = seamlessTileLayer(src.tiles, {
      tileSize: 256, minZoom: -3, maxNativeZoom: src.zmax, minNativeZoom: 0, maxZoom: src.zmax + 6,
      noWrap: true, bounds: place.boundsOf(src), keepBuffer: 4,
    });
    // The layer it replaces stays until this one has loaded (no blank flash); any older ones go with it.
    layer.on('load', () => {
      if (layer !== st().layer) return;
      dropOtherLayers(layer);
      store.update((s) => ({ loads: s.loads + 1 }), 'tiles-loaded');
    });
    layer.on('tileerror', async (e) => {
      try {
        const r = await fetch(e.tile.src);
        const j = await r.json();
        showError(`tiles: ${j.error.message}`);
      } catch { showError('a tile failed to load'); }
    });
    layer.addTo(map);
    return layer;
  }
  /** Remove every tile layer from the map but `keep` (the frames keep theirs to show them again). */
  function dropOtherLayers(keep) {
    map.eachLayer((l) => { if (l instanceof L.TileLayer && l !== keep) map.removeLayer(l); });
  }
  /** Fit the whole of `src` (default the shown one) in the window. */
  const fit = (src = st().src) => { if (src) map.fitBounds(place.boundsOf(src), { animate: false, padding: [0, 0] }); };

  // ---- opening ------------------------------------------------------------------------------------------
  async function doOpen({ path, hdu, plane, center, at, zoom }) {
    showError('');
    busy('opening…');
    let src;
    const progress = (done, total) => busy(`preparing ${pct(done, total)} %`);
    try {
      // A file of several CCDs (DECam and other mosaic cameras) opens as its whole focal plane; the
      // server says when a file is not one (bad_mosaic) and the first image HDU opens instead.
      const params = { path, plane, preview: true, ...specParams(st().spec) };
      try {
        src = await session.call('image.open', { ...params, hdu: hdu ?? 'mosaic' }, progress);
      } catch (e) {
        if (hdu != null || e.kind !== 'bad_mosaic') throw e;
        src = await session.call('image.open', params, progress);
      }
    } catch (e) {
      busy('');
      // A FITS file of tables only is a catalog: it goes over the open image.
      if (e.kind === 'not_an_image' && st().src && hdu == null) { ctx.actions.loadCatalog(path); return; }
      showError(about(path, e.message));
      return;
    }
    busy('');
    goodSpec = st().spec;
    const layer = makeLayer(src);
    map.setMaxZoom(src.zmax + 6);
    // The map is placed first (the first image gives it its first view, which everything placed on it
    // needs), then the store says what it shows.
    // `center` is a map position, `at` a FITS pixel of this image (a link's view, off the image or not):
    // either is the first view, so only its tiles are asked for (a Fit first asked for another level's
    // and aborted them).
    if (center) map.setView(center, zoom ?? src.zmax, { animate: false });
    else if (at) map.setView(place.latLngOf(src, at.x, at.y), zoom ?? src.zmax, { animate: false });
    else if (st().frames.length < 2) fit(src);
    await show({ src, layer }, 'open');
    if (src.levels?.state === 'building') refine(src);
  }

  /** A never-seen image is first shown from a quick overview while its float levels build; once they are
   * ready, its tiles are fetched again (the overview's were never cached) and `refined` counts it. */
  async function refine(src) {
    const shownNow = () => st().src?.id === src.id;
    try {
      await session.call('image.levels', { path: src.path, hdu: src.selector, plane: src.plane },
        (done, total) => { if (shownNow()) busy(`refining ${pct(done, total)} %`); });
    } catch {
      return;
    }
    if (shownNow()) busy('');
    const s = st();
    for (const f of s.frames) if (f?.src?.id === src.id && f.layer && f.layer !== s.layer) f.layer.redraw();
    if (shownNow() && s.layer) s.layer.redraw();
    store.update((n) => ({ refined: n.refined + 1 }), 'refined');
  }

  // ---- rendering again: only the newest of several quick changes (a right-drag, a run of clicks) -----
  let rerenderGen = 0;
  function rerender() {
    const g = ++rerenderGen;
    return serial(() => (g === rerenderGen ? doRerender() : null));
  }
  async function doRerender() {
    const { src, spec } = st();
    if (!src) return;
    const q = new URLSearchParams({ path: src.path, hdu: src.selector, plane: src.plane, ...specParams(spec) });
    const r = await fetch(`/api/sources?${q}`);
    const j = await r.json();
    if (!r.ok) {
      // The server says what is wrong (a percentile out of range, …); the controls go back to the
      // rendering still shown, so the next change does not carry the bad value along.
      showError(j.error.message);
      if (goodSpec) await store.update({ spec: goodSpec }, 'revert');
      return;
    }
    showError('');
    goodSpec = spec;
    await show({ src: j, layer: makeLayer(j) }, 'render');
    lockRendering();
  }
  /** Change the render spec (`patch` of stretch, cut, cmap, …) and render it. */
  async function setSpec(patch) {
    await store.update((s) => ({ spec: { ...s.spec, ...patch } }), 'spec');
    return rerender();
  }

  // ---- frames: several images, switch, lock by sky position or pixel ----------------------------------
  /** DS9's lock scale (stretch and the same limits) and lock colorbar (colormap, invert, contrast/bias,
   * NaN colour): the shown frame's rendering is given to the others, which render it when next shown. */
  function lockRendering() {
    const s = st();
    const { scale, colours } = s.locks;
    if (!scale && !colours) return Promise.resolve();
    const frames = s.frames.map((f, i) => {
      if (i === s.active || !f?.src) return f;
      const n = { ...f.spec };
      if (scale) Object.assign(n, { stretch: s.spec.stretch, cut: 'range', lo: s.src.render.lo, hi: s.src.render.hi });
      if (colours) {
        Object.assign(n, { cmap: s.spec.cmap, invert: s.spec.invert, contrast: s.spec.contrast, bias: s.spec.bias,
          nan: s.spec.nan });
      }
      if (JSON.stringify(n) === JSON.stringify(f.spec)) return f;
      return { ...f, spec: n, stale: true, layer: null };
    });
    return store.update({ frames }, 'lock');
  }

  function switchFrame(i) { return serial(() => doSwitchFrame(i)); }
  async function doSwitchFrame(i) {
    const s = st();
    const f = s.frames[i];
    if (i === s.active || !f?.src) return;
    const lock = s.locks.frame;
    const zoom = map.getZoom();
    const c = place.toFits(map.getCenter());
    const prev = s.src;
    let world = null;
    if (lock === 'wcs' && prev.wcs) {
      try {
        const r = await session.call('image.pixels', { path: prev.path, hdu: prev.selector, points: [[c.x, c.y]] });
        world = r.pixels[0].world;
      } catch { world = null; }
    }
    const layer = f.layer ? f.layer.addTo(map) : makeLayer(f.src);
    dropOtherLayers(layer);
    map.setMaxZoom(f.src.zmax + 6);
    const frames = st().frames.slice();
    frames[s.active] = { src: s.src, spec: s.spec, layer: s.layer };
    const shown = show({ frames, active: i, src: f.src, spec: f.spec, layer }, 'switch');
    // The same screen scale per image pixel (pixel lock) or per arcsecond (sky lock), whatever the sizes.
    const pixelZoom = zoom - prev.zmax + f.src.zmax;
    let placed = false;
    if (world && f.src.wcs) {
      try {
        const r = await session.call('image.sky_to_pixel', { path: f.src.path, hdu: f.src.selector,
          points: [[world.lon, world.lat]], frame: world.frame });
        const p = r.pixels[0];
        if (p) {
          const dz = Math.log2(f.src.wcs.pixel_scale_arcsec / prev.wcs.pixel_scale_arcsec) || 0;
          map.setView(place.toLatLng(p[0], p[1]), pixelZoom + dz, { animate: false });
          placed = true;
        }
      } catch { placed = false; }
    }
    if (!placed && lock !== 'none') map.setView(place.toLatLng(c.x, c.y), pixelZoom, { animate: false });
    await shown;
    // A frame whose rendering a locked one changed meanwhile is rendered again now.
    if (f.stale) await doRerender();
  }

  /** A new frame showing the current image; the next file opened goes into it. */
  function newFrame() {
    return serial(() => {
      const s = st();
      if (!s.src) return null;
      const frames = s.frames.slice();
      frames[s.active] = { src: s.src, spec: s.spec, layer: s.layer };
      frames.push({ src: s.src, spec: s.spec, layer: null });
      const layer = makeLayer(s.src);
      dropOtherLayers(layer);
      return show({ frames, active: frames.length - 1, layer }, 'new-frame');
    });
  }

  // ---- orientation: flips and quarter turns, and a further angle ------------------------------------------
  /** Show the view turned or flipped as `o`, keeping the FITS pixel at the centre and the zoom; the
   * overlays are placed again through the new orientation before `orientSet` counts it. */
  async function setOrient(o, angle = st().spec.angle || 0) {
    if (!st().src) return;
    const c = place.toFits(map.getCenter()); const z = map.getZoom();
    await setSpec({ orient: o, angle: +((((angle + 180) % 360) + 360) % 360 - 180).toFixed(4) });
    map.setView(place.toLatLng(c.x, c.y), z, { animate: false });
    await store.update((s) => ({ orientSet: s.orientSet + 1 }), 'oriented');
  }

  Object.assign(ctx.actions, {
    open: (args) => serial(() => doOpen(args)),
    rerender,
    setSpec,
    switchFrame,
    newFrame,
    lockRendering,
    setOrient,
    fit: () => fit(),
  });
}
