// The toyz viewer's wiring: one store (lib/store.js) holds the view's state; the display's actions
// (display.js) change what is shown through the server; panels and overlays render from the store and
// call actions; the permalink writes the URL from the store and restores it. docs/architecture.md
// ("Front end") draws the modules and the data flow.
import * as L from './vendor/leaflet/leaflet-src.esm.js';
import { createStore } from './lib/store.js';
import { DEFAULT_SPEC } from './lib/render.js';
import { sexa } from './lib/format.js';
import { toDisplay, fromDisplay } from './lib/geometry.js';
import { $ } from './ui.js';
import { Session } from './session.js';
import { placing } from './place.js';
import { mountDisplay } from './display.js';
import { mountPermalink } from './permalink.js';
import { startStatic } from './static.js';
import { installNav } from './nav.js';
import { installLive } from './live.js';
import { installTile } from './tile.js';
import { mountOverlays } from './overlays/index.js';
import { mountControls } from './panels/controls.js';
import { mountScale } from './panels/scale.js';
import { mountCube } from './panels/cube.js';
import { mountOrient } from './panels/orient.js';
import { mountHeader } from './panels/header.js';
import { mountReadout } from './panels/readout.js';
import { mountZoom } from './panels/zoom.js';
import { mountFrames } from './panels/frames.js';
import { mountFiles } from './panels/files.js';
import { mountWorkspaces } from './panels/workspaces.js';
import { mountShare } from './panels/share.js';

// A standalone page written by `toyz tiles build --out` names its tiles.json: no server behind it.
const STATIC = document.body.dataset.static || null;

// With accounts (`toyz serve --auth`), a 401 means the login ended: go to the login page, which comes
// back to this very view afterwards.
const toLogin = () => location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
if (!STATIC) {
  const realFetch = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const r = await realFetch(...args);
    if (r.status === 401) toLogin();
    return r;
  };
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

const store = createStore({
  src: null, // the source shown (image.open's reply), with its rendering
  spec: { ...DEFAULT_SPEC }, // the render spec asked for (lib/render.js)
  layer: null, // its tile layer
  frames: [], // [{src, spec, layer, stale}] — the shown one is frames[active]
  active: 0,
  locks: { frame: 'wcs', scale: false, colours: false }, // what a frame switch keeps; DS9's locks
  cursor: null, // the FITS position the readout is about (the mouse, or the crosshair)
  crosshair: false,
  grid: { lines: false, compass: true }, // the coordinate grid and the compass shown
  catalogs: [], // catalogs over the image (overlays/catalogs.js)
  regions: [], // DS9 regions (the server's JSON form), and the selected one's index
  selected: null,
  regionsText: '', // the regions as DS9 text
  tool: null, // the mouse tool on: 'region' (drawing) or 'profile'
  world: null, // the standalone page's pixel → sky function
  loads: 0, refined: 0, orientSet: 0, // counts of tile loads, refined sources and orientation changes
});

// Fractional zoom (zoomSnap 0): the wheel turns by one fixed factor per notch and the zoom menu sets exact
// factors; Leaflet's own wheel handler (which drops notches during its animation) is replaced in
// panels/zoom.js. No fade-in of tiles: a new rendering replaces the old layer once loaded, and fading it in
// from black over the old one's removal flashed the view dark.
const map = L.map('map', { crs: L.CRS.Simple, zoomSnap: 0, zoomDelta: 1, scrollWheelZoom: false,
  attributionControl: false, minZoom: -3, fadeAnimation: false, inertiaMaxSpeed: 2000 });
const place = placing(store, map);

// The automation hook (docs/architecture.md, "The automation hook"): what scripts and the browser tests
// may read. Modules add their own probes to it through ctx.hook; nothing else is global.
const hook = {
  store, map, place, sexa, restored: false,
  get view() { return store.get(); },
  toFits: place.toFits, toLatLng: place.toLatLng, bounds: place.bounds, toDisplay, fromDisplay,
};
window.toyz = hook;

const workspaces = { list: () => {} };
/** The session badge: who is logged in (with a way out), the session number, and the admin console. */
function showUser({ user, session: id, admin }) {
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
    toLogin();
  };
  c.append(out);
  workspaces.list();
  if (admin) {
    const a = document.createElement('a');
    a.href = '/admin';
    a.textContent = 'accounts';
    c.append(' · ', a);
  }
}
const session = STATIC ? null : new Session({ onReady: showUser, onLost: () => { $('conn').textContent = 'reconnecting…'; } });
hook.session = session;

/** What every module gets: the store, the map, the session, positions, the actions and the hook. */
const ctx = { store, map, session, place, actions: {}, hook, STATIC };
mountDisplay(ctx);
mountReadout(ctx);
const zoom = mountZoom(ctx);
const nav = installNav(ctx);
const live = installLive(ctx);

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

nav.shortcut('f', 'fit the whole image in the window', () => ctx.actions.fit());
nav.shortcut('1', 'zoom 1:1 (one screen pixel per image pixel)', zoom.oneToOne);
nav.shortcut('+ −', 'zoom in / out by ×2', null);
nav.shortcut('wheel', 'zoom by ×1.25 a notch, about the cursor', null);
nav.shortcut('← ↑ → ↓', 'pan; with the crosshair on, move it one image pixel (shift: ten)', null);

async function start() {
  const overlays = mountOverlays(ctx);
  mountControls(ctx);
  mountScale(ctx);
  const cube = mountCube(ctx);
  mountOrient(ctx);
  const header = mountHeader(ctx);
  mountFrames(ctx);
  installTile(ctx);
  const files = mountFiles(ctx);
  Object.assign(workspaces, mountWorkspaces(ctx));
  mountShare(ctx);
  live.dragContrastBias();
  const permalink = mountPermalink(ctx);
  nav.shortcut('h', 'the header panel (searchable)', header.toggle);
  nav.shortcut('Tab', 'the next frame (shift: the previous)',
    (e) => { const s = store.get(); ctx.actions.switchFrame((s.active + (e.shiftKey ? s.frames.length - 1 : 1)) % s.frames.length); },
    (e) => e.key === 'Tab' && store.get().frames.length > 1
      && (e.target === document.body || e.target.classList?.contains('leaflet-container')));
  nav.shortcut('[ ]', 'a cube: the previous / next plane', (e) => cube.step(e.key === ']' ? 1 : -1),
    (e) => e.key === '[' || e.key === ']');
  nav.shortcut('space', 'a cube: play / stop', () => cube.play(), (e) => e.key === ' ' && store.get().src?.planes > 1);
  nav.shortcut('right-drag', 'contrast (up/down) and bias (left/right), as in DS9', null);
  overlays.shortcuts(nav.shortcut);
  // Restore the view from the URL (or a workspace), or show the roots.
  const q = await workspaces.query(new URLSearchParams(location.search));
  await permalink.restore(permalink.decode(q), files.browse);
}

async function startStandalone() {
  mountPermalink(ctx);
  await startStatic(ctx, STATIC);
}

// `toyz.restored` tells scripts (and the browser tests) that everything the link named is open.
(STATIC ? startStandalone() : start()).finally(() => { hook.restored = true; });
