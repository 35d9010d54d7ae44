'use strict';
// A storefront's recommendation endpoints on node:http, with the whole
// sightline engine in-process (no recommendation service to run).
//
//   node examples/node/storefront/server.js [--port 0] [--host 127.0.0.1]
//        [--model FILE] [--config FILE] [--state FILE]
//
// Prints one line, `listening on http://HOST:PORT`, to stdout when ready
// (everything else goes to stderr). The model file (written by
// `engine.save`; `prepare.js` builds the demo one) is hot-reloaded when it
// changes; SIGTERM / SIGINT drain in-flight requests, save the live state
// (sessions, trending) and exit 0. README.md lists the endpoints.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Engine, demoEngineConfig } = require('../../../bindings/node');
const { prepare, catalogPathOf, DEFAULT_MODEL } = require('./prepare.js');

/** Largest request body accepted (413 beyond). */
const MAX_BODY = 1 << 20;
/** A burst of file events (write, rename) becomes one reload after this. */
const RELOAD_DEBOUNCE_MS = 100;
/** In-flight requests get this long to finish at shutdown. */
const DRAIN_TIMEOUT_MS = 10000;
/** HTTP status of each core error code; anything else is a 500. */
const STATUS_OF = {
  INVALID_INPUT: 400,
  SHAPE_MISMATCH: 400,
  CONFIG: 400,
  UNKNOWN_ID: 404,
};
const PUBLIC = path.join(__dirname, 'public');
const STATIC = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** An error answered as `{ error: { code, message, ...fields } }`. */
class HttpError extends Error {
  constructor(status, code, message, fields) {
    super(message);
    this.status = status;
    this.code = code;
    Object.assign(this, fields);
  }
}

/** The JSON body of an error: the core error's code and structured fields. */
function errorBody(err) {
  const error = { code: err.code || 'INTERNAL', message: err.message };
  for (const key of Object.keys(err)) {
    if (key !== 'status' && key !== 'code') error[key] = err[key];
  }
  // A batch error names the event (the core's message says `event <i>: `).
  const at = /(?:^|: )event (\d+): /.exec(err.message);
  if (at) error.index = Number(at[1]);
  return { error };
}

/** Calls `set(key, value)` for each `key=value` of a query string, decoded. */
function eachParam(qs, set) {
  let at = 0;
  while (at < qs.length) {
    let amp = qs.indexOf('&', at);
    if (amp < 0) amp = qs.length;
    const eq = qs.indexOf('=', at);
    const split = eq < 0 || eq > amp ? amp : eq;
    const key = qs.slice(at, split);
    let value = split < amp ? qs.slice(split + 1, amp) : '';
    if (value.includes('%') || value.includes('+')) {
      try {
        value = decodeURIComponent(value.replace(/\+/g, ' '));
      } catch {
        throw new HttpError(400, 'INVALID_INPUT', `query parameter ${key} is not URL-encoded`, { field: key });
      }
    }
    if (key) set(key, value);
    at = amp + 1;
  }
}

/** `1`, `true`, `yes` (anything else is no consent: the safe default). */
const truthy = (v) => v === '1' || v === 'true' || v === 'yes';

/**
 * The engine request of a `/recommendations` query, built in one pass
 * (this is the hot path). Unknown parameters are ignored.
 */
function recommendRequest(qs) {
  const request = { placement: '', consent: false };
  eachParam(qs, (key, value) => {
    if (!value) return;
    switch (key) {
      case 'placement':
        request.placement = value;
        break;
      case 'user':
        request.user = value;
        break;
      case 'visitor':
        request.session = value;
        break;
      case 'region':
        request.region = value;
        break;
      case 'channel':
        request.channel = value;
        break;
      case 'item':
        request.contextItems = [value];
        break;
      case 'n':
        // A non-number stays a string, which the engine rejects with its code.
        request.n = /^\d+$/.test(value) ? Number(value) : value;
        break;
      case 'consent':
        request.consent = truthy(value);
        break;
      default:
    }
  });
  if (!request.placement) {
    throw new HttpError(400, 'INVALID_INPUT', 'placement is required', { field: 'placement' });
  }
  return request;
}

/** Whether a query string gives consent (`consent=1`). */
function consentOf(qs) {
  let consent = false;
  eachParam(qs, (key, value) => {
    if (key === 'consent') consent = truthy(value);
  });
  return consent;
}

/** Reads a JSON body of at most MAX_BODY bytes. */
function readJson(req) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > MAX_BODY) {
      reject(new HttpError(413, 'INVALID_INPUT', `body over ${MAX_BODY} bytes`));
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'INVALID_INPUT', `body over ${MAX_BODY} bytes`));
        req.removeAllListeners('data');
        req.resume();
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(new HttpError(400, 'INVALID_INPUT', `body is not JSON: ${e.message}`));
      }
    });
    req.on('error', reject);
  });
}

/** A string field of a JSON body, or a 400 naming it. */
function stringField(body, field) {
  const v = body[field];
  if (typeof v !== 'string' || v === '') {
    throw new HttpError(400, 'INVALID_INPUT', `${field} must be a non-empty string`, { field });
  }
  return v;
}

