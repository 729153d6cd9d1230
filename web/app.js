// The toyz viewer: a Leaflet CRS.Simple map over the server's tiles, a file browser, render controls,
// a cursor readout through the session WebSocket (image.pixels), and a URL that always holds the view.
import * as L from './vendor/leaflet/leaflet-src.esm.js';
import { installTools } from './tools.js';
import { installNav } from './nav.js';
import { installLive } from './live.js';
import { installTile } from './tile.js';
import * as geo from './lib/geometry.js';
import { formatWorld, formatValue, fmtSize, fmtZoom, fmtSpectral, cutLabel, fittingTicks, sexa } from './lib/format.js';
import { specParams as renderParams, STRETCH_PARAM, dragContrastBias } from './lib/render.js';
import * as link from './lib/url.js';

const $ = (id) => document.getElementById(id);
const CMAPS = ['grey', 'viridis', 'inferno', 'magma', 'plasma', 'cividis', 'twilight', 'turbo', 'hot', 'cool',
  'coolwarm', 'jet', 'cubehelix', 'bone', 'copper', 'spectral', 'heat', 'ds9cool', 'rainbow', 'a', 'b', 'bb', 'he'];

// ---- session socket: {id, job, params} → ok / error / progress -------------------------------------
class Session {
  constructor() {
    this.next = 1;
    this.pending = new Map();
    this.sessions = 0; // how many server sessions this page has had (a reconnect starts a new one)
    this.onReconnect = [];
    this.waitReady();
    this.connect();
  }
  /** `ready` resolves once a server session is up; a lost connection swaps in a new, pending one at once,
   * and failed attempts keep it pending until one succeeds. */
  waitReady() {
    this.isReady = false;
    this.ready = new Promise((resolve) => { this.markReady = resolve; });
  }
  connect() {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    this.ws = ws;
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.event === 'session.ready') {
        showUser(msg.data.user, msg.data.session, msg.data.admin);
        this.isReady = true;
        this.markReady();
        if (++this.sessions > 1) for (const f of this.onReconnect) f();
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.status === 'progress') { p.progress && p.progress(msg.done, msg.total); return; }
      this.pending.delete(msg.id);
      msg.status === 'ok' ? p.resolve(msg.result) : p.reject(Object.assign(new Error(msg.error.message), { kind: msg.error.kind }));
    };
    ws.onclose = () => {
      $('conn').textContent = 'reconnecting…';
      // A refused upgrade may mean the login ended: the server says so on /api/me (401 → login page).
      if (!this.isReady) fetch('/api/me').catch(() => {});
      for (const p of this.pending.values()) p.reject(new Error('connection lost'));
      this.pending.clear();
      if (this.isReady) this.waitReady();
      setTimeout(() => this.connect(), 1000);
    };
  }
  /** Run a job; the promise has `cancel()`, which asks the server to stop it (it then rejects). */
  call(job, params, progress) {
    let id = null; let ws = null;
    const p = (async () => {
      await this.ready;
      id = this.next++;
      ws = this.ws;
      if (ws.readyState !== WebSocket.OPEN) throw new Error('connection lost');
      return new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject, progress });
        ws.send(JSON.stringify({ id, job, params }));
      });
    })();
    p.cancel = () => { if (id != null && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ id, cancel: true })); };
    return p;
  }
}

// A standalone page written by `toyz tiles build --out` names its tiles.json: no server behind it.
const STATIC = document.body.dataset.static || null;

// With accounts (`toyz serve --auth`), a 401 means the login ended: go to the login page, which comes
// back to this very view afterwards.
if (!STATIC) {
  const realFetch = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const r = await realFetch(...args);
    if (r.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return r;
  };
}

/** The session badge: who is logged in (with a way out) and the session number. */
function showUser(user, id, admin) {
  const c = $('conn');
  c.textContent = user ? `${user} · session ${id} · ` : `session ${id}`;
  if (!user) return;
  const out = document.createElement('a');
  out.id = 'logout';
  out.textContent = 'log out';
  out.href = '#';
  out.onclick = async (ev) => {
    ev.preventDefault();
    await fetch('/api/logout', { method: 'POST' });
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  };
  c.append(out);
  listWorkspaces();
  if (admin) {
    const a = document.createElement('a');
    a.href = '/admin';
    a.textContent = 'accounts';
    c.append(' · ', a);
  }
}
// Leaflet 1.9.4's redraw() takes the map's zoom unrounded as the tile zoom, so at a fractional zoom it
// asked for tiles like z=1.91; round it as the layer's own _setView does.
L.GridLayer.include({
  redraw() {
    if (!this._map) return this;
    this._removeAllTiles();
    const z = this._clampZoom(Math.round(this._map.getZoom()));
    if (z !== this._tileZoom) { this._tileZoom = z; this._updateLevels(); }
    this._update();
    return this;
  },
});
const session = STATIC ? null : new Session();
const view = { src: null, layer: null, spec: { stretch: 'linear', cut: 'zscale', cmap: 'grey', invert: false, contrast: 1, bias: 0.5 } };
// Fractional zoom (zoomSnap 0): the wheel turns by one fixed factor per notch and the zoom menu sets exact
// factors; Leaflet's own wheel handler (which drops notches during its animation) is replaced below.
// No fade-in of tiles: a new rendering replaces the old layer once loaded, and fading it in from black
// over the old one's removal flashed the view dark.
const map = L.map('map', { crs: L.CRS.Simple, zoomSnap: 0, zoomDelta: 1, scrollWheelZoom: false, attributionControl: false, minZoom: -3, fadeAnimation: false, inertiaMaxSpeed: 2000 });
window.toyz = { map, view, session }; // for tests and the console

function showError(text) {
  const e = $('error');
  e.textContent = text;
  e.hidden = !text;
}
/** An error about `what` (a file): the server's messages already name their file, so it is said once. */
const about = (what, message) => (String(message).includes(what) ? message : `${what}: ${message}`);
window.toyz.about = about;
/** The banner for work in progress; `cancel` adds a button that stops it. */
function busy(text, cancel) {
  const b = $('busy');
  b.textContent = text || '';
  if (cancel) {
    const x = document.createElement('button');
    x.id = 'busy-cancel';
    x.type = 'button';
    x.textContent = 'Cancel';
    x.onclick = cancel;
    b.append(' ', x);
  }
  b.hidden = !text;
}

// ---- geometry: FITS pixels ↔ map coordinates (display row 0 at the top, FITS (1,1) bottom-left) ------
// Every position goes through lib/geometry.js (FITS pixels ↔ the displayed, possibly turned image ↔ the
// map); these wrap its results as Leaflet's objects for the source shown.
const { toDisplay, fromDisplay, ORIENTS, turnVec } = geo;
const fitsOf = geo.fitsOf;
const latLngOf = (src, x, y) => L.latLng(geo.latLngOf(src, x, y));
const boundsOf = (src) => L.latLngBounds(geo.boundsOf(src));
const toFits = (ll) => fitsOf(view.src, ll);
const toLatLng = (x, y) => latLngOf(view.src, x, y);
const bounds = () => boundsOf(view.src);
/** The image a job is about, as its parameters. */
const here = () => ({ path: view.src.path, hdu: view.src.selector, plane: view.src.plane });
/** The view in FITS pixels [x1, y1, x2, y2] (may extend past the image). */
function viewRect() {
  const b = map.getBounds();
  const a = toFits(b.getSouthWest()); const z = toFits(b.getNorthEast());
  return [Math.min(a.x, z.x), Math.min(a.y, z.y), Math.max(a.x, z.x), Math.max(a.y, z.y)];
}
/** The part of the image in view, in whole FITS pixels (inclusive), as jobs take rectangles. */
function viewPixels() { return geo.clampRect(view.src, viewRect()); }
Object.assign(window.toyz, { toFits, toLatLng, bounds, toDisplay, fromDisplay });
const tools = STATIC ? { sourceChanged() {}, loadCatalog() {}, overlays: () => ({}), async restore() {} }
  : installTools({ map, view, session, toFits, toLatLng, here, viewRect, viewPixels, busy, showError, about, $, changed: () => writeUrl() });
