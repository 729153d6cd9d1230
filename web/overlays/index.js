// What is drawn over the image: the grid and compass, catalogs, DS9 regions (with their panel and the
// drawing tools), plots, and detected sources. When the image or its orientation changes, everything is
// placed again on it before the change counts as done (the store waits for it).
import { mountGrid } from './grid.js';
import { mountCatalogs } from './catalogs.js';
import { mountRegions } from './regions.js';
import { mountRegionPanel } from './region-panel.js';
import { mountDraw } from './draw.js';
import { mountDetect } from './detect.js';
import { mountPlots } from '../panels/plots.js';
import { regionBody } from '../lib/url.js';

/** Where things land on the image: the same for two renderings of one source and orientation. */
const placement = (src) => (src ? JSON.stringify([src.id, src.orient, src.angle]) : null);

export function mountOverlays(ctx) {
  const { store, actions, hook } = ctx;
  // The overlays' probe for scripts and tests (docs/architecture.md, "The automation hook").
  hook.tools = {
    get regions() { return store.get().regions; },
    get selected() { return store.get().selected; },
    get catalogs() { return store.get().catalogs; },
  };
  const grid = mountGrid(ctx);
  const catalogs = mountCatalogs(ctx);
  const regions = mountRegions(ctx);
  const plots = mountPlots(ctx);
  mountRegionPanel(ctx, regions, plots);
  mountDraw(ctx, regions, plots);
  mountDetect(ctx);

  store.subscribe(async (s, prev) => {
    if (placement(s.src) === placement(prev.src)) return;
    await catalogs.place();
    await regions.render();
    plots.clear();
  }, ['src']);

  Object.assign(actions, {
    loadCatalog: catalogs.load,
    loadRegions: regions.load,
    /** Every region as DS9 text (a workspace keeps them all, a link only a small set). */
    regionsText: () => regionBody(store.get().regionsText),
    /** Reopen the overlays a link names (after its image is open). */
    async restoreOverlays(o) {
      await grid.restore(o);
      for (const c of o.catalogs ?? []) await catalogs.load(c);
      if (o.regions) await regions.restore(o.regions);
    },
  });
  return {
    shortcuts(shortcut) {
      shortcut('click', 'select a region (its statistics); drag it to move it; double-click to edit it', null);
      shortcut('Delete', 'delete the selected region', null);
      shortcut('ctrl+z ctrl+y', 'undo / redo a region change', null);
    },
  };
}

