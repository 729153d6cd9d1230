// Browser tests of the viewer: Debian's Chromium through playwright-core against a real toyz server.
// Run by crates/toyz-cli/tests/browser.rs (which starts the server): TOYZ_URL, TOYZ_SHOTS, CHROMIUM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, extname } from 'node:path';

const URL_ = process.env.TOYZ_URL;
const SHOTS = process.env.TOYZ_SHOTS;
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run'],
  });
});
after(async () => { await browser?.close(); });

async function page() {
  const p = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  p.tiles = [];
  p.on('request', (r) => { if (r.url().includes('/tiles/')) p.tiles.push(r.url()); });
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(e.message));
  return p;
}

/** The network is idle and the shown tile layer has every tile in (a tile downloaded is not yet
 * decoded and drawn on a busy machine, and the layer it replaces stays until then). */
const settle = async (p) => {
  await p.waitForLoadState('networkidle');
  await p.waitForFunction(() => !window.toyz?.view?.layer || !window.toyz.view.layer.isLoading());
};
const tileZ = (u) => Number(u.split('/tiles/')[1].split('/')[2]);
const renderId = (u) => u.split('/tiles/')[1].split('/')[1];

/** Screen position (page coordinates) of FITS pixel (x, y). */
async function screenAt(p, x, y) {
  return p.evaluate(([x, y]) => {
    const c = window.toyz.map.latLngToContainerPoint(window.toyz.toLatLng(x, y));
    const r = document.getElementById('map').getBoundingClientRect();
    return { x: r.left + c.x, y: r.top + c.y };
  }, [x, y]);
}

/** Centre FITS pixel (x, y) at a zoom where it covers at least 2×2 screen pixels (so integer mouse
 * positions fall inside it), move the mouse onto it and return the status line once it shows it. */
async function hover(p, x, y) {
  await p.evaluate(([x, y]) => {
    const m = window.toyz.map;
    m.setView(window.toyz.toLatLng(x, y), Math.max(m.getZoom(), window.toyz.view.src.zmax + 1), { animate: false });
  }, [x, y]);
  await settle(p);
  const pt = await screenAt(p, x, y);
  await p.mouse.move(Math.floor(pt.x), Math.floor(pt.y));
  await p.waitForFunction(([x, y]) => {
    const s = document.getElementById('status');
    return s.dataset.x === String(x) && s.dataset.y === String(y);
  }, [x, y]);
  return p.textContent('#status');
}

/** RGB of the screen pixel over FITS pixel (x, y). */
async function colourAt(p, x, y) {
  const s = await screenAt(p, x, y);
  const pt = { x: Math.round(s.x), y: Math.round(s.y) };
  const png = await p.screenshot({ clip: { x: pt.x, y: pt.y, width: 1, height: 1 } });
  return png.toString('base64');
}

test('open a file through the panel, pan and zoom, read pixels', async () => {
  const p = await page();
  await p.goto(`${URL_}/view`);
  await p.click('text=data/');
  await p.click('a[data-path="data/ramp.fits"]');
  await p.waitForSelector('#controls:not([hidden])');
  // The status line no longer asks to open a file once one is open.
  assert.match(await p.textContent('#status'), /data\/ramp\.fits: move over the image for its pixel values/);
  await settle(p);
  assert.ok(p.tiles.length > 0, 'tiles were requested');
  // The whole image fits: the tiles are of the level nearest the fitted (fractional) zoom.
  const z0 = Math.max(...p.tiles.map(tileZ));
  const zmax = await p.evaluate(() => window.toyz.view.src.zmax);
  const zfit = await p.evaluate(() => window.toyz.map.getZoom());
  assert.equal(z0, Math.min(zmax, Math.round(zfit)), `fitted view at zoom ${zfit} asks for the level nearest it`);
  // Ramp: value = (x-1) + (y-1)·1000 at FITS (x, y).
  let s = await hover(p, 101, 51);
  assert.match(s, /x 101 {2}y 51 {2}value 50100/);
  s = await hover(p, 1, 1);
  assert.match(s, /value 0\b/);
  // Zoomed in (hover zooms past native): full-resolution tiles were requested; zoom further, the same
  // pixel still reads the same.
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(101, 51), window.toyz.view.src.zmax + 2, { animate: false }));
  await settle(p);
  assert.ok(p.tiles.some((u) => tileZ(u) === zmax), `full-resolution tiles after zooming (${p.tiles.slice(-3)})`);
  s = await hover(p, 101, 51);
  assert.match(s, /value 50100/);
  assert.ok(await p.evaluate(() => document.getElementById('map').classList.contains('crisp')), 'pixels are crisp past native zoom');
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('colormap and cut change the tiles and their colours; the link restores the view', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits`);
  await p.waitForSelector('#controls:not([hidden])');
  await settle(p);
  const s = await hover(p, 300, 250);
  assert.match(s, /α 10:00:\d\d\.\d{3} δ \+02:1\d:\d\d\.\d\d/, s);
  const firstIds = new Set(p.tiles.map(renderId));
  const c1 = await colourAt(p, 300, 250);
  await p.selectOption('#cmap', 'heat');
  await settle(p);
  await p.waitForTimeout(300);
  const newIds = new Set(p.tiles.map(renderId).filter((r) => !firstIds.has(r)));
  assert.equal(newIds.size, 1, 'one new render id after the colormap change');
  const c2 = await colourAt(p, 300, 250);
  assert.notEqual(c1, c2, 'the pixel colour changed');
  await p.selectOption('#cut', 'percentile=95');
  await settle(p);
  await p.waitForFunction(() => /cmap=heat/.test(location.search) && /cut=percentile%3D95/.test(location.search));
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(420, 180), window.toyz.view.src.zmax + 1, { animate: false }));
  await settle(p);
  await p.waitForFunction(() => /ra=/.test(location.search) && window.toyz.urlPending === 0);
  const link = p.url();
  if (SHOTS) await p.screenshot({ path: `${SHOTS}/viewer.png` });
  const want = await p.evaluate(() => ({ c: window.toyz.toFits(window.toyz.map.getCenter()), z: window.toyz.map.getZoom() }));

  // A fresh page from the link: same centre, zoom and render.
  const q = await page();
  await q.goto(link);
  await q.waitForFunction(() => window.toyz.restored);
  await settle(q);
  const got = await q.evaluate(() => ({ c: window.toyz.toFits(window.toyz.map.getCenter()), z: window.toyz.map.getZoom() }));
  assert.equal(got.z, want.z);
  assert.ok(Math.abs(got.c.x - want.c.x) < 1 && Math.abs(got.c.y - want.c.y) < 1, `${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
  assert.equal(await q.inputValue('#cmap'), 'heat');
  assert.equal(await q.inputValue('#cut'), 'percentile=95');
  assert.ok(q.tiles.some((u) => newIds.has(renderId(u))) === false, 'the link renders with its own spec');
  await p.close();
  await q.close();

  // A reversed map named by a link is what the menu shows, and the menu offers every map reversed.
  const r = await page();
  await r.goto(`${URL_}/view?path=data/sky.fits&cmap=viridis_r`);
  await r.waitForFunction(() => window.toyz.restored);
  await settle(r);
  assert.equal(await r.$eval('#cmap', (e) => e.selectedOptions[0]?.textContent ?? ''), 'viridis_r');
  const offered = await r.$$eval('#cmap option', (os) => os.map((o) => o.value));
  for (const c of offered.filter((v) => !v.endsWith('_r'))) assert.ok(offered.includes(`${c}_r`), `${c}_r is in the menu`);
  await r.selectOption('#cmap', 'grey_r');
  await r.waitForFunction(() => /cmap=grey_r/.test(location.search) && window.toyz.view.spec.cmap === 'grey_r');
  await r.close();
});

test('sources appear where the stars are; right-drag changes contrast/bias; the colour bar follows', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits&cmap=viridis`);
  await p.waitForSelector('#controls:not([hidden])');
  await settle(p);
  assert.match(await p.getAttribute('#cbar', 'src'), /cmap=viridis/);
  await p.click('#detect');
  await p.waitForSelector('path.source');
  const n = await p.locator('path.source').count();
  assert.ok(n >= 5, `${n} sources drawn`);
  // Each circle sits on a star: the pixel under the first one is far above the sky.
  const first = await p.evaluate(() => {
    const l = Object.values(window.toyz.map._layers).find((x) => x.options && x.options.className === 'source');
    const ll = l.getLatLng();
    return window.toyz.toFits(ll);
  });
  const s = await hover(p, Math.round(first.x), Math.round(first.y));
  const value = Number(/value ([\d.]+)/.exec(s)[1]);
  assert.ok(value > 1200, `a detected source is a star (value ${value} over a sky of ~1000)`);
  // Right-drag: contrast/bias change the render (new tile URLs) and go into the link.
  const before = new Set(p.tiles.map(renderId));
  const box = await p.locator('#map').boundingBox();
  await p.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await p.mouse.down({ button: 'right' });
  await p.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.2, { steps: 5 });
  await p.mouse.up({ button: 'right' });
  await p.waitForFunction(() => /contrast=/.test(location.search));
  await settle(p);
  assert.ok(p.tiles.some((u) => !before.has(renderId(u))), 'contrast/bias gave new tiles');
  assert.match(await p.getAttribute('#cbar', 'src'), /contrast=/);
  await p.close();
});

test('catalog and source clicks: two large catalogs each open their rows, a source opens from inside its circle; detection has a threshold and a Cancel', async () => {
  const p = await page();
  // Every message of the socket passes through here; a detection's answer can be held back.
  const sent = [];
  let hold = false; let held = [];
  await p.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => { sent.push(JSON.parse(m)); server.send(m); });
    server.onMessage((m) => {
      const j = JSON.parse(m);
      const job = sent.find((x) => x.id === j.id && x.job);
      if (hold && job?.job === 'sources.detect') held.push(m); else ws.send(m);
    });
  });
  await p.goto(`${URL_}/view?path=data/sky.fits&x=250&y=250&zoom=3`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  // Two catalogs of 2,500 rows each, drawn on canvases; a click on a marker of the first opens its row.
  for (const c of ['data/big1.csv', 'data/big2.csv']) {
    await p.fill('#catalog-path', c);
    await p.click('#catalog-load');
  }
  await p.waitForFunction(() => window.toyz.view.catalogs.length === 2 && window.toyz.view.catalogs.every((c) => c.layer));
  for (const [x, y, file] of [[245, 255, 'big1.csv'], [250, 260, 'big2.csv']]) {
    const at = await screenAt(p, x, y);
    await p.mouse.click(Math.round(at.x), Math.round(at.y));
    await p.waitForSelector('.row-popup');
    assert.match(await p.textContent('.row-popup'), new RegExp(file.replace('.', '\\.')));
    await p.keyboard.press('Escape');
    await p.evaluate(() => { window.toyz.map.closePopup(); });
  }
  for (const c of ['big1.csv', 'big2.csv']) await p.click(`#catalogs li:has-text("${c}") button`);
  await p.waitForFunction(() => window.toyz.view.catalogs.length === 0);
  // Detection at 5 σ, then at 50 σ: fewer sources.
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(300, 250), 1, { animate: false }));
  await settle(p);
  const runs = () => p.evaluate(() => window.toyz.detect.runs);
  let r0 = await runs();
  await p.click('#detect');
  await p.waitForFunction((r) => window.toyz.detect.runs > r, r0);
  const n5 = await p.evaluate(() => window.toyz.detect.count);
  assert.ok(n5 >= 5, `${n5} sources at 5 σ`);
  assert.equal(sent.filter((m) => m.job === 'sources.detect').at(-1).params.threshold, 5);
  await p.fill('#detect-sigma', '50');
  r0 = await runs();
  await p.click('#detect');
  await p.waitForFunction((r) => window.toyz.detect.runs > r, r0);
  const n50 = await p.evaluate(() => window.toyz.detect.count);
  assert.ok(n50 < n5, `${n50} sources at 50 σ, ${n5} at 5 σ`);
  // A click inside a source's circle (its centre, not its ring) opens its measurements.
  const centre = await p.evaluate(() => {
    const l = Object.values(window.toyz.map._layers).find((x) => x.options && x.options.className === 'source');
    return window.toyz.toFits(l.getLatLng());
  });
  await p.evaluate(([x, y]) => window.toyz.map.setView(window.toyz.toLatLng(x, y), 3, { animate: false }), [centre.x, centre.y]);
  await settle(p);
  const c = await screenAt(p, centre.x, centre.y);
  await p.mouse.click(Math.round(c.x), Math.round(c.y));
  await p.waitForSelector('.leaflet-popup-content');
  assert.match(await p.textContent('.leaflet-popup-content'), /FWHM/);
  await p.evaluate(() => { window.toyz.map.closePopup(); });
  // Cancel: the answer is held back, the banner's Cancel ends the detection and the server is told.
  hold = true;
  r0 = await runs();
  await p.click('#detect');
  await p.waitForSelector('#busy-cancel');
  await p.click('#busy-cancel');
  await p.waitForFunction((r) => window.toyz.detect.runs > r, r0);
  const id = sent.filter((m) => m.job === 'sources.detect').at(-1).id;
  assert.ok(sent.some((m) => m.id === id && m.cancel === true), 'the cancel went to the server');
  assert.match(await p.textContent('#busy'), /detection cancelled/);
  hold = false;
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('frames: two images, blink alternates them, the link restores both', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits`);
  await p.waitForSelector('#controls:not([hidden])');
  await settle(p);
  await p.click('#new-frame');
  await p.click('a[data-path="data/sky2.fits"]');
  await p.waitForFunction(() => window.toyz.view.frames.length === 2 && window.toyz.view.frames[1].src.path === 'data/sky2.fits');
  await settle(p);
  assert.equal(await p.locator('#frames button').count(), 2);
  // Each frame keeps its own rendering, and the controls show the shown frame's.
  await p.selectOption('#cmap', 'heat');
  await p.waitForFunction(() => /cmap=heat/.test(location.search) && window.toyz.view.frames[1].spec.cmap === 'heat');
  await p.click('#frames button >> nth=0');
  await p.waitForFunction(() => window.toyz.view.active === 0);
  assert.equal(await p.inputValue('#cmap'), 'grey');
  await p.click('#frames button >> nth=1');
  await p.waitForFunction(() => window.toyz.view.active === 1);
  assert.equal(await p.inputValue('#cmap'), 'heat');
  // Tab cycles the frames (from the map, not from a form field).
  await p.click('#map', { position: { x: 400, y: 300 } });
  await p.keyboard.press('Tab');
  await p.waitForFunction(() => window.toyz.view.active === 0);
  await p.keyboard.press('Tab');
  await p.waitForFunction(() => window.toyz.view.active === 1);
  // Lock colours and scale: frame 1's colormap and cut limits go to frame 0, which renders them when shown.
  await p.check('#lock-scale');
  await p.check('#lock-colours');
  await p.selectOption('#cmap', 'viridis');
  await p.waitForFunction(() => window.toyz.view.frames[0].spec.cmap === 'viridis');
  const limits = await p.evaluate(() => [window.toyz.view.src.render.lo, window.toyz.view.src.render.hi]);
  await p.click('#frames button >> nth=0');
  await p.waitForFunction(() => window.toyz.view.active === 0 && window.toyz.view.src.render.cmap === 'viridis');
  assert.deepEqual(await p.evaluate(() => [window.toyz.view.src.render.lo, window.toyz.view.src.render.hi]), limits);
  assert.equal(await p.inputValue('#cmap'), 'viridis');
  await p.uncheck('#lock-scale');
  await p.uncheck('#lock-colours');
  await p.fill('#blink-ms', '150');
  await p.check('#blink');
  const seen = new Set();
  for (let i = 0; i < 30; i++) {
    seen.add(await p.evaluate(() => window.toyz.view.active));
    await p.waitForTimeout(40);
  }
  await p.uncheck('#blink');
  assert.deepEqual([...seen].sort(), [0, 1], 'blink alternates the frames');
  await settle(p);
  const layers = await p.evaluate(() => { let n = 0; window.toyz.map.eachLayer((l) => { if (l.getTileUrl) n++; }); return n; });
  assert.equal(layers, 1, 'one tile layer on the map after blinking');
  const sources = new Set(p.tiles.map((u) => u.split('/tiles/')[1].split('/')[0]));
  assert.ok(sources.size >= 2, 'tiles of both images were shown');
  await p.waitForFunction(() => /frames=/.test(location.search) && window.toyz.urlPending === 0);
  const link = p.url();
  const q = await page();
  await q.goto(link);
  await q.waitForFunction(() => window.toyz.restored);
  const paths = await q.evaluate(() => window.toyz.view.frames.map((f) => f.src.path));
  assert.deepEqual(paths.sort(), ['data/sky.fits', 'data/sky2.fits']);
  await p.close();
  await q.close();
});

test('an unreadable file is reported, not shown as blank tiles', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/corrupt.fits`);
  await p.waitForSelector('#error:not([hidden])');
  const text = await p.textContent('#error');
  assert.match(text, /not a FITS file/);
  // Said once, in words: the path once, no library status.
  assert.equal(text.split('data/corrupt.fits').length - 1, 1, text);
  assert.doesNotMatch(text, /status|cfitsio/i);
  await p.close();
});

