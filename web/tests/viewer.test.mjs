// Browser tests of the viewer: Debian's Chromium through playwright-core against a real toyz server.
// Run by crates/toyz-cli/tests/browser.rs (which starts the server): TOYZ_URL, TOYZ_SHOTS, CHROMIUM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

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

const settle = (p) => p.waitForLoadState('networkidle');
const tileZ = (u) => Number(u.split('/tiles/')[1].split('/')[2]);
const renderId = (u) => u.split('/tiles/')[1].split('/')[1];

/** Centre FITS pixel (x, y) at a zoom where it covers at least 2×2 screen pixels (so integer mouse
 * positions fall inside it), move the mouse onto it and return the status line once it shows it. */
async function hover(p, x, y) {
  await p.evaluate(([x, y]) => {
    const m = window.toyz.map;
    m.setView(window.toyz.toLatLng(x, y), Math.max(m.getZoom(), window.toyz.view.src.zmax + 1), { animate: false });
  }, [x, y]);
  await settle(p);
  const pt = await p.evaluate(([x, y]) => {
    const c = window.toyz.map.latLngToContainerPoint(window.toyz.toLatLng(x, y));
    const r = document.getElementById('map').getBoundingClientRect();
    return { x: Math.floor(r.left + c.x), y: Math.floor(r.top + c.y) };
  }, [x, y]);
  await p.mouse.move(pt.x, pt.y);
  await p.waitForFunction(([x, y]) => {
    const s = document.getElementById('status');
    return s.dataset.x === String(x) && s.dataset.y === String(y);
  }, [x, y]);
  return p.textContent('#status');
}

/** RGB of the screen pixel over FITS pixel (x, y). */
async function colourAt(p, x, y) {
  const pt = await p.evaluate(([x, y]) => {
    const c = window.toyz.map.latLngToContainerPoint(window.toyz.toLatLng(x, y));
    const r = document.getElementById('map').getBoundingClientRect();
    return { x: Math.round(r.left + c.x), y: Math.round(r.top + c.y) };
  }, [x, y]);
  const png = await p.screenshot({ clip: { x: pt.x, y: pt.y, width: 1, height: 1 } });
  return png.toString('base64');
}

test('open a file through the panel, pan and zoom, read pixels', async () => {
  const p = await page();
  await p.goto(`${URL_}/view`);
  await p.click('text=data/');
  await p.click('a[data-path="data/ramp.fits"]');
  await p.waitForSelector('#controls:not([hidden])');
  await settle(p);
  assert.ok(p.tiles.length > 0, 'tiles were requested');
  // The whole image fits: low-resolution levels.
  const z0 = Math.max(...p.tiles.map(tileZ));
  const zmax = await p.evaluate(() => window.toyz.view.src.zmax);
  assert.ok(z0 < zmax, `fitted view uses a shrunk level (${z0} < ${zmax})`);
  const before = p.tiles.length;
  // Ramp: value = (x-1) + (y-1)·1000 at FITS (x, y).
  let s = await hover(p, 101, 51);
  assert.match(s, /x 101 {2}y 51 {2}value 50100/);
  s = await hover(p, 1, 1);
  assert.match(s, /value 0\b/);
  // Zoomed in (hover zooms past native): full-resolution tiles were requested; zoom further, the same
  // pixel still reads the same.
  await p.evaluate(() => window.toyz.map.setView(window.toyz.toLatLng(101, 51), window.toyz.view.src.zmax + 2, { animate: false }));
  await settle(p);
  const deeper = p.tiles.slice(before);
  assert.ok(deeper.some((u) => tileZ(u) === zmax), `full-resolution tiles after zooming (${deeper.slice(0, 3)})`);
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
  await p.fill('#blink-ms', '150');
  await p.check('#blink');
  const seen = new Set();
  for (let i = 0; i < 30; i++) {
    seen.add(await p.evaluate(() => window.toyz.view.active));
    await p.waitForTimeout(40);
  }
  await p.uncheck('#blink');
  assert.deepEqual([...seen].sort(), [0, 1], 'blink alternates the frames');
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
  assert.match(await p.textContent('#error'), /not a FITS file/);
  await p.close();
});
