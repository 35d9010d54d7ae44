#!/usr/bin/env node
'use strict';
// Serves the repository on a loopback port, opens benches/browser/ in
// headless Chromium (tests/browser/chromium.js) and prints the page's
// benchmark result as JSON. Build the package first (bindings/wasm:
// npm run build). Usage: node benches/browser/run.js [--warmup 50] [--runs 500]
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const { launch } = require(path.join(root, 'tests', 'browser', 'chromium.js'));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm' };

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

async function main() {
  const server = http.createServer((req, res) => {
    const file = path.join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    const q = `warmup=${arg('warmup', 50)}&runs=${arg('runs', 500)}`;
    await page.goto(`http://127.0.0.1:${server.address().port}/benches/browser/index.html?${q}`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 300_000 });
    const result = await page.evaluate(() => window.benchResult);
    if (errors.length) result.console_errors = errors;
    console.log(JSON.stringify(result, null, 2));
    if (result.error) process.exitCode = 1;
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
