// How the viewer writes numbers, positions, sizes and zooms: pure functions (no DOM), unit-tested.

/** hh:mm:ss.sss (hours) or ±dd:mm:ss.ss, for what has no server to ask (the standalone page, detected
 * sources' popups): rounded once as a whole number of its last digit, as the server's formatter does,
 * so never 59:60.000. The readout uses the server's text. */
export function sexa(v, hours) {
  const per = hours ? 1000 : 100;
  let t = Math.round(Math.abs(hours ? v / 15 : v) * 3600 * per);
  if (hours) t %= 86400 * per;
  const sign = hours ? '' : v < 0 && t > 0 ? '-' : '+';
  const pad = (n) => String(n).padStart(2, '0');
  const s = ((t % (60 * per)) / per).toFixed(hours ? 3 : 2).padStart(hours ? 6 : 5, '0');
  return `${sign}${pad(Math.floor(t / (3600 * per)))}:${pad(Math.floor(t / (60 * per)) % 60)}:${s}`;
}

/** A sky position {frame, lon, lat} as the status line shows it (leading spaces included). */
export function formatWorld(w) {
  if (['icrs', 'fk5', 'fk4'].includes(w.frame)) {
    return `  α ${sexa(w.lon, true)} δ ${sexa(w.lat, false)}  (${w.lon.toFixed(6)}, ${w.lat.toFixed(6)} ${w.frame})`;
  }
  const [a, b] = { galactic: ['l', 'b'], ecliptic: ['λ', 'β'], helioecliptic: ['λ', 'β'] }[w.frame] ?? ['lon', 'lat'];
  return `  ${a} ${w.lon.toFixed(6)} ${b} ${w.lat.toFixed(6)} (${w.frame})`;
}

/** A value with the digits its type holds: integers whole, float32 (BITPIX −32) to 9 and doubles to
 * 17 significant digits (readouts carry the server's exact text, used instead where present). */
export function formatValue(v, bitpix) {
  if (Number.isInteger(v)) return String(v);
  return String(+v.toPrecision(bitpix === -32 ? 9 : 17));
}

/** A file size in the unit that fits (binary units): "812 B", "5.6 KiB", "61 MiB", "1.9 GiB". */
export function fmtSize(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u += 1; }
  return u === 0 ? `${n} B` : `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[u]}`;
}

/** "×4", "×1.25", "1/2", "1/3.05": a zoom factor (screen pixels per image pixel) as the zoom menu
 * and the status line show it. */
export function fmtZoom(f) {
  const r = (v) => String(+v.toPrecision(3));
  return f >= 1 ? `×${r(f)}` : `1/${r(1 / f)}`;
}

/** A cube plane's spectral coordinate {value, unit}: "1.42040575e+9 Hz". */
export const fmtSpectral = (s) => `${+s.value.toPrecision(9)}${s.unit ? ` ${s.unit}` : ''}`;

/** The cut menu's label of a cut: "90 %" or "0.5–99.8 %" for percentiles, the cut itself otherwise. */
export function cutLabel(cut) {
  const m = /^percentile=([\d.]+)(?:,([\d.]+))?$/.exec(cut);
  return m ? (m[2] ? `${m[1]}–${m[2]} %` : `${m[1]} %`) : cut;
}

/** The colour bar's ticks ({pos 0…1, label}) that fit along a bar `width` px wide: a label that would
 * touch the previous one is left out (a log or asinh bar crowds its top end). About 6 px per
 * character, 6 px apart. */
export function fittingTicks(ticks, width) {
  let right = -Infinity;
  return ticks.filter((t) => {
    const half = (t.label.length * 6 + 6) / 2;
    const x = t.pos * width;
    if (x - half < right) return false;
    right = x + half;
    return true;
  });
}

/** An error about `what` (a file): the server's messages already name their file, so it is said once. */
export const about = (what, message) => (String(message).includes(what) ? message : `${what}: ${message}`);

/** `s` as HTML text (for popups and labels built as markup). */
export const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
