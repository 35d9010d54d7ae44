'use strict';
// The browser package's re-ranking API in Node (the `nodejs` build):
// the same answers as the native core (cases written by
// `cargo run --example web_slice`), the session store, typed errors, the
// .wasm size budget, and a fuzzed sample of bad input at every public call.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const { ModelSlice, SessionStore, Model } = require('../pkg/node/sightline_wasm.js');

// SIGHTLINE_WEB_DATA: a fresh `web_slice` run (scripts/test.sh); else the demo's copy.
const data = process.env.SIGHTLINE_WEB_DATA || path.join(__dirname, '..', '..', '..', 'examples', 'web', 'data');
const sliceBytes = fs.readFileSync(path.join(data, 'slice.slm'));
const benchBytes = fs.readFileSync(path.join(data, 'bench-slice.slm'));
const cases = JSON.parse(fs.readFileSync(path.join(data, 'rerank-cases.json'), 'utf8'));
const CODES = ['INVALID_INPUT', 'SHAPE_MISMATCH', 'UNKNOWN_ID', 'CONFIG', 'MODEL_FORMAT', 'IO', 'INTERRUPTED'];

/** Same ids, reasons and "because" in the same order; scores within float tolerance. */
function assertSameRanking(got, want, label) {
  assert.deepEqual(got.map((r) => r.itemId), want.map((r) => r.itemId), `${label}: order`);
  assert.deepEqual(got.map((r) => [r.reason, r.because]), want.map((r) => [r.reason, r.because ?? null]), `${label}: reasons`);
  got.forEach((r, i) => {
    const w = want[i].score;
    assert.ok(Math.abs(r.score - w) <= 1e-5 * Math.max(1, Math.abs(w)), `${label}[${i}]: ${r.score} vs ${w}`);
  });
}

test('rerank gives the native core\'s answers (demo slice and the benchmark case)', () => {
  const slice = ModelSlice.fromBytes(sliceBytes);
  const bench = ModelSlice.fromBytes(benchBytes);
  try {
    assert.equal(slice.placement, 'home');
    assert.equal(slice.nItems, 120);
    assert.equal(bench.factors, 64);
    assert.equal(cases.cases.length, 4);
    cases.cases.forEach((c, i) => {
      assert.ok(c.expected.length > 0);
      assertSameRanking(slice.rerank(c.candidates, c.options), c.expected, `case ${i}`);
    });
    const b = cases.bench;
    assert.equal(b.candidates.length, 500);
    assert.equal(b.options.sessionEvents.length, 20);
    assertSameRanking(bench.rerank(b.candidates, b.options), b.expected, 'bench');
  } finally {
    slice.free();
    bench.free();
  }
});

test('a session re-orders the rail, with reasons; no session keeps the server order', () => {
  const slice = ModelSlice.fromBytes(sliceBytes);
  try {
    const ids = slice.itemIds();
    const all = slice.rerank(ids); // options are optional; n: every eligible item, ≤ 3 per brand
    assert.ok(all.length > 8 && all.length < ids.length, `${all.length}`);
    const plain = slice.rerank(ids, { n: 8 });
    assert.ok(plain.every((r) => r.reason === 'candidate' && r.because === null));
    const s = new SessionStore();
    s.add({ itemId: ids[40], kind: 'click', timestamp: 1000 });
    s.add({ itemId: ids[41], timestamp: 1100 });
    const personal = slice.rerank(ids, { sessionEvents: s.events(), n: 8 });
    assert.equal(personal.length, 8);
    assert.notDeepEqual(personal.map((r) => r.itemId), plain.map((r) => r.itemId));
    for (const r of personal) {
      assert.equal(r.reason, 'session');
      assert.ok([ids[40], ids[41]].includes(r.because));
      assert.ok(![ids[40], ids[41]].includes(r.itemId), 'viewed items are not recommended back');
    }
  } finally {
    slice.free();
  }
});

test('SessionStore: bounded, time-ordered, JSON round trip for localStorage', () => {
  const s = new SessionStore(3);
  for (const [itemId, timestamp] of [['a', 5], ['b', 1], ['c', 9], ['d', 7]]) s.add({ itemId, timestamp });
  assert.deepEqual(s.events().map((e) => e.itemId), ['a', 'd', 'c']);
  assert.equal(s.length, 3);
  const text = JSON.stringify(s);
  assert.deepEqual(JSON.parse(text), {
    maxEvents: 3,
    events: [
      { itemId: 'a', kind: 'view', timestamp: 5 },
      { itemId: 'd', kind: 'view', timestamp: 7 },
      { itemId: 'c', kind: 'view', timestamp: 9 },
    ],
  });
  for (const back of [SessionStore.fromJSON(text), SessionStore.fromJSON(JSON.parse(text))]) {
    assert.deepEqual(back.events(), s.events());
  }
  const now = Date.now() / 1000;
  const t = new SessionStore();
  t.add({ itemId: 'x' });
  assert.ok(Math.abs(t.events()[0].timestamp - now) < 5, 'timestamp defaults to now');
  t.clear();
  assert.equal(t.length, 0);
});