test('overlays: grid with labels and compass, catalog markers with their rows, DS9 regions drawn and round-tripped', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);

  // Grid and compass.
  await p.check('#grid');
  await p.waitForFunction(() => document.querySelectorAll('.grid-line').length >= 4 && document.querySelectorAll('.grid-label').length >= 2);
  const labels = await p.$$eval('.grid-label span', (s) => s.map((e) => e.textContent));
  assert.ok(labels.some((l) => /^\d\dh\d\dm/.test(l)) && labels.some((l) => /^[+−]\d\d°/.test(l)), labels.join(' '));
  assert.equal(await p.isVisible('#compass-box'), true);
  const north = (await p.getAttribute('#compass-box', 'data-north')).split(',').map(Number);
  assert.ok(Math.abs(Math.hypot(...north) - 1) < 1e-3 && north[1] > 0.9, `north ${north}`);

  // A catalog from the file list: markers where its x/y columns say, a popup with the row.
  await p.click('a[data-path="data/stars.csv"]');
  await p.waitForFunction(() => window.toyz.tools.catalogs[0]?.count > 0);
  const check = await p.evaluate(async () => {
    const t = window.toyz;
    const c = t.tools.catalogs[0];
    const rows = await t.session.call('catalog.rows', { catalog: c.id, limit: 1000 });
    const ix = rows.columns.indexOf('x'); const iy = rows.columns.indexOf('y');
    let worst = 0;
    const markers = c.layer.getLayers();
    for (const m of markers) {
      const f = t.toFits(m.getLatLng());
      worst = Math.max(worst, Math.min(...rows.rows.map((r) => Math.hypot(r[ix] - f.x, r[iy] - f.y))));
    }
    return { worst, n: markers.length, count: c.count, total: c.total, svg: document.querySelectorAll('path.catalog').length };
  });
  assert.ok(check.worst < 0.01, `markers off by ${check.worst} px`);
  assert.equal(check.n, check.count);
  assert.equal(check.svg, check.count);
  await p.evaluate(() => window.toyz.tools.catalogs[0].layer.getLayers()[0].fire('click'));
  await p.waitForSelector('.row-popup');
  assert.match(await p.textContent('.row-popup'), /flux/);

  // Regions: import a DS9 file with a sky circle and a pixel box.
  const w = await p.evaluate(async () => (await window.toyz.session.call('image.pixels', { path: 'data/sky.fits', points: [[300, 250]] })).pixels[0].world);
  const text = `# Region file format: DS9 version 4.1\nfk5\ncircle(${w.lon},${w.lat},5") # text={target}\nimage\nbox(100,120,40,20,30) # color=red\n`;
  await p.setInputFiles('#region-import', { name: 'in.reg', mimeType: 'text/plain', buffer: Buffer.from(text) });
  await p.waitForFunction(() => window.toyz.tools.regions.length === 2 && window.toyz.tools.regionsDrawn === 2);
  const centre = await p.evaluate(() => {
    const circle = document.querySelector('path.region.circle');
    const l = Object.values(window.toyz.map._layers).find((x) => x._path === circle);
    return window.toyz.toFits(l.getLatLng());
  });
  assert.ok(Math.hypot(centre.x - 300, centre.y - 250) < 0.01, `fk5 circle at ${JSON.stringify(centre)}`);
  assert.equal(await p.locator('path.region.box').count(), 1);
  assert.equal(await p.textContent('.region-text'), 'target');

  // Draw a circle with the mouse.
  await p.selectOption('#shape', 'circle');
  await p.click('#draw');
  const a = await screenAt(p, 200, 200); const b = await screenAt(p, 230, 200);
  await p.mouse.move(a.x, a.y); await p.mouse.down();
  await p.mouse.move((a.x + b.x) / 2, a.y); await p.mouse.move(b.x, b.y); await p.mouse.up();
  await p.waitForFunction(() => window.toyz.tools.regions.length === 3 && window.toyz.tools.regionsDrawn === 3);
  await p.click('#draw');
  const drawn = await p.evaluate(() => window.toyz.tools.regions[2]);
  assert.equal(drawn.shape, 'circle');
  assert.ok(Math.abs(drawn.points[0][0] - 200) < 1.5 && Math.abs(drawn.radius - 30) < 1.5, JSON.stringify(drawn));
  if (SHOTS) await p.screenshot({ path: `${SHOTS}/overlays.png` });

  // Export (a download), clear, import the export: the same regions.
  const before = await p.evaluate(() => window.toyz.tools.regions);
  const [dl] = await Promise.all([p.waitForEvent('download'), p.click('#region-export')]);
  const exported = readFileSync(await dl.path(), 'utf8');
  assert.match(exported, /^# Region file format: DS9/);
  assert.match(exported, /circle\(/);
  assert.match(exported, /box\(/);
  await p.click('#region-clear');
  await p.waitForFunction(() => window.toyz.tools.regionsDrawn === 0 && !document.querySelector('path.region'));
  await p.setInputFiles('#region-import', { name: dl.suggestedFilename(), mimeType: 'text/plain', buffer: Buffer.from(exported) });
  await p.waitForFunction(() => window.toyz.tools.regionsDrawn === 3);
  // DS9 text keeps 10 decimals of a degree (0.4 µas) and of a pixel: equal to that precision.
  const again = await p.evaluate(() => window.toyz.tools.regions);
  const close = (x, y) => (typeof x === 'number' ? Math.abs(x - y) < 1e-9
    : x && typeof x === 'object' ? Object.keys(x).length === Object.keys(y).length && Object.keys(x).every((k) => close(x[k], y[k]))
      : x === y);
  assert.ok(close(again, before), `${JSON.stringify(again)} vs ${JSON.stringify(before)}`);
  assert.equal(dl.suggestedFilename(), 'sky.reg');

  // The link carries the overlays: a fresh page shows the grid, the catalog and the regions again.
  await p.waitForFunction(() => /grid=1/.test(location.search) && /catalog=data%2Fstars.csv/.test(location.search)
    && /regions=/.test(location.search) && window.toyz.urlPending === 0);
  const q = await page();
  await q.goto(p.url());
  await q.waitForFunction(() => window.toyz.restored);
  await q.waitForFunction(() => document.querySelectorAll('.grid-line').length >= 4);
  const restored = await q.evaluate(() => ({ regions: window.toyz.tools.regions, drawn: window.toyz.tools.regionsDrawn,
    catalogs: window.toyz.tools.catalogs.map((c) => [c.path, c.count]) }));
  assert.equal(restored.drawn, 3);
  assert.ok(close(restored.regions, before), JSON.stringify(restored.regions));
  assert.deepEqual(restored.catalogs, [['data/stars.csv', check.count]]);
  assert.equal(await q.isChecked('#grid'), true);

  // A dropped connection: the page reconnects, a new server session gets the catalog again, the readout works.
  await q.evaluate(() => { window.oldCache = window.toyz.tools.catalogs[0].cache; window.toyz.session.ws.close(); });
  await q.waitForFunction(() => window.toyz.session.sessions === 2 && window.toyz.session.isReady);
  await q.waitForFunction(() => {
    const c = window.toyz.tools.catalogs[0];
    return c.cache !== window.oldCache && c.cache.size > 0 && c.layer;
  });
  assert.equal(await q.evaluate(() => window.toyz.tools.catalogs[0].layer.getLayers().length), check.count);
  assert.match(await hover(q, 300, 250), /x 300 {2}y 250/);
  assert.deepEqual([...p.errors, ...q.errors], []);
  await p.close();
  await q.close();
});

test('tools: a line profile reads the pixels under the line; the view histogram counts them', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/ramp.fits&x=500&y=400&zoom=2`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  await p.click('#profile');
  const a = await screenAt(p, 450, 400); const b = await screenAt(p, 550, 430);
  await p.mouse.move(a.x, a.y); await p.mouse.down();
  await p.mouse.move(b.x, b.y, { steps: 4 }); await p.mouse.up();
  await p.waitForFunction(() => window.toyz.tools.plot?.kind === 'line');
  const prof = await p.evaluate(() => window.toyz.tools.plot);
  assert.ok(prof.points.length > 50, `${prof.points.length} samples`);
  for (const q of prof.points) {
    // The ramp: value = (x - 1) + 1000 (y - 1) at the nearest FITS pixel.
    assert.equal(q.value, Math.floor(q.x + 0.5) - 1 + 1000 * (Math.floor(q.y + 0.5) - 1));
  }
  assert.ok(Math.abs(prof.points[0].x - 450) < 1 && Math.abs(prof.points.at(-1).y - 430) < 1);
  assert.equal(await p.isVisible('#plot'), true);
  await p.click('#profile');

  await p.click('#histogram');
  await p.waitForFunction(() => window.toyz.tools.plot?.kind === 'bars');
  const h = await p.evaluate(() => window.toyz.tools.plot);
  const total = h.y.reduce((s, v) => s + v, 0);
  assert.ok(total > 1000 && total <= h.sample, `${total} of ${h.sample}`);

  // A colormap preview switches the colormap; pre-rendering reports the tiles built.
  await p.click('#cmap-all');
  await p.click('#cmap-previews button[data-cmap="viridis"]');
  await p.waitForFunction(() => /cmap=viridis/.test(location.search));
  assert.equal(await p.inputValue('#cmap'), 'viridis');
  assert.equal(await p.getAttribute('#cmap-previews button.active', 'data-cmap'), 'viridis');
  await p.click('#build-tiles');
  await p.waitForFunction(() => window.toyz.lastBuild);
  const built = await p.evaluate(() => window.toyz.lastBuild);
  assert.ok(built.tiles > 0 && /\/tiles\//.test(built.url), JSON.stringify(built));
  await settle(p);
  assert.match(built.url, new RegExp(await p.evaluate(() => window.toyz.view.src.tiles.split('/tiles/')[1].split('/').slice(0, 2).join('/'))));
  if (SHOTS) await p.screenshot({ path: `${SHOTS}/tools.png` });
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('the standalone page of `toyz tiles build --out` works from a plain static web server', async () => {
  // A bare static file server (no toyz behind it), like any web host.
  const root = process.env.TOYZ_STATIC;
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
    const file = join(root, rel);
    if (!file.startsWith(root) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const p = await page();
  const api = [];
  p.on('request', (r) => { if (/\/api\/|\/ws/.test(r.url())) api.push(r.url()); });
  await p.goto(`${base}/index.html`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  assert.ok(p.tiles.length === 0, 'no toyz tile URLs');
  const tiles = await p.$$eval('.leaflet-tile-loaded', (t) => t.map((e) => e.src));
  assert.ok(tiles.length > 0 && tiles.every((u) => u.startsWith(base) && /\/\d+\/\d+\/\d+\.png$/.test(u)), tiles.join(' '));
  assert.match(await p.textContent('#static-info'), /Pixel values need a toyz server/);
  // Fitted (a zoom between levels), its tiles meet on whole pixels as the viewer's do (no seams).
  const edges = await p.$$eval('#map .leaflet-tile-loaded', (t) => t.flatMap((e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }));
  assert.ok(await p.evaluate(() => !Number.isInteger(window.toyz.map.getZoom())), 'fitted between levels');
  assert.ok(edges.every((v) => Math.abs(v - Math.round(v)) < 1e-3), `tile edges off whole pixels: ${edges}`);

  // The readout: sky coordinates from tiles.json's WCS, equal to the server's for the same pixel.
  const s = await hover(p, 300, 250);
  const want = await (await fetch(`${URL_}/api/pixel?path=data/sky.fits&x=300&y=250`)).json();
  const deg = s.match(/\((\d+\.\d+), (-?\d+\.\d+) icrs\)/);
  assert.ok(deg, s);
  assert.ok(Math.abs(+deg[1] - want.world.lon) < 2e-6 && Math.abs(+deg[2] - want.world.lat) < 2e-6, `${s} vs ${JSON.stringify(want.world)}`);
  assert.match(s, /value n\/a/);
  // The magnifier beside the panner shows the tiles under the cursor, not an empty black box.
  const mag = await p.$eval('#magnifier', (e) => { const r = e.getBoundingClientRect(); return { x: Math.ceil(r.left), y: Math.ceil(r.top), width: Math.floor(r.width), height: Math.floor(r.height) }; });
  assert.ok(mag.width > 0, 'the magnifier is shown');
  const mpx = await screenPixels(p, mag);
  let lit = 0;
  for (let y = 0; y < mpx.h; y += 4) for (let x = 0; x < mpx.w; x += 4) if (mpx.rgb(x, y).some((v) => v > 40)) lit++;
  assert.ok(lit > (mpx.w / 4) * (mpx.h / 4) * 0.5, `the magnifier is mostly black (${lit} lit samples)`);

  // Its link restores the view too.
  await p.waitForFunction(() => /x=300/.test(location.search) && window.toyz.urlPending === 0);
  const link = p.url();
  const q = await page();
  await q.goto(link);
  await q.waitForFunction(() => window.toyz.restored);
  const c = await q.evaluate(() => window.toyz.toFits(window.toyz.map.getCenter()));
  assert.ok(Math.abs(c.x - 300) < 1 && Math.abs(c.y - 250) < 1, JSON.stringify(c));
  await settle(q);
  if (SHOTS) await q.screenshot({ path: `${SHOTS}/standalone.png` });
  assert.deepEqual(api, [], 'no request to a toyz API');
  assert.deepEqual([...p.errors, ...q.errors], []);
  await p.close();
  await q.close();
  server.close();

  // What the export publishes names its files relative to itself, never where they are on the server.
  for (const f of ['tiles.json', 'index.html']) {
    const text = readFileSync(join(root, f), 'utf8');
    assert.ok(!text.includes(process.env.TOYZ_DATA), `${f} names the server's folder: ${text.slice(0, 400)}`);
  }
  assert.equal(JSON.parse(readFileSync(join(root, 'tiles.json'), 'utf8')).source.path, 'sky.fits');
  // Opened from file:// (a browser reads neither modules nor tiles.json there): it says to serve the
  // folder, and no empty box sits in the corner.
  const f = await page();
  await f.goto(`file://${join(root, 'index.html')}`);
  await f.waitForFunction(() => /web server/.test(document.body.innerText));
  assert.match(await f.textContent('body'), /serve this folder with any web server/);
  assert.doesNotMatch(await f.textContent('#status'), /Open a FITS file from the list/);
  const corner = await f.$$eval('#corner > *', (els) => els.filter((e) => e.checkVisibility()).map((e) => e.id));
  assert.deepEqual(corner, [], 'nothing shown in the corner');
  await f.screenshot({ path: join(SHOTS, 'standalone-file.png') });
  await f.close();
});