const nav = installNav({ map, view, toFits, toLatLng, readout: (pos) => readout(pos), $ });
const live = installLive({ view, specParams: () => specParams() });

// ---- file browser -----------------------------------------------------------------------------------
async function browse(path) {
  const r = await fetch(`/api/files?path=${encodeURIComponent(path)}`);
  const j = await r.json();
  if (!r.ok) { showError(j.error.message); return; }
  const crumbs = $('crumbs');
  crumbs.innerHTML = '';
  const parts = path ? path.split('/') : [];
  const root = document.createElement('a');
  root.textContent = 'roots';
  root.onclick = () => browse('');
  crumbs.append(root);
  parts.forEach((p, i) => {
    const a = document.createElement('a');
    a.textContent = p;
    a.onclick = () => browse(parts.slice(0, i + 1).join('/'));
    crumbs.append(' / ', a);
  });
  const ul = $('files');
  ul.innerHTML = '';
  for (const e of j.entries) {
    const li = document.createElement('li');
    const full = path ? `${path}/${e.name}` : e.name;
    // Catalogs and region files load over the open image.
    const over = (cls, what, load) => {
      const a = document.createElement('a');
      a.textContent = e.name;
      a.dataset.path = full;
      a.className = cls;
      a.title = `load as ${what} over the open image`;
      a.onclick = () => (view.src ? load(full) : showError(`open an image first, then its ${what}`));
      li.append(a);
    };
    if (e.kind === 'file' && /\.(csv|tsv|txt|cat)$/i.test(e.name)) over('catalog-file', 'catalog', tools.loadCatalog);
    else if (e.kind === 'file' && /\.reg$/i.test(e.name)) over('region-file', 'DS9 regions', tools.loadRegions);
    else if (e.kind === 'file') {
      li.innerHTML = `<span class="file"></span>`;
      li.firstChild.textContent = e.name;
    } else {
      const a = document.createElement('a');
      a.textContent = e.kind === 'dir' ? `${e.name}/` : e.name;
      a.dataset.path = full;
      a.onclick = () => (e.kind === 'dir' ? browse(full) : open({ path: full }));
      li.append(a);
    }
    if (e.size != null) {
      const s = document.createElement('span');
      s.className = 'size';
      s.textContent = fmtSize(e.size);
      li.append(s);
    }
    li.firstChild.title = e.name;
    ul.append(li);
  }
}

// ---- opening a source and swapping tile layers without flashing -------------------------------------
function specParams() { return renderParams(view.spec); }

// ---- one change of the shown image at a time ---------------------------------------------------------
// Opening, re-rendering and frame switches all wait for the server; run one after another, a blink tick
// or a colormap change during another's round trip would otherwise land in the wrong frame.
let queue = Promise.resolve();
function serial(task) {
  queue = queue.then(task).catch((e) => showError(String(e?.message ?? e)));
  return queue;
}
function open(args) { return serial(() => doOpen(args)); }
async function doOpen({ path, hdu, plane, center, zoom }) {
  showError('');
  busy('opening…');
  let src;
  const progress = (done, total) => busy(`preparing ${Math.round((100 * done) / Math.max(total, 1))} %`);
  try {
    // A file of several CCDs (DECam and other mosaic cameras) opens as its whole focal plane; the
    // server says when a file is not one (bad_mosaic) and the first image HDU opens instead.
    try {
      src = await session.call('image.open', { path, hdu: hdu ?? 'mosaic', plane, preview: true, ...specParams() }, progress);
    } catch (e) {
      if (hdu != null || e.kind !== 'bad_mosaic') throw e;
      src = await session.call('image.open', { path, plane, preview: true, ...specParams() }, progress);
    }
  } catch (e) {
    busy('');
    // A FITS file of tables only is a catalog: it goes over the open image.
    if (e.kind === 'not_an_image' && view.src && hdu == null) { tools.loadCatalog(path); return; }
    showError(about(path, e.message));
    return;
  }
  busy('');
  const prev = view.src;
  view.src = src;
  view.goodSpec = { ...view.spec };
  // The readout follows the mouse; until it moves, say what the line will show (another plane of the
  // same cube reads out where the cursor or crosshair is).
  if (prev?.path === src.path && prev.selector === src.selector && view.lastPos && !nav.crosshairOn()) readout(view.lastPos);
  else if (!nav.crosshairOn()) $('status').textContent = `${src.path}: move over the image for its pixel values${src.wcs ? ' and sky coordinates' : ''}.`;
  setupControls(src);
  setLayer(src.tiles);
  map.setMaxZoom(src.zmax + 6);
  if (center) map.setView(center, zoom ?? src.zmax, { animate: false });
  else if (view.frames.length < 2) fit();
  saveFrame();
  writeUrl();
  tools.sourceChanged();
  nav.sourceChanged();
  if (!$('header-box').hidden) openHeader();
  if (src.levels?.state === 'building') refine(src);
}

/** A never-seen image is first shown from a quick overview while its float levels build; once they are
 * ready, its tiles are fetched again (the overview's were never cached) and `view.refined` counts it. */
async function refine(src) {
  const shown = () => view.src?.id === src.id;
  try {
    await session.call('image.levels', { path: src.path, hdu: src.selector, plane: src.plane },
      (done, total) => { if (shown()) busy(`refining ${Math.round((100 * done) / Math.max(total, 1))} %`); });
  } catch {
    return;
  }
  if (shown()) busy('');
  for (const f of view.frames) if (f?.src?.id === src.id && f.layer) f.layer.redraw();
  if (shown() && view.layer) view.layer.redraw();
  view.refined = (view.refined || 0) + 1;
}

