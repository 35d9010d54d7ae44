'use strict';
// Hot reload under load: while concurrent clients keep asking for
// recommendations, the model file is replaced six times (atomic renames,
// an in-place overwrite and truncated files). No request fails, a truncated
// file keeps the old model serving (counted), every good file is served,
// and the visitor's live session survives the swaps.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, prepareModel, startServer, request, postJson, until } = require('../harness.js');
const { catalogPathOf } = require('../prepare.js');

const CLIENTS = 8;

test('the model file is hot-reloaded under concurrent requests with 0 failures', async (t) => {
  const dir = tempDir(t, 'reload');
  const live = path.join(dir, 'live');
  fs.mkdirSync(live);
  // Two versions of the shop: everything, and no frames at all.
  const full = prepareModel(path.join(dir, 'full'));
  const noFrames = prepareModel(path.join(dir, 'no-frames'), {
    catalog: full.catalog.filter((i) => i.category !== 'frames'),
  });
  const model = path.join(live, 'shop.slm');
  fs.copyFileSync(full.catalogPath, catalogPathOf(model));
  fs.copyFileSync(full.model, model);

  const server = await startServer(t, ['--model', model, '--state', path.join(dir, 'state.slm')]);
  const { url } = server;
  const health = async () => (await request(`${url}/healthz`)).body;
  const frameServed = async () => {
    const r = await request(`${url}/recommendations?placement=home&n=50`);
    return r.body.items.some((i) => i.item.startsWith('FR-'));
  };
  assert.ok(await frameServed(), 'the full shop serves frames');

  // A visitor whose session must survive every swap (the item stays in both).
  const kept = full.catalog.find((i) => i.category === 'sunglasses').id;
  const visitor = `v-reload-${process.pid}`;
  await postJson(`${url}/events?consent=1`, [{ user: visitor, item: kept, kind: 'view' }]);

  let done = false;
  let ok = 0;
  const failures = [];
  const client = async (k) => {
    while (!done) {
      try {
        const r = await request(`${url}/recommendations?placement=home&visitor=${visitor}&consent=1&n=${5 + k}`);
        if (r.status === 200 && r.body.items.length === 5 + k) ok += 1;
        else failures.push(`${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      } catch (e) {
        failures.push(String(e));
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, k) => client(k));

  /** Copies a version in: its catalog JSON first, then the model by rename. */
  const atomic = (version) => {
    fs.copyFileSync(version.catalogPath, catalogPathOf(model));
    const tmp = `${model}.tmp`;
    fs.copyFileSync(version.model, tmp);
    fs.renameSync(tmp, model);
  };
  const truncated = (version) => {
    const bytes = fs.readFileSync(version.model);
    fs.writeFileSync(model, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  };
  const inPlace = (version) => {
    fs.copyFileSync(version.catalogPath, catalogPathOf(model));
    fs.writeFileSync(model, fs.readFileSync(version.model));
  };
  /** Waits for the server to have finished one more reload, good or bad. */
  const settled = async (before, field) =>
    until(async () => (await health())[field] > before[field], 5000, `a ${field} count above ${before[field]}`);

  const steps = [
    ['atomic rename: no frames', () => atomic(noFrames), 'reloads', false],
    ['truncated file', () => truncated(full), 'reloadFailures', false],
    ['atomic rename: full shop', () => atomic(full), 'reloads', true],
    ['in-place overwrite: no frames', () => inPlace(noFrames), 'reloads', false],
    ['truncated file again', () => truncated(full), 'reloadFailures', false],
    ['atomic rename: full shop again', () => atomic(full), 'reloads', true],
  ];
  for (const [what, replace, counter, frames] of steps) {
    const before = await health();
    replace();
    await settled(before, counter);
    // The debounce may merge an in-place write's events; let the last one land.
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(await frameServed(), frames, `${what}: the right model is served`);
    const catalog = (await request(`${url}/catalog`)).body;
    if (counter === 'reloads') {
      assert.equal(catalog.some((i) => i.category === 'frames'), frames, `${what}: /catalog follows`);
    }
  }
  done = true;
  await Promise.all(clients);

  const final = await health();
  t.diagnostic(`${ok} requests by ${CLIENTS} clients, ${final.reloads} reloads, ${final.reloadFailures} refused files`);
  assert.deepEqual(failures, [], 'no request failed');
  assert.ok(ok > 100, `requests were served during the swaps (${ok})`);
  assert.ok(final.reloads >= 4, `reloads ${final.reloads}`);
  assert.ok(final.reloadFailures >= 2, `failures ${final.reloadFailures}`);
  assert.match(server.stderr(), /reload of .* failed \(MODEL_FORMAT\)/);
  const metrics = (await request(`${url}/metrics`)).body;
  assert.match(metrics, new RegExp(`^storefront_model_reloads_total\\{result="error"\\} ${final.reloadFailures}$`, 'm'));
  const session = (await request(`${url}/users/${visitor}/export`)).body.sessionEvents;
  assert.deepEqual(session.map((e) => e.item), [kept], 'live sessions survive the swaps');
});