test('a DECam exposure opens as its whole focal plane and reads out each CCD', async () => {
  const p = await page();
  await p.goto(`${URL_}/view`);
  await p.click('text=data/');
  await p.click('a[data-path="data/exposure.fits.fz"]');
  await p.waitForSelector('#controls:not([hidden])');
  await settle(p);
  // Opened as a mosaic by default; the HDU picker still offers each CCD.
  assert.equal(await p.inputValue('#hdu'), 'mosaic');
  const options = await p.$$eval('#hdu option', (o) => o.map((e) => e.textContent));
  assert.ok(options.some((t) => /\bN4\b/.test(t)) && options.includes('focal plane (DETSEC)'), options.join('|'));
  assert.match(await p.textContent('#wcs-note'), /mosaic of 61 CCDs/);
  const src = await p.evaluate(() => window.toyz.view.src);
  const n4 = src.mosaic.ccds.find((c) => c.name === 'N4');
  // CCD N4's pixel (20, 30): its own value and sky position, read through the mosaic.
  const own = await (await fetch(`${URL_}/api/pixel?path=data/exposure.fits.fz&hdu=N4&x=20&y=30`)).json();
  await p.selectOption('#sky-format', 'degrees');
  let s = await hover(p, n4.x0 + 20, n4.y0 + 30);
  assert.match(s, /N4 \[20, 30\]/, s);
  assert.ok(s.includes(`value ${own.value} `), `${s} vs ${own.value}`);
  const deg = s.match(/α (\d+\.\d+) δ ([+-]\d+\.\d+) \(icrs\)/);
  assert.ok(deg && Math.abs(+deg[1] - own.world.lon) < 2e-6 && Math.abs(+deg[2] - own.world.lat) < 2e-6, `${s} vs ${JSON.stringify(own.world)}`);
  // Just right of N4's last column: a gap.
  s = await hover(p, n4.x0 + n4.datasec[1] + 2, n4.y0 + 30);
  assert.match(s, /value none .*\(gap\)/, s);
  // The link reopens the mosaic.
  await p.waitForFunction(() => /hdu=mosaic/.test(location.search) && window.toyz.urlPending === 0);
  if (SHOTS) {
    await p.evaluate(() => window.toyz.map.fitBounds(window.toyz.bounds(), { animate: false }));
    await settle(p);
    await p.screenshot({ path: `${SHOTS}/mosaic.png` });
  }
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('a link opens on its own view: only that view\'s tiles are asked for, none aborted; a centre off the image, text and vector regions and a catalog\'s HDU are restored', async () => {
  const p = await page();
  const failed = [];
  p.on('requestfailed', (r) => { if (r.url().includes('/tiles/')) failed.push(`${r.url()} ${r.failure()?.errorText}`); });
  // zoom 0: the whole pyramid's level 0, far from the level a Fit would ask for (2).
  await p.goto(`${URL_}/view?path=data/ramp.fits&x=500&y=400&zoom=0`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  assert.ok(p.tiles.length > 0);
  assert.deepEqual([...new Set(p.tiles.map(tileZ))], [0], `tiles of other levels asked for: ${p.tiles.join(' ')}`);
  assert.deepEqual(failed, [], 'aborted tile requests');
  // A centre off the image (tile or lock mode leaves one): the link holds its sky position and a
  // fresh page goes back there.
  await p.goto(`${URL_}/view?path=data/sky.fits&x=-150&y=250&zoom=2`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  await p.waitForFunction(() => /ra=/.test(location.search) && window.toyz.urlPending === 0);
  const link = p.url();
  const q = await page();
  await q.goto(link);
  await q.waitForFunction(() => window.toyz.restored);
  const c = await q.evaluate(() => window.toyz.toFits(window.toyz.map.getCenter()));
  assert.ok(Math.abs(c.x + 150) < 1 && Math.abs(c.y - 250) < 1, `${link}: centre ${JSON.stringify(c)}`);
  // The link keeps text and vector regions (DS9 writes them behind a #) and a catalog's FITS-table HDU.
  await p.click('a.region-file[data-path="data/shapes.reg"]');
  await p.waitForFunction(() => window.toyz.tools.regionsDrawn === 10);
  await p.fill('#catalog-path', 'data/stars-table.fits[1]');
  await p.click('#catalog-load');
  await p.waitForFunction(() => window.toyz.view.catalogs.length === 1);
  await p.waitForFunction(() => /catalog=data%2Fstars-table\.fits%5B1%5D/.test(location.search) && /regions=/.test(location.search) && window.toyz.urlPending === 0);
  const r = await page();
  await r.goto(p.url());
  await r.waitForFunction(() => window.toyz.restored);
  await r.waitForFunction(() => window.toyz.tools.regionsDrawn === 10 && window.toyz.view.catalogs.length === 1);
  for (const shape of ['text', 'vector']) assert.ok(await r.locator(`.region.${shape}`).count() > 0, `${shape} restored from the link`);
  assert.equal(await r.evaluate(() => window.toyz.view.catalogs[0].hdu), '1');
  assert.deepEqual([...p.errors, ...q.errors, ...r.errors], []);
  await p.close();
  await q.close();
  await r.close();
});

test('drawing: a plain click places a text region; a polygon closed by a double click has the vertices clicked, however the hand shakes', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits&x=300&y=250&zoom=2`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  const n = () => p.evaluate(() => window.toyz.tools.regions.length);
  // Text: one click, no drag; the editor opens for its words.
  await p.selectOption('#shape', 'text');
  await p.click('#draw');
  const t = await screenAt(p, 250, 200);
  await p.mouse.click(Math.round(t.x), Math.round(t.y));
  await p.waitForFunction(() => window.toyz.tools.regions.length === 1);
  const text = await p.evaluate(() => window.toyz.tools.regions[0]);
  assert.equal(text.shape, 'text', JSON.stringify(text));
  assert.ok(Math.abs(text.points[0][0] - 250) < 1 && Math.abs(text.points[0][1] - 200) < 1, JSON.stringify(text));
  assert.ok(await p.isVisible('#region-edit'), 'the editor opens for the text');
  await p.click('#edit-cancel');
  // Polygon: three clicks, then a double click whose second click is a pixel off the first.
  await p.selectOption('#shape', 'polygon');
  const pts = [[200, 150], [320, 150], [320, 260], [200, 260]];
  const at = [];
  for (const [x, y] of pts) { const s = await screenAt(p, x, y); at.push([Math.round(s.x), Math.round(s.y)]); }
  const before = await n();
  for (const [x, y] of at.slice(0, 3)) await p.mouse.click(x, y);
  const [dx, dy] = at[3];
  await p.mouse.click(dx, dy);
  await p.mouse.move(dx + 1, dy);
  await p.mouse.down({ clickCount: 2 });
  await p.mouse.up({ clickCount: 2 });
  await p.waitForFunction((k) => window.toyz.tools.regions.length === k, before + 1);
  const poly = await p.evaluate(() => window.toyz.tools.regions.at(-1));
  assert.equal(poly.shape, 'polygon');
  assert.equal(poly.points.length, 4, `vertices: ${JSON.stringify(poly.points)}`);
  poly.points.forEach(([x, y], i) => assert.ok(Math.hypot(x - pts[i][0], y - pts[i][1]) < 1.5, `vertex ${i}: ${x},${y}`));
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('the image link is the picture the screen shows: turned and flipped as the view, window-sized', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/ramp.fits&cmap=grey&cut=minmax&orient=fx%2Br90&angle=30`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  await p.addStyleTag({ content: '.leaflet-control-container, #corner { visibility: hidden !important; }' });
  const m = await p.locator('#map').boundingBox();
  const link = await p.evaluate(() => window.toyz.imageLink());
  const q = new URL(link).searchParams;
  assert.equal(q.get('orient'), 'fx+r90');
  assert.equal(q.get('angle'), '30');
  // The PNG, decoded by the browser (transparent is the black the map shows there).
  const png = await decodeInPage(p, link, null, '#000');
  assert.equal(png.w, Math.round(m.width), 'as wide as the map');
  assert.ok(Math.abs(png.h - m.height) <= 1, `as high as the map: ${png.h} vs ${m.height}`);
  const screen = await screenPixels(p, { x: Math.round(m.x), y: Math.round(m.y), width: png.w, height: png.h });
  // Block means of grey at a 4×4 grid of places: the ramp's gradient runs where the view turned it.
  const mean = (get, x0, y0) => { let t = 0; for (let y = y0; y < y0 + 12; y++) for (let x = x0; x < x0 + 12; x++) t += get(x, y); return t / 144; };
  let worst = 0;
  for (let i = 1; i <= 4; i++) {
    for (let j = 1; j <= 4; j++) {
      const x0 = Math.round((i * png.w) / 5) - 6; const y0 = Math.round((j * png.h) / 5) - 6;
      const a = mean((x, y) => png.data[(y * png.w + x) * 4], x0, y0);
      const b = mean((x, y) => screen.grey(x, y), x0, y0);
      worst = Math.max(worst, Math.abs(a - b));
    }
  }
  assert.ok(worst <= 6, `the picture differs from the screen by ${worst.toFixed(1)} grey levels in a block`);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('grid labels on a turned view: after North up both axes are labelled, each label at the edge of the screen and whole in it (TAN, AZP, TAN-SIP)', async () => {
  const p = await page();
  for (const file of ['tilted.fits', 'azp.fits', 'sip.fits']) {
    await p.goto(`${URL_}/view?path=data/${file}&grid=1`);
    await p.waitForFunction(() => window.toyz.restored);
    await settle(p);
    await p.click('#north-up');
    await p.waitForFunction(() => window.toyz.view.src.angle !== 0 && window.toyz.view.layer && !window.toyz.view.layer.isLoading());
    await settle(p);
    // Zoomed in (lines cross the view), turned as North up left it.
    await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(180, 170), window.toyz.view.src.zmax + 0.6, { animate: false }));
    await settle(p);
    await p.waitForFunction(() => window.toyz.tools.grid && document.querySelectorAll('.grid-label span').length >= 2);
    const m = await p.locator('#map').boundingBox();
    const labels = await p.$$eval('.grid-label', (els) => els.map((e) => {
      const r = e.querySelector('span').getBoundingClientRect();
      return { text: e.textContent, edge: [...e.classList].find((c) => ['left', 'right', 'top', 'bottom', 'inside'].includes(c)), l: r.left, t: r.top, r: r.right, b: r.bottom };
    }));
    await p.screenshot({ path: join(SHOTS, `grid-turned-${file}.png`) });
    const ra = labels.filter((x) => /h/.test(x.text));
    const dec = labels.filter((x) => /^[+-]/.test(x.text));
    assert.ok(ra.length >= 1 && dec.length >= 1 && labels.length >= 3, `${file}: both axes labelled: ${JSON.stringify(labels.map((x) => x.text))}`);
    // Nothing of the map's own covers a label (the zoom buttons, the corner's panner and compass).
    const covers = await p.$$eval('#corner > :not([hidden]), .leaflet-control-zoom', (els) => els.map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0).map((r) => ({ l: r.left, t: r.top, r: r.right, b: r.bottom })));
    for (const x of labels) {
      assert.ok(x.l >= m.x - 0.5 && x.r <= m.x + m.width + 0.5 && x.t >= m.y - 0.5 && x.b <= m.y + m.height + 0.5, `${file}: label ${x.text} cut by the screen: ${JSON.stringify([x, m])}`);
      assert.ok(!covers.some((c) => x.l < c.r && c.l < x.r && x.t < c.b && c.t < x.b), `${file}: label ${x.text} hidden under a control`);
      const gap = Math.min(x.l - m.x, m.x + m.width - x.r, x.t - m.y, m.y + m.height - x.b);
      assert.ok(x.edge !== 'inside' && gap <= 8, `${file}: label ${x.text} floats ${gap.toFixed(0)} px from the edges (${x.edge})`);
    }
  }
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('the panel fits a 900×700 and a 1280×800 window with a mosaic open: no scrolling, nothing cut, a panner in proportion', async () => {
  for (const [width, height] of [[900, 700], [1280, 800]]) {
    const p = await page();
    await p.setViewportSize({ width, height });
    await p.goto(`${URL_}/view?path=data/exposure.fits.fz&hdu=mosaic`);
    await p.waitForFunction(() => window.toyz.restored);
    await settle(p);
    // The status line shows the readout of a pixel.
    const n4 = await p.evaluate(() => window.toyz.view.src.mosaic.ccds.find((c) => c.name === 'N4'));
    await hover(p, n4.x0 + 20, n4.y0 + 30);
    await p.evaluate(() => window.toyz.map.fitBounds(window.toyz.bounds(), { animate: false }));
    await settle(p);
    await p.screenshot({ path: join(SHOTS, `panel-${width}x${height}.png`) });
    const at = `${width}×${height}`;
    const [sh, ch] = await p.$eval('#panel', (e) => [e.scrollHeight, e.clientHeight]);
    assert.ok(sh <= ch, `${at}: the panel scrolls (${sh} > ${ch})`);
    // Every control shown in the panel is whole inside it.
    const out = await p.$eval('#panel', (panel) => {
      const r = panel.getBoundingClientRect();
      return [...panel.querySelectorAll('button, select, input, label, a, #wcs-note')].filter((e) => e.checkVisibility({ checkVisibilityCSS: true }))
        .map((e) => [`${e.tagName}#${e.id}.${e.className}:${e.textContent.trim().slice(0, 24)}`, e.getBoundingClientRect()])
        .filter(([, b]) => b.width > 0 && (b.left < r.left - 0.5 || b.right > r.right + 0.5 || b.top < r.top - 0.5 || b.bottom > r.bottom + 0.5))
        .map(([n]) => n);
    });
    assert.deepEqual(out, [], `${at}: outside the panel`);
    // Texts whole: the status line and the HDU picker's choice.
    const status = await p.$eval('#status', (e) => [e.scrollWidth, e.clientWidth, e.textContent]);
    assert.ok(status[0] <= status[1], `${at}: the status line is cut: ${status[2]}`);
    const hdu = await p.$eval('#hdu', (e) => {
      const g = document.createElement('canvas').getContext('2d');
      const cs = getComputedStyle(e);
      g.font = `${cs.fontSize} ${cs.fontFamily}`;
      return [g.measureText(e.selectedOptions[0].textContent).width, e.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 16, e.selectedOptions[0].textContent];
    });
    assert.ok(hdu[0] <= hdu[1], `${at}: the HDU choice is cut: "${hdu[2]}" needs ${hdu[0]} px of ${hdu[1]}`);
    // The panner (and the magnifier beside it) take at most a twelfth of the map each.
    const area = await p.evaluate(() => {
      const a = (id) => { const r = document.getElementById(id).getBoundingClientRect(); return r.width * r.height; };
      return { map: a('map'), panner: a('panner') };
    });
    assert.ok(area.panner <= area.map / 12, `${at}: the panner covers ${(100 * area.panner / area.map).toFixed(1)} % of the map`);
    assert.deepEqual(p.errors, []);
    await p.close();
  }
});

test('readouts show stored values exactly: int64 beyond 2^53, full doubles, scaled integers with their decimals', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/int64.fits`);
  await p.waitForSelector('#controls:not([hidden])');
  await settle(p);
  let s = await hover(p, 1, 1);
  assert.match(s, /value 9007199254740993\b/, s);
  s = await hover(p, 2, 1);
  assert.match(s, /value 1000000007\b/, s);
  await p.goto(`${URL_}/view?path=data/double.fits`);
  await p.waitForSelector('#controls:not([hidden])');
  await settle(p);
  s = await hover(p, 1, 1);
  assert.match(s, /value 1\.000000006363\b/, s);
  s = await hover(p, 2, 1);
  assert.match(s, /value 0\.1\b/, s);
  // Scaled integers: the decimals BSCALE = 0.01 holds, not the double's 114.96000000000001.
  await p.goto(`${URL_}/view?path=data/scaled.fits`);
  await p.waitForSelector('#controls:not([hidden])');
  await settle(p);
  s = await hover(p, 1, 1);
  assert.match(s, /value 114\.96(?!\d)/, s);
  s = await hover(p, 2, 1);
  assert.match(s, /value 99\.93(?!\d)/, s);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('with accounts: log in (a permalink survives it), a refused folder is not listed, a permitted image opens, log out', async () => {
  const AUTH = process.env.TOYZ_AUTH_URL;
  assert.ok(AUTH, 'TOYZ_AUTH_URL is set by browser.rs');
  const p = await page();
  // A permalink asked without a session goes to the login page and comes back after logging in.
  await p.goto(`${AUTH}/view?path=data/public/a.fits`);
  await p.waitForURL(/\/login\?next=/);
  await p.fill('#user', 'ada');
  await p.fill('#password', 'wrong password');
  await p.click('button[type=submit]');
  await p.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
  assert.match(await p.textContent('#login-error'), /wrong user name or password/);
  await p.fill('#password', 'ada password');
  await p.click('button[type=submit]');
  await p.waitForURL(/\/view\?path=data\/public\/a\.fits/);
  await p.waitForSelector('#controls:not([hidden])');
  await settle(p);
  assert.ok(p.tiles.length > 0, 'the permitted image shows its tiles');
  await p.waitForFunction(() => document.getElementById('conn').textContent.startsWith('ada'));
  await p.screenshot({ path: join(SHOTS, 'auth-view.png') });
  // The folder nobody but admins may read is not listed, and asking for it answers as if missing.
  await p.click('#crumbs >> text=roots');
  await p.click('#files a[data-path="data"]');
  await p.waitForSelector('a[data-path="data/public"]');
  assert.equal(await p.$('a[data-path="data/private"]'), null, 'the refused folder is not listed');
  const r = await p.request.get(`${AUTH}/api/files?path=data/private`);
  assert.equal(r.status(), 404);
  // Logging out ends the session on the server: the page goes to the login page, the API says 401.
  await p.click('#logout');
  await p.waitForURL(/\/login/);
  const after = await p.request.get(`${AUTH}/api/files?path=data`);
  assert.equal(after.status(), 401);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('with accounts: a user with no grant is told that nothing is shared with them yet', async () => {
  const AUTH = process.env.TOYZ_AUTH_URL;
  const p = await page();
  await p.goto(`${AUTH}/login`);
  await p.fill('#user', 'nia');
  await p.fill('#password', 'nia password');
  await p.click('button[type=submit]');
  await p.waitForURL(/\/view/);
  await p.waitForFunction(() => document.getElementById('files').textContent.length > 0);
  assert.match(await p.textContent('#files'), /Nothing is shared with you yet/);
  await p.screenshot({ path: join(SHOTS, 'no-grant.png') });
  assert.equal(await p.$('#files a[data-path]'), null, 'no folder is listed');
  await p.close();
});

test('the admin console: a user and a grant made there work at once; live sessions ended there; the cache pruned', async () => {
  const AUTH = process.env.TOYZ_AUTH_URL;
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const p = await ctx.newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  await p.goto(`${AUTH}/admin`);
  await p.waitForURL(/\/login\?next=%2Fadmin|\/login\?next=\/admin/);
  await p.fill('#user', 'boss');
  await p.fill('#password', 'boss password');
  await p.click('button[type=submit]');
  await p.waitForURL(/\/admin$/);
  await p.waitForSelector('#users td:text("ada")');
  await p.fill('#add-user [name=name]', 'carl');
  await p.fill('#add-user [name=password]', 'carl password');
  await p.click('#add-user button');
  await p.waitForSelector('#users td:text("carl")');
  await p.fill('#add-grant [name=who]', 'user:carl');
  await p.fill('#add-grant [name=path]', 'data/private');
  await p.click('#add-grant button');
  await p.waitForSelector('#grants td:text("user:carl")');
  await p.screenshot({ path: join(SHOTS, 'admin.png') });
  // carl, in another browser, logs in and finds the folder granted a moment ago.
  const other = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const q = await other.newPage();
  await q.goto(`${AUTH}/login`);
  await q.fill('#user', 'carl');
  await q.fill('#password', 'carl password');
  await q.click('button[type=submit]');
  await q.waitForURL(/\/view/);
  await q.click('#files a[data-path="data"]');
  await q.waitForSelector('a[data-path="data/private"]');
  assert.equal(await q.$('a[data-path="data/public"]'), null, 'only what carl was granted');
  // The console lists carl's session; ending it there logs him out at once (his next request: login).
  await p.reload();
  await p.waitForSelector('#sessions tr[data-user="carl"]');
  await p.click('#sessions tr[data-user="carl"] button:text("end")');
  await p.waitForFunction(() => !document.querySelector('#sessions tr[data-user="carl"]'));
  assert.equal((await q.request.get(`${AUTH}/api/me`)).status(), 401);
  // The cache: what it holds, and a prune with what it removed.
  await p.waitForSelector('#cache tr[data-key="sources"]');
  assert.match(await p.textContent('#cache tr[data-key="size"]'), /MiB of/);
  await p.click('#prune button');
  await p.waitForFunction(() => /^pruned: /.test(document.getElementById('message').textContent));
  await p.screenshot({ path: join(SHOTS, 'admin-sessions.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await other.close();
  await ctx.close();
});

test('workspaces: save the view, share it with a group, a member opens it from the list', async () => {
  const AUTH = process.env.TOYZ_AUTH_URL;
  const login = async (ctx, user, next = '/view') => {
    const p = await ctx.newPage();
    p.errors = [];
    p.on('pageerror', (e) => p.errors.push(e.message));
    await p.goto(`${AUTH}/login?next=${encodeURIComponent(next)}`);
    await p.fill('#user', user);
    await p.fill('#password', `${user} password`);
    await p.click('button[type=submit]');
    await p.waitForURL(/\/view/);
    return p;
  };
  const a = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const p = await login(a, 'ada', '/view?path=data/public/a.fits&cmap=viridis&zoom=1');
  await p.waitForFunction(() => window.toyz.restored);
  await p.waitForSelector('#ws-box:not([hidden])');
  await p.fill('#ws-name', 'field A, viridis');
  await p.fill('#ws-share', 'group:class');
  await p.click('#ws-save');
  await p.waitForSelector('#ws-list a:text("field A, viridis")');
  const saved = await p.evaluate(() => window.toyz.lastWorkspace);
  assert.deepEqual(saved.shares, [{ who: 'group:class', level: 'view' }]);
  // bea is in the class: the workspace is in her list and opens the same view.
  const b = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const q = await login(b, 'bea');
  await q.waitForSelector('#ws-list a:text("field A, viridis")');
  assert.match(await q.textContent('#ws-list'), /ada, view/);
  await q.click('#ws-list a:text("field A, viridis")');
  await q.waitForURL(/workspace=/);
  await q.waitForFunction(() => window.toyz.restored && window.toyz.view.src);
  assert.equal(await q.evaluate(() => window.toyz.view.src.path), 'data/public/a.fits');
  assert.equal(await q.inputValue('#cmap'), 'viridis');
  await q.screenshot({ path: join(SHOTS, 'workspace.png') });
  assert.deepEqual([...p.errors, ...q.errors], []);
  await a.close();
  await b.close();
});

test('replicas: the replica holding the session dies, the viewer reconnects through nginx to the other and carries on', async () => {
  const LB = process.env.TOYZ_LB_URL;
  const KILL = process.env.TOYZ_KILL_URL;
  assert.ok(LB && KILL, 'TOYZ_LB_URL and TOYZ_KILL_URL are set by browser.rs');
  const p = await page();
  await p.goto(`${LB}/view?path=data/sky.fits&cmap=viridis&catalog=data%2Fstars.csv`);
  await p.waitForFunction(() => window.toyz.restored && window.toyz.session.isReady);
  await p.waitForFunction(() => window.toyz.tools.catalogs.length === 1 && window.toyz.tools.catalogs[0].layer);
  const count = await p.evaluate(() => window.toyz.tools.catalogs[0].layer.getLayers().length);
  assert.ok(count > 0, 'the catalog is drawn');
  assert.match(await hover(p, 200, 150), /x 200 {2}y 150/);
  // The replica that holds this page's socket is killed (the other one has no session).
  await p.evaluate(() => { window.oldCache = window.toyz.tools.catalogs[0].cache; });
  const killed = await (await fetch(KILL)).text();
  assert.match(killed, /^killed http/);
  // The page notices, reconnects through nginx (to the surviving replica) and restores its state.
  await p.waitForFunction(() => window.toyz.session.sessions === 2 && window.toyz.session.isReady);
  await p.waitForFunction(() => {
    const c = window.toyz.tools.catalogs[0];
    return c.cache !== window.oldCache && c.cache.size > 0 && c.layer;
  });
  assert.equal(await p.evaluate(() => window.toyz.tools.catalogs[0].layer.getLayers().length), count);
  assert.match(await hover(p, 420, 330), /x 420 {2}y 330/);
  // Tiles keep coming: a colormap not seen before renders through the surviving replica.
  const oldRender = renderId(p.tiles[p.tiles.length - 1]);
  await p.selectOption('#cmap', 'heat');
  await p.waitForFunction((old) => window.toyz.view && !location.search.includes('cmap=viridis'), oldRender);
  await settle(p);
  const fresh = p.tiles.filter((u) => renderId(u) !== oldRender);
  assert.ok(fresh.length > 0, 'tiles of the new colormap were asked for');
  assert.equal((await p.request.get(fresh[fresh.length - 1])).status(), 200);
  assert.doesNotMatch(await p.textContent('#conn'), /reconnecting/);
  await p.screenshot({ path: join(SHOTS, 'replica-reconnect.png') });
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('small things: sizes in the unit that fits, long names keep their size in view, an icon, a link\'s percentile in the cut menu, one graticule request per view', async () => {
  const p = await page();
  const asked = [];
  p.on('request', (r) => asked.push(new URL(r.url()).pathname));
  await p.goto(`${URL_}/view?path=data/sky.fits&cut=percentile%3D90`);
  await p.waitForFunction(() => window.toyz.restored && window.toyz.view.src);
  // The cut a link asked for is selected, with a label, not a blank menu.
  assert.equal(await p.inputValue('#cut'), 'percentile=90');
  assert.equal(await p.evaluate(() => document.querySelector('#cut').selectedOptions[0].textContent), '90 %');
  // Sizes: bytes and KiB for small files (never "0.0 MiB"), MiB for bigger ones.
  await p.waitForSelector('#files a[data-path="data/sky.fits"]');
  const sizes = await p.evaluate(() => Object.fromEntries([...document.querySelectorAll('#files li')]
    .map((li) => [li.firstChild.textContent, li.querySelector('.size')?.textContent])));
  assert.equal(sizes['int64.fits'], '5.6 KiB');
  assert.equal(sizes['corrupt.fits'], '3.3 KiB');
  assert.equal(sizes['ramp.fits'], '3.1 MiB');
  assert.ok(!Object.values(sizes).includes('0.0 MiB'), JSON.stringify(sizes));
  // A long name is cut, its size stays on the same line inside the panel.
  const long = await p.evaluate(() => {
    const a = document.querySelector('#files a[data-path^="data/c4d_201201"]');
    const s = a.parentElement.querySelector('.size');
    const [ra, rs, rp] = [a, s, document.getElementById('files')].map((e) => e.getBoundingClientRect());
    return { cut: a.scrollWidth > a.clientWidth, sameLine: Math.abs(ra.top - rs.top) < 4, inside: rs.right <= rp.right + 1,
      title: a.title };
  });
  assert.deepEqual(long, { cut: true, sameLine: true, inside: true,
    title: 'c4d_201201_031245_ooi_g_v1-a-long-pipeline-product-name-N4.fits' });
  // The page names its icon: browsers do not ask for /favicon.ico (a 404 on every load before).
  assert.ok(await p.$('link[rel=icon]'));
  assert.ok(!asked.includes('/favicon.ico'), asked.join(' '));
  await p.screenshot({ path: join(SHOTS, 'small-things.png') });
  assert.deepEqual(p.errors, []);
  await p.close();
  // A link with the grid on asks for each graticule once (the same request went out twice).
  const q = await page();
  const asks = [];
  q.on('websocket', (ws) => ws.on('framesent', (f) => {
    const m = JSON.parse(f.payload);
    if (m.job === 'image.graticule') asks.push(JSON.stringify([m.params.path, m.params.rect]));
  }));
  await q.goto(`${URL_}/view?path=data/sky.fits&x=300&y=250&zoom=3&grid=1`);
  await q.waitForFunction(() => window.toyz.restored && document.querySelectorAll('.grid-line').length >= 4);
  await settle(q);
  assert.ok(asks.length >= 1);
  assert.equal(new Set(asks).size, asks.length, `a graticule asked twice: ${asks.join(' ')}`);
  // Unticking and ticking the grid again redraws it without asking the server.
  const before = asks.length;
  await q.click('#grid');
  await q.waitForFunction(() => document.querySelectorAll('.grid-line').length === 0);
  await q.click('#grid');
  await q.waitForFunction(() => document.querySelectorAll('.grid-line').length >= 4);
  assert.equal(asks.length, before);
  assert.deepEqual(q.errors, []);
  await q.close();
});

/** What the map shows: zoom, and the image's box on screen against the map's size. */
const mapState = (p) => p.evaluate(() => {
  const m = window.toyz.map; const b = window.toyz.bounds();
  const a = m.latLngToContainerPoint(b.getNorthWest()); const z = m.latLngToContainerPoint(b.getSouthEast());
  const s = m.getSize();
  return { zoom: m.getZoom(), zmax: window.toyz.view.src.zmax, w: z.x - a.x, h: z.y - a.y, W: s.x, H: s.y };
});

test('zoom: ×1.25 per wheel notch about the cursor, every notch counts, fit fills the window, exact factors from the menu, crisp past 1:1', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/ramp.fits`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  // Opening fits the image: it fills the window along one side and fits along the other.
  const fitted = await mapState(p);
  assert.ok(Math.abs(fitted.w - fitted.W) < 1 || Math.abs(fitted.h - fitted.H) < 1, JSON.stringify(fitted));
  assert.ok(fitted.w <= fitted.W + 1 && fitted.h <= fitted.H + 1, JSON.stringify(fitted));
  assert.equal(await p.inputValue('#zoom'), 'now');
  // Five notches in quick succession: all count, each ×1.25, about the cursor.
  const [mx, my] = [700, 300];
  await p.mouse.move(mx, my);
  const under = () => p.evaluate(([x, y]) => {
    const r = document.getElementById('map').getBoundingClientRect();
    return window.toyz.toFits(window.toyz.map.containerPointToLatLng([x - r.left, y - r.top]));
  }, [mx, my]);
  const before = await under();
  for (let i = 0; i < 5; i++) await p.mouse.wheel(0, -100);
  const want = fitted.zoom + 5 * Math.log2(1.25);
  await p.waitForFunction((z) => Math.abs(window.toyz.map.getZoom() - z) < 1e-9, want);
  const after = await under();
  // Leaflet places the map on whole screen pixels: half a screen pixel is the most it may move.
  const factor = 2 ** (want - fitted.zmax);
  assert.ok(Math.hypot(after.x - before.x, after.y - before.y) <= 0.71 / factor, `the pixel under the cursor stays: ${JSON.stringify([before, after])}`);
  const shown = factor >= 1 ? `×${+factor.toPrecision(3)}` : `1/${+(1 / factor).toPrecision(3)}`;
  assert.equal(await p.textContent('#zoom-readout'), shown);
  // Two notches back out.
  await p.mouse.wheel(0, 100);
  await p.mouse.wheel(0, 100);
  await p.waitForFunction((z) => Math.abs(window.toyz.map.getZoom() - z) < 1e-9, fitted.zoom + 3 * Math.log2(1.25));
  // Exact factors from the menu: ×2 draws pixels crisp, 1/2 smooth.
  await p.selectOption('#zoom', '2');
  let s = await mapState(p);
  assert.equal(s.zoom, s.zmax + 1);
  assert.equal(await p.textContent('#zoom-readout'), '×2');
  await settle(p);
  const rendering = () => p.evaluate(() => getComputedStyle(document.querySelector('#map .leaflet-tile-loaded')).imageRendering);
  assert.equal(await rendering(), 'pixelated');
  await p.selectOption('#zoom', '0.5');
  s = await mapState(p);
  assert.equal(s.zoom, s.zmax - 1);
  assert.equal(await p.textContent('#zoom-readout'), '1/2');
  await settle(p);
  assert.equal(await rendering(), 'auto');
  // The link keeps a fractional zoom; a fresh page opens at it.
  await p.mouse.move(mx, my);
  await p.mouse.wheel(0, -100);
  const z1 = s.zoom + Math.log2(1.25);
  await p.waitForFunction((z) => Math.abs(window.toyz.map.getZoom() - z) < 1e-9, z1);
  await p.waitForFunction((z) => new URLSearchParams(location.search).get('zoom') === String(+z.toFixed(4)), z1);
  const q = await page();
  await q.goto(p.url());
  await q.waitForFunction(() => window.toyz.restored);
  assert.ok(Math.abs((await mapState(q)).zoom - z1) < 1e-4);
  assert.equal(await q.textContent('#zoom-readout'), '1/1.6');
  // "f" and the Fit button fit again.
  await q.click('#map', { position: { x: 400, y: 400 } });
  await q.keyboard.press('f');
  assert.ok(Math.abs((await mapState(q)).zoom - fitted.zoom) < 1e-9);
  await q.selectOption('#zoom', '32');
  assert.equal((await mapState(q)).zoom, fitted.zmax + 5);
  await q.click('#fit');
  assert.ok(Math.abs((await mapState(q)).zoom - fitted.zoom) < 1e-9);
  await q.screenshot({ path: join(SHOTS, 'zoom.png') });
  assert.deepEqual([...p.errors, ...q.errors], []);
  await q.close();
  await p.close();
});

test('readout: sky system and format from the server\'s formatter, kept across pages; the header panel lists and searches the cards', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits&x=300&y=250&zoom=3`);
  await p.waitForFunction(() => window.toyz.restored);
  let s = await hover(p, 120, 80);
  assert.match(s, /α \d\d:\d\d:\d\d\.\d{3} δ [+-]\d\d:\d\d:\d\d\.\d\d \(icrs\)/);
  // What the server writes for this pixel in galactic degrees is what the status line shows.
  const ask = (system, format) => p.evaluate(([system, format]) => window.toyz.session.call('image.pixels',
    { path: 'data/sky.fits', hdu: '0', points: [[120, 80]], sky: { system, format } }).then((r) => r.pixels[0].sky), [system, format]);
  const g = await ask('galactic', 'degrees');
  assert.match(g.lon_text, /^\d+\.\d{7}$/);
  await p.selectOption('#sky-system', 'galactic');
  await p.selectOption('#sky-format', 'degrees');
  await p.waitForFunction((t) => document.getElementById('status').textContent.includes(t), `l ${g.lon_text} b ${g.lat_text} (galactic)`);
  const e = await ask('ecliptic', 'sexagesimal');
  await p.selectOption('#sky-system', 'ecliptic');
  await p.selectOption('#sky-format', 'sexagesimal');
  await p.waitForFunction((t) => document.getElementById('status').textContent.includes(t), `λ ${e.lon_text} β ${e.lat_text} (ecliptic)`);
  assert.match(e.lon_text, /^\d{3}:\d\d:\d\d\.\d\d$/);
  // The choice is this browser's preference: a new page keeps it.
  await p.reload();
  await p.waitForFunction(() => window.toyz.restored);
  assert.equal(await p.inputValue('#sky-system'), 'ecliptic');
  s = await hover(p, 120, 80);
  assert.ok(s.includes(`λ ${e.lon_text} β ${e.lat_text} (ecliptic)`), s);
  // Where no server answers (standalone page, popups), the same rounding: never 59:60.000.
  assert.deepEqual(await p.evaluate(() => [window.toyz.sexa(150 - 1e-9, true), window.toyz.sexa(29.999999999, false), window.toyz.sexa(-1e-9, false)]),
    ['10:00:00.000', '+30:00:00.00', '+00:00:00.00']);
  await p.selectOption('#sky-system', 'native');

  // The header panel: every card, then only those matching a search, marked.
  const cards = await p.evaluate(() => window.toyz.session.call('image.header', { path: 'data/sky.fits', hdu: '0' }).then((r) => r.cards));
  await p.click('#header-open');
  await p.waitForFunction((n) => document.querySelectorAll('#header-cards tr').length === n, cards.length);
  assert.equal(await p.textContent('#header-count'), `HDU 0: ${cards.length} cards`);
  const crval = cards.find((c) => c.keyword === 'CRVAL1');
  assert.ok(crval, 'the generator writes a WCS');
  await p.fill('#header-search', 'crval');
  await p.waitForFunction(() => document.querySelectorAll('#header-cards tr').length === 2);
  assert.deepEqual(await p.$$eval('#header-cards td.k', (t) => t.map((e) => e.textContent)), ['CRVAL1', 'CRVAL2']);
  assert.equal(await p.$$eval('#header-cards mark', (m) => m.length), 2);
  assert.equal(await p.textContent('#header-count'), `HDU 0: 2 of ${cards.length} cards`);
  assert.equal(await p.textContent('#header-cards tr:first-child td.v'), crval.value);
  await p.screenshot({ path: join(SHOTS, 'header.png') });
  await p.press('#header-search', 'Escape');
  assert.ok(await p.isHidden('#header-box'));
  // "h" opens it again (with the last search).
  await p.click('#map', { position: { x: 400, y: 400 } });
  await p.keyboard.press('h');
  await p.waitForSelector('#header-box:not([hidden])');
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('navigation: the panner shows and moves the view, the magnifier shows the pixels under the cursor, the crosshair steps by pixels with the readout, ? lists the keys', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/ramp.fits`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  // The panner: the whole 1000×800 image in 160×128 px.
  await p.waitForSelector('#panner:not([hidden])');
  const pr = await p.$eval('#panner', (e) => { const r = e.getBoundingClientRect(); return { left: r.left, top: r.top, width: r.width - 2, height: r.height - 2 }; });
  assert.deepEqual([pr.width, pr.height], [160, 128]);
  await p.waitForFunction(() => document.getElementById('panner-img').complete && document.getElementById('panner-img').naturalWidth === 256);
  // Its box is the view: centred on (250, 200) at ×2 it is centred there in the panner.
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(250, 200), window.toyz.view.src.zmax + 1, { animate: false }));
  const box = await p.$eval('#panner-view', (e) => { const r = e.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width }; });
  const at = (x, y) => ({ x: pr.left + 1 + ((x - 0.5) * 160) / 1000, y: pr.top + 1 + ((800 - (y - 0.5)) * 128) / 800 });
  const c250 = at(250, 200);
  assert.ok(Math.abs(box.x - c250.x) < 1 && Math.abs(box.y - c250.y) < 1, JSON.stringify([box, c250]));
  const mapW = await p.evaluate(() => window.toyz.map.getSize().x);
  assert.ok(Math.abs(box.w - (mapW / 2) * (160 / 1000)) < 1, `box width ${box.w}`);
  // A click in the panner centres the view there; a drag follows the pointer (to a panner pixel, 6.25
  // image pixels: the mouse moves on whole pixels).
  const centre = () => p.evaluate(() => window.toyz.toFits(window.toyz.map.getCenter()));
  let t = at(750, 600);
  await p.mouse.click(t.x, t.y);
  let c = await centre();
  assert.ok(Math.abs(c.x - 750) < 7 && Math.abs(c.y - 600) < 7, JSON.stringify(c));
  t = at(300, 500);
  await p.mouse.move(t.x, t.y);
  await p.mouse.down();
  const t2 = at(600, 300);
  await p.mouse.move(t2.x, t2.y, { steps: 4 });
  await p.mouse.up();
  c = await centre();
  assert.ok(Math.abs(c.x - 600) < 7 && Math.abs(c.y - 300) < 7, JSON.stringify(c));

  // The magnifier: its centre shows the tile pixel under the cursor, four times larger.
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(101, 51), window.toyz.view.src.zmax + 2, { animate: false }));
  await settle(p);
  await hover(p, 101, 51);
  await p.waitForSelector('#magnifier-box:not([hidden])');
  const colours = await p.evaluate(() => {
    const cv = document.getElementById('magnifier');
    const mag = [...cv.getContext('2d').getImageData(cv.width / 2, cv.height / 2, 1, 1).data.slice(0, 3)];
    const m = window.toyz.map;
    const pt = m.latLngToContainerPoint(window.toyz.toLatLng(101, 51));
    const mr = m.getContainer().getBoundingClientRect();
    const sx = Math.floor(mr.left + pt.x); const sy = Math.floor(mr.top + pt.y);
    for (const img of window.toyz.view.layer.getContainer().querySelectorAll('img.leaflet-tile-loaded')) {
      const r = img.getBoundingClientRect();
      if (sx < r.left || sx >= r.right || sy < r.top || sy >= r.bottom) continue;
      const c = document.createElement('canvas');
      c.width = c.height = 256;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const px = Math.floor(((sx - r.left) * 256) / r.width); const py = Math.floor(((sy - r.top) * 256) / r.height);
      return { mag, tile: [...g.getImageData(px, py, 1, 1).data.slice(0, 3)] };
    }
    return { mag, tile: null };
  });
  assert.deepEqual(colours.mag, colours.tile);
  assert.ok(colours.mag.some((v) => v > 0), 'the ramp is not black there');

  // The crosshair: placed by a click, moved a pixel at a time by the arrows, the readout follows it
  // and not the mouse.
  await p.click('#crosshair');
  const pt = await screenAt(p, 101, 51);
  await p.mouse.click(Math.floor(pt.x), Math.floor(pt.y));
  const statusAt = (x, y) => p.waitForFunction(([x, y]) => {
    const s = document.getElementById('status');
    return s.dataset.x === String(x) && s.dataset.y === String(y);
  }, [x, y]);
  await statusAt(101, 51);
  assert.equal(await p.$$eval('.crosshair-line', (l) => l.length), 2);
  const before = await centre();
  for (const k of ['ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowUp', 'ArrowUp']) await p.keyboard.press(k);
  await statusAt(104, 53);
  assert.match(await p.textContent('#status'), /value 52103\b/);
  await p.keyboard.press('Shift+ArrowLeft');
  await statusAt(94, 53);
  assert.match(await p.textContent('#status'), /value 52093\b/);
  assert.deepEqual(await centre(), before, 'the arrows moved the crosshair, not the map');
  await p.mouse.move(Math.floor(pt.x) + 40, Math.floor(pt.y) + 40);
  await p.mouse.move(Math.floor(pt.x) + 60, Math.floor(pt.y) + 60);
  assert.equal(await p.$eval('#status', (s) => s.dataset.x), '94', 'the mouse does not move the readout');
  await p.screenshot({ path: join(SHOTS, 'navigation.png') });
  assert.ok(await p.isHidden('#error'), await p.textContent('#error'));
  await p.keyboard.press('c');
  assert.equal(await p.$$eval('.crosshair-line', (l) => l.length), 0);

  // ? lists the shortcuts; Esc closes the list.
  await p.keyboard.press('?');
  await p.waitForSelector('#keys:not([hidden])');
  const keys = await p.$$eval('#keys-list tr td:first-child', (t) => t.map((e) => e.textContent.trim()));
  for (const k of ['f', '1', 'h', 'c', '?', 'Esc', 'wheel', '+ −', '← ↑ → ↓', 'right-drag']) assert.ok(keys.includes(k), `${k} in ${keys}`);
  await p.screenshot({ path: join(SHOTS, 'shortcuts.png') });
  await p.keyboard.press('Escape');
  assert.ok(await p.isHidden('#keys'));
  // Hiding the panner is remembered by this browser.
  await p.uncheck('#show-panner');
  assert.ok(await p.isHidden('#panner'));
  await p.reload();
  await p.waitForFunction(() => window.toyz.restored);
  assert.ok(!(await p.isChecked('#show-panner')));
  assert.ok(await p.isHidden('#panner'));
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('cubes: the plane slider, [ and ] step, play runs through the planes, the plane is in the link and the readout with its frequency', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/cube.fits`);
  await p.waitForFunction(() => window.toyz.restored);
  await p.waitForSelector('#cube-box:not([hidden])');
  assert.equal(await p.textContent('#plane-of'), 'of 0–4');
  assert.equal(await p.textContent('#plane-wcs'), 'FREQ 1400000000 Hz');
  // Ramp (x-1) + (y-1)·200, plus 30000 a plane.
  let s = await hover(p, 10, 10);
  assert.match(s, /value 1809(\.0)? Jy\/beam {2}plane 0 FREQ 1400000000 Hz/);
  await p.click('#map', { position: { x: 30, y: 300 } });
  await p.keyboard.press(']');
  await p.keyboard.press(']');
  await p.waitForFunction(() => window.toyz.view.src.plane === 2);
  assert.equal(await p.inputValue('#plane'), '2');
  assert.equal(await p.textContent('#plane-wcs'), 'FREQ 1402000000 Hz');
  s = await hover(p, 10, 10);
  assert.match(s, /value 61809(\.0)? Jy\/beam {2}plane 2 FREQ 1402000000 Hz/);
  await p.waitForFunction(() => new URLSearchParams(location.search).get('plane') === '2');
  // The link opens the same plane.
  const q = await page();
  await q.goto(p.url());
  await q.waitForFunction(() => window.toyz.restored);
  assert.equal(await q.evaluate(() => window.toyz.view.src.plane), 2);
  assert.match(await hover(q, 10, 10), /value 61809\b/);
  await q.close();
  // The number box and the slider.
  await p.fill('#plane-n', '4');
  await p.press('#plane-n', 'Enter');
  await p.waitForFunction(() => window.toyz.view.src.plane === 4);
  await p.$eval('#plane', (e) => { e.value = '1'; e.dispatchEvent(new Event('input')); });
  await p.waitForFunction(() => window.toyz.view.src.plane === 1);
  // [ steps back; from 0 it wraps to the last plane.
  await p.click('#map', { position: { x: 30, y: 300 } });
  await p.keyboard.press('[');
  await p.waitForFunction(() => window.toyz.view.src.plane === 0);
  await p.keyboard.press('[');
  await p.waitForFunction(() => window.toyz.view.src.plane === 4);
  // Play visits every plane in turn (0, 1, 2, … after 4), until stopped.
  await p.fill('#play-fps', '20');
  await p.evaluate(() => { window.seen = []; setInterval(() => { const n = window.toyz.view.src.plane; if (window.seen.at(-1) !== n) window.seen.push(n); }, 5); });
  await p.click('#play');
  await p.waitForFunction(() => window.seen.length >= 7);
  await p.click('#play');
  const seen = await p.evaluate(() => window.seen);
  for (let i = 1; i < seen.length; i++) assert.equal(seen[i], (seen[i - 1] + 1) % 5, `planes in turn: ${seen}`);
  assert.equal(await p.textContent('#play'), '▶ play');
  await p.screenshot({ path: join(SHOTS, 'cube.png') });
  assert.ok(await p.isHidden('#error'), await p.textContent('#error'));
  assert.deepEqual(p.errors, []);
  await p.close();
});

/** The colour the user sees at page point (x, y), from a screenshot. */
async function screenColour(p, x, y) {
  return (await screenPixels(p, { x: Math.floor(x), y: Math.floor(y), width: 1, height: 1 })).rgb(0, 0);
}

/** The colour on screen at page point (x, y): from the top canvas or tile image of the map there. */
const shownColour = (p, x, y, sel) => p.evaluate(([x, y, sel]) => {
  for (const el of [...document.querySelectorAll(sel)].reverse()) {
    const r = el.getBoundingClientRect();
    if (x < r.left || x >= r.right || y < r.top || y >= r.bottom) continue;
    const w = el.naturalWidth || el.width; const h = el.naturalHeight || el.height;
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const g = c.getContext('2d');
    g.drawImage(el, 0, 0);
    const px = g.getImageData(Math.floor(((x - r.left) * w) / r.width), Math.floor(((y - r.top) * h) / r.height), 1, 1).data;
    if (px[3] !== 255) throw new Error(`not an opaque pixel: ${px}`);
    return [...px.slice(0, 3)];
  }
  return null;
}, [x, y, sel]);

test('contrast/bias: right-drag shows its effect on the loaded tiles while dragging, and the server\'s tiles agree', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits&cmap=viridis&x=300&y=250&zoom=3`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  const box = await p.locator('#map').boundingBox();
  const at = await screenAt(p, 320, 240); // sky, away from the NaN patches
  const probe = [Math.floor(at.x), Math.floor(at.y)];
  const tileSel = '#map .leaflet-tile-loaded:not(.live-tile)';
  const before = await shownColour(p, ...probe, tileSel);
  assert.deepEqual(await screenColour(p, ...probe), before, 'the screen shows the tile');
  await p.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await p.mouse.down({ button: 'right' });
  await p.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.15, { steps: 3 });
  // While the button is down: the canvases over the tiles show the new contrast/bias, no new tiles yet.
  await p.waitForFunction(() => window.toyz.live.painted > 0 && window.toyz.live.tiles.length > 0);
  const painted = await p.evaluate(() => window.toyz.live.painted);
  await p.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.1);
  await p.waitForFunction((n) => window.toyz.live.painted > n, painted);
  const preview = await shownColour(p, ...probe, '#map canvas.live-tile');
  assert.ok(preview, 'a canvas covers the probe');
  assert.notDeepEqual(preview, before, 'the drag changed the colours at once');
  // What the user sees: the screen shows the preview (Leaflet's CSS hid canvases not marked loaded).
  assert.deepEqual(await screenColour(p, ...probe), preview, 'the screen shows the preview while dragging');
  const spec = await p.evaluate(() => ({ ...window.toyz.view.spec }));
  assert.ok(spec.contrast > 1 && spec.bias < 0.5, JSON.stringify(spec));
  await p.mouse.up({ button: 'right' });
  // Released: the server renders; its tile at the probe is the preview's colour (the preview starts from
  // the quantised stretched value, so it may differ by a fraction of a palette step).
  await p.waitForFunction(() => /contrast=/.test(location.search));
  await p.waitForFunction(() => window.toyz.live.tiles.length === 0 && !document.querySelector('canvas.live-tile'));
  await settle(p);
  const after = await shownColour(p, ...probe, tileSel);
  const d = Math.max(...after.map((v, i) => Math.abs(v - preview[i])));
  assert.ok(d <= 6, `preview ${preview} vs rendered ${after}`);
  await p.screenshot({ path: join(SHOTS, 'contrast-bias.png') });
  assert.ok(await p.isHidden('#error'), await p.textContent('#error'));
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('scale: stretch parameters, any percentile, the scale-limits histogram dragged to set the cut, a NaN colour, colour-bar ticks at round values', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits&x=300&y=250&zoom=2`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  const rid = () => p.evaluate(() => window.toyz.view.src.render.id);
  const q = () => p.evaluate(() => Object.fromEntries(new URLSearchParams(location.search)));
  // Colour-bar ticks: the server's round values, placed where it says.
  const ticks = await p.evaluate(() => window.toyz.view.src.render.ticks);
  assert.ok(ticks.length >= 3, JSON.stringify(ticks));
  assert.deepEqual(await p.$$eval('#cbar-ticks span', (s) => s.map((e) => e.textContent)), ticks.map((t) => t.label));
  assert.equal(await p.textContent('#bunit'), 'ADU');
  for (const t of ticks) assert.equal(Number(t.label), t.value);
  // Shown labels never overlap.
  const boxes = await p.$$eval('#cbar-ticks span', (s) => s.map((e) => e.getBoundingClientRect()).map((r) => [r.left, r.right]));
  for (let i = 1; i < boxes.length; i++) assert.ok(boxes[i][0] >= boxes[i - 1][1], JSON.stringify(boxes));
  // asinh with its softening parameter.
  let id0 = await rid();
  await p.selectOption('#stretch', 'asinh');
  await p.waitForFunction((id) => window.toyz.view.src.render.id !== id, id0);
  assert.equal(await p.inputValue('#stretch-param'), '0.1');
  id0 = await rid();
  await p.fill('#stretch-param', '0.02');
  await p.press('#stretch-param', 'Enter');
  await p.waitForFunction((id) => window.toyz.view.src.render.id !== id, id0);
  assert.deepEqual(await p.evaluate(() => window.toyz.view.src.render.stretch), { name: 'asinh', a: 0.02 });
  await p.waitForFunction(() => new URLSearchParams(location.search).get('stretch') === 'asinh=0.02');
  const shown = await p.$$eval('#cbar-ticks span', (s) => s.map((e) => e.getBoundingClientRect()).map((r) => [r.left, r.right]));
  for (let i = 1; i < shown.length; i++) assert.ok(shown[i][0] >= shown[i - 1][1], `asinh crowds its ticks: ${JSON.stringify(shown)}`);
  // The ticks moved with the stretch: asinh puts a value at asinh(t/a)/asinh(1/a) of the bar.
  const { lo, hi, ticks: t2 } = await p.evaluate(() => window.toyz.view.src.render);
  const mid = t2[Math.floor(t2.length / 2)];
  const tt = (mid.value - lo) / (hi - lo);
  assert.ok(Math.abs(mid.pos - Math.asinh(tt / 0.02) / Math.asinh(1 / 0.02)) < 1e-9, JSON.stringify(mid));
  // Any percentile: 99.9 gives the server's levels for it.
  id0 = await rid();
  await p.selectOption('#cut', 'pct');
  await p.fill('#cut-pct', '99.9');
  await p.press('#cut-pct', 'Enter');
  await p.waitForFunction((id) => window.toyz.view.src.render.id !== id, id0);
  assert.equal(await p.inputValue('#cut'), 'percentile=99.9');
  const want = await (await fetch(`${URL_}/api/sources?path=data/sky.fits&cut=percentile%3D99.9`)).json();
  assert.equal(await p.evaluate(() => window.toyz.view.src.render.hi), want.render.hi);
  // A bad one is refused in the server's words, and the view keeps what it shows.
  await p.selectOption('#cut', 'pct');
  await p.fill('#cut-pct', '150');
  await p.press('#cut-pct', 'Enter');
  await p.waitForSelector('#error:not([hidden])');
  assert.match(await p.textContent('#error'), /percentile/);
  assert.equal(await p.inputValue('#cut'), 'percentile=99.9');
  assert.equal((await q()).cut, 'percentile=99.9');
  // A NaN colour: the NaN column turns magenta, in the link too.
  id0 = await rid();
  await p.check('#nan-on');
  await p.waitForFunction((id) => window.toyz.view.src.render.id !== id, id0);
  await settle(p);
  assert.equal(await p.evaluate(() => window.toyz.view.src.render.nan), '#ff00ffff');
  const nanAt = await screenAt(p, 202, 250); // the generator's NaN column starts at x = 201 (0-based 200)
  assert.deepEqual(await shownColour(p, Math.floor(nanAt.x), Math.floor(nanAt.y), '#map .leaflet-tile-loaded'), [255, 0, 255]);
  // Only NaN pixels: past the image's right edge the tile stays transparent.
  const past = await screenAt(p, 603, 250);
  assert.equal(await p.evaluate(([x, y]) => {
    for (const el of document.querySelectorAll('#map .leaflet-tile-loaded')) {
      const r = el.getBoundingClientRect();
      if (x < r.left || x >= r.right || y < r.top || y >= r.bottom) continue;
      const c = document.createElement('canvas'); c.width = c.height = 256;
      const g = c.getContext('2d'); g.drawImage(el, 0, 0);
      return g.getImageData(Math.floor(((x - r.left) * 256) / r.width), Math.floor(((y - r.top) * 256) / r.height), 1, 1).data[3];
    }
    return 0; // no tile there at all: transparent too
  }, [Math.floor(past.x), Math.floor(past.y)]), 0);
  assert.ok(await p.isHidden('#cut-pct-box'), 'the percentile box closes once applied');
  assert.equal((await q()).nan, '#ff00ffff');
  // The scale-limits panel: the view's histogram; dragging the lower limit sets a manual cut there.
  await p.click('#scale-open');
  await p.waitForFunction(() => window.toyz.scale.hist && window.toyz.scale.hist.bins === 256);
  const h = await p.evaluate(() => window.toyz.scale.hist);
  assert.ok(h.counts.reduce((a, b) => a + b, 0) > 1000);
  const cv = await p.locator('#scale-hist').boundingBox();
  const xOf = (v) => cv.x + ((v - h.lo) / (h.hi - h.lo)) * cv.width;
  const s0 = await p.evaluate(() => ({ lo: window.toyz.scale.lo, hi: window.toyz.scale.hi }));
  const target = s0.lo + (s0.hi - s0.lo) * 0.3;
  id0 = await rid();
  await p.mouse.move(xOf(s0.lo), cv.y + 60);
  await p.mouse.down();
  await p.mouse.move(xOf(target), cv.y + 60, { steps: 4 });
  await p.mouse.up();
  await p.waitForFunction((id) => window.toyz.view.src.render.id !== id, id0);
  const r = await p.evaluate(() => window.toyz.view.src.render);
  assert.equal(r.cut.name, 'range');
  const bin = (h.hi - h.lo) / cv.width;
  assert.ok(Math.abs(r.lo - target) <= 1.5 * bin, `${r.lo} vs ${target} (±${bin})`);
  assert.ok(Math.abs(r.hi - s0.hi) < 1e-3 * Math.abs(s0.hi), `${r.hi} vs ${s0.hi}`);
  assert.equal(await p.inputValue('#cut'), 'range');
  await p.waitForFunction(() => /^range=/.test(new URLSearchParams(location.search).get('cut')));
  await p.screenshot({ path: join(SHOTS, 'scale.png') });
  // A preset from the panel.
  id0 = await rid();
  await p.click('#scale-presets [data-cut=zscale]');
  await p.waitForFunction((id) => window.toyz.view.src.render.id !== id, id0);
  assert.equal(await p.inputValue('#cut'), 'zscale');
  // A narrow range: labels in decimals (not 3.000004e0), each whole inside the bar, its mark at its value.
  id0 = await rid();
  await p.goto(`${URL_}/view?path=data/sky.fits&x=300&y=250&zoom=2&cut=range=3,3.00001`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  const narrow = await p.$$eval('#cbar-ticks span', (s) => s.map((e) => {
    const r = e.getBoundingClientRect();
    return { text: e.textContent, left: r.left, right: r.right, mark: parseFloat(getComputedStyle(e, '::before').left) + r.left };
  }));
  const bar = await p.$eval('#cbar-ticks', (e) => { const r = e.getBoundingClientRect(); return { left: r.left, right: r.right, width: r.width }; });
  const placed = await p.evaluate(() => window.toyz.view.src.render.ticks);
  assert.ok(narrow.length >= 3, JSON.stringify(narrow));
  for (const [i, t] of narrow.entries()) {
    assert.match(t.text, /^3\.\d{6}$/, JSON.stringify(narrow));
    assert.ok(i === 0 || t.left >= narrow[i - 1].right, `labels overlap: ${JSON.stringify(narrow)}`);
    assert.ok(t.left >= bar.left - 0.5 && t.right <= bar.right + 0.5, `label ${t.text} leaves the bar: ${JSON.stringify([t, bar])}`);
    const at = bar.left + placed.find((w) => w.label === t.text).pos * bar.width;
    assert.ok(Math.abs(t.mark - at) <= 1, `mark of ${t.text} at ${t.mark}, its value at ${at} (${i})`);
  }
  await p.screenshot({ path: join(SHOTS, 'colourbar-narrow.png') });
  assert.deepEqual(p.errors, []);
  await p.close();
});

/** The screen's pixels in a page rectangle: {w, h, grey(x, y)}, cut from a screenshot of the whole
 * viewport (as the user sees it: a clipped screenshot is painted again for the clip, with other tile
 * edges) decoded by the browser. */
/** The RGBA pixels of image `url` (a data: URL or a page's URL) decoded by the browser, cut to `clip`
 * (default all of it) over `background`: {w, h, data (a Buffer)}. As base64 (an array of millions of
 * numbers crossed the protocol in seconds). */
const decodeInPage = (p, url, clip = null, background = null) => p.evaluate(async ([u, c, bg]) => {
  const img = new Image();
  img.src = u;
  await img.decode();
  const r = c ?? { x: 0, y: 0, width: img.naturalWidth, height: img.naturalHeight };
  const cv = document.createElement('canvas');
  cv.width = r.width; cv.height = r.height;
  const g = cv.getContext('2d');
  if (bg) { g.fillStyle = bg; g.fillRect(0, 0, r.width, r.height); }
  g.drawImage(img, -r.x, -r.y);
  const d = g.getImageData(0, 0, r.width, r.height).data;
  let bin = '';
  for (let i = 0; i < d.length; i += 0x8000) bin += String.fromCharCode(...d.subarray(i, i + 0x8000));
  return { w: r.width, h: r.height, b64: btoa(bin) };
}, [url, clip, background]).then((r) => ({ w: r.w, h: r.h, data: Buffer.from(r.b64, 'base64') }));

async function screenPixels(p, clip) {
  const png = await p.screenshot();
  const { data } = await decodeInPage(p, `data:image/png;base64,${png.toString('base64')}`, clip);
  return { w: clip.width, h: clip.height, rgb: (x, y) => [...data.subarray((y * clip.width + x) * 4, (y * clip.width + x) * 4 + 3)], grey: (x, y) => data[(y * clip.width + x) * 4] };
}

/** Screen pixels of the ramp (value = x + 1000·y, in grey) inside `clip`: each screen row is one grey
 * level and each column a smooth ramp, so a tile edge that lets the background through (or is drawn
 * twice) shows as a pixel off its row's level or off its column's ramp. */
async function assertNoSeams(p, clip, what) {
  const px = await screenPixels(p, clip);
  let worst = { d: 0 };
  for (let y = 0; y < px.h; y++) {
    const row = [];
    for (let x = 0; x < px.w; x++) row.push(px.grey(x, y));
    const med = [...row].sort((u, v) => u - v)[row.length >> 1];
    row.forEach((v, x) => { if (Math.abs(v - med) > worst.d) worst = { d: Math.abs(v - med), at: `column ${x} of row ${y}` }; });
  }
  for (let x = 0; x < px.w; x += 7) {
    for (let y = 1; y + 1 < px.h; y++) {
      const d = Math.abs(px.grey(x, y - 1) - 2 * px.grey(x, y) + px.grey(x, y + 1));
      if (d > worst.d) worst = { d, at: `row ${y} of column ${x}` };
    }
  }
  assert.ok(worst.d <= 3, `${what}: a seam ${worst.d} grey levels deep at ${worst.at} of the screen's ${JSON.stringify(clip)}`);
}