// ---- frames: several images, switch, blink, lock by sky position or pixel ------------------------------
view.frames = [];
view.active = 0;
function saveFrame() {
  view.frames[view.active] = { src: view.src, spec: { ...view.spec }, layer: view.layer };
  renderFrames();
}
function renderFrames() {
  $('frames-box').hidden = !view.src;
  if ($('tile').checked) queueMicrotask(() => tiles.layout());
  const box = $('frames');
  box.innerHTML = '';
  view.frames.forEach((f, i) => {
    const b = document.createElement('button');
    b.textContent = String(i + 1);
    b.title = f.src ? f.src.path : '(empty)';
    b.className = i === view.active ? 'active' : '';
    b.onclick = () => switchFrame(i);
    box.append(b);
  });
}
function switchFrame(i) { return serial(() => doSwitchFrame(i)); }
const tiles = STATIC ? { layout() {} } : installTile({ map, view, session, switchFrame: (i) => switchFrame(i), fitsOf, latLngOf, boundsOf, $ });
async function doSwitchFrame(i) {
  if (i === view.active || !view.frames[i] || !view.frames[i].src) return;
  const lock = $('lock').value;
  const zoom = map.getZoom();
  const c = toFits(map.getCenter());
  const prev = view.src;
  let world = null;
  if (lock === 'wcs' && prev.wcs) {
    try {
      const r = await session.call('image.pixels', { path: prev.path, hdu: prev.selector, points: [[c.x, c.y]] });
      world = r.pixels[0].world;
    } catch { world = null; }
  }
  saveFrame();
  view.active = i;
  const f = view.frames[i];
  view.src = f.src;
  view.spec = { ...f.spec };
  view.layer = null;
  if (f.layer) { f.layer.addTo(map); view.layer = f.layer; } else setLayer(f.src.tiles);
  dropOtherLayers(view.layer);
  setupControls(f.src);
  syncControls();
  map.setMaxZoom(f.src.zmax + 6);
  // The same screen scale per image pixel (pixel lock) or per arcsecond (sky lock), whatever the sizes.
  const pixelZoom = zoom - prev.zmax + f.src.zmax;
  let placed = false;
  if (world && f.src.wcs) {
    try {
      const r = await session.call('image.sky_to_pixel', { path: f.src.path, hdu: f.src.selector, points: [[world.lon, world.lat]], frame: world.frame });
      const p = r.pixels[0];
      if (p) {
        const dz = Math.log2(f.src.wcs.pixel_scale_arcsec / prev.wcs.pixel_scale_arcsec) || 0;
        map.setView(toLatLng(p[0], p[1]), pixelZoom + dz, { animate: false });
        placed = true;
      }
    } catch { placed = false; }
  }
  if (!placed && lock !== 'none') map.setView(toLatLng(c.x, c.y), pixelZoom, { animate: false });
  saveFrame();
  // A frame whose rendering a locked one changed meanwhile is rendered again now.
  if (f.stale) { f.stale = false; await doRerender(); }
  tiles.layout();
  writeUrl();
  tools.sourceChanged();
  nav.sourceChanged();
  if (!$('header-box').hidden) openHeader();
}
/** DS9's lock scale (stretch and the same limits) and lock colorbar (colormap, invert, contrast/bias,
 * NaN colour): the shown frame's rendering is given to the others, which render it when next shown. */
function lockRendering() {
  const scale = $('lock-scale').checked; const colours = $('lock-colours').checked;
  if (!scale && !colours) return;
  view.frames.forEach((f, i) => {
    if (i === view.active || !f?.src) return;
    const s = { ...f.spec };
    if (scale) Object.assign(s, { stretch: view.spec.stretch, cut: 'range', lo: view.src.render.lo, hi: view.src.render.hi });
    if (colours) Object.assign(s, { cmap: view.spec.cmap, invert: view.spec.invert, contrast: view.spec.contrast, bias: view.spec.bias, nan: view.spec.nan });
    if (JSON.stringify(s) === JSON.stringify(f.spec)) return;
    f.spec = s;
    f.stale = true;
    f.layer = null;
  });
}
$('lock-scale').onchange = $('lock-colours').onchange = () => lockRendering();
$('new-frame').onclick = () => serial(() => {
  if (!view.src) return;
  saveFrame();
  view.frames.push({ src: view.src, spec: { ...view.spec }, layer: null });
  view.active = view.frames.length - 1;
  view.layer = null;
  setLayer(view.src.tiles);
  dropOtherLayers(view.layer);
  saveFrame();
  writeUrl();
});
let blinkTimer = null;
function blink() {
  clearInterval(blinkTimer);
  if ($('blink').checked && view.frames.length > 1) {
    let pending = false;
    blinkTimer = setInterval(async () => {
      if (pending) return; // a slow switch skips ticks rather than queueing them
      pending = true;
      try { await switchFrame((view.active + 1) % view.frames.length); } finally { pending = false; }
    }, Math.max(50, Number($('blink-ms').value) || 500));
  }
}
$('blink').onchange = blink;
$('blink-ms').onchange = blink;

function setLayer(url) {
  const src = view.src;
  const layer = L.tileLayer(url, {
    tileSize: 256, minZoom: -3, maxNativeZoom: src.zmax, minNativeZoom: 0, maxZoom: src.zmax + 6,
    noWrap: true, bounds: bounds(), keepBuffer: 4,
  });
  // The layer it replaces stays until this one has loaded (no blank flash); any older ones go with it.
  layer.on('load', () => { if (layer === view.layer) { dropOtherLayers(layer); live.end(); nav.tilesLoaded(); } });
  layer.on('tileerror', async (e) => {
    try {
      const r = await fetch(e.tile.src);
      const j = await r.json();
      showError(`tiles: ${j.error.message}`);
    } catch { showError('a tile failed to load'); }
  });
  layer.addTo(map);
  view.layer = layer;
  nav.sourceChanged();
}

/** Remove every tile layer from the map but `keep` (the frames keep theirs to show them again). */
function dropOtherLayers(keep) {
  map.eachLayer((l) => { if (l instanceof L.TileLayer && l !== keep) map.removeLayer(l); });
}

// Only the newest of several quick changes (a right-drag, a run of clicks) is fetched.
let rerenderGen = 0;
function rerender() {
  const g = ++rerenderGen;
  return serial(() => (g === rerenderGen ? doRerender() : null));
}
async function doRerender() {
  if (!view.src) return;
  const q = new URLSearchParams({ path: view.src.path, hdu: view.src.selector, plane: view.src.plane, ...specParams() });
  const r = await fetch(`/api/sources?${q}`);
  const j = await r.json();
  if (!r.ok) {
    // The server says what is wrong (a percentile out of range, …); the controls go back to the
    // rendering still shown, so the next change does not carry the bad value along.
    showError(j.error.message);
    if (view.goodSpec) { view.spec = { ...view.goodSpec }; syncControls(); }
    return;
  }
  showError('');
  view.src = j;
  view.goodSpec = { ...view.spec };
  updateLevels(j);
  setLayer(j.tiles);
  saveFrame();
  lockRendering();
  writeUrl();
  if (!$('scale-box').hidden) scaleHistogram();
}

function setupControls(src) {
  $('controls').hidden = false;
  const hdu = $('hdu');
  hdu.innerHTML = '';
  const add = (value, text) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    hdu.append(o);
  };
  const ccds = src.hdus.filter((h) => h.kind === 'image' && h.dims.length === 2);
  if (src.mosaic || ccds.length > 1) {
    add('mosaic', 'whole focal plane (by WCS)');
    add('mosaic:detsec', 'whole focal plane (by DETSEC)');
  }
  for (const h of src.hdus) {
    if (h.kind !== 'image' || !h.dims.length) continue;
    add(String(h.index), `${h.index} ${h.extname ?? ''} ${h.dims.join('×')}`);
  }
  hdu.value = src.selector;
  // What the WCS cannot honour is said, never hidden (and no coordinates come from it).
  const note = src.wcs?.note ?? (src.wcs_error ? `no sky coordinates: ${src.wcs_error}` : '');
  $('wcs-note').textContent = note;
  $('wcs-note').hidden = !note;
  showPlane(src);
  updateLevels(src);
}