test('bad input throws coded Errors', () => {
  const slice = ModelSlice.fromBytes(sliceBytes);
  try {
    const ids = slice.itemIds();
    assert.throws(() => slice.rerank([...ids, 'nope'], {}), { code: 'UNKNOWN_ID', kind: 'item', id: 'nope' });
    assert.throws(() => slice.rerank(ids, { n: 0 }), { code: 'INVALID_INPUT' });
    assert.throws(() => slice.rerank(ids, { n: NaN }), { code: 'INVALID_INPUT' });
    assert.throws(() => slice.rerank(ids, { sessionEvents: [{ itemId: ids[0], timestamp: NaN }] }), { code: 'INVALID_INPUT' });
    assert.throws(() => slice.rerank(ids, { sessionEvents: [{ itemId: ids[0], kind: 'wish' }] }), { code: 'INVALID_INPUT' });
    assert.throws(() => slice.rerank(ids, { rules: { max_per_brand: 0 } }), { code: 'CONFIG', field: 'rules.max_per_brand' });
    assert.throws(() => slice.rerank(ids, { diversity: { lambda: 2 } }), { code: 'CONFIG', field: 'diversity.lambda' });
    assert.throws(() => slice.rerank(ids, { typo: 1 }), { code: 'INVALID_INPUT' });
    assert.throws(() => slice.rerank('FR-00001', {}), { code: 'INVALID_INPUT' });
    assert.throws(() => slice.rerank([1, 2], {}), { code: 'INVALID_INPUT' });
  } finally {
    slice.free();
  }
  assert.throws(() => ModelSlice.fromBytes(new Uint8Array([1, 2, 3])), { code: 'MODEL_FORMAT' });
  const flipped = Uint8Array.from(sliceBytes);
  flipped[flipped.length - 5] ^= 0x10;
  assert.throws(() => ModelSlice.fromBytes(flipped), { code: 'MODEL_FORMAT' });
  assert.throws(() => Model.fromBytes(sliceBytes), { code: 'MODEL_FORMAT' }, 'a slice is not a full model');
  assert.throws(() => new SessionStore(0), { code: 'INVALID_INPUT' });
  assert.throws(() => new SessionStore().add({ itemId: '' }), { code: 'INVALID_INPUT' });
  assert.throws(() => SessionStore.fromJSON('{'), { code: 'INVALID_INPUT' });
});

test('fuzzed input at every public call: coded Errors only, never a wasm trap', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const slice = ModelSlice.fromBytes(sliceBytes);
  const ids = slice.itemIds();
  const values = () => [
    undefined, null, NaN, -1, 0, 1.5, 2 ** 53, Infinity, '', 'x', ids[0], true, [], {}, [NaN], ['nope'],
    [ids[0], 7], { n: -3 }, { n: 1e300 }, { sessionEvents: 'x' }, { sessionEvents: [{}] },
    { sessionEvents: [{ itemId: ids[1], timestamp: -5 }] }, { sessionEvents: [{ itemId: ids[1], timestamp: 1e20 }] },
    { rules: { pins: [{ item: 'nope', position: 0 }] } }, { diversity: { by: { attributes: ['nope'] } } },
    { diversity: { by: 'embedding', lambda: 0.5 } }, { cart: [ids[2]], region: 'nl', now: 5 },
    new Uint8Array(0), new Uint8Array([0xff, 0, 0, 0, 0, 0, 0, 0, 9]), sliceBytes.subarray(0, 200),
    () => 1, Symbol('s'), 10n,
  ];
  const calls = [
    (a) => ModelSlice.fromBytes(a),
    (a) => Model.fromBytes(a),
    (a, b) => slice.rerank(a, b),
    (a, b) => slice.rerank(ids.slice(0, 30), b),
    (a) => new SessionStore(a),
    (a) => new SessionStore().add(a),
    (a) => SessionStore.fromJSON(a),
  ];
  let thrown = 0;
  try {
    for (let i = 0; i < 2000; i++) {
      const call = pick(calls);
      try {
        const out = call(pick(values()), pick(values()));
        if (out && typeof out.free === 'function') out.free();
      } catch (err) {
        thrown++;
        assert.ok(!(err instanceof WebAssembly.RuntimeError), `trap: ${err}`);
        assert.ok(err instanceof Error, `not an Error: ${err}`);
        assert.ok(CODES.includes(err.code), `uncoded error: ${err}`);
      }
    }
    assert.ok(thrown > 500, `only ${thrown} throws: the sample is not adversarial`);
    assert.equal(slice.rerank(ids, { n: 5 }).length, 5, 'the module still works');
  } finally {
    slice.free();
  }
});

test('the optimised .wasm is at most 250 KB gzipped', () => {
  const wasm = fs.readFileSync(path.join(__dirname, '..', 'pkg', 'web', 'sightline_wasm_bg.wasm'));
  const gz = zlib.gzipSync(wasm, { level: 9 }).length;
  console.log(`# sightline_wasm_bg.wasm: ${wasm.length} bytes raw, ${gz} bytes gzip`);
  assert.ok(gz <= 250_000, `${gz} bytes gzipped`);
  for (const dir of ['node', 'bundler']) {
    assert.ok(fs.readFileSync(path.join(__dirname, '..', 'pkg', dir, 'sightline_wasm_bg.wasm')).equals(wasm));
  }
});