/** The page rectangle where a map (`mapOf` in the page) shows the ramp, inside the map by 3 px. */
const rampClip = (p, mapOf) => p.evaluate((mapOf) => {
  const m = eval(mapOf); // eslint-disable-line no-eval
  const r = m.getContainer().getBoundingClientRect();
  const at = (x, y) => m.latLngToContainerPoint(window.toyz.toLatLng(x, y)); // every frame shows the ramp
  const [a, b] = [at(0.5, 799.5), at(999.5, 0.5)];
  const x0 = Math.ceil(r.left + Math.max(a.x, 0)) + 3; const y0 = Math.ceil(r.top + Math.max(a.y, 0)) + 3;
  const x1 = Math.floor(r.left + Math.min(b.x, r.width - 1)) - 3; const y1 = Math.floor(r.top + Math.min(b.y, r.height - 1)) - 3;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}, mapOf);

test('no seams between tiles at any zoom: fitted, between levels, past 1:1, and in tile mode', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/ramp.fits&cmap=grey&cut=minmax`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  // Only the tiles: the zoom buttons and the corner's panner go out of sight.
  await p.addStyleTag({ content: '.leaflet-control-container, #corner, .tile-label { visibility: hidden !important; }' });
  const zmax = await p.evaluate(() => window.toyz.view.src.zmax);
  await assertNoSeams(p, await rampClip(p, 'window.toyz.map'), 'fitted');
  for (const scale of [1.57, 0.83, 0.77 / 2, 0.61 / 4]) {
    await p.evaluate(([z]) => window.toyz.map.setView(window.toyz.toLatLng(512.3, 384.7), z, { animate: false }), [zmax + Math.log2(scale)]);
    await settle(p);
    await assertNoSeams(p, await rampClip(p, 'window.toyz.map'), `×${scale}`);
  }
  // Tile mode: the other frame's small map too.
  await p.click('#new-frame');
  await p.click('a[data-path="data/ramp.fits"]');
  await p.waitForFunction(() => window.toyz.view.frames.length === 2 && window.toyz.view.frames[1].src?.path === 'data/ramp.fits');
  await p.selectOption('#lock', 'pixel');
  await p.check('#tile');
  await p.waitForFunction(() => window.toyz.tile.maps.size === 1);
  await p.evaluate(([z]) => window.toyz.map.setView(window.toyz.toLatLng(300.3, 500.7), z, { animate: false }), [zmax + Math.log2(0.71)]);
  await p.waitForFunction(() => { const m = window.toyz.tile.maps.get(0); return m?.layer && !m.layer.isLoading() && Math.abs(m.map.getZoom() - window.toyz.map.getZoom()) < 1e-9; });
  await settle(p);
  await assertNoSeams(p, await rampClip(p, 'window.toyz.tile.maps.get(0).map'), 'tile mode, the other frame at ×0.71');
  await p.screenshot({ path: join(SHOTS, 'seamless.png') });
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('small things, continued: the panel fits a 900-px window, the grid follows a flick-pan while the view glides, grid labels never overlap', async () => {
  const p = await page();
  // A 900-px-high browser window leaves about 800 px of page.
  await p.setViewportSize({ width: 1200, height: 800 });
  await p.goto(`${URL_}/view?path=data/sky.fits&grid=1`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  await p.screenshot({ path: join(SHOTS, 'panel.png') });
  const [sh, ch] = await p.$eval('#panel', (e) => [e.scrollHeight, e.clientHeight]);
  assert.ok(sh <= ch, `the panel needs no scrolling: ${sh} > ${ch}`);
  // Grid labels of the two axes never overlap, fitted or zoomed in.
  const noOverlap = async (what) => {
    await p.waitForFunction(() => document.querySelectorAll('.grid-label span').length > 0);
    const r = await p.$$eval('.grid-label span', (s) => s.map((e) => e.getBoundingClientRect()).map((b) => [b.left, b.top, b.right, b.bottom]));
    for (let i = 0; i < r.length; i++) {
      for (let j = 0; j < i; j++) {
        const [a, b] = [r[i], r[j]];
        assert.ok(a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1], `${what}: labels ${i} and ${j} overlap: ${JSON.stringify([a, b])}`);
      }
    }
  };
  await noOverlap('fitted');
  // A flick: the view glides on, and the grid is asked for again during the glide, not only at its end.
  // The glide is started as Leaflet's inertia starts it at the end of a fast drag (an eased panBy that
  // does not fire movestart): whether real mouse moves count as fast depends on the machine's load.
  const n0 = await p.evaluate(() => window.toyz.tools.gridGlideAsks || 0);
  await p.evaluate(() => window.toyz.map.panBy([160, 50], { duration: 1.5, easeLinearity: 0.2, noMoveStart: true, animate: true }));
  await p.waitForFunction((n) => (window.toyz.tools.gridGlideAsks || 0) > n, n0);
  await p.waitForFunction(() => !window.toyz.map._panAnim?._inProgress);
  await settle(p);
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(60, 60), window.toyz.view.src.zmax + 2, { animate: false }));
  await settle(p);
  await noOverlap('zoomed into a corner');
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('regions: every shape from a .reg in the file list, what is not read named, export round trip, select with statistics equal to numpy, move, edit, delete, undo/redo; a FITS table opens as a catalog', async () => {
  const { execFileSync } = await import('node:child_process');
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  const tools = () => p.evaluate(() => ({ n: window.toyz.tools.regions.length, drawn: window.toyz.tools.regionsDrawn, sel: window.toyz.tools.selected }));
  // The .reg file from the list: ten regions, and the banner names the two lines not read.
  await p.click('a.region-file[data-path="data/shapes.reg"]');
  await p.waitForFunction(() => window.toyz.tools.regionsDrawn === 10);
  const banner = await p.textContent('#error');
  assert.match(banner, /2 lines not read/);
  assert.match(banner, /line 14 \(the shape 'ruler' is not read\)/);
  assert.match(banner, /line 15 \(a composite is not kept/);
  for (const shape of ['circle', 'ellipse', 'box', 'polygon', 'annulus', 'line', 'vector', 'point', 'text']) {
    assert.ok(await p.locator(`.region.${shape}`).count() > 0, `${shape} drawn`);
  }
  // Export → import → export: the same file, every property kept.
  const exported = await p.evaluate(async () => (await window.toyz.session.call('regions.export', { regions: window.toyz.tools.regions })).text);
  const again = await p.evaluate(async (t) => {
    const r = await window.toyz.session.call('regions.import', { text: t });
    return (await window.toyz.session.call('regions.export', { regions: r.regions })).text;
  }, exported);
  assert.equal(again, exported);
  for (const bit of ['tag={group 1}', 'dashlist=8 3', ' background', 'font="helvetica 12 bold roman"', 'line=1 0',
    'point=diamond 15', '# text(80,450) color=white text={Hello there}', '# vector(200,450,40,30) color=orange vector=1',
    '-circle(560,470,10) # delete=0 move=0', 'annulus(300,300,5,12,20)', 'ellipse(300,120,25,10,30)']) {
    assert.ok(exported.includes(bit), `${bit} in\n${exported}`);
  }
  // Statistics of every shape with an area against numpy on the same pixels.
  const regions = await p.evaluate(() => window.toyz.tools.regions);
  const areas = regions.filter((r) => ['circle', 'ellipse', 'box', 'polygon', 'annulus'].includes(r.shape) && !r.exclude);
  const ours = await p.evaluate(async (rs) => (await window.toyz.session.call('regions.stats', { path: 'data/sky.fits', hdu: '0', regions: rs })).regions, areas);
  const numpy = JSON.parse(execFileSync('python3', [join(process.cwd(), 'region_stats.py'), join(process.env.TOYZ_DATA, 'sky.fits'), JSON.stringify(areas)]).toString());
  numpy.forEach((want, i) => {
    for (const k of ['npix', 'area_px', 'min', 'max', 'median']) assert.equal(ours[i][k], want[k], `${areas[i].shape} ${k}`);
    for (const k of ['sum', 'mean', 'std']) assert.ok(Math.abs(ours[i][k] - want[k]) <= 1e-9 * Math.abs(want[k]) + 1e-9, `${areas[i].shape} ${k}: ${ours[i][k]} vs ${want[k]}`);
  });
  // A click inside the circle selects it: its statistics are shown (numpy's mean).
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(150, 120), window.toyz.view.src.zmax + 1, { animate: false }));
  await settle(p);
  let at = await screenAt(p, 150, 123);
  await p.mouse.click(at.x, at.y);
  await p.waitForFunction(() => window.toyz.tools.selected === 0 && window.toyz.tools.stats);
  await p.waitForSelector('#region-box:not([hidden])');
  assert.match(await p.textContent('#region-title'), /^1: circle \(image\)/);
  assert.equal(await p.textContent('#region-stats tr[data-stat=mean] td:last-child'), `${+numpy[0].mean.toPrecision(7)} ADU`);
  assert.equal(await p.textContent('#region-stats tr[data-stat=pixels] td:last-child'), String(numpy[0].npix));
  // Its histogram.
  await p.click('#region-hist');
  await p.waitForSelector('#plot-box:not([hidden])');
  assert.match(await p.textContent('#plot-title'), /histogram of region 1/);
  await p.screenshot({ path: join(SHOTS, 'regions.png') });
  // Drag it by (+20, +10) pixels; undo puts it back, redo moves it again.
  const centre = () => p.evaluate(() => window.toyz.tools.regions[0].points[0]);
  at = await screenAt(p, 150, 123);
  const to = await screenAt(p, 170, 133);
  await p.mouse.move(at.x, at.y);
  await p.mouse.down();
  await p.mouse.move(to.x, to.y, { steps: 4 });
  await p.mouse.up();
  await p.waitForFunction(() => window.toyz.tools.regions[0].points[0][0] !== 150);
  let c = await centre();
  assert.ok(Math.abs(c[0] - 170) < 0.6 && Math.abs(c[1] - 130) < 0.6, JSON.stringify(c));
  await p.keyboard.press('Control+z');
  await p.waitForFunction(() => window.toyz.tools.regions[0].points[0][0] === 150);
  await p.keyboard.press('Control+y');
  await p.waitForFunction(() => window.toyz.tools.regions[0].points[0][0] !== 150);
  // Edit: radius 12, red, a second tag.
  await p.click('#region-edit-open');
  await p.waitForSelector('#region-edit:not([hidden])');
  await p.fill('[data-geom=radius]', '12');
  await p.fill('#edit-colorname', 'red');
  await p.fill('#edit-tags', 'group 1, mine');
  await p.click('#edit-apply');
  await p.waitForFunction(() => window.toyz.tools.regions[0].radius === 12);
  const r0 = await p.evaluate(() => window.toyz.tools.regions[0]);
  assert.equal(r0.props.color, 'red');
  assert.deepEqual(r0.tags, ['group 1', 'mine']);
  assert.equal(r0.props.width, '2', 'other properties stay');
  // Resize by the handle: the radius follows the pointer.
  const c0 = await centre();
  await p.waitForSelector('.region-handle.size');
  let hb = await p.locator('.region-handle.size').first().boundingBox();
  let target = await screenAt(p, c0[0] + 20, c0[1]);
  await p.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
  await p.mouse.down();
  await p.mouse.move(target.x, target.y, { steps: 3 });
  await p.mouse.up();
  await p.waitForFunction(() => Math.abs(window.toyz.tools.regions[0].radius - 20) < 0.6);
  // Rotate the box by its round handle: to 60°.
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(450, 120), window.toyz.view.src.zmax + 1, { animate: false }));
  await settle(p);
  at = await screenAt(p, 450, 120);
  await p.mouse.click(at.x, at.y);
  await p.waitForFunction(() => window.toyz.tools.selected === 2 && document.querySelector('.region-handle.rotate'));
  hb = await p.locator('.region-handle.rotate').boundingBox();
  const a = (150 * Math.PI) / 180; // the handle sits 90° from the box's angle
  target = await screenAt(p, 450 + 30 * Math.cos(a), 120 + 30 * Math.sin(a));
  await p.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
  await p.mouse.down();
  await p.mouse.move(target.x, target.y, { steps: 3 });
  await p.mouse.up();
  await p.waitForFunction(() => Math.abs(window.toyz.tools.regions[2].angle - 60) < 2);
  await p.screenshot({ path: join(SHOTS, 'regions-edit.png') });
  await p.keyboard.press('Control+z');
  await p.waitForFunction(() => window.toyz.tools.regions[2].angle === 20);

  // Delete, and undo it; a region marked delete=0 stays.
  await p.click('#map', { position: { x: 5, y: 300 } }); // focus the map, not a form field
  await p.evaluate(() => { window.toyz.tools.selected = 0; });
  await p.keyboard.press('Delete');
  await p.waitForFunction(() => window.toyz.tools.regions.length === 9);
  await p.keyboard.press('Control+z');
  await p.waitForFunction(() => window.toyz.tools.regions.length === 10);
  const fixedAt = regions.findIndex((r) => r.exclude);
  await p.evaluate((i) => { window.toyz.tools.selected = i; }, fixedAt);
  await p.keyboard.press('Delete');
  assert.equal((await tools()).n, 10, 'delete=0 keeps it');
  // A line region gives its profile.
  const lineAt = regions.findIndex((r) => r.shape === 'line');
  await p.evaluate((i) => { window.toyz.tools.selected = i; }, lineAt);
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(460, 290), window.toyz.view.src.zmax, { animate: false }));
  await settle(p);
  at = await screenAt(p, 460, 290);
  await p.mouse.click(at.x, at.y);
  await p.waitForSelector('#region-profile:not([hidden])');
  await p.click('#region-profile');
  await p.waitForFunction(() => /profile/.test(document.getElementById('plot-title').textContent));
  // A FITS file of tables only, from the list, goes over the image as a catalog.
  await p.click('a[data-path="data/stars-table.fits"]');
  await p.waitForFunction(() => window.toyz.tools.catalogs.length === 1 && window.toyz.tools.catalogs[0].count > 0);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('tile mode: two frames side by side, the other follows the shown one through the lock, a click shows it', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/sky.fits`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  await p.click('#new-frame');
  await p.click('a[data-path="data/sky2.fits"]');
  await p.waitForFunction(() => window.toyz.view.frames.length === 2 && window.toyz.view.frames[1].src?.path === 'data/sky2.fits');
  await p.selectOption('#lock', 'pixel');
  await p.check('#tile');
  await p.waitForFunction(() => window.toyz.tile.maps.size === 1);
  const area = await p.evaluate(() => { const r = document.querySelector('main').getBoundingClientRect(); return { x: r.left, w: r.width }; });
  const box = (sel) => p.$eval(sel, (e) => { const r = e.getBoundingClientRect(); return { x: r.left, w: r.width }; });
  let main = await box('#map');
  let other = await box('.tile-frame');
  assert.ok(Math.abs(main.w - area.w / 2) < 2 && Math.abs(other.w - area.w / 2) < 2, JSON.stringify([area, main, other]));
  assert.ok(main.x > other.x, 'frame 2 (shown) on the right, frame 1 on the left');
  await p.waitForSelector('.tile-frame img.leaflet-tile-loaded');
  const srcOf = (u) => u.split('/tiles/')[1].split('/')[0];
  const otherSrc = await p.$eval('.tile-frame img.leaflet-tile-loaded', (i) => i.src);
  assert.equal(srcOf(otherSrc), await p.evaluate(() => window.toyz.view.frames[0].src.id));
  // Pan and zoom the shown frame: the other follows to the same pixel and zoom.
  const n = await p.evaluate(() => window.toyz.tile.followed || 0);
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(200, 150), window.toyz.view.src.zmax + 1, { animate: false }));
  await p.waitForFunction((k) => (window.toyz.tile.followed || 0) > k, n);
  const follower = await p.evaluate(() => {
    const m = window.toyz.tile.maps.get(0).map; const src = window.toyz.view.frames[0].src; const s = 2 ** src.zmax;
    const c = m.getCenter();
    return { x: c.lng * s + 0.5, y: src.height + c.lat * s + 0.5, z: m.getZoom() - src.zmax };
  });
  assert.ok(Math.abs(follower.x - 200) < 0.5 && Math.abs(follower.y - 150) < 0.5 && Math.abs(follower.z - 1) < 1e-9, JSON.stringify(follower));
  await p.screenshot({ path: join(SHOTS, 'tile.png') });
  // A click in the other pane shows that frame in the main map, in its own (left) pane.
  await p.click('.tile-frame');
  await p.waitForFunction(() => window.toyz.view.active === 0);
  main = await box('#map');
  other = await box('.tile-frame');
  assert.ok(main.x < other.x, 'frame 1 now shown in the left pane');
  // Off again: one map over the whole area.
  await p.uncheck('#tile');
  await p.waitForFunction(() => !document.querySelector('.tile-frame'));
  main = await box('#map');
  assert.ok(Math.abs(main.w - area.w) < 2);
  assert.ok(await p.isHidden('#error'), await p.textContent('#error'));
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('orientation: flips and quarter turns keep readouts, regions and the compass where they belong; north up by the WCS', async () => {
  const p = await page();
  await p.goto(`${URL_}/view?path=data/ramp.fits&cut=range%3D0,799999`);
  await p.waitForFunction(() => window.toyz.restored);
  await settle(p);
  // The same FITS pixel reads the same and shows the same colour however the view is turned.
  const colourOf = async () => { const at = await screenAt(p, 101, 51); return shownColour(p, Math.floor(at.x), Math.floor(at.y), '#map .leaflet-tile-loaded'); };
  assert.match(await hover(p, 101, 51), /x 101 {2}y 51 {2}value 50100/);
  const plain = await colourOf();
  const before = await p.evaluate(() => window.toyz.view.src.render.id);
  for (const o of ['r90', 'fx', 'fy', 'r180', 'fx+r270']) {
    const n = await p.evaluate(() => window.toyz.view.orientSet || 0);
    await p.selectOption('#orient', o);
    await p.waitForFunction((k) => (window.toyz.view.orientSet || 0) > k, n);
    assert.equal(await p.evaluate(() => window.toyz.view.src.orient), o);
    const d = await p.evaluate(() => window.toyz.view.src.display);
    assert.deepEqual([d.width, d.height], ['r90', 'fx+r270'].includes(o) ? [800, 1000] : [1000, 800], o);
    assert.match(await hover(p, 101, 51), /x 101 {2}y 51 {2}value 50100/, o);
    await settle(p);
    assert.deepEqual(await colourOf(), plain, `${o}: the pixel's colour`);
  }
  assert.notEqual(await p.evaluate(() => window.toyz.view.src.render.id), before, 'oriented tiles have their own id');
  // A turned view's link reopens it turned.
  await p.waitForFunction(() => new URLSearchParams(location.search).get('orient') === 'fx+r270');
  const q = await page();
  await q.goto(p.url());
  await q.waitForFunction(() => window.toyz.restored);
  assert.equal(await q.evaluate(() => window.toyz.view.src.orient), 'fx+r270');
  assert.match(await hover(q, 101, 51), /value 50100/);
  await q.close();
  await p.close();

  // On a sky image: a region stays on its pixel and the compass turns with the view; north up.
  const s = await page();
  await s.goto(`${URL_}/view?path=data/sky.fits&grid=1&regions=${encodeURIComponent('image\ncircle(150,120,15)')}`);
  await s.waitForFunction(() => window.toyz.restored && window.toyz.tools.regionsDrawn === 1);
  // The grid's right-ascension labels (10h00m…) sit on the top or bottom edge of a north-up view.
  const raSides = () => s.$$eval('.grid-label', (ls) => ls.filter((l) => /h\d\dm/.test(l.textContent)).map((l) => l.className.replace('grid-label', '').replace('leaflet-marker-icon', '').trim().split(/\s+/)[0]));
  await s.waitForFunction(() => document.querySelectorAll('.grid-label').length > 0);
  assert.ok((await raSides()).every((c) => c === 'top' || c === 'bottom' || c === 'inside'), `${await raSides()}`);
  await s.waitForSelector('#compass-box:not([hidden])');
  const dirs = () => s.evaluate(() => ({ n: document.getElementById('compass-box').dataset.screenNorth.split(',').map(Number), e: document.getElementById('compass-box').dataset.screenEast.split(',').map(Number) }));
  const up = await dirs();
  assert.ok(up.n[1] < -0.99 && up.e[0] < -0.99, `the generator's image is north up, east left: ${JSON.stringify(up)}`);
  const circleAt = () => s.evaluate(() => { const r = document.querySelector('path.region.circle').getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; });
  let n = await s.evaluate(() => window.toyz.view.orientSet || 0);
  await s.selectOption('#orient', 'r90');
  await s.waitForFunction((k) => (window.toyz.view.orientSet || 0) > k, n);
  await s.waitForFunction(() => Number(document.getElementById('compass-box').dataset.screenNorth.split(',')[0]) < -0.99);
  const turned = await dirs();
  assert.ok(turned.n[0] < -0.99 && turned.e[1] > 0.99, `a quarter turn counter-clockwise: north points left, east down: ${JSON.stringify(turned)}`);
  // Turned a quarter: lines of constant right ascension run across, their labels on the left or right.
  await s.waitForFunction(() => [...document.querySelectorAll('.grid-label')].some((l) => /h\d\dm/.test(l.textContent) && /\b(left|right)\b/.test(l.className)));
  assert.ok((await raSides()).every((c) => c === 'left' || c === 'right' || c === 'inside'), `${await raSides()}`);
  const want = await screenAt(s, 150, 120);
  const got = await circleAt();
  assert.ok(Math.hypot(got[0] - want.x, got[1] - want.y) < 1.5, `the circle stays on its pixel: ${got} vs ${JSON.stringify(want)}`);
  await s.screenshot({ path: join(SHOTS, 'orientation.png') });
  n = await s.evaluate(() => window.toyz.view.orientSet || 0);
  await s.click('#north-up');
  await s.waitForFunction((k) => (window.toyz.view.orientSet || 0) > k, n);
  assert.equal(await s.evaluate(() => window.toyz.view.src.orient), 'none');
  await s.waitForFunction(() => Number(document.getElementById('compass-box').dataset.screenNorth.split(',')[1]) < -0.99);
  assert.deepEqual(s.errors, []);
  await s.close();

  // A field turned by 30° on the sky: north up turns the pixels the rest of the way.
  const t = await page();
  await t.goto(`${URL_}/view?path=data/tilted.fits`);
  await t.waitForFunction(() => window.toyz.restored);
  await t.waitForSelector('#compass-box:not([hidden])');
  const north = () => t.evaluate(() => document.getElementById('compass-box').dataset.screenNorth.split(',').map(Number));
  const n0 = await north();
  assert.ok(Math.abs(Math.atan2(n0[0], -n0[1]) * 180 / Math.PI) > 20, `north starts off straight up: ${n0}`);
  n = await t.evaluate(() => window.toyz.view.orientSet || 0);
  await t.click('#north-up');
  await t.waitForFunction((k) => (window.toyz.view.orientSet || 0) > k, n);
  const angle = await t.evaluate(() => window.toyz.view.src.angle);
  assert.ok(Math.abs(Math.abs(angle) - 30) < 0.5, `turned by about 30°: ${angle}`);
  await t.waitForFunction(() => {
    const v = document.getElementById('compass-box').dataset.screenNorth.split(',').map(Number);
    return Math.abs(v[0]) < 0.01 && v[1] < -0.999;
  });
  // The readout still names the FITS pixel under the cursor, with its value.
  const own = await (await fetch(`${URL_}/api/pixel?path=data/tilted.fits&x=200&y=150`)).json();
  const r = await hover(t, 200, 150);
  assert.ok(r.includes(`x 200  y 150  value ${own.value}`), r);
  await t.waitForFunction(() => new URLSearchParams(location.search).get('angle') !== null);
  await t.screenshot({ path: join(SHOTS, 'north-up.png') });
  assert.deepEqual(t.errors, []);
  await t.close();
});