// ---- cubes: a plane slider, [ and ] step, play at a rate; the plane is in the link ----------------------
function showPlane(src) {
  $('cube-box').hidden = !(src.planes > 1);
  if (src.planes <= 1) { stopPlay(); return; }
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
  if (!view.src || view.src.planes <= 1) return Promise.resolve();
  const p = ((n % view.src.planes) + view.src.planes) % view.src.planes;
  if (p === planeNow() && p === view.src.plane) return Promise.resolve();
  $('plane').value = p;
  $('plane-n').value = p;
  return open({ path: view.src.path, hdu: view.src.selector, plane: p, center: map.getCenter(), zoom: map.getZoom() });
}
$('plane').oninput = () => setPlane(Number($('plane').value));
$('plane-n').onchange = () => setPlane(Math.round(Number($('plane-n').value)) || 0);
let playTimer = null;
function stopPlay() { clearInterval(playTimer); playTimer = null; $('play').textContent = '▶ play'; $('play').classList.remove('on'); }
function play() {
  if (playTimer) { stopPlay(); return; }
  if (!view.src || view.src.planes <= 1) return;
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
$('play').onclick = play;
$('play-fps').onchange = () => { if (playTimer) { stopPlay(); play(); } };

/** The render controls show the current frame's spec. */
function syncControls() {
  showStretch();
  $('cmap').value = view.spec.cmap;
  showCut(view.spec.cut);
  $('cut-pct-box').hidden = true;
  $('invert').checked = view.spec.invert;
  $('nan-on').checked = !!view.spec.nan;
  $('orient').value = view.spec.orient || 'none';
  $('angle').value = view.spec.angle || 0;
  if (view.spec.nan) $('nan-color').value = view.spec.nan.slice(0, 7);
  markCmap();
}
// Stretch parameters (astropy's definitions, the server's defaults): the box shows the one in use.
function showStretch() {
  const [name, arg] = view.spec.stretch.split('=');
  $('stretch').value = name;
  const d = STRETCH_PARAM[name];
  $('stretch-param-box').hidden = !d;
  if (!d) return;
  $('stretch-param-name').textContent = d[0];
  $('stretch-param').value = arg ?? +d[1].toPrecision(6);
  $('stretch-param-box').title = d[2];
}
/** Select `cut` in the cut menu, adding it when it is not one of the menu's (a permalink's
 * `percentile=90`), so the menu never goes blank. */
function showCut(cut) {
  const sel = $('cut');
  if (![...sel.options].some((o) => o.value === cut)) {
    const o = document.createElement('option');
    o.value = cut;
    o.textContent = cutLabel(cut);
    sel.insertBefore(o, sel.querySelector('option[value=range]'));
  }
  sel.value = cut;
}
function markCmap() {
  for (const b of $('cmap-previews').children) b.classList.toggle('active', b.dataset.cmap === view.spec.cmap);
}
function updateLevels(src) {
  const sp = specParams();
  markCmap();
  $('cbar').src = `/api/colorbar?${new URLSearchParams({ cmap: sp.cmap, invert: sp.invert, contrast: sp.contrast, bias: sp.bias })}`;
  $('lo').value = +src.render.lo.toPrecision(6);
  $('hi').value = +src.render.hi.toPrecision(6);
  // Round values where the render puts them along the bar (the server places them through the stretch),
  // those that fit.
  const barW = $('cbar-ticks').clientWidth || 240;
  $('cbar-ticks').replaceChildren(...fittingTicks(src.render.ticks ?? [], barW).map((t) => {
    const e = document.createElement('span');
    e.textContent = t.label;
    e.style.left = `${(100 * t.pos).toFixed(3)}%`;
    e.dataset.value = t.value;
    return e;
  }));
  // The unit (BUNIT) beside the cut levels, which are in it.
  $('bunit').textContent = src.bunit ?? '';
  $('cbar-labels').replaceChildren();
}

for (const c of CMAPS) {
  const o = document.createElement('option');
  o.textContent = c;
  $('cmap').append(o);
  if (STATIC) continue;
  const b = document.createElement('button');
  b.type = 'button';
  b.dataset.cmap = c;
  b.title = c;
  b.innerHTML = `<img alt="" src="/api/colorbar?cmap=${c}"><span>${c}</span>`;
  b.onclick = () => { $('cmap').value = c; view.spec.cmap = c; rerender(); };
  $('cmap-previews').append(b);
}
$('cmap-all').onclick = () => { $('cmap-box').open = !$('cmap-box').open; $('cmap-all').classList.toggle('on', $('cmap-box').open); };
$('stretch').onchange = (e) => { view.spec.stretch = e.target.value; showStretch(); rerender(); };
$('stretch-param').onchange = (e) => {
  const v = Number(e.target.value);
  if (!(v > 0)) { showError('the stretch parameter must be a number above 0'); showStretch(); return; }
  view.spec.stretch = `${$('stretch').value}=${v}`;
  rerender();
};
$('nan-on').onchange = $('nan-color').oninput = () => {
  view.spec.nan = $('nan-on').checked ? `${$('nan-color').value}ff` : undefined;
  rerender();
};
$('cmap').onchange = (e) => { view.spec.cmap = e.target.value; rerender(); };
$('cmap').addEventListener('change', () => markCmap());
$('invert').onchange = (e) => { view.spec.invert = e.target.checked; rerender(); };
$('cut').onchange = (e) => {
  $('cut-pct-box').hidden = e.target.value !== 'pct';
  if (e.target.value === 'pct') { $('cut-pct').focus(); return; }
  view.spec.cut = e.target.value;
  if (view.spec.cut === 'range') { view.spec.lo = +$('lo').value; view.spec.hi = +$('hi').value; }
  rerender();
};
// Any percentile: one central P (99.9) or LO,HI (0.5,99.8); the server checks the numbers.
$('cut-pct').onchange = () => {
  const v = $('cut-pct').value.trim().replace(/\s+/g, '');
  if (!v) return;
  view.spec.cut = `percentile=${v}`;
  showCut(view.spec.cut);
  $('cut-pct-box').hidden = true;
  rerender();
};
for (const id of ['lo', 'hi']) {
  $(id).onchange = () => {
    view.spec.cut = 'range';
    $('cut').value = 'range';
    view.spec.lo = +$('lo').value;
    view.spec.hi = +$('hi').value;
    rerender();
  };
}
// ---- the scale-limits panel: the view's histogram with the cut levels, dragged to set them ------------
const scalePanel = { hist: null, drag: null, lo: 0, hi: 1 };
window.toyz.scale = scalePanel;
async function scaleHistogram() {
  if (!view.src) return;
  const { lo, hi } = view.src.render;
  const span = hi - lo || Math.abs(lo) || 1;
  let a = lo - span / 2; let b = hi + span / 2;
  const st = view.src.stats;
  if ($('scale-wide').checked && st?.min != null) { a = Math.min(a, st.min); b = Math.max(b, st.max); }
  try {
    const r = await session.call('image.histogram', { ...here(), rect: viewPixels(), bins: 256, lo: a, hi: b });
    Object.assign(scalePanel, { hist: r, lo, hi });
    drawScale();
  } catch (e) { showError(`histogram: ${e.message}`); }
}
const scaleX = (v) => { const c = $('scale-hist'); const h = scalePanel.hist; return ((v - h.lo) / (h.hi - h.lo)) * c.clientWidth; };
const scaleV = (x) => { const c = $('scale-hist'); const h = scalePanel.hist; return h.lo + (x / c.clientWidth) * (h.hi - h.lo); };
function drawScale() {
  const h = scalePanel.hist;
  if (!h) return;
  const cv = $('scale-hist');
  const dpr = window.devicePixelRatio || 1;
  const W = cv.clientWidth; const H = cv.clientHeight;
  cv.width = W * dpr; cv.height = H * dpr;
  const g = cv.getContext('2d');
  g.scale(dpr, dpr);
  g.clearRect(0, 0, W, H);
  const top = Math.log10(Math.max(...h.counts) + 1) || 1;
  g.fillStyle = '#58a';
  h.counts.forEach((n, i) => {
    if (!n) return;
    const y = (Math.log10(n + 1) / top) * (H - 14);
    g.fillRect((i * W) / h.bins, H - 12 - y, Math.max(1, W / h.bins), y);
  });
  g.fillStyle = '#999';
  g.font = '10px system-ui, sans-serif';
  g.textAlign = 'left'; g.fillText(String(+h.lo.toPrecision(5)), 2, H - 2);
  g.textAlign = 'right'; g.fillText(String(+h.hi.toPrecision(5)), W - 2, H - 2);
  for (const [k, v] of [['lo', scalePanel.lo], ['hi', scalePanel.hi]]) {
    const x = Math.round(scaleX(v)) + 0.5;
    g.strokeStyle = '#fd6'; g.lineWidth = 1.5;
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, H - 12); g.stroke();
    g.fillStyle = '#fd6'; g.fillRect(x - 4, 0, 8, 8);
    g.textAlign = k === 'lo' ? 'right' : 'left';
    g.fillText(String(+v.toPrecision(6)), x + (k === 'lo' ? -6 : 6), 10);
  }
  $('scale-lo').value = +scalePanel.lo.toPrecision(7);
  $('scale-hi').value = +scalePanel.hi.toPrecision(7);
}
function applyScale() {
  const { lo, hi } = scalePanel;
  if (!(hi > lo)) { showError('the upper limit must be above the lower'); return; }
  Object.assign(view.spec, { cut: 'range', lo: +lo.toPrecision(7), hi: +hi.toPrecision(7) });
  showCut('range');
  rerender();
}
$('scale-hist').addEventListener('pointerdown', (e) => {
  if (!scalePanel.hist) return;
  const x = e.offsetX;
  // The nearer limit follows the pointer (a click elsewhere moves it there, as in DS9).
  scalePanel.drag = Math.abs(x - scaleX(scalePanel.lo)) <= Math.abs(x - scaleX(scalePanel.hi)) ? 'lo' : 'hi';
  $('scale-hist').setPointerCapture(e.pointerId);
  scalePanel[scalePanel.drag] = scaleV(x);
  drawScale();
});
$('scale-hist').addEventListener('pointermove', (e) => {
  if (!scalePanel.drag) return;
  scalePanel[scalePanel.drag] = scaleV(Math.min(Math.max(e.offsetX, 0), $('scale-hist').clientWidth));
  drawScale();
});
$('scale-hist').addEventListener('pointerup', () => {
  if (!scalePanel.drag) return;
  scalePanel.drag = null;
  applyScale();
});
for (const id of ['scale-lo', 'scale-hi']) {
  $(id).onchange = () => { scalePanel.lo = Number($('scale-lo').value); scalePanel.hi = Number($('scale-hi').value); applyScale(); };
}
$('scale-wide').onchange = scaleHistogram;
for (const b of $('scale-presets').children) {
  b.onclick = () => { view.spec.cut = b.dataset.cut; showCut(view.spec.cut); rerender(); };
}
$('scale-open').onclick = () => { $('scale-box').hidden = !$('scale-box').hidden; if (!$('scale-box').hidden) scaleHistogram(); };
$('scale-close').onclick = () => { $('scale-box').hidden = true; };
map.on('moveend', () => { if (!$('scale-box').hidden) scaleHistogram(); });

