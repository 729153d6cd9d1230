// Catalogs over the image: loaded by the session (catalog.load), their rows placed on the image shown
// (catalog.positions, cached per image so blinking frames do not ask again), a click on a marker shows
// its row. The store holds the list; each catalog object keeps its own placements and layer.
import * as L from '../vendor/leaflet/leaflet-src.esm.js';
import { $, showError, busy, flash } from '../ui.js';
import { about, esc } from '../lib/format.js';

const COLORS = ['#f5f', '#ff5', '#5ff', '#fa5', '#5f5'];

export function mountCatalogs({ store, map, session, place }) {
  const list = () => store.get().catalogs;
  // One canvas for every large catalog: a canvas per catalog lay over the one before and took its clicks
  // (its markers no longer opened their rows).
  const canvas = L.canvas({ padding: 0.5 });
  // Only the newest placement of a catalog is drawn, and not at all once the catalog was removed or the
  // image changed meanwhile.
  async function placeCatalog(c) {
    const seq = c.seq = (c.seq || 0) + 1;
    const on = store.get().src;
    if (!on) return;
    const key = `${on.path}@${on.selector}`;
    c.cache = c.cache || new Map();
    let pos = c.cache.get(key);
    if (!pos) {
      try { pos = await session.call('catalog.positions', { catalog: c.id, ...place.here() }); } catch (e) {
        if (seq === c.seq) showError(about(c.path, e.message));
        return;
      }
      c.cache.set(key, pos);
    }
    if (seq !== c.seq || on !== store.get().src || !list().includes(c)) return;
    if (c.layer) map.removeLayer(c.layer);
    c.layer = null;
    const many = pos.positions.length > 2000;
    const renderer = many ? canvas : undefined;
    const layer = L.layerGroup();
    for (const [i, x, y] of pos.positions) {
      // Filled with nothing: a click inside the circle opens the row, not only one on its ring.
      const m = L.circleMarker(place.toLatLng(x, y), { radius: 7, color: c.color, weight: 1.5, fill: true, fillOpacity: 0, className: 'catalog', renderer });
      m.on('click', async () => {
        const r = await session.call('catalog.rows', { catalog: c.id, offset: i, limit: 1 });
        const row = r.rows[0] || [];
        const cells = r.columns.map((k, j) => `<tr><th>${esc(k)}</th><td>${esc(typeof row[j] === 'number' ? +row[j].toPrecision(10) : row[j])}</td></tr>`).join('');
        m.bindPopup(`<div class="row-popup"><b>${esc(c.path)}</b> row ${i + 1}<table>${cells}</table></div>`, { maxWidth: 360 }).openPopup();
      });
      layer.addLayer(m);
    }
    layer.addTo(map);
    c.layer = layer;
    c.count = pos.count;
    c.by = pos.by;
    renderList();
  }
  function renderList() {
    const ul = $('catalogs');
    ul.innerHTML = '';
    for (const c of list()) {
      const li = document.createElement('li');
      li.innerHTML = `<span class="swatch" style="border-color:${c.color}"></span>${esc(c.path.split('/').pop())} <span class="size">${c.count ?? 0} of ${c.total}</span> `;
      const x = document.createElement('button');
      x.textContent = '×';
      x.title = 'remove';
      x.onclick = () => {
        c.seq = (c.seq || 0) + 1;
        if (c.layer) map.removeLayer(c.layer);
        store.update({ catalogs: list().filter((o) => o !== c) }, 'catalog-removed');
      };
      li.append(x);
      ul.append(li);
    }
  }
  // After a reconnect the server session is new and has none of this page's catalogs.
  session.onReconnect.push(async () => {
    for (const c of list()) {
      try {
        const r = await session.call('catalog.load', { path: c.path, hdu: c.hdu, limit: 0 });
        c.id = r.catalog;
        c.cache = new Map();
        await placeCatalog(c);
      } catch (e) { showError(about(`catalog ${c.path}`, e.message)); }
    }
  });
  /** Load `spec` (a path, with `[HDU]` for a FITS table) and place it on the image. */
  async function load(spec) {
    const [path, hdu] = spec.split('[');
    busy('loading catalog…');
    try {
      const h = hdu ? hdu.replace(']', '') : undefined;
      const r = await session.call('catalog.load', { path: path.trim(), hdu: h, limit: 0 });
      const c = { id: r.catalog, path: r.path, hdu: h, total: r.total, color: COLORS[list().length % COLORS.length] };
      await store.update({ catalogs: [...list(), c] }, 'catalog-added');
      await placeCatalog(c);
      flash(`${c.count} of ${c.total} catalog rows on this image`);
    } catch (e) { busy(''); showError(String(e.message).includes(path) ? e.message : `catalog ${path}: ${e.message}`); }
  }
  $('catalog-load').onclick = () => { const v = $('catalog-path').value.trim(); if (v) load(v); };
  $('catalog-path').onkeydown = (e) => { if (e.key === 'Enter') $('catalog-load').onclick(); };
  store.subscribe(renderList, ['catalogs']);
  return { load, place: async () => { for (const c of list()) await placeCatalog(c); } };
}
