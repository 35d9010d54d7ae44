'use strict';
// The JS half of the bad-input matrix, shared by the Node addon's and the
// WASM module's runners (bindings/node/test/bad_inputs.test.js,
// bindings/wasm/test/bad_inputs.test.js): reading cases.json, building the
// inputs its generators describe, and running the cases in a worker thread
// so a hang fails the case instead of the whole test process. Each runner
// only supplies its fixture, its operations and its probe.
const fs = require('node:fs');
const path = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

/** A case slower than this is a hang. */
const HANG_BOUND_MS = 10_000;
const DOC = JSON.parse(fs.readFileSync(path.join(__dirname, 'cases.json'), 'utf8'));

/** The cases `runtime` runs, and how many it skips by declaration. */
function casesFor(runtime) {
  const mine = DOC.cases.filter((c) => (c.runtimes || DOC.operations[c.op]).includes(runtime));
  return { mine, skipped: DOC.cases.length - mine.length };
}

/** `$float`, `$repeat`, `$utf16` and the placeholders in `names` (`$user`, `$item`, `$now`). */
function decode(v, names) {
  if (typeof v === 'string') return v in names ? names[v] : v;
  if (Array.isArray(v)) return v.map((x) => decode(x, names));
  if (v && typeof v === 'object') {
    if ('$repeat' in v) return v.$repeat.repeat(v.times);
    if ('$float' in v) return { nan: NaN, inf: Infinity, '-inf': -Infinity }[v.$float];
    if ('$utf16' in v) return String.fromCharCode(...v.$utf16);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x, names)]));
  }
  return v;
}

/** Text from a string or a generator (`repeat`/`times`, `concat`). */
function text(g) {
  if (typeof g === 'string') return g;
  if ('repeat' in g) return g.repeat.repeat(g.times);
  return g.concat.map(text).join('');
}

/** The bytes a file generator describes; `bases` maps `from` names to valid files. */
function fileBytes(g, bases) {
  if ('hex' in g) return Buffer.from(g.hex, 'hex');
  if ('text' in g || 'repeat' in g) return Buffer.from(text(g.text ?? g), 'utf8');
  if ('safetensors' in g) {
    const st = g.safetensors;
    const header = 'header_hex' in st ? Buffer.from(st.header_hex, 'hex') : Buffer.from(text(st.header), 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    return Buffer.concat([len, header, Buffer.alloc(st.data_len)]);
  }
  const base = bases[g.from];
  if (!base) throw new Error(`no base file ${g.from}`);
  let b = Buffer.from(base);
  if ('truncate_at' in g) b = b.subarray(0, Math.floor(b.length * g.truncate_at));
  if ('truncate_to' in g) b = b.subarray(0, g.truncate_to < 0 ? b.length + g.truncate_to : g.truncate_to);
  if ('flip_at' in g) b[Math.floor(b.length * g.flip_at)] ^= 0xff;
  if ('replace' in g) {
    const [from, to] = g.replace.map((s) => Buffer.from(s, 'utf8'));
    const at = b.indexOf(from);
    if (at < 0) throw new Error(`${g.replace[0]} not in the base file`);
    b = Buffer.concat([b.subarray(0, at), to, b.subarray(at + from.length)]);
  }
  return b;
}

/**
 * In the worker: builds the fixture, then runs each case given by the main
 * thread, reporting `start` before and the outcome after it.
 * `makeFixture()` → fixture with `probe()`; `run(op, input, fixture)`.
 */
function serveCases({ runtime, makeFixture, run }) {
  const f = makeFixture();
  const before = JSON.stringify(f.probe());
  const probeStable = JSON.stringify(f.probe()) === before;
  for (const c of casesFor(runtime).mine) {
    parentPort.postMessage({ type: 'start', id: c.id });
    const t = performance.now();
    let outcome;
    try {
      run(c.op, c.input, f);
      outcome = { threw: false };
    } catch (e) {
      outcome = { threw: true, isError: e instanceof Error, code: e && e.code, message: String(e && e.message) };
    }
    const ms = performance.now() - t;
    let changed;
    try {
      changed = JSON.stringify(f.probe()) !== before;
    } catch (e) {
      changed = true; // the object no longer answers as before
    }
    parentPort.postMessage({ type: 'done', id: c.id, ms, changed, probeStable, ...outcome });
  }
  parentPort.postMessage({ type: 'end' });
}

/** In the main thread: runs the cases in a worker of `file`, resolving to one outcome per case id; a case past the hang bound ends the worker and is reported as hung. */
function runInWorker(file, runtime) {
  return new Promise((resolve, reject) => {
    const results = new Map();
    const worker = new Worker(file, { workerData: { runtime } });
    let timer;
    let current;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        results.set(current, { hung: true });
        worker.terminate();
        resolve(results);
      }, HANG_BOUND_MS);
    };
    worker.on('message', (m) => {
      if (m.type === 'start') {
        current = m.id;
        arm();
      } else if (m.type === 'done') {
        clearTimeout(timer);
        results.set(m.id, m);
      } else {
        clearTimeout(timer);
        resolve(results);
      }
    });
    worker.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`worker died during ${current}: ${e && e.stack}`));
    });
  });
}

/**
 * The whole runner for one JS runtime: in the main thread registers one
 * node:test per case (plus the count check); in the worker serves them.
 */
function registerMatrix({ file, runtime, makeFixture, run }) {
  if (!isMainThread) {
    serveCases({ runtime: workerData.runtime, makeFixture, run });
    return;
  }
  const test = require('node:test');
  const assert = require('node:assert/strict');
  const { mine, skipped } = casesFor(runtime);
  test(`bad-input matrix (${runtime})`, async (t) => {
    const results = await runInWorker(file, runtime);
    console.log(`bad-input matrix (${runtime}): ${mine.length} cases run, ${skipped} skipped by declaration`);
    assert.ok(mine.length >= 40, `only ${mine.length} cases`);
    for (const c of mine) {
      await t.test(c.id, () => {
        const r = results.get(c.id);
        assert.ok(r, 'not run (an earlier case hung)');
        assert.ok(!r.hung, `no answer within ${HANG_BOUND_MS} ms`);
        assert.ok(r.probeStable, 'the probe itself changes state');
        if (c.code === null) {
          assert.equal(r.threw, false, `threw ${r.code}: ${r.message}`);
        } else {
          assert.equal(r.threw, true, `succeeded, want ${c.code}`);
          assert.ok(r.isError, 'threw something that is not an Error');
          assert.equal(r.code, c.code, r.message);
        }
        assert.ok(r.ms < HANG_BOUND_MS);
        assert.equal(r.changed, false, "the failed call changed the fixture's state");
      });
    }
  });
}

module.exports = { registerMatrix, decode, text, fileBytes, casesFor };
