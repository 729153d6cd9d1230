// Contrast and bias shown while the right mouse button drags, on the tiles already loaded, before the
// server renders new ones. A tile is an indexed PNG: index = 1 + round(254·s) with s the stretched value
// after contrast/bias and invert, and the colormap as palette (0 is NaN). At the start of a drag the same
// tiles are fetched once in grey with neutral contrast/bias (the same cut levels), which gives each
// pixel's stretched value s₀ = (index − 1)/254; every mouse move then recomputes the indices with the new
// contrast/bias exactly as the server does and paints them through the colormap's palette on canvases
// over the tiles. The server's tiles replace them when the button is released.

import { contrastBiasTable, specParams, dragContrastBias } from './lib/render.js';

/** The 256-position colour bar of `cmap` (neutral): position i has index 1 + round(254·i/255). */
async function barColours(cmap) {
  const img = new Image();
  img.src = `/api/colorbar?cmap=${encodeURIComponent(cmap)}`;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = 256; c.height = 1;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  return g.getImageData(0, 0, 256, 1).data;
}

export function installLive({ store, actions, hook, STATIC }) {
  const live = { tiles: [], palette: null, painted: 0, gen: 0 };
  hook.live = live;
  const view = store.get;

  async function start() {
    const gen = ++live.gen;
    const { src, layer } = view();
    if (!src || !layer) return;
    const sp = specParams(view().spec);
    const neutral = { ...sp, cmap: 'grey', contrast: 1, bias: 0.5, invert: false, nan: '#00000000', cut: `range=${src.render.lo},${src.render.hi}` };
    const q = new URLSearchParams({ path: src.path, hdu: src.selector, plane: src.plane, ...neutral });
    const [r, grey, cmap] = await Promise.all([fetch(`/api/sources?${q}`).then((x) => x.json()), barColours('grey'), barColours(sp.cmap)]);
    if (gen !== live.gen || !r.tiles) return;
    // Grey level → index (the grey palette is one-to-one), and the colormap's palette by index.
    const greyIndex = new Int16Array(256).fill(-1);
    const palette = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) {
      const idx = 1 + Math.round((254 * i) / 255);
      greyIndex[grey[i * 4]] = idx;
      palette.set(cmap.slice(i * 4, i * 4 + 3), idx * 3);
    }
    live.palette = palette;
    const shown = Object.values(layer._tiles ?? {}).filter((t) => t.current && t.loaded);
    await Promise.all(shown.map(async (t) => {
      const img = new Image();
      img.src = r.tiles.replace('{z}', t.coords.z).replace('{x}', t.coords.x).replace('{y}', t.coords.y);
      try { await img.decode(); } catch { return; }
      if (gen !== live.gen || !t.el.parentNode) return;
      const c = document.createElement('canvas');
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height);
      const idx = new Uint8Array(c.width * c.height);
      for (let k = 0; k < idx.length; k++) idx[k] = d.data[k * 4 + 3] === 0 ? 0 : Math.max(1, greyIndex[d.data[k * 4]]);
      // Over the tile, in its place (the same size and transform inside the same level). Leaflet's CSS
      // hides a `leaflet-tile` until it is marked loaded: this one is, or nobody would see it.
      c.className = 'leaflet-tile leaflet-tile-loaded live-tile';
      c.style.cssText = t.el.style.cssText;
      c.style.width = t.el.style.width || `${t.el.width}px`;
      c.style.height = t.el.style.height || `${t.el.height}px`;
      t.el.after(c);
      live.tiles.push({ canvas: c, g, image: d, idx });
    }));
    if (gen === live.gen) paint();
  }

  /** New indices from each pixel's neutral index, as the server's renderer computes them. */
  function paint() {
    if (!live.palette || !live.tiles.length) return;
    const { contrast, bias, invert } = view().spec;
    const map = contrastBiasTable(contrast, bias, invert);
    for (const t of live.tiles) {
      const px = t.image.data;
      for (let k = 0; k < t.idx.length; k++) {
        const n = t.idx[k];
        if (!n) continue; // NaN keeps the tile's own colour (transparent by default)
        const j = map[n] * 3;
        px[k * 4] = live.palette[j]; px[k * 4 + 1] = live.palette[j + 1]; px[k * 4 + 2] = live.palette[j + 2]; px[k * 4 + 3] = 255;
      }
      t.g.putImageData(t.image, 0, 0);
    }
    live.painted++;
  }

  // The new tiles are in: the canvases go.
  store.subscribe(stop, ['loads']);

  /** Right-drag contrast/bias, as in DS9: left/right is bias, up/down contrast. While the button is down
   * the loaded tiles show the change at once; the server renders the new tiles when it is released. */
  function dragContrastBiasOn(mapEl) {
    let dragging = false;
    mapEl.addEventListener('contextmenu', (e) => e.preventDefault());
    mapEl.addEventListener('mousedown', (e) => {
      if (e.button !== 2 || !view().src || STATIC) return;
      dragging = true;
      e.preventDefault();
      stop();
      start();
    });
    window.addEventListener('mouseup', (e) => {
      if (e.button !== 2 || !dragging) return;
      dragging = false;
      actions.rerender();
    });
    mapEl.addEventListener('mousemove', async (e) => {
      if (!dragging) return;
      const r = mapEl.getBoundingClientRect();
      const cb = dragContrastBias((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
      await store.update((s) => ({ spec: { ...s.spec, ...cb } }), 'drag');
      paint();
    });
  }
  return { dragContrastBias: () => dragContrastBiasOn(document.getElementById('map')) };

  function stop() {
    live.gen++;
    for (const t of live.tiles) t.canvas.remove();
    live.tiles = [];
    live.palette = null;
  }
}
