'use strict';
// The demo page in real headless Chromium: served on a loopback port, it
// loads the web build of sightline-wasm and the demo slice; clicking frames
// re-orders the "Based on your browsing" rail exactly as the package does
// in Node for the same session, with reasons, persisted across a reload,
// and without a console error. SIGHTLINE_UPDATE_SCREENSHOTS=1 rewrites
// docs/img/web-demo.png.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..', '..');
const { launch, openPage, screenshot, serveStatic } = require(path.join(root, 'tests', 'browser', 'chromium.js'));
const { ModelSlice } = require(path.join(root, 'bindings', 'wasm', 'pkg', 'node', 'sightline_wasm.js'));


const railOf = (page) => page.$$eval('#rail li', (lis) => lis.map((li) => ({
  itemId: li.dataset.itemId, reason: li.dataset.reason, because: li.dataset.because || null,
})));

test('clicking frames re-ranks the rail in Chromium, as the package does in Node', async () => {
  const server = await serveStatic(root);
  const browser = await launch();
  const slice = ModelSlice.fromBytes(fs.readFileSync(path.join(root, 'examples', 'web', 'data', 'slice.slm')));
  try {
    const url = `http://127.0.0.1:${server.address().port}/examples/web/index.html`;
    const { page, errors } = await openPage(browser, url);
    await page.waitForSelector('#rail[data-state="default"] li');
    const before = await railOf(page);
    assert.equal(before.length, 8);
    assert.ok(before.every((r) => r.reason === 'candidate'));

    // One click: a single event weighs the same whenever it happened, so the
    // rail must equal the Node build's answer for that session exactly.
    const ids = slice.itemIds();
    const first = ids[30];
    const expected = slice.rerank(ids, { sessionEvents: [{ itemId: first, kind: 'click', timestamp: 1 }], n: 8 });
    await page.click(`#grid button[data-item-id="${first}"]`);
    await page.waitForSelector('#rail[data-version="2"]');
    const after = await railOf(page);
    assert.deepEqual(after.map((r) => r.itemId), expected.map((r) => r.itemId));
    assert.notDeepEqual(after.map((r) => r.itemId), before.map((r) => r.itemId), 'the rail re-ordered');
    assert.ok(after.every((r) => r.reason === 'session' && r.because === first));
    assert.match(await page.textContent('#rail li .reason'), /^Because you viewed /);
    assert.match(await page.textContent('#rerank-time'), /re-ranked 120 candidates in \d+\.\d\d ms · 1 event/);

    const second = ids[75];
    await page.click(`#grid button[data-item-id="${second}"]`);
    await page.waitForSelector('#rail[data-version="3"]');
    const two = await railOf(page);
    assert.notDeepEqual(two.map((r) => r.itemId), after.map((r) => r.itemId));
    assert.ok(two.every((r) => [first, second].includes(r.because) && ![first, second].includes(r.itemId)));

    // The session survives a reload (localStorage) and gives the same rail.
    await page.reload();
    await page.waitForSelector('#rail[data-state="personal"] li');
    assert.deepEqual(await railOf(page), two);
    await screenshot(page, 'web-demo');

    await page.click('#clear');
    await page.waitForSelector('#rail[data-state="default"] li');
    assert.deepEqual(await railOf(page), before);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    slice.free();
    await browser.close();
    server.close();
  }
});
