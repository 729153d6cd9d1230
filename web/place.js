// Positions on the map for the image shown: FITS pixels ↔ map coordinates (display row 0 at the top,
// FITS (1,1) bottom-left), through lib/geometry.js, wrapped as Leaflet's objects. Every module places
// things through these, for the source the store holds now.
import * as L from './vendor/leaflet/leaflet-src.esm.js';
import * as geo from './lib/geometry.js';

export function placing(store, map) {
  const src = () => store.get().src;
  const latLngOf = (s, x, y) => L.latLng(geo.latLngOf(s, x, y));
  const boundsOf = (s) => L.latLngBounds(geo.boundsOf(s));
  const toFits = (ll) => geo.fitsOf(src(), ll);
  /** The view in FITS pixels [x1, y1, x2, y2] (may extend past the image). */
  /** The view in FITS pixels: the bounding box of its four corners (a turned view is a turned
   * rectangle in the image; two corners gave too small a box). */
  function viewRect() {
    const b = map.getBounds();
    const c = [b.getSouthWest(), b.getNorthEast(), b.getNorthWest(), b.getSouthEast()].map(toFits);
    const xs = c.map((p) => p.x); const ys = c.map((p) => p.y);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }
  return {
    fitsOf: geo.fitsOf,
    latLngOf,
    boundsOf,
    toFits,
    toLatLng: (x, y) => latLngOf(src(), x, y),
    bounds: () => boundsOf(src()),
    /** The image a job is about, as its parameters. */
    here: () => ({ path: src().path, hdu: src().selector, plane: src().plane }),
    viewRect,
    /** Screen pixels per image pixel now. */
    zoomFactor: () => 2 ** (map.getZoom() - src().zmax),
    /** The part of the image in view, in whole FITS pixels (inclusive), as jobs take rectangles. */
    viewPixels: () => geo.clampRect(src(), viewRect()),
  };
}
