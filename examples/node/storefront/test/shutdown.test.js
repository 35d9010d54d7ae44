'use strict';
// Graceful shutdown: SIGTERM while requests are in flight (bodies still
// arriving) lets them complete, refuses new connections, saves the live
// state and exits 0; a restart continues from that state (a corrupt state
// file is skipped).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { tempDir, prepareModel, startServer, request } = require('../harness.js');

/** Starts a POST whose body arrives in two halves; `finish()` sends the rest. */
function slowPost(url, value) {
  const body = Buffer.from(JSON.stringify(value));
  const half = Math.floor(body.length / 2);
  const req = http.request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': body.length },
  });
  const response = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, half));
  return { response, finish: () => req.end(body.subarray(half)) };
}

test('SIGTERM drains in-flight requests, saves the live state and exits 0', async (t) => {
  const dir = tempDir(t, 'shutdown');
  const { model, catalog } = prepareModel(dir);
  const state = path.join(dir, 'state.slm');
  const server = await startServer(t, ['--model', model, '--state', state]);
  const visitors = [0, 1, 2].map((k) => `v-drain-${k}-${process.pid}`);
  const items = catalog.slice(0, 3).map((i) => i.id);

  const inFlight = visitors.map((user, k) =>
    slowPost(`${server.url}/events?consent=1`, [{ user, item: items[k], kind: 'view' }]),
  );
  // Every request has reached the server (headers and half a body) first.
  await new Promise((r) => setTimeout(r, 200));
  server.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(server.child.exitCode, null, 'still draining');
  await assert.rejects(request(`${server.url}/healthz`), 'new connections are refused');
  assert.ok(!fs.existsSync(state), 'the state is saved after the drain');
  for (const req of inFlight) req.finish();
  const answers = await Promise.all(inFlight.map((r) => r.response));
  assert.deepEqual(answers, visitors.map(() => ({ status: 200, body: { ingested: 1 } })));
  assert.equal(await server.exited, 0, server.stderr());
  const bytes = fs.readFileSync(state);
  for (const user of visitors) assert.ok(bytes.includes(Buffer.from(user)), `${user} is in the state`);

  // A restart continues from the saved state.
  const again = await startServer(t, ['--model', model, '--state', state]);
  const exported = (await request(`${again.url}/users/${visitors[1]}/export`)).body;
  assert.deepEqual(exported.sessionEvents.map((e) => e.item), [items[1]]);
  again.child.kill('SIGINT');
  assert.equal(await again.exited, 0);

  // A corrupt state file is skipped (logged), not fatal.
  fs.writeFileSync(state, 'not an engine file');
  const fresh = await startServer(t, ['--model', model, '--state', state]);
  assert.equal((await request(`${fresh.url}/healthz`)).status, 200);
  assert.deepEqual((await request(`${fresh.url}/users/${visitors[1]}/export`)).body.sessionEvents, []);
  assert.match(fresh.stderr(), /ignoring the state file .*MODEL_FORMAT/);
});