// ---- orientation: flips and quarter turns, and north up by the WCS --------------------------------------
/** Show the view turned or flipped as `o`, keeping the FITS pixel at the centre and the zoom. */
async function setOrient(o, angle = view.spec.angle || 0) {
  if (!view.src) return;
  const c = toFits(map.getCenter()); const z = map.getZoom();
  view.spec.orient = o;
  view.spec.angle = +(((angle + 180) % 360 + 360) % 360 - 180).toFixed(4);
  $('orient').value = o;
  $('angle').value = view.spec.angle;
  await rerender();
  map.setView(toLatLng(c.x, c.y), z, { animate: false });
  // Everything placed on the image is placed again through the new orientation.
  await tools.sourceChanged();
  nav.sourceChanged();
  view.orientSet = (view.orientSet || 0) + 1;
}
$('orient').onchange = (e) => setOrient(e.target.value);
$('angle').onchange = (e) => setOrient(view.spec.orient || 'none', Number(e.target.value) || 0);
// North up: of the 8 orientations, the one that puts north nearest straight up with east to the left;
// what is left of the image's rotation is said.
$('north-up').onclick = async () => {
  if (!view.src?.wcs) { showError('north up needs an image with a WCS'); return; }
  try {
    const g = await session.call('image.graticule', { ...here(), rect: viewPixels(), lines: 2 });
    if (!g.north || !g.east) throw new Error('no north at the centre of the view');
    let best = null;
    ORIENTS.forEach((name) => {
      const src = { ...view.src, orient: name, angle: 0 };
      const [nx, ny] = turnVec(src, g.north); const [ex] = turnVec(src, g.east);
      const off = Math.abs(Math.atan2(nx, ny)) + (ex < 0 ? 0 : 10);
      if (!best || off < best.off) best = { name, off, deg: (Math.atan2(nx, ny) * 180) / Math.PI };
    });
    // The nearest of the eight, then the rest of the way by turning the pixels (nearest pixel).
    const rest = Math.abs(best.deg) > 0.01 ? best.deg : 0;
    await setOrient(best.name, rest);
    busy(`north up, east left (${best.name}${rest ? `, turned ${rest.toFixed(2)}°` : ''})`);
    setTimeout(() => busy(''), 2500);
  } catch (e) { showError(`north up: ${e.message}`); }
};

$('hdu').onchange = (e) => open({ path: view.src.path, hdu: e.target.value });

