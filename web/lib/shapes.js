// Region geometry in image pixels, with no DOM and no map: DS9's shapes as outlines, a new region from a
// mouse drag, the handles that resize or turn a region, and a region taken into pixels and back into
// its own system and units. Regions are the server's JSON form (regions.import / regions.export).

/** The sky systems a region's positions may be in (everything else is image pixels). */
export const SKY = ['fk5', 'icrs', 'j2000', 'galactic', 'fk4', 'ecliptic'];

/** `pts` (offsets from the centre c) turned by `angle` degrees counter-clockwise about c. */
export const rotate = ([cx, cy], pts, angle) => {
  const a = (angle * Math.PI) / 180; const c = Math.cos(a); const s = Math.sin(a);
  return pts.map(([u, v]) => [cx + u * c - v * s, cy + u * s + v * c]);
};
/** A box's four corners. */
export const boxCorners = (c, [w, h], angle) => rotate(c, [[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], angle || 0);
/** An ellipse as a polygon of 96 points. */
export const ellipsePts = (c, a, b, angle) => rotate(c, Array.from({ length: 96 }, (_, i) => {
  const t = (i / 96) * 2 * Math.PI;
  return [a * Math.cos(t), b * Math.sin(t)];
}), angle || 0);
/** An arrow head at `to` pointing away from `from`, `len` image pixels long. */
export const arrowHead = (from, to, len) => {
  const a = Math.atan2(to[1] - from[1], to[0] - from[0]);
  return [[to[0] - len * Math.cos(a - 0.45), to[1] - len * Math.sin(a - 0.45)], to,
    [to[0] - len * Math.cos(a + 0.45), to[1] - len * Math.sin(a + 0.45)]];
};

/** A DS9 property of the region (`select`, `edit`, `move`, `delete`, `fixed`, `color`…). */
export const flag = (r, k) => r.props?.[k];
/** Whether `what` (edit, move, delete) is refused by the region's properties. */
export const fixed = (r, what) => flag(r, 'fixed') === '1' || flag(r, what) === '0';
/** The region's colour as a CSS colour (DS9's names and #rrggbb), green by default. */
export const colourOf = (r) => (/^#?[\w]+$/.test(r.props?.color || '') ? r.props.color : '#3f3');
/** The fields of each shape's geometry that the edit dialog shows. */
export const GEOM = {
  circle: ['radius'], ellipse: ['r1', 'r2', 'angle'], box: ['width', 'height', 'angle'], annulus: ['radii'],
  vector: ['length', 'angle'], text: ['text'], point: ['kind'], line: ['arrows'], polygon: [],
};

/** The image region a drag from `a` to `b` draws with the tool `shape`. */
export function regionFrom(shape, a, b) {
  const d = +Math.max(Math.hypot(b[0] - a[0], b[1] - a[1]), 1).toFixed(2);
  const ang = +((Math.atan2(b[1] - a[1], b[0] - a[0]) * 180) / Math.PI).toFixed(2);
  switch (shape) {
    case 'circle': return { shape, system: 'image', points: [a], radius: d };
    case 'ellipse': return { shape, system: 'image', points: [a], radii: [d, +Math.max(d / 2, 1).toFixed(2)], angle: ang };
    case 'annulus': return { shape, system: 'image', points: [a], radii: [+(d / 2).toFixed(2), d] };
    case 'box':
      return { shape, system: 'image', points: [[(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]],
        size: [Math.max(Math.abs(b[0] - a[0]), 1), Math.max(Math.abs(b[1] - a[1]), 1)], angle: 0 };
    case 'line': return { shape, system: 'image', points: [a, b] };
    case 'vector': return { shape, system: 'image', points: [a], length: d, angle: ang, props: { vector: '1' } };
    case 'text': return { shape, system: 'image', points: [b], props: { text: 'text' } };
    default: return { shape: 'point', system: 'image', points: [b] };
  }
}

/** Region `r` in image pixels, given its placement `p` ({pts, scale: pixels per unit, turn: degrees}). */
export function toPixelRegion(r, p) {
  const k = p.scale;
  return {
    ...structuredClone(r), system: 'image', points: p.pts,
    radius: r.radius != null ? r.radius * k : undefined, radii: r.radii?.map((v) => v * k),
    size: r.size?.map((v) => v * k), length: r.length != null ? r.length * k : undefined,
    angle: r.angle != null ? r.angle + p.turn : undefined,
  };
}
/** The pixel region `rp` back in the system and units of the region `r0` it was made from (placement `p`);
 * its positions are left in pixels (a sky region's go through the WCS after). */
export function fromPixelRegion(r0, rp, p) {
  const out = structuredClone(rp);
  out.system = r0.system;
  for (const k of ['radius', 'radii', 'size', 'length', 'angle']) if (out[k] === undefined) delete out[k];
  const round = (v) => +v.toFixed(SKY.includes(r0.system) ? 4 : 3);
  if (out.radius != null) out.radius = round(out.radius / p.scale);
  if (out.radii) out.radii = out.radii.map((v) => round(v / p.scale));
  if (out.size) out.size = out.size.map((v) => round(v / p.scale));
  if (out.length != null) out.length = round(out.length / p.scale);
  if (out.angle != null) out.angle = +((((out.angle - p.turn) % 360) + 360) % 360).toFixed(3);
  out.points = rp.points.map(([x, y]) => [+x.toFixed(3), +y.toFixed(3)]);
  return out;
}

const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
const deg = (a, b) => (Math.atan2(b[1] - a[1], b[0] - a[0]) * 180) / Math.PI;
/** The handles of a pixel region: where each sits (`at`), what it does (`kind`: size or rotate) and the
 * region it makes when dragged to q (`drag(q)`). */
export function handles(rp) {
  const c = rp.points[0];
  const at = (u, v, angle = rp.angle || 0) => rotate(c, [[u, v]], angle)[0];
  switch (rp.shape) {
    case 'circle': return [{ kind: 'size', at: [c[0] + rp.radius, c[1]], drag: (q) => ({ ...rp, radius: Math.max(dist(q, c), 0.5) }) }];
    case 'annulus': {
      const out = rp.radii[rp.radii.length - 1];
      return [{ kind: 'size', at: [c[0] + out, c[1]], drag: (q) => ({ ...rp, radii: rp.radii.map((v) => (v * Math.max(dist(q, c), 0.5)) / out) }) }];
    }
    case 'ellipse': return [
      { kind: 'rotate', at: at(rp.radii[0], 0), drag: (q) => ({ ...rp, radii: [Math.max(dist(q, c), 0.5), rp.radii[1]], angle: deg(c, q) }) },
      { kind: 'size', at: at(0, rp.radii[1]), drag: (q) => ({ ...rp, radii: [rp.radii[0], Math.max(dist(q, c), 0.5)] }) },
    ];
    case 'box': {
      const [w, h] = rp.size;
      const local = (q) => rotate([0, 0], [[q[0] - c[0], q[1] - c[1]]], -(rp.angle || 0))[0];
      return [
        { kind: 'size', at: at(w / 2, h / 2), drag: (q) => { const [u, v] = local(q); return { ...rp, size: [Math.max(2 * Math.abs(u), 1), Math.max(2 * Math.abs(v), 1)] }; } },
        { kind: 'rotate', at: at(0, h / 2 + Math.max(h * 0.25, 3)), drag: (q) => ({ ...rp, angle: deg(c, q) - 90 }) },
      ];
    }
    case 'vector': return [{ kind: 'rotate', at: at(rp.length, 0), drag: (q) => ({ ...rp, length: Math.max(dist(q, c), 0.5), angle: deg(c, q) }) }];
    case 'line':
    case 'polygon':
      return rp.points.map((v, i) => ({ kind: 'size', at: v, drag: (q) => ({ ...rp, points: rp.points.map((w, j) => (j === i ? q : w)) }) }));
    default: return [];
  }
}