/** An optional Unix-seconds field (default: now); the engine checks its value. */
function timestampOf(body) {
  if (body.timestamp === undefined) return nowSeconds();
  if (typeof body.timestamp !== 'number') {
    throw new HttpError(400, 'INVALID_INPUT', 'timestamp must be a number (Unix seconds)', { field: 'timestamp' });
  }
  return body.timestamp;
}

/** `POST /track`: `{ type: impression|click|conversion, ... }` → `{ tracked }`. */
function track(engine, body) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'INVALID_INPUT', 'body must be an object with a type');
  }
  switch (body.type) {
    case 'impression':
      return engine.trackImpression(stringField(body, 'recommendationId'), timestampOf(body));
    case 'click':
      return engine.trackClick(
        stringField(body, 'recommendationId'),
        stringField(body, 'item'),
        timestampOf(body),
      );
    case 'conversion':
      if (typeof body.revenue !== 'number') {
        throw new HttpError(400, 'INVALID_INPUT', 'revenue must be a number', { field: 'revenue' });
      }
      return engine.trackConversion(
        stringField(body, 'user'),
        stringField(body, 'item'),
        body.revenue,
        timestampOf(body),
      );
    default:
      throw new HttpError(400, 'INVALID_INPUT', 'type must be impression, click or conversion', {
        field: 'type',
      });
  }
}

/** `POST /events`: every event checked before any is learnt (the core's rule). */
function ingestEvents(engine, events, consent) {
  if (!Array.isArray(events)) {
    throw new HttpError(400, 'INVALID_INPUT', 'body must be a JSON array of events');
  }
  const now = nowSeconds();
  for (const e of events) {
    if (e !== null && typeof e === 'object' && e.timestamp === undefined) e.timestamp = now;
  }
  return engine.ingestBatch(events, consent);
}

/** Reads the files of the page once; they are served from memory. */
function loadStatic() {
  const files = {};
  for (const [route, [file, type]] of Object.entries(STATIC)) {
    files[route] = { body: fs.readFileSync(path.join(PUBLIC, file)), type };
  }
  return files;
}

/** The catalog JSON next to a model file, or `[]` when there is none. */
function readCatalog(modelPath) {
  try {
    return fs.readFileSync(catalogPathOf(modelPath));
  } catch {
    return Buffer.from('[]');
  }
}

/**
 * Loads the engine, starts the server and the model watcher. Resolves to
 * `{ server, engine, url, stats, close() }` once listening; `close()`
 * drains in-flight requests and saves the live state.
 */