// ---- cursor readout: one request in flight, the latest position wins ---------------------------------
let inflight = false;
let pendingPos = null;
window.toyz.sexa = sexa;
function zoomText() { return `  zoom ${fmtZoom(zoomFactor())}`; }
/** The standalone page's readout: position and sky from tiles.json, no values (tiles are colours). */
function staticReadout(pos) {
  const ix = Math.round(pos.x); const iy = Math.round(pos.y);
  const inside = ix >= 1 && iy >= 1 && ix <= view.src.width && iy <= view.src.height;
  let text = `x ${ix}  y ${iy}  value ${inside ? 'n/a' : '—'}`;
  if (view.world) text += formatWorld(view.world(pos.x, pos.y));
  $('status').textContent = text + zoomText();
  $('status').dataset.x = ix;
  $('status').dataset.y = iy;
}
async function readout(pos) {
  if (STATIC) { staticReadout(pos); return; }
  if (inflight) { pendingPos = pos; return; }
  inflight = true;
  try {
    const r = await session.call('image.pixels', { ...here(), points: [[pos.x, pos.y]], sky: skyWanted() });
    const p = r.pixels[0];
    const ix = Math.round(p.x); const iy = Math.round(p.y);
    let text = `x ${ix}  y ${iy}  value ${p.value == null ? (p.outside ? '—' : p.ccd === null ? 'none' : 'NaN') : (p.text ?? formatValue(p.value, view.src.bitpix))}${view.src.bunit ? ' ' + view.src.bunit : ''}`;
    if (p.ccd !== undefined) text += p.ccd ? `  ${p.ccd.name} [${Math.round(p.ccd.x)}, ${Math.round(p.ccd.y)}]` : '  (gap)';
    if (view.src.planes > 1) text += `  plane ${view.src.plane}${view.src.spectral ? ` ${view.src.spectral.ctype} ${fmtSpectral(view.src.spectral)}` : ''}`;
    if (p.sky) text += `  ${p.sky.names[0]} ${p.sky.lon_text} ${p.sky.names[1]} ${p.sky.lat_text} (${p.sky.frame})`;
    else if (p.world) text += `  (a ${p.world.frame} position has no ${skyWanted().system} coordinates here)`;
    $('status').textContent = text + zoomText();
    $('status').dataset.x = ix;
    $('status').dataset.y = iy;
  } catch (e) {
    $('status').textContent = e.message;
  } finally {
    inflight = false;
    if (pendingPos) { const p = pendingPos; pendingPos = null; readout(p); }
  }
}
map.on('mousemove', (e) => { if (view.src && !nav.crosshairOn()) readout(view.lastPos = toFits(e.latlng)); });

// The readout's sky system and format: a preference of this browser, kept across pages.
const skyWanted = () => ({ system: $('sky-system').value, format: $('sky-format').value });
try {
  const saved = JSON.parse(localStorage.getItem('toyz.sky') || '{}');
  if (saved.system) $('sky-system').value = saved.system;
  if (saved.format) $('sky-format').value = saved.format;
} catch { /* a bad stored value: the defaults */ }
for (const id of ['sky-system', 'sky-format']) {
  $(id).onchange = () => {
    localStorage.setItem('toyz.sky', JSON.stringify(skyWanted()));
    if (view.src && view.lastPos) readout(view.lastPos);
  };
}

// The panel's sections: open or folded as this browser left them.
try {
  const folded = JSON.parse(localStorage.getItem('toyz.folded') || '[]');
  for (const d of document.querySelectorAll('details.sec')) {
    if (folded.includes(d.dataset.sec)) d.open = false;
    d.addEventListener('toggle', () => {
      const now = [...document.querySelectorAll('details.sec')].filter((x) => !x.open).map((x) => x.dataset.sec);
      localStorage.setItem('toyz.folded', JSON.stringify(now));
    });
  }
} catch { /* a bad stored value: all open */ }

// ---- the header panel: every card of the HDU, searchable -----------------------------------------------
const header = { cards: null, key: null };
async function openHeader() {
  if (!view.src) return;
  const key = `${view.src.path}@${view.src.selector}`;
  $('header-box').hidden = false;
  $('header-title').textContent = `${view.src.path} [${view.src.selector}]`;
  if (header.key !== key) {
    header.key = key;
    header.cards = null;
    $('header-count').textContent = 'reading…';
    try {
      // A focal plane's header is its first CCD's (the primary's cards are in HDU 0).
      const sel = /^mosaic/.test(view.src.selector) ? view.src.hdus.find((h) => h.kind === 'image' && h.dims.length === 2)?.index ?? 0 : view.src.selector;
      const r = await session.call('image.header', { path: view.src.path, hdu: String(sel) });
      if (header.key !== key) return;
      header.cards = r.cards;
      header.hdu = r.hdu;
    } catch (e) { $('header-count').textContent = e.message; return; }
  }
  showHeader();
  $('header-search').focus();
}
function showHeader() {
  if (!header.cards) return;
  const q = $('header-search').value.trim().toLowerCase();
  const text = (c) => `${c.keyword} ${c.value ?? ''} ${c.comment ?? ''}`.toLowerCase();
  const shown = q ? header.cards.filter((c) => text(c).includes(q)) : header.cards;
  const mark = (s) => {
    const e = document.createElement('td');
    const str = String(s ?? '');
    const i = q ? str.toLowerCase().indexOf(q) : -1;
    if (i < 0) { e.textContent = str; return e; }
    const m = document.createElement('mark');
    m.textContent = str.slice(i, i + q.length);
    e.append(str.slice(0, i), m, str.slice(i + q.length));
    return e;
  };
  const rows = shown.map((c) => {
    const tr = document.createElement('tr');
    const k = mark(c.keyword); k.className = 'k';
    const v = mark(c.string ? `'${c.value}'` : c.value); v.className = 'v';
    const cm = mark(c.comment); cm.className = 'c';
    tr.append(k, v, cm);
    return tr;
  });
  $('header-cards').replaceChildren(...rows);
  $('header-count').textContent = `HDU ${header.hdu}: ${q ? `${shown.length} of ` : ''}${header.cards.length} cards`;
}
$('header-open').onclick = () => ($('header-box').hidden ? openHeader() : ($('header-box').hidden = true));
$('header-close').onclick = () => { $('header-box').hidden = true; };
$('header-search').oninput = showHeader;
$('header-search').onkeydown = (e) => { if (e.key === 'Escape') $('header-box').hidden = true; };

// ---- zoom: screen pixels per image pixel ---------------------------------------------------------------
// One wheel notch is ×1.25 (or ÷1.25) about the cursor, applied at once, so notches in quick succession
// all count; trackpads' small steps zoom in proportion. Past 1:1 pixels are drawn crisp, below it smooth.
const NOTCH = Math.log2(1.25);
const zoomFactor = () => 2 ** (map.getZoom() - view.src.zmax);
const zoomOf = (factor) => view.src.zmax + Math.log2(factor);
$('map').addEventListener('wheel', (e) => {
  e.preventDefault();
  if (!view.src) return;
  const px = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaMode === 2 ? e.deltaY * 800 : e.deltaY;
  // A mouse notch is 50–120 px of delta depending on the system: one notch each; smaller steps are
  // a trackpad's, counted in proportion.
  const notches = Math.abs(px) >= 50 ? Math.sign(px) * Math.max(1, Math.round(Math.abs(px) / 100)) : px / 100;
  const z = Math.min(map.getMaxZoom(), Math.max(map.getMinZoom(), map.getZoom() - notches * NOTCH));
  // The point under the cursor is kept from the first notch of a run: Leaflet places the map on whole
  // screen pixels, and re-reading the point at each notch would add up those roundings as a drift.
  const at = map.mouseEventToContainerPoint(e);
  const a = wheelAnchor;
  const same = a && a.at.equals(at) && a.center.equals(map.getCenter()) && a.zoom === map.getZoom();
  const ll = same ? a.ll : map.containerPointToLatLng(at);
  const c = map.unproject(map.project(ll, z).subtract(at.subtract(map.getSize().divideBy(2))), z);
  map.setView(c, z, { animate: false });
  wheelAnchor = { at, ll, center: map.getCenter(), zoom: map.getZoom() };
}, { passive: false });
let wheelAnchor = null;
function fit() { if (view.src) map.fitBounds(bounds(), { animate: false, padding: [0, 0] }); }
function showZoom() {
  if (!view.src) return;
  const f = zoomFactor();
  $('map').classList.toggle('crisp', f > 1.0001);
  const sel = $('zoom');
  const exact = [...sel.options].find((o) => o.value !== 'fit' && o.value !== 'now' && Math.abs(Math.log2(Number(o.value)) - Math.log2(f)) < 1e-6);
  const now = sel.querySelector('option[value=now]');
  now.hidden = !!exact;
  now.textContent = fmtZoom(f);
  sel.value = exact ? exact.value : 'now';
  $('zoom-readout').textContent = fmtZoom(f);
  const st = $('status');
  if (/ {2}zoom \S+$/.test(st.textContent)) st.textContent = st.textContent.replace(/ {2}zoom \S+$/, zoomText());
}
map.on('zoomend', showZoom);
for (let k = -5; k <= 5; k++) {
  const o = document.createElement('option');
  o.value = String(2 ** k);
  o.textContent = fmtZoom(2 ** k);
  $('zoom').append(o);
}
$('zoom').onchange = (e) => {
  if (e.target.value === 'fit') fit();
  else if (e.target.value !== 'now') map.setZoom(zoomOf(Number(e.target.value)), { animate: false });
  showZoom();
};
$('fit').onclick = fit;

