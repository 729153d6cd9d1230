// FITS pixels ↔ the map's coordinates, pure (no DOM, no Leaflet): importable by node's test runner.
//
// The map is Leaflet's CRS.Simple: display row 0 at the top, 2^zmax map units per tile of the full
// level's 256 pixels, FITS (1, 1) bottom-left. A turned or flipped view (`orient`, one of the 8 flips
// of x and quarter turns counter-clockwise, and `angle`, a further turn in degrees about the centre)
// shows the oriented image the server tiles; every position goes through `toDisplay`/`fromDisplay`, so
// the grid, regions, catalogs and readouts follow the view. `src` is the server's source object
// (width, height, zmax, orient, angle, display).

export const ORIENTS = ['none', 'r90', 'r180', 'r270', 'fx', 'fx+r90', 'fy', 'fx+r270'];

/** The orientation's index in ORIENTS: bit 2 flips x, bits 0–1 count quarter turns. */
export const orientCode = (src) => Math.max(0, ORIENTS.indexOf(src?.orient ?? 'none'));

/** The displayed image's size (a turn by `angle` shows the turned image's bounding box). */
export const dispSize = (src) => ({ w: src.display?.width ?? src.width, h: src.display?.height ?? src.height });

/** [x, y] turned by `a` degrees counter-clockwise about the origin. */
export const rot = (a, [x, y]) => {
  const t = (a * Math.PI) / 180;
  return [x * Math.cos(t) - y * Math.sin(t), x * Math.sin(t) + y * Math.cos(t)];
};

/** FITS (x, y) → the displayed image's (x, y), both 1-based with y up. */
export function toDisplay(src, x, y) {
  const o = orientCode(src);
  let [W, H] = [src.width, src.height];
  if (o & 4) x = W + 1 - x;
  for (let k = 0; k < (o & 3); k++) { [x, y] = [H + 1 - y, x]; [W, H] = [H, W]; }
  if (!src.angle) return [x, y];
  const d = dispSize(src);
  const [u, v] = rot(src.angle, [x - (W + 1) / 2, y - (H + 1) / 2]);
  return [u + (d.w + 1) / 2, v + (d.h + 1) / 2];
}

/** The displayed image's (x, y) → FITS (x, y): the inverse of `toDisplay`. */
export function fromDisplay(src, x, y) {
  const o = orientCode(src);
  let [W, H] = o & 1 ? [src.height, src.width] : [src.width, src.height];
  if (src.angle) {
    const d = dispSize(src);
    const [u, v] = rot(-src.angle, [x - (d.w + 1) / 2, y - (d.h + 1) / 2]);
    [x, y] = [u + (W + 1) / 2, v + (H + 1) / 2];
  }
  for (let k = 0; k < (o & 3); k++) { [x, y] = [y, W + 1 - x]; [W, H] = [H, W]; }
  if (o & 4) x = W + 1 - x;
  return [x, y];
}

/** The same turn for a direction (a vector in FITS pixels). */
export function turnVec(src, [vx, vy]) {
  const o = orientCode(src);
  if (o & 4) vx = -vx;
  for (let k = 0; k < (o & 3); k++) [vx, vy] = [-vy, vx];
  return src.angle ? rot(src.angle, [vx, vy]) : [vx, vy];
}

/** A map position ({lat, lng}) → FITS {x, y}. */
export function fitsOf(src, ll) {
  const s = 2 ** src.zmax;
  const [x, y] = fromDisplay(src, ll.lng * s + 0.5, dispSize(src).h + ll.lat * s + 0.5);
  return { x, y };
}

/** FITS (x, y) → the map position as [lat, lng] (what Leaflet takes for a LatLng). */
export function latLngOf(src, x, y) {
  const s = 2 ** src.zmax;
  const [dx, dy] = toDisplay(src, x, y);
  return [-(dispSize(src).h - (dy - 0.5)) / s, (dx - 0.5) / s];
}

/** The displayed image's corners on the map: [[south, west], [north, east]]. */
export function boundsOf(src) {
  const s = 2 ** src.zmax;
  const d = dispSize(src);
  return [[-d.h / s, 0], [0, d.w / s]];
}

/** A rectangle [x1, y1, x2, y2] in FITS pixels (any corners) → whole pixels inside the image, as
 * jobs take rectangles (inclusive). */
export function clampRect(src, [x1, y1, x2, y2]) {
  const c = (v, hi) => Math.min(hi, Math.max(1, Math.round(v)));
  return [c(Math.min(x1, x2), src.width), c(Math.min(y1, y2), src.height),
    c(Math.max(x1, x2), src.width), c(Math.max(y1, y2), src.height)];
}

/** Pixel → sky for a plain TAN header (tiles.json's WCS, for the standalone page, which has no server
 * to ask): a function (x, y) → {frame, lon, lat} in degrees, or null for any other projection. */
export function tanWorld(w) {
  if (!w || w.note || !w.ctype.every((c) => /-TAN$/.test(c))) return null;
  const [a0, d0] = w.crval.map((v) => (v * Math.PI) / 180);
  return (x, y) => {
    const u = x - w.crpix[0]; const v = y - w.crpix[1];
    const xi = ((w.cd[0][0] * u + w.cd[0][1] * v) * Math.PI) / 180;
    const eta = ((w.cd[1][0] * u + w.cd[1][1] * v) * Math.PI) / 180;
    const den = Math.cos(d0) - eta * Math.sin(d0);
    const lon = ((((a0 + Math.atan2(xi, den)) * 180) / Math.PI) % 360 + 360) % 360;
    const lat = (Math.atan2(Math.sin(d0) + eta * Math.cos(d0), Math.hypot(xi, den)) * 180) / Math.PI;
    return { frame: w.frame, lon, lat };
  };
}

/** Where a grid line (polylines of screen points) first crosses the edge of a `w`×`h` screen, trying
 * the edges in `order` ('bottom', 'left', 'top', 'right'): {x, y, edge}, or null when it crosses none
 * (a line wholly inside the view, or outside it). On screen, not in the image: a turned view's edges
 * are not the image's. */
export function edgeCrossing(segments, w, h, order) {
  const edges = {
    bottom: { fixed: h, horizontal: true }, top: { fixed: 0, horizontal: true },
    left: { fixed: 0, horizontal: false }, right: { fixed: w, horizontal: false },
  };
  for (const name of order) {
    const { fixed, horizontal } = edges[name];
    for (const s of segments) {
      for (let i = 1; i < s.length; i++) {
        const [a, b] = [s[i - 1], s[i]];
        const [pa, pb] = horizontal ? [a[1], b[1]] : [a[0], b[0]];
        if ((pa - fixed) * (pb - fixed) > 0 || pa === pb) continue;
        const t = (fixed - pa) / (pb - pa);
        const q = horizontal ? a[0] + t * (b[0] - a[0]) : a[1] + t * (b[1] - a[1]);
        const span = horizontal ? w : h;
        if (q >= 0 && q <= span) return horizontal ? { x: q, y: fixed, edge: name } : { x: fixed, y: q, edge: name };
      }
    }
  }
  return null;
}
