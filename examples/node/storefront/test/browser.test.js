'use strict';
// The storefront page in a real browser (Debian's chromium, driven by
// playwright-core from tests/browser): the grid and the rails render with
// reasons, clicking products re-orders the home rail around the visitor's
// session, a click on a rail item is tracked, and the console stays clean.
// SIGHTLINE_UPDATE_SCREENSHOTS=1 also saves docs/img/storefront.png.
const test = require('node:test');
const assert = require('node:assert/strict');
const { launch, openPage, screenshot } = require('../../../../tests/browser/chromium.js');
const { tempDir, prepareModel, startServer, request } = require('../harness.js');

/** The cards of a rail as `{ item, source, reason }`. */
const railOf = (page, placement) =>
  page.$$eval(`.rail[data-placement="${placement}"] .card`, (cards) =>
    cards.map((c) => ({
      item: c.dataset.item,
      source: c.dataset.source,
      reason: c.querySelector('.reason').textContent,
    })),
  );

test('the page shows rails with reasons that follow the clicked products', async (t) => {
  const dir = tempDir(t, 'browser');
  const { model } = prepareModel(dir);
  const server = await startServer(t, ['--model', model, '--state', `${dir}/state.slm`]);
  const browser = await launch();
  t.after(() => browser.close());
  const { page, errors } = await openPage(browser, `${server.url}/`);
  let renders = 0;
  /** Runs `act` and waits for the rails to render once more. */
  const rendered = async (act) => {
    await act();
    renders += 1;
    await page.waitForSelector(`body[data-renders="${renders}"]`, { timeout: 10000 });
  };
  await rendered(async () => {});

  assert.equal(await page.locator('#grid .card').count(), 36);
  const first = await railOf(page, 'home');
  assert.equal(first.length, 6);
  assert.ok(first.every((c) => c.reason.length > 0), 'every item has a reason');
  assert.ok(!first.some((c) => c.source === 'session'));
  const visitor = await page.locator('#visitor').textContent();
  assert.match(visitor, /^v-/);

  // Three frames from the grid: the home rail turns to the visitor's session.
  const frames = page.locator('#grid .card[data-item^="FR-"]');
  for (let k = 0; k < 3; k += 1) await rendered(() => frames.nth(k).click());
  const after = await railOf(page, 'home');
  assert.notDeepEqual(after.map((c) => c.item), first.map((c) => c.item), 'the rail re-orders');
  assert.ok(after.some((c) => c.source === 'session'), 'session items on the home rail');
  assert.equal(await page.locator('.rail[data-placement="product_page"] .card').count(), 6);
  assert.equal(await page.locator('.rail[data-placement="cart"] .card').count(), 6);

  // A rail item: a tracked click, and it becomes the product viewed.
  const rid = await page.locator('.rail[data-placement="product_page"]').getAttribute('data-recommendation-id');
  const pick = page.locator('.rail[data-placement="product_page"] .card').first();
  const picked = await pick.getAttribute('data-item');
  await rendered(() => pick.click());
  const exported = (await request(`${server.url}/users/${visitor}/export`)).body;
  assert.equal(exported.sessionEvents.length, 4);
  assert.deepEqual(exported.sessionEvents.at(-1), { ...exported.sessionEvents.at(-1), item: picked, kind: 'click' });
  const click = exported.attribution.clicks.find((c) => c.placement === 'product_page');
  assert.ok(click, `the click on ${picked} of ${rid} is attributed`);
  const metrics = (await request(`${server.url}/metrics`)).body;
  assert.match(metrics, /^sightline_ctr\{placement="product_page",variant="default"\} 0\.\d+$/m);

  await screenshot(page, 'storefront');
  assert.deepEqual(errors, [], 'no console errors');
});
