'use strict';
// One way to start the system Chromium for every page test and browser
// benchmark, and to serve their static files: playwright-core cannot
// download browsers here, so it drives Debian's /usr/bin/chromium.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { chromium } = require('playwright-core');

/** Path of the browser binary (override with SIGHTLINE_CHROMIUM). */
const EXECUTABLE = process.env.SIGHTLINE_CHROMIUM || '/usr/bin/chromium';

/**
 * Launches headless Chromium. `--no-sandbox` because CI runs as root, where
 * Chromium refuses to start sandboxed.
 */
async function launch() {
  if (!fs.existsSync(EXECUTABLE)) {
    throw new Error(`${EXECUTABLE} not found: scripts/setup.sh installs Debian's chromium`);
  }
  return chromium.launch({ executablePath: EXECUTABLE, headless: true, args: ['--no-sandbox'] });
}

/**
 * Opens a page that records console errors and uncaught page errors, so a
 * test can assert there were none.
 */
async function openPage(browser, url) {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(url);
  return { page, errors };
}

/**
 * Saves a screenshot to `docs/img/<name>.png` only when the caller asks
 * (SIGHTLINE_UPDATE_SCREENSHOTS=1): the checked-in image changes on purpose,
 * not on every run (pixels differ between runs).
 */
async function screenshot(page, name) {
  if (process.env.SIGHTLINE_UPDATE_SCREENSHOTS !== '1') return null;
  const file = path.join(__dirname, '..', '..', 'docs', 'img', `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Content types of the files the page tests and benchmarks serve. */
const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.slm': 'application/octet-stream',
};

/**
 * Serves the files under `root` on 127.0.0.1 (any free port; 404 outside
 * `root` or for a missing file); resolves to the listening `http.Server`.
 */
function serveStatic(root) {
  const server = http.createServer((req, res) => {
    const file = path.join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

module.exports = { launch, openPage, screenshot, serveStatic, EXECUTABLE };
