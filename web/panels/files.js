// The server's file browser: the roots, folders as breadcrumbs, images to open, and catalogs and DS9
// region files to load over the open image.
import { $, showError } from '../ui.js';
import { fmtSize } from '../lib/format.js';

export function mountFiles({ store, actions }) {
  async function browse(path) {
    const r = await fetch(`/api/files?path=${encodeURIComponent(path)}`);
    const j = await r.json();
    if (!r.ok) { showError(j.error.message); return; }
    const crumbs = $('crumbs');
    crumbs.innerHTML = '';
    const parts = path ? path.split('/') : [];
    const root = document.createElement('a');
    root.textContent = 'roots';
    root.onclick = () => browse('');
    crumbs.append(root);
    parts.forEach((p, i) => {
      const a = document.createElement('a');
      a.textContent = p;
      a.onclick = () => browse(parts.slice(0, i + 1).join('/'));
      crumbs.append(' / ', a);
    });
    const ul = $('files');
    ul.innerHTML = '';
    for (const e of j.entries) {
      const li = document.createElement('li');
      const full = path ? `${path}/${e.name}` : e.name;
      // Catalogs and region files load over the open image.
      const over = (cls, what, load) => {
        const a = document.createElement('a');
        a.textContent = e.name;
        a.dataset.path = full;
        a.className = cls;
        a.title = `load as ${what} over the open image`;
        a.onclick = () => (store.get().src ? load(full) : showError(`open an image first, then its ${what}`));
        li.append(a);
      };
      if (e.kind === 'file' && /\.(csv|tsv|txt|cat)$/i.test(e.name)) over('catalog-file', 'catalog', actions.loadCatalog);
      else if (e.kind === 'file' && /\.reg$/i.test(e.name)) over('region-file', 'DS9 regions', actions.loadRegions);
      else if (e.kind === 'file') {
        li.innerHTML = `<span class="file"></span>`;
        li.firstChild.textContent = e.name;
      } else {
        const a = document.createElement('a');
        a.textContent = e.kind === 'dir' ? `${e.name}/` : e.name;
        a.dataset.path = full;
        a.onclick = () => (e.kind === 'dir' ? browse(full) : actions.open({ path: full }));
        li.append(a);
      }
      if (e.size != null) {
        const s = document.createElement('span');
        s.className = 'size';
        s.textContent = fmtSize(e.size);
        li.append(s);
      }
      li.firstChild.title = e.name;
      ul.append(li);
    }
    // No root to show: every server has roots, so nothing of them is granted to this user yet.
    if (!path && !j.entries.length) {
      const li = document.createElement('li');
      li.className = 'note';
      li.textContent = 'Nothing is shared with you yet: an administrator grants folders to users and groups (the admin console, or toyz grant).';
      ul.append(li);
    }
  }
  return { browse };
}
