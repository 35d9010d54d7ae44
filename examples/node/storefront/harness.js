'use strict';
// What the storefront's tests share (kept out of test/, where
// `node --test` would run it as a test file): a small demo model in a
// temporary directory and the server as a child process.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { prepare } = require('./prepare.js');

const SERVER = path.join(__dirname, 'server.js');
/** A smaller demo shop than the default one: the tests start in seconds. */
const TEST_SHOP = { products: 400, customers: 1000, events: 20000 };

/** A fresh temporary directory, removed by `t.after`. */
function tempDir(t, name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `storefront-${name}-`));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The demo model (and its catalog JSON) at `dir/shop.slm`, with models
 * trained on the test shop's events as `prepare` does.
 */
function prepareModel(dir, options = {}) {
  return prepare({ model: path.join(dir, 'shop.slm'), ...TEST_SHOP, ...options });
}

/**
 * Starts `server.js` on a free loopback port with `args`; resolves once it
 * prints its listening line, to `{ child, url, stderr(), exited }` (`exited`
 * resolves to the exit code). The child is killed when the test ends.
 */
function startServer(t, args) {
  const child = spawn(process.execPath, [SERVER, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /^listening on (http:\/\/\S+)\n/.exec(stdout);
      if (m) resolve({ child, url: m[1], stdout: () => stdout, stderr: () => stderr, exited });
    });
    exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${stderr}`)));
  });
}

/** `fetch` returning `{ status, body }` with the body parsed as JSON when it is. */
async function request(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  let body = text;
  if ((res.headers.get('content-type') || '').startsWith('application/json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body };
}

/** POSTs `value` as JSON. */
const postJson = (url, value) =>
  request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  });

/** Polls `check` (async, truthy when done) every 20 ms for up to `ms`. */
async function until(check, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

module.exports = { tempDir, prepareModel, startServer, request, postJson, until, TEST_SHOP };
