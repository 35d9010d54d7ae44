#!/usr/bin/env node
'use strict';
// Serves the repository on a loopback port, opens benches/browser/ in
// headless Chromium (tests/browser/chromium.js) and prints the page's
// benchmark result as JSON. Build the package first (bindings/wasm:
// npm run build). Usage: node benches/browser/run.js [--warmup 50] [--runs 500]
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const { launch, serveStatic } = require(path.join(root, 'tests', 'browser', 'chromium.js'));

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

async function main() {
  const server = await serveStatic(root);
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
