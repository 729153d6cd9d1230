// The link that holds a view (a permalink for an observing log): encode(view) → query string and
// decode(query) → view, a pure round trip (no DOM), unit-tested. A link written by any earlier toyz
// decodes the same: the parameter names are the API's.
//
// The view a link holds:
//   path, hdu         the image (hdu: the server's selector: "0", "SCI", "mosaic"…)
//   plane             a cube's plane (1-based; only when the cube has more than one)
//   center            {ra, dec} in degrees (an image with a WCS) or {x, y} in FITS pixels
//   zoom              the map's zoom
//   spec              {stretch, cut, lo, hi, cmap, invert, nan, orient, angle, contrast, bias}
//   overlays          {grid, compass, catalogs: [path…], regions: DS9 text or ''}
//   frames, active    the frames' images [{path, hdu}] (two or more) and the one shown
// Fields absent from the view are absent from the link and from what decode returns.

import { parseCut, specParams } from './render.js';

const num = (v) => (v == null || v === '' ? undefined : Number(v));

/** The query string (without '?') of a view. */
export function encode(v) {
  const q = new URLSearchParams();
  if (v.path != null) q.set('path', v.path);
  if (v.hdu != null) q.set('hdu', v.hdu);
  if (v.plane != null) q.set('plane', v.plane);
  const c = v.center;
  if (c && c.ra != null) { q.set('ra', c.ra.toFixed(7)); q.set('dec', c.dec.toFixed(7)); }
  else if (c) { q.set('x', c.x.toFixed(2)); q.set('y', c.y.toFixed(2)); }
  if (v.zoom != null) q.set('zoom', +v.zoom.toFixed(4));
  if (v.spec) {
    const sp = specParams(v.spec);
    q.set('stretch', sp.stretch); q.set('cut', sp.cut); q.set('cmap', sp.cmap);
    if (sp.invert) q.set('invert', 'true');
    if (sp.nan) q.set('nan', sp.nan);
    if (sp.orient) q.set('orient', sp.orient);
    if (sp.angle) q.set('angle', sp.angle);
    if (sp.contrast !== 1 || sp.bias !== 0.5) { q.set('contrast', sp.contrast); q.set('bias', sp.bias); }
  }
  const o = v.overlays;
  if (o) {
    if (o.grid) q.set('grid', '1');
    if (o.compass === false) q.set('compass', '0');
    for (const c of o.catalogs ?? []) q.append('catalog', c);
    if (o.regions) q.set('regions', o.regions);
  }
  if (v.frames && v.frames.length > 1) {
    q.set('frames', v.frames.map((f) => `${encodeURIComponent(f.path)}@${f.hdu}`).join(','));
    q.set('active', v.active ?? 0);
  }
  return q.toString();
}

/** The view of a query string (with or without '?', or URLSearchParams). */
export function decode(query) {
  const q = query instanceof URLSearchParams ? query : new URLSearchParams(query);
  const v = {};
  if (q.get('path')) v.path = q.get('path');
  if (q.get('hdu') != null) v.hdu = q.get('hdu');
  if (num(q.get('plane')) !== undefined) v.plane = num(q.get('plane'));
  if (q.get('ra') && q.get('dec')) v.center = { ra: Number(q.get('ra')), dec: Number(q.get('dec')) };
  else if (q.get('x') && q.get('y')) v.center = { x: Number(q.get('x')), y: Number(q.get('y')) };
  if (num(q.get('zoom')) !== undefined) v.zoom = num(q.get('zoom'));
  const spec = {};
  for (const k of ['stretch', 'cmap', 'nan', 'orient']) if (q.get(k)) spec[k] = q.get(k);
  if (q.get('cut')) Object.assign(spec, parseCut(q.get('cut')));
  if (q.get('invert') != null) spec.invert = q.get('invert') === 'true';
  if (q.get('angle')) spec.angle = Number(q.get('angle')) || 0;
  if (q.get('contrast')) spec.contrast = Number(q.get('contrast'));
  if (q.get('bias')) spec.bias = Number(q.get('bias'));
  if (Object.keys(spec).length) v.spec = spec;
  const overlays = {};
  if (q.get('grid') != null) overlays.grid = q.get('grid') === '1';
  if (q.get('compass') != null) overlays.compass = q.get('compass') !== '0';
  if (q.getAll('catalog').length) overlays.catalogs = q.getAll('catalog');
  if (q.get('regions')) overlays.regions = q.get('regions');
  if (Object.keys(overlays).length) v.overlays = overlays;
  const frames = (q.get('frames') || '').split(',').filter(Boolean).map((f) => {
    const at = f.lastIndexOf('@');
    const path = (p) => { try { return decodeURIComponent(p); } catch { return p; } };
    return at > 0 ? { path: path(f.slice(0, at)), hdu: f.slice(at + 1) } : { path: path(f) };
  });
  if (frames.length) {
    v.frames = frames;
    v.active = Math.min(Number(q.get('active') || 0), frames.length - 1);
  }
  return v;
}

/** The regions of DS9 text without its comments and blank lines (what a link or a workspace keeps). DS9
 * writes text, vector and the other shapes other readers should skip behind a `#` (`# text(…)`,
 * `# vector(…)`): those are regions, and stay. */
export const regionBody = (text) => (text || '').split('\n')
  .filter((l) => l && (!l.startsWith('#') || /^#\s*[a-z]+\(/.test(l))).join('\n');

/** A catalog as a link names it: its path, with `[HDU]` when it is one table of a FITS file. */
export const catalogSpec = (c) => (c.hdu != null && c.hdu !== '' ? `${c.path}[${c.hdu}]` : c.path);
