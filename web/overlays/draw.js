// The mouse tools: draw a region of the chosen shape (a drag; a polygon by clicks, closed with a double
// click), or a profile line. A tool is a Leaflet handler (`addHooks`/`removeHooks`): while it is on, its
// listeners are on the map and the map's own drag and double-click zoom are off; turning it off puts
// them back. The tool in use is in the store (`tool`), so a click on a region selects it only when no
// tool is on.
import * as L from '../vendor/leaflet/leaflet-src.esm.js';
import { $ } from '../ui.js';
import { regionFrom } from '../lib/shapes.js';

// One handler class for both tools; `options` says which tool and shape, and what a finished
// gesture does (`done(a, b)` for a drag, `polygon(vertices)` for a polygon).
const DrawTool = L.Handler.extend({
  initialize(map, { ready, fits, toLatLng, outline, done, polygon }) {
    this._map = map;
    Object.assign(this, { ready, fits, toLatLng, outline, done, polygon });
    this.kind = null; this.shape = null;
  },
  addHooks() {
    const m = this._map;
    m.dragging.disable(); m.doubleClickZoom.disable();
    m.getContainer().classList.add('drawing');
    m.on({ mousedown: this.down, mousemove: this.move, mouseup: this.up, click: this.click, dblclick: this.dblclick }, this);
  },
  removeHooks() {
    const m = this._map;
    m.off({ mousedown: this.down, mousemove: this.move, mouseup: this.up, click: this.click, dblclick: this.dblclick }, this);
    this.clear(); this.start = null; this.vertices = [];
    m.getContainer().classList.remove('drawing');
    m.dragging.enable(); m.doubleClickZoom.enable();
  },
  clear() { if (this.preview) { this._map.removeLayer(this.preview); this.preview = null; } },
  polygonMode() { return this.kind === 'region' && this.shape === 'polygon'; },
  down(e) {
    if (!this.ready() || e.originalEvent.button !== 0 || this.polygonMode()) return;
    this.start = this.fits(e);
  },
  move(e) {
    if (!this.start) return;
    this.clear();
    this.preview = this.outline(this.kind, this.shape, this.start, this.fits(e)).addTo(this._map);
  },
  async up(e) {
    if (!this.start) return;
    const a = this.start; const b = this.fits(e);
    this.start = null;
    this.clear();
    await this.done(this.kind, this.shape, a, b);
  },
  click(e) {
    if (!this.polygonMode() || !this.ready()) return;
    this.vertices.push(this.fits(e));
    this.clear();
    // Not interactive: a preview under the pointer would be the second click's target, a new element
    // each click, and the browser then sends no double click (the polygon never closed, and each try
    // added a vertex).
    this.preview = L.polyline(this.vertices.map(([x, y]) => this.toLatLng(x, y)),
      { color: '#3f3', weight: 1.5, dashArray: '3 3', interactive: false }).addTo(this._map);
  },
  async dblclick() {
    if (!this.polygonMode()) return;
    // A double click also sent two clicks: the last vertex is there twice, or a pixel or two apart when
    // the hand moved between them. A vertex within 4 screen pixels of the one before is that one.
    const screen = ([x, y]) => this._map.latLngToContainerPoint(this.toLatLng(x, y));
    const v = this.vertices.filter((p, i, a) => i === 0 || screen(p).distanceTo(screen(a[i - 1])) >= 4);
    this.clear();
    this.vertices = [];
    if (v.length >= 3) await this.polygon(v);
  },
});

export function mountDraw({ store, map, place, actions }, regions, plots) {
  const st = () => store.get();
  const addRegion = (r) => regions.commit([...st().regions, r], st().regions.length);
  const tool = new DrawTool(map, {
    // Nothing is drawn before an image is shown.
    ready: () => !!st().src,
    fits: (e) => { const p = place.toFits(e.latlng); return [+p.x.toFixed(2), +p.y.toFixed(2)]; },
    toLatLng: (x, y) => place.toLatLng(x, y),
    outline: (kind, shape, a, b) => {
      const r = kind === 'profile' ? { shape: 'line', system: 'image', points: [a, b] } : regionFrom(shape, a, b);
      return regions.shapeOf(r, r.points, 1);
    },
    done: async (kind, shape, a, b) => {
      if (kind === 'profile') { await plots.profile(a, b); return; }
      const r = regionFrom(shape, a, b);
      await addRegion(r);
      if (r.shape === 'text') actions.editRegion();
    },
    polygon: (v) => addRegion({ shape: 'polygon', system: 'image', points: v }),
  });
  // Turn a tool on (`kind` 'region' with a shape, or 'profile') or off (null).
  function setTool(kind, shape = null) {
    tool.disable();
    Object.assign(tool, { kind, shape });
    if (kind) tool.enable();
    $('draw').classList.toggle('on', tool.kind === 'region');
    $('profile').classList.toggle('on', tool.kind === 'profile');
    store.update({ tool: tool.kind }, 'tool');
  }
  $('draw').onclick = () => setTool(tool.kind === 'region' ? null : 'region', $('shape').value);
  $('shape').onchange = () => { if (tool.kind === 'region') setTool('region', $('shape').value); };
  $('profile').onclick = () => setTool(tool.kind === 'profile' ? null : 'profile');
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && tool.kind) setTool(null); });
}
