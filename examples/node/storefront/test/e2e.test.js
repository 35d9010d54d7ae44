'use strict';
// The storefront server end to end, as a child process on a loopback port:
// a visitor's events change their session rail, a bad batch changes
// nothing, tracked clicks show in /metrics, a forgotten user leaves no trace
// in the export or the state file saved at shutdown, and the HTTP errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, prepareModel, startServer, request, postJson } = require('../harness.js');

const ids = (r) => r.items.map((i) => i.item);
/** The `sightline_events_total` lines of a Prometheus text. */
const eventCounters = (text) => text.split('\n').filter((l) => l.startsWith('sightline_events_total'));

test('storefront end to end: sessions, all-or-nothing events, attribution, GDPR, errors', async (t) => {
  const dir = tempDir(t, 'e2e');
  const { model, catalog } = prepareModel(dir);
  const state = path.join(dir, 'state.slm');
  const server = await startServer(t, ['--model', model, '--state', state]);
  const { url } = server;
  const visitor = `v-e2e-${process.pid}`;
  const keeper = `v-keep-${process.pid}`;
  const frames = catalog.filter((i) => i.category === 'frames');

  await t.test('healthz and the catalog', async () => {
    const health = await request(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const served = await request(`${url}/catalog`);
    assert.deepEqual(served.body.map((i) => i.id), catalog.map((i) => i.id));
  });

  await t.test("a visitor's events change their session rail", async () => {
    const rail = (placement, extra = '') =>
      request(`${url}/recommendations?placement=${placement}&visitor=${visitor}&region=uk-london&channel=web&n=8&consent=1${extra}`);
    const before = await rail('home');
    assert.equal(before.status, 200);
    assert.equal(before.body.items.length, 8);
    assert.ok(!before.body.items.some((i) => i.source === 'session'));
    const page = await rail('product_page', `&item=${frames[0].id}`);
    assert.equal(page.body.placement, 'product_page');

    const browsed = frames.slice(10, 14).map((item) => ({ user: visitor, item: item.id, kind: 'view', session: visitor }));
    const posted = await postJson(`${url}/events?consent=1`, browsed);
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    assert.equal(posted.body.ingested, 4);
    // The keeper's events stay (the state-file check below must be able to fail).
    await postJson(`${url}/events?consent=1`, [{ user: keeper, item: frames[20].id, kind: 'view' }]);

    const after = await rail('home');
    assert.notDeepEqual(ids(after.body), ids(before.body));
    const session = after.body.items.filter((i) => i.source === 'session');
    assert.ok(session.length > 0, 'session items are served');
    assert.ok(session.every((i) => i.reason.length > 0));
    assert.ok(after.body.personalised);
    const exported = await request(`${url}/users/${visitor}/export`);
    assert.deepEqual(exported.body.sessionEvents.map((e) => e.item), browsed.map((e) => e.item));
  });

  await t.test('a bad event batch is a 400 naming the event, and nothing is ingested', async () => {
    const other = `v-bad-${process.pid}`;
    const before = eventCounters((await request(`${url}/metrics`)).body);
    assert.ok(before.length > 0, 'events are counted');
    const batch = [
      { user: other, item: frames[1].id, kind: 'view' },
      { user: other, item: frames[2].id, kind: 'view' },
      { user: other, item: frames[3].id, kind: 'view', timestamp: -5 },
    ];
    const bad = await postJson(`${url}/events?consent=1`, batch);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'INVALID_INPUT');
    assert.equal(bad.body.error.index, 2);
    assert.match(bad.body.error.message, /timestamp/);
    const wrongShape = await postJson(`${url}/events?consent=1`, [batch[0], { user: other, item: 'x', kind: 'teleport' }]);
    assert.equal(wrongShape.status, 400);
    assert.equal(wrongShape.body.error.index, 1);
    // Only attribution rejects a purchase by an over-long user id: still nothing learnt.
    const longUser = [batch[0], { user: 'x'.repeat(1025), item: frames[4].id, kind: 'purchase' }];
    const long = await postJson(`${url}/events?consent=1`, longUser);
    assert.equal(long.status, 400);
    assert.equal(long.body.error.index, 1);
    assert.equal((await postJson(`${url}/events`, { user: other })).status, 400, 'not an array');
    assert.deepEqual(eventCounters((await request(`${url}/metrics`)).body), before, 'no event counted');
    assert.deepEqual((await request(`${url}/users/${other}/export`)).body.sessionEvents, []);
  });

  await t.test('tracked impressions and clicks show in /metrics', async () => {
    const r = (await request(`${url}/recommendations?placement=cart&item=${frames[5].id}&user=C000042&consent=1`)).body;
    const imp = await postJson(`${url}/track`, { type: 'impression', recommendationId: r.recommendationId });
    assert.deepEqual(imp.body, { tracked: true });
    const click = await postJson(`${url}/track`, { type: 'click', recommendationId: r.recommendationId, item: r.items[1].item });
    assert.deepEqual(click.body, { tracked: true });
    const unknown = await postJson(`${url}/track`, { type: 'click', recommendationId: 'nope', item: r.items[1].item });
    assert.deepEqual(unknown.body, { tracked: false });
    const conv = await postJson(`${url}/track`, { type: 'conversion', user: 'C000042', item: r.items[1].item, revenue: 120 });
    assert.equal(conv.status, 200);
    assert.equal((await postJson(`${url}/track`, { type: 'like' })).status, 400);
    const badTime = await postJson(`${url}/track`, { type: 'impression', recommendationId: r.recommendationId, timestamp: 1.5 });
    assert.equal(badTime.body.error.code, 'INVALID_INPUT', 'the engine rejects a fractional timestamp');
    const textTime = await postJson(`${url}/track`, { type: 'impression', recommendationId: r.recommendationId, timestamp: 'now' });
    assert.equal(textTime.body.error.field, 'timestamp');
    const missing = await postJson(`${url}/track`, { type: 'click', item: 'x' });
    assert.equal(missing.body.error.field, 'recommendationId');
    const metrics = (await request(`${url}/metrics`)).body;
    assert.match(metrics, /^sightline_ctr\{placement="cart",variant="default"\} 1$/m);
    assert.match(metrics, /^storefront_model_reloads_total\{result="error"\} 0$/m);
  });

  await t.test('HTTP errors: validation, bad JSON, size, routes, methods', async () => {
    const unknownPlacement = await request(`${url}/recommendations?placement=attic`);
    assert.equal(unknownPlacement.status, 400);
    assert.equal(unknownPlacement.body.error.code, 'INVALID_INPUT');
    assert.match(unknownPlacement.body.error.message, /attic/);
    for (const q of ['n=0', 'n=abc', 'n=5000', 'channel=pigeon']) {
      const r = await request(`${url}/recommendations?placement=home&${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error.code, 'INVALID_INPUT', q);
    }
    const badEncoding = await request(`${url}/recommendations?placement=home&user=%E0%A4%A`);
    assert.equal(badEncoding.status, 400);
    assert.equal(badEncoding.body.error.field, 'user');
    const encoded = await request(`${url}/recommendations?placement=product%5Fpage&n=3&item=${frames[0].id}`);
    assert.equal(encoded.body.placement, 'product_page');
    assert.equal(encoded.body.items.length, 3);
    const noPlacement = await request(`${url}/recommendations`);
    assert.equal(noPlacement.body.error.field, 'placement');
    const badJson = await request(`${url}/events`, { method: 'POST', body: '[{"user":' });
    assert.equal(badJson.status, 400);
    assert.match(badJson.body.error.message, /not JSON/);
    const huge = await request(`${url}/events`, { method: 'POST', body: `[${'1,'.repeat(600000)}1]` });
    assert.equal(huge.status, 413);
    assert.equal((await request(`${url}/nowhere`)).status, 404);
    const wrong = await request(`${url}/recommendations?placement=home`, { method: 'POST' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET');
    assert.equal((await request(`${url}/events`)).status, 405);
    assert.equal((await request(`${url}/users/${visitor}`, { method: 'GET' })).status, 405);
    const page = await request(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /<script src="\/app.js">/);
  });

  await t.test('a forgotten user leaves no trace in the export or the saved state', async () => {
    const forgot = await request(`${url}/users/${visitor}`, { method: 'DELETE' });
    assert.equal(forgot.status, 200);
    assert.equal(forgot.body.user, visitor);
    assert.equal(forgot.body.session, true);
    const exported = (await request(`${url}/users/${visitor}/export`)).body;
    assert.deepEqual(exported.sessionEvents, []);
    assert.deepEqual(exported.purchases, []);
    assert.deepEqual(exported.attribution.recommendations, []);

    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0, server.stderr());
    const bytes = fs.readFileSync(state);
    assert.ok(bytes.includes(Buffer.from(keeper)), 'the state file holds the live sessions');
    assert.ok(!bytes.includes(Buffer.from(visitor)), 'no trace of the forgotten visitor');
  });
});