// ---- the URL holds the view --------------------------------------------------------------------------
// The state is read in one synchronous step and only the newest call writes: the sky position needs a
// round trip, and a frame switch during it must not mix one frame's path with another's index.
let urlSeq = 0;
let lastCentre = { key: null, world: null };
window.toyz.urlPending = 0;
async function writeUrl() {
  if (!view.src) return;
  window.toyz.urlPending++;
  try { await writeUrlNow(); } finally { window.toyz.urlPending--; }
}
async function writeUrlNow() {
  const seq = ++urlSeq;
  const src = view.src;
  const c = toFits(map.getCenter());
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
  if (seq !== urlSeq || src !== view.src) return;
  const q = link.encode({
    path: src.path, hdu: src.selector, plane: src.planes > 1 ? src.plane : undefined,
    center: world ? { ra: world.lon, dec: world.lat } : c, zoom: map.getZoom(), spec: view.spec,
    overlays: tools.overlays(),
    frames: view.frames.map((f) => ({ path: f.src.path, hdu: f.src.selector })), active: view.active,
  });
  history.replaceState(null, '', `/view?${q}`);
}
map.on('moveend', () => writeUrl());

// ---- pre-render every tile of the current view's spec into the server cache, with progress -----------
$('build-tiles').onclick = async () => {
  if (!view.src) return;
  const job = session.call('tiles.build', { ...here(), ...specParams() },
    (done, total) => busy(`building tiles ${done} / ${total}`, () => job.cancel()));
  busy('building tiles…', () => job.cancel());
  try {
    const r = await job;
    window.toyz.lastBuild = r;
    busy(r.up_to_date ? `all ${r.tiles} tiles were already built` : `${r.tiles} tiles ready (${r.written} rendered now)`);
  } catch (e) {
    window.toyz.lastBuild = { error: e.message };
    busy(/cancel|stopped/.test(e.message) ? 'tile build stopped' : '');
    if (!/cancel|stopped/.test(e.message)) showError(`tile build: ${e.message}`);
  }
  setTimeout(() => busy(''), 2000);
};

$('copy-link').onclick = async () => {
  try { await navigator.clipboard.writeText(location.href); busy('link copied'); setTimeout(() => busy(''), 1200); }
  catch { window.prompt('Copy this link', location.href); }
};
$('copy-image').onclick = async () => {
  const [x1, y1, x2, y2] = viewRect();
  const w = Math.min(4096, Math.max(1, Math.round(x2 - x1)));
  const h = Math.min(4096, Math.max(1, Math.round(y2 - y1)));
  const c = toFits(map.getCenter());
  const q = new URLSearchParams({ path: view.src.path, hdu: view.src.selector, x: c.x.toFixed(1), y: c.y.toFixed(1), w, h, format: 'png', ...specParams() });
  const url = `${location.origin}/api/cutout?${q}`;
  try { await navigator.clipboard.writeText(url); busy('image link copied'); setTimeout(() => busy(''), 1200); }
  catch { window.prompt('Copy this image link', url); }
};

// ---- right-drag contrast/bias, as in DS9: left/right is bias, up/down contrast ------------------------
// While the button is down the loaded tiles show the change at once (live.js); the server renders the
// new tiles when it is released.
const mapEl = $('map');
mapEl.addEventListener('contextmenu', (e) => e.preventDefault());
mapEl.addEventListener('mousedown', (e) => {
  if (e.button === 2 && view.src && !STATIC) { view.cbDrag = true; e.preventDefault(); live.begin(); }
});
window.addEventListener('mouseup', (e) => {
  if (e.button !== 2 || !view.cbDrag) return;
  view.cbDrag = false;
  rerender();
});
mapEl.addEventListener('mousemove', (e) => {
  if (!view.cbDrag) return;
  const r = mapEl.getBoundingClientRect();
  Object.assign(view.spec, dragContrastBias((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height));
  live.update();
});
$('reset-cb').onclick = () => { view.spec.contrast = 1; view.spec.bias = 0.5; rerender(); };

// ---- overlays: detected sources as circles with a popup of their measurements -------------------------
const overlays = L.layerGroup().addTo(map);
$('clear-overlays').onclick = () => overlays.clearLayers();
$('detect').onclick = async () => {
  if (!view.src) return;
  const rect = viewPixels();
  busy('detecting sources…');
  try {
    const r = await session.call('sources.detect', { ...here(), rect },
      (done, total) => busy(`detecting sources ${Math.round((100 * done) / total)} %`));
    for (const s of r.sources) {
      const m = L.circleMarker(toLatLng(s.x, s.y), { radius: 6, color: '#3f3', weight: 1.5, fill: false, className: 'source' });
      const sky = s.lon != null ? `<br>${sexa(s.lon, true)} ${sexa(s.lat, false)}` : '';
      m.bindPopup(`x ${s.x.toFixed(2)} y ${s.y.toFixed(2)}${sky}<br>peak ${s.peak.toFixed(1)} flux ${s.flux.toFixed(0)}<br>FWHM ${s.fwhm.toFixed(2)} px`);
      overlays.addLayer(m);
    }
    busy(`${r.count} sources${r.truncated ? ' (brightest shown)' : ''}`);
    setTimeout(() => busy(''), 1500);
  } catch (e) { busy(''); showError(`detection: ${e.message}`); }
};

// The keys (and what the mouse does), listed by `?`.
nav.shortcut('f', 'fit the whole image in the window', fit);
nav.shortcut('1', 'zoom 1:1 (one screen pixel per image pixel)', () => view.src && map.setZoom(view.src.zmax, { animate: false }));
nav.shortcut('+ −', 'zoom in / out by ×2', null);
nav.shortcut('wheel', 'zoom by ×1.25 a notch, about the cursor', null);
nav.shortcut('← ↑ → ↓', 'pan; with the crosshair on, move it one image pixel (shift: ten)', null);
nav.shortcut('h', 'the header panel (searchable)', () => $('header-open').onclick());
nav.shortcut('Tab', 'the next frame (shift: the previous)', (e) => switchFrame((view.active + (e.shiftKey ? view.frames.length - 1 : 1)) % view.frames.length),
  (e) => e.key === 'Tab' && view.frames.length > 1 && (e.target === document.body || e.target.classList?.contains('leaflet-container')));
nav.shortcut('[ ]', 'a cube: the previous / next plane', (e) => setPlane(planeNow() + (e.key === ']' ? 1 : -1)), (e) => e.key === '[' || e.key === ']');
nav.shortcut('space', 'a cube: play / stop', () => play(), (e) => e.key === ' ' && view.src?.planes > 1);
nav.shortcut('right-drag', 'contrast (up/down) and bias (left/right), as in DS9', null);
nav.shortcut('click', 'select a region (its statistics); drag it to move it; double-click to edit it', null);
nav.shortcut('Delete', 'delete the selected region', null);
nav.shortcut('ctrl+z ctrl+y', 'undo / redo a region change', null);

// ---- workspaces (with accounts): the view saved by name, shared with users and groups ------------------
async function listWorkspaces() {
  const r = await fetch('/api/workspaces');
  if (!r.ok) return;
  $('ws-box').hidden = false;
  const ul = $('ws-list');
  ul.innerHTML = '';
  for (const w of (await r.json()).workspaces) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `/view?workspace=${w.id}`;
    a.textContent = w.name;
    a.dataset.workspace = w.id;
    const who = document.createElement('span');
    who.className = 'owner';
    who.textContent = w.access === 'owner' ? ' (mine)' : ` (${w.owner}, ${w.access})`;
    li.append(a, who);
    ul.append(li);
  }
}