async function createStorefront(options = {}) {
  const host = options.host || '127.0.0.1';
  const port = options.port === undefined ? 0 : Number(options.port);
  const log = options.log || ((msg) => process.stderr.write(`storefront: ${msg}\n`));
  let modelPath = options.model;
  if (!modelPath) {
    modelPath = DEFAULT_MODEL;
    if (!fs.existsSync(modelPath)) {
      log(`no model file yet: building the demo one at ${modelPath}`);
      prepare({ model: modelPath });
    }
  }
  modelPath = path.resolve(modelPath);
  const config = options.config ? path.resolve(options.config) : demoEngineConfig();
  const { dir, name } = path.parse(modelPath);
  const statePath = path.resolve(options.state || path.join(dir, `${name}.state.slm`));

  // Live state saved at the last shutdown continues, serving the current
  // models; an unreadable state file is logged and skipped, not fatal.
  let engine = null;
  if (fs.existsSync(statePath)) {
    try {
      engine = await Engine.loadAsync(statePath, config);
      await engine.reloadModelsAsync(modelPath);
      log(`live state from ${statePath}`);
    } catch (err) {
      engine = null;
      log(`ignoring the state file ${statePath} (${err.code}): ${err.message}`);
    }
  }
  engine = engine || (await Engine.loadAsync(modelPath, config));
  const stats = { reloads: 0, reloadFailures: 0 };
  const files = loadStatic();
  let catalog = readCatalog(modelPath);
  let closing = false;

  function send(res, status, body, type) {
    const headers = { 'content-type': type, 'content-length': body.length };
    if (closing) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  function sendJson(res, status, value) {
    send(res, status, Buffer.from(JSON.stringify(value)), 'application/json');
  }

  function sendError(res, err) {
    const status = err.status || STATUS_OF[err.code] || 500;
    if (status === 500) log(`error: ${err.stack || err}`);
    sendJson(res, status, errorBody(err));
  }

  function methodNotAllowed(res, allow) {
    res.setHeader('allow', allow);
    sendJson(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `use ${allow}` } });
  }

  /** The request path: recommendations first and synchronous. */
  function handle(req, res) {
    const url = req.url;
    const qi = url.indexOf('?');
    const pathname = qi < 0 ? url : url.slice(0, qi);
    const method = req.method;
    try {
      if (pathname === '/recommendations') {
        if (method !== 'GET') return methodNotAllowed(res, 'GET');
        const request = recommendRequest(qi < 0 ? '' : url.slice(qi + 1));
        // The engine writes the JSON body itself: no JS object to build and stringify.
        return send(res, 200, Buffer.from(engine.recommendJson(request)), 'application/json');
      }
      if (pathname === '/events') {
        if (method !== 'POST') return methodNotAllowed(res, 'POST');
        const consent = consentOf(qi < 0 ? '' : url.slice(qi + 1));
        return readJson(req)
          .then((events) => sendJson(res, 200, { ingested: ingestEvents(engine, events, consent) }))
          .catch((err) => sendError(res, err));
      }
      if (pathname === '/track') {
        if (method !== 'POST') return methodNotAllowed(res, 'POST');
        return readJson(req)
          .then((body) => sendJson(res, 200, { tracked: track(engine, body) }))
          .catch((err) => sendError(res, err));
      }
      if (pathname === '/metrics') {
        if (method !== 'GET') return methodNotAllowed(res, 'GET');
        const text = engine.prometheusText() + storefrontMetrics(stats);
        return send(res, 200, Buffer.from(text), 'text/plain; version=0.0.4');
      }
      if (pathname === '/healthz') {
        if (method !== 'GET') return methodNotAllowed(res, 'GET');
        return sendJson(res, 200, { status: 'ok', model: modelPath, ...stats });
      }
      if (pathname === '/catalog') {
        if (method !== 'GET') return methodNotAllowed(res, 'GET');
        return send(res, 200, catalog, 'application/json');
      }
      if (pathname.startsWith('/users/')) {
        const rest = pathname.slice('/users/'.length);
        const exporting = rest.endsWith('/export');
        const raw = exporting ? rest.slice(0, -'/export'.length) : rest;
        if (raw && !raw.includes('/')) {
          const user = decodeURIComponent(raw);
          if (exporting) {
            if (method !== 'GET') return methodNotAllowed(res, 'GET');
            return sendJson(res, 200, engine.exportUser(user));
          }
          if (method !== 'DELETE') return methodNotAllowed(res, 'DELETE');
          return sendJson(res, 200, engine.forgetUser(user));
        }
      }
      const file = files[pathname];
      if (file) {
        if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET');
        return send(res, 200, file.body, file.type);
      }
      return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${pathname}` } });
    } catch (err) {
      if (err instanceof URIError) err = new HttpError(400, 'INVALID_INPUT', 'bad URL encoding');
      return sendError(res, err);
    }
  }

  // Hot reload: the directory is watched (an atomic rename-replace gives the
  // file a new inode, which a watch on the file itself would miss).
  let timer = null;
  let reloading = null;
  let again = false;
  async function reload() {
    if (reloading) {
      again = true;
      return;
    }
    reloading = engine
      .reloadModelsAsync(modelPath)
      .then(() => {
        stats.reloads += 1;
        catalog = readCatalog(modelPath);
        log(`reloaded models from ${modelPath}`);
      })
      .catch((err) => {
        // The old models keep serving; the file may still be being written.
        stats.reloadFailures += 1;
        log(`reload of ${modelPath} failed (${err.code}): ${err.message}; serving the old models`);
      })
      .finally(() => {
        reloading = null;
        if (again) {
          again = false;
          reload();
        }
      });
  }
  const base = path.basename(modelPath);
  const watcher = fs.watch(dir, (_event, filename) => {
    if (filename && filename !== base) return;
    clearTimeout(timer);
    timer = setTimeout(reload, RELOAD_DEBOUNCE_MS);
  });

  const server = http.createServer(handle);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  let closed = null;
  /** Stops accepting, drains in-flight requests, saves the live state. */
  function close() {
    if (closed) return closed;
    closing = true;
    watcher.close();
    clearTimeout(timer);
    closed = new Promise((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      // Keep-alive connections between requests would hold `close` open.
      server.closeIdleConnections();
    })
      .then(() => reloading)
      .then(() => engine.saveAsync(statePath))
      .then(() => log(`saved live state to ${statePath}`));
    return closed;
  }

  return { server, engine, url, statePath, modelPath, stats, close };
}

/** The server's own counters in the Prometheus text format. */
function storefrontMetrics(stats) {
  return (
    '# HELP storefront_model_reloads_total Model file reloads by result.\n' +
    '# TYPE storefront_model_reloads_total counter\n' +
    `storefront_model_reloads_total{result="ok"} ${stats.reloads}\n` +
    `storefront_model_reloads_total{result="error"} ${stats.reloadFailures}\n`
  );
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '3000' },
      host: { type: 'string', default: '127.0.0.1' },
      model: { type: 'string' },
      config: { type: 'string' },
      state: { type: 'string' },
    },
  });
  const shop = await createStorefront(values);
  process.stdout.write(`listening on ${shop.url}\n`);
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`storefront: ${signal}: draining\n`);
    shop.close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`storefront: shutdown failed: ${err.stack || err}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

module.exports = { createStorefront };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`storefront: ${err.stack || err}\n`);
    process.exit(1);
  });
}
