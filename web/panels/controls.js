// The render controls: HDU, stretch (with its parameter), cut, colormap (menu and previews), invert,
// NaN colour, the cut levels and the colour bar with its ticks. They show the store's spec and source
// and change the spec through the `setSpec` action.
import { $, showError } from '../ui.js';
import { cutLabel, fittingTicks } from '../lib/format.js';
import { specParams, STRETCH_PARAM } from '../lib/render.js';

export const CMAPS = ['grey', 'viridis', 'inferno', 'magma', 'plasma', 'cividis', 'twilight', 'turbo', 'hot', 'cool',
  'coolwarm', 'jet', 'cubehelix', 'bone', 'copper', 'spectral', 'heat', 'ds9cool', 'rainbow', 'a', 'b', 'bb', 'he'];

export function mountControls({ store, actions }) {
  const spec = () => store.get().spec;

  /** The HDU menu, the WCS note and the levels of a source just shown. */
  function setup(src) {
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
      add('mosaic', 'focal plane (WCS)');
      add('mosaic:detsec', 'focal plane (DETSEC)');
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
    showLevels(src);
  }
  /** The controls show the spec. */
  function sync() {
    const s = spec();
    showStretch();
    $('cmap').value = s.cmap;
    showCut(s.cut);
    $('cut-pct-box').hidden = true;
    $('invert').checked = s.invert;
    $('nan-on').checked = !!s.nan;
    $('orient').value = s.orient || 'none';
    $('angle').value = s.angle || 0;
    if (s.nan) $('nan-color').value = s.nan.slice(0, 7);
    markCmap();
  }
  // Stretch parameters (astropy's definitions, the server's defaults): the box shows the one in use.
  function showStretch() {
    const [name, arg] = spec().stretch.split('=');
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
    for (const b of $('cmap-previews').children) b.classList.toggle('active', b.dataset.cmap === spec().cmap);
  }
  function showLevels(src) {
    const sp = specParams(spec());
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
    // A label at either end is kept inside the bar (its mark stays at its value): the first one hung
    // half outside the panel and read `00000e0`.
    // A label that then touches the one before it goes (measured, as the user sees them).
    const bar = $('cbar-ticks').getBoundingClientRect();
    let right = -Infinity;
    for (const e of [...$('cbar-ticks').children]) {
      const r = e.getBoundingClientRect();
      const shift = Math.max(0, bar.left - r.left) - Math.max(0, r.right - bar.right);
      if (shift) e.style.setProperty('--shift', `${shift}px`);
      if (r.left + shift < right + 4) e.remove();
      else right = r.right + shift;
    }
    // The unit (BUNIT) beside the cut levels, which are in it.
    $('bunit').textContent = src.bunit ?? '';
    $('cbar-labels').replaceChildren();
  }

  for (const c of CMAPS) {
    const o = document.createElement('option');
    o.textContent = c;
    $('cmap').append(o);
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.cmap = c;
    b.title = c;
    b.innerHTML = `<img alt="" src="/api/colorbar?cmap=${c}"><span>${c}</span>`;
    b.onclick = () => { $('cmap').value = c; actions.setSpec({ cmap: c }); };
    $('cmap-previews').append(b);
  }
  // Every map reversed too (`_r`, as matplotlib names them): what a link names is always in the menu.
  const reversed = document.createElement('optgroup');
  reversed.label = 'reversed';
  for (const c of CMAPS) {
    const o = document.createElement('option');
    o.textContent = `${c}_r`;
    reversed.append(o);
  }
  $('cmap').append(reversed);
  $('cmap-all').onclick = () => {
    $('cmap-box').open = !$('cmap-box').open;
    $('cmap-all').classList.toggle('on', $('cmap-box').open);
  };
  $('stretch').onchange = (e) => actions.setSpec({ stretch: e.target.value });
  $('stretch-param').onchange = (e) => {
    const v = Number(e.target.value);
    if (!(v > 0)) { showError('the stretch parameter must be a number above 0'); showStretch(); return; }
    actions.setSpec({ stretch: `${$('stretch').value}=${v}` });
  };
  $('nan-on').onchange = $('nan-color').oninput = () => {
    actions.setSpec({ nan: $('nan-on').checked ? `${$('nan-color').value}ff` : undefined });
  };
  $('cmap').onchange = (e) => actions.setSpec({ cmap: e.target.value });
  $('invert').onchange = (e) => actions.setSpec({ invert: e.target.checked });
  $('cut').onchange = (e) => {
    $('cut-pct-box').hidden = e.target.value !== 'pct';
    if (e.target.value === 'pct') { $('cut-pct').focus(); return; }
    const cut = e.target.value;
    actions.setSpec(cut === 'range' ? { cut, lo: +$('lo').value, hi: +$('hi').value } : { cut });
  };
  // Any percentile: one central P (99.9) or LO,HI (0.5,99.8); the server checks the numbers.
  $('cut-pct').onchange = () => {
    const v = $('cut-pct').value.trim().replace(/\s+/g, '');
    if (v) actions.setSpec({ cut: `percentile=${v}` });
  };
  for (const id of ['lo', 'hi']) {
    $(id).onchange = () => actions.setSpec({ cut: 'range', lo: +$('lo').value, hi: +$('hi').value });
  }
  $('reset-cb').onclick = () => actions.setSpec({ contrast: 1, bias: 0.5 });
  $('hdu').onchange = (e) => actions.open({ path: store.get().src.path, hdu: e.target.value });

  // Another source: its HDU menu, WCS note and levels; another rendering of it: its levels.
  store.subscribe((s, prev, action) => {
    if (!s.src) return;
    if (action === 'render') showLevels(s.src); else setup(s.src);
  }, ['src']);
  // A right-drag changes contrast/bias on every move: the controls show it once the tiles are rendered.
  store.subscribe((s, prev, action) => { if (action !== 'drag') sync(); }, ['spec']);
  return { sync };
}
