// The header panel: every card of the shown HDU, searchable, with the matches marked.
import { $ } from '../ui.js';

export function mountHeader({ store, session }) {
  const header = { cards: null, key: null, hdu: null };
  const isOpen = () => !$('header-box').hidden;
  async function open() {
    const { src } = store.get();
    if (!src) return;
    const key = `${src.path}@${src.selector}`;
    $('header-box').hidden = false;
    $('header-title').textContent = `${src.path} [${src.selector}]`;
    if (header.key !== key) {
      header.key = key;
      header.cards = null;
      $('header-count').textContent = 'reading…';
      try {
        // A focal plane's header is its first CCD's (the primary's cards are in HDU 0).
        const sel = /^mosaic/.test(src.selector)
          ? src.hdus.find((h) => h.kind === 'image' && h.dims.length === 2)?.index ?? 0 : src.selector;
        const r = await session.call('image.header', { path: src.path, hdu: String(sel) });
        if (header.key !== key) return;
        header.cards = r.cards;
        header.hdu = r.hdu;
      } catch (e) { $('header-count').textContent = e.message; return; }
    }
    show();
    $('header-search').focus();
  }
  function show() {
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
  const toggle = () => (isOpen() ? ($('header-box').hidden = true) : open());
  $('header-open').onclick = toggle;
  $('header-close').onclick = () => { $('header-box').hidden = true; };
  $('header-search').oninput = show;
  $('header-search').onkeydown = (e) => { if (e.key === 'Escape') $('header-box').hidden = true; };
  // Another image (opened, or another frame): the open panel shows its header.
  store.subscribe((s, prev, action) => { if (isOpen() && action !== 'render') open(); }, ['src']);
  return { toggle };
}
