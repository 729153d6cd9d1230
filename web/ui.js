// The page's shared bits of screen: the element lookup, the error line and the busy banner. Every
// module says what it is doing through these instead of writing to another module's elements.

export const $ = (id) => document.getElementById(id);

/** Show `text` in the error line (an empty text hides it). */
export function showError(text) {
  const e = $('error');
  e.textContent = text;
  e.hidden = !text;
}

let flashTimer = null;
/** The banner for work in progress; `cancel` adds a button that stops it. */
export function busy(text, cancel) {
  clearTimeout(flashTimer);
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

/** Say `text` in the banner for `ms` milliseconds (what just happened: a link copied, a file saved). */
export function flash(text, ms = 1500) {
  busy(text);
  flashTimer = setTimeout(() => busy(''), ms);
}

/** A clear 2-D context on canvas `cv` at the screen's pixel density, drawn in CSS pixels: {g, W, H}. */
export function canvas2d(cv) {
  const dpr = window.devicePixelRatio || 1;
  const W = cv.clientWidth; const H = cv.clientHeight;
  cv.width = W * dpr; cv.height = H * dpr;
  const g = cv.getContext('2d');
  g.scale(dpr, dpr);
  g.clearRect(0, 0, W, H);
  return { g, W, H };
}