$('ws-save').onclick = async () => {
  const name = $('ws-name').value.trim();
  if (!name) { showError('name the workspace first'); return; }
  const share = $('ws-share').value.trim();
  const state = { link: location.search.replace(/^\?/, ''), regions: tools.regionsText() };
  const body = { name, state, shares: share ? [{ who: share, level: $('ws-level').value }] : [] };
  const r = await fetch('/api/workspaces', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) { showError(`workspace: ${j.error.message}`); return; }
  window.toyz.lastWorkspace = j;
  busy(`saved workspace “${j.name}”`);
  setTimeout(() => busy(''), 1500);
  await listWorkspaces();
};

/** A link `/view?workspace=ID` opens the view saved in it (its images still need read permission). */
async function workspaceQuery(q) {
  const id = q.get('workspace');
  if (!id) return q;
  const r = await fetch(`/api/workspaces/${encodeURIComponent(id)}`);
  const j = await r.json();
  if (!r.ok) { showError(`workspace ${id}: ${j.error.message}`); return new URLSearchParams(); }
  const out = new URLSearchParams(j.state.link || '');
  if (j.state.regions) out.set('regions', j.state.regions);
  document.title = `${j.name} — toyz`;
  return out;
}

// ---- start: restore the view from the URL, or show the roots ------------------------------------------
async function start() {
  const v = link.decode(await workspaceQuery(new URLSearchParams(location.search)));
  Object.assign(view.spec, v.spec, { invert: v.spec?.invert ?? false });
  syncControls();
  const { path, hdu, plane, zoom } = v;
  await browse(path ? path.split('/').slice(0, -1).join('/') : '');
  if (!path) return;
  let center = null;
  if (v.center?.ra != null) {
    const r = await fetch(`/api/pixel?${new URLSearchParams({ path, ...(hdu ? { hdu } : {}), ra: v.center.ra, dec: v.center.dec })}`);
    if (r.ok) { const p = await r.json(); center = { x: p.x, y: p.y }; }
  } else if (v.center) center = v.center;
  // Other frames first (each in its own frame), then the active one where the link points.
  const frames = v.frames ?? [];
  const active = v.active ?? 0;
  for (let i = 0; i < frames.length; i++) {
    if (i > 0) $('new-frame').onclick();
    await open(i === active ? { ...frames[i], center: null, zoom } : frames[i]);
  }
  if (!frames.length) await open({ path, hdu, plane, center: null, zoom });
  if (frames.length > 1) view.active !== active && (await switchFrame(active));
  if (center && view.src) map.setView(toLatLng(center.x, center.y), zoom ?? view.src.zmax, { animate: false });
  if (view.src) await tools.restore(v.overlays ?? {});
}
/** The standalone page: tiles.json beside it says what the tiles are. */
async function startStatic() {
  document.body.classList.add('static');
  $('conn').textContent = 'static';
  let m;
  try {
    const r = await fetch(STATIC);
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    m = await r.json();
  } catch (e) {
    showError(`${STATIC}: ${e.message} — serve this folder with any web server (a file:// page cannot read it)`);
    return;
  }
  const name = String(m.source.path).split(/[\\/]/).pop();
  view.src = { path: name, hdu: m.source.hdu, width: m.width, height: m.height, zmax: m.zmax, wcs: m.wcs, bunit: m.bunit,
    tiles: m.layout, render: m.render, zoom: m.zoom };
  view.world = geo.tanWorld(m.wcs);
  $('status').textContent = `Move over the image for x, y${view.world ? ' and sky coordinates' : ''}.`;
  document.title = `${name} — toyz`;
  const info = $('static-info');
  info.hidden = false;
  const spec = Object.fromEntries(m.render.spec.split(';').map((kv) => [kv.split('=')[0], kv.slice(kv.indexOf('=') + 1)]));
  const notes = ['Pixel values need a toyz server: these tiles are colours.'];
  if (!view.world) notes.push(m.wcs ? `Sky coordinates of a ${m.wcs.ctype.join('/')} image need a toyz server.` : 'No WCS in the header: no sky coordinates.');
  info.innerHTML = '';
  const add = (tag, text) => { const e = document.createElement(tag); e.textContent = text; info.append(e); return e; };
  add('h3', name).className = 'name';
  add('div', `${m.width} × ${m.height} px, HDU ${m.source.hdu}, zoom ${m.zoom[0]}–${m.zoom[1]} of ${m.zmax}`);
  add('div', `stretch ${spec.stretch}, cut ${spec.cut}, cmap ${spec.cmap}${spec.invert === '1' ? ', inverted' : ''}`);
  add('div', `${(+m.render.lo).toPrecision(6)} … ${(+m.render.hi).toPrecision(6)} ${m.bunit ?? ''}`);
  for (const n of notes) add('p', n).className = 'note';
  const layer = L.tileLayer(m.layout, {
    tileSize: m.tile_size, minZoom: -3, maxNativeZoom: m.zoom[1], minNativeZoom: m.zoom[0], maxZoom: m.zmax + 6,
    noWrap: true, bounds: bounds(), keepBuffer: 4,
  });
  layer.on('tileerror', () => showError('a tile failed to load: is the whole folder served?'));
  layer.addTo(map);
  view.layer = layer;
  map.setMaxZoom(m.zmax + 6);
  const v = link.decode(location.search);
  if (v.center?.x != null) {
    map.setView(toLatLng(v.center.x, v.center.y), v.zoom ?? m.zmax, { animate: false });
  } else map.fitBounds(bounds(), { animate: false });
}

// `toyz.restored` tells scripts (and the browser tests) that everything the link named is open.
(STATIC ? startStatic() : start()).finally(() => { window.toyz.restored = true; });
