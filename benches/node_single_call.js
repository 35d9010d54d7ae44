'use strict';
// One `similarItems(itemId, 10)` call at a time through the Node addon, as
// a product page asks it, against the raw search doing the same work on the
// same index (issue 20; the Node twin of benches/compare/single_call.py).
//
// Objects and their raw search (the "peer" column):
// - content_{exact,hnsw}_{n}: a ContentIndex (cosine; HNSW m 16,
//   efConstruction 200) over n x 64 low-rank + noise vectors (Z W + 0.3 E,
//   Z n x 8, W 8 x 64, log-normal row length; seeded PRNG; HNSW at the
//   defaults m 16, efConstruction 200, efSearch 64):
//   similarItems(id, 10) vs search(vector of that item, 10).
// - als: an ALS model (64 factors, 3 iterations) on seeded synthetic
//   interactions (clustered users, Zipf item popularity):
//   model.similarItems(id, 10) vs search(itemFactors row, 10) on an exact
//   ContentIndex of the same item factors (the same exact cosine top-10).
// - cooccur: CoOccurrence on the same interactions: similarItems(id, 10) vs
//   recommendForItems([id], 10) (the same neighbour row, without the item).
//
// Each call is timed alone (process.hrtime.bigint), the two calls alternate
// item by item with their order swapped every other item. Target: p50 of
// similarItems <= 1.5 x p50 of the raw search (the median: the machine is
// shared and a few preempted calls move the mean).
//
// Usage: node benches/node_single_call.js [--quick] [--calls 2000]
// Needs the built addon (bindings/node: npm run build). Prints a table, then
// one JSON object as the last stdout line; progress goes to stderr.
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const { Als, CoOccurrence, ContentIndex } = require(path.join(ROOT, 'bindings', 'node'));

const QUICK = process.argv.includes('--quick');
const at = process.argv.indexOf('--calls');
const CALLS = at > 0 ? Number(process.argv[at + 1]) : QUICK ? 300 : 2000;
const N = 10;
const DIM = 64;
const SEED = 20241207;
const TARGET = 1.5;

const log = (msg) => process.stderr.write(`[node_single_call ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** mulberry32: a small seeded PRNG (uniform in [0, 1)). */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return { next, normal, int: (n) => Math.floor(next() * n) };
}

/** n x DIM low-rank + noise rows, row-major. */
function lowrank(n, seed) {
  const r = rng(seed);
  const w = Float64Array.from({ length: 8 * DIM }, r.normal);
  const out = new Float32Array(n * DIM);
  const row = new Float64Array(DIM);
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: 8 }, r.normal);
    let norm = 0;
    for (let d = 0; d < DIM; d++) {
      let v = 0.3 * r.normal();
      for (let j = 0; j < 8; j++) v += z[j] * w[j * DIM + d];
      row[d] = v;
      norm += v * v;
    }
    const len = Math.exp(0.5 * r.normal()) / Math.sqrt(norm);
    for (let d = 0; d < DIM; d++) out[i * DIM + d] = row[d] * len;
  }
  return out;
}

/** Seeded implicit feedback: each user favours one of `clusters` item
 * clusters; item popularity is Zipf-like (rank^-1) within a cluster. */
function interactions(users, items, perUser, clusters, seed) {
  const r = rng(seed);
  const size = Math.ceil(items / clusters);
  const cdf = new Float64Array(size);
  for (let k = 0, s = 0; k < size; k++) cdf[k] = s += 1 / (k + 1);
  const pick = () => {
    const u = r.next() * cdf[size - 1];
    let lo = 0;
    let hi = size - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const indptr = new Uint32Array(users + 1);
  const cols = [];
  for (let u = 0; u < users; u++) {
    const home = r.int(clusters);
    const seen = new Set();
    for (let k = 0; k < perUser; k++) {
      const c = r.next() < 0.8 ? home : r.int(clusters);
      const item = Math.min(items - 1, c * size + pick());
      seen.add(item);
    }
    const row = [...seen].sort((a, b) => a - b);
    cols.push(...row);
    indptr[u + 1] = indptr[u] + row.length;
  }
  const indices = Uint32Array.from(cols);
  const data = new Float32Array(indices.length).fill(1);
  return { indptr, indices, data, shape: [users, items] };
}

function ids(n) {
  return Array.from({ length: n }, (_, i) => String(i));
}

function objects() {
  const out = [];
  for (const n of QUICK ? [5000, 20000] : [20000, 100000]) {
    const vectors = lowrank(n, SEED + n);
    const itemIds = ids(n);
    for (const kind of ['exact', 'hnsw']) {
      const t0 = Date.now();
      const index = ContentIndex.build(
        { vectors: { itemIds, vectors, dim: DIM } },
        { index: kind, threads: 2 }, // HNSW defaults: m 16, efConstruction 200, efSearch 64
      );
      log(`content ${kind} ${n}: built in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      out.push({
        name: `content_${kind}_${n / 1000}k`,
        n,
        similar: (i) => index.similarItems(itemIds[i], N),
        search: (i) => index.search(vectors.subarray(i * DIM, (i + 1) * DIM), N),
        peer: 'ContentIndex.search(vector of the item, 10), same index',
      });
    }
  }
  const [users, items, perUser] = QUICK ? [20000, 5000, 25] : [100000, 20000, 30];
  let t0 = Date.now();
  const csr = interactions(users, items, perUser, 32, SEED);
  log(`interactions ${users} x ${items}, ${csr.indices.length} nnz in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  t0 = Date.now();
  const model = new Als({ factors: DIM, iterations: 3, seed: 42, numThreads: 2 }).fit(csr);
  log(`ALS fitted in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  const factors = model.itemFactors;
  const itemIds = model.itemIds;
  const exact = ContentIndex.build({ vectors: { itemIds, vectors: factors, dim: DIM } }, { index: 'exact' });
  out.push({
    name: 'als',
    n: items,
    similar: (i) => model.similarItems(itemIds[i], N),
    search: (i) => exact.search(factors.subarray(i * DIM, (i + 1) * DIM), N),
    peer: 'exact ContentIndex of the item factors: search(factor row, 10)',
  });
  const co = CoOccurrence.fit(csr);
  const coIds = co.itemIds;
  out.push({
    name: 'cooccur',
    n: items,
    similar: (i) => co.similarItems(coIds[i], N),
    search: (i) => co.recommendForItems([coIds[i]], N),
    peer: 'CoOccurrence.recommendForItems([item], 10), same model',
  });
  return out;
}

function summary(ns) {
  const us = Array.from(ns, (v) => v / 1000).sort((a, b) => a - b);
  const q = (p) => us[Math.min(us.length - 1, Math.floor((p / 100) * us.length))];
  const mean = us.reduce((s, v) => s + v, 0) / us.length;
  return { mean_us: mean, p50_us: q(50), p99_us: q(99), calls_per_s: 1e6 / mean };
}

function timePair(o, items) {
  for (const i of items.slice(0, 100)) {
    o.similar(i);
    o.search(i);
  }
  const lat = [new Float64Array(items.length), new Float64Array(items.length)];
  const calls = [o.similar, o.search];
  items.forEach((i, j) => {
    for (const slot of j % 2 === 0 ? [0, 1] : [1, 0]) {
      const t0 = process.hrtime.bigint();
      calls[slot](i);
      lat[slot][j] = Number(process.hrtime.bigint() - t0);
    }
  });
  return lat.map(summary);
}

function git() {
  const run = (a) => {
    try {
      return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  };
  return {
    commit: run(['log', '-1', '--format=%h']),
    subject: run(['log', '-1', '--format=%s']),
    uncommitted_core_bindings: (run(['status', '--porcelain', '--', 'core', 'bindings']) || '').split('\n').filter(Boolean),
  };
}

function main() {
  const started = new Date().toISOString();
  const objs = objects();
  const r = rng(SEED);
  const metrics = {};
  const results = {};
  const cpu0 = os.cpus().reduce((s, c) => s + c.times.user + c.times.sys + c.times.nice, 0);
  const own0 = process.cpuUsage();
  const wall0 = Date.now();
  for (const o of objs) {
    const items = Array.from({ length: CALLS }, () => r.int(o.n));
    const [sim, raw] = timePair(o, items);
    const ratio = sim.p50_us / raw.p50_us;
    results[o.name] = { n_items: o.n, similar_items: sim, raw_search: raw, mean_ratio: sim.mean_us / raw.mean_us, p99_ratio: sim.p99_us / raw.p99_us, peer_call: o.peer };
    metrics[`${o.name}_p50_us`] = { peer: raw.p50_us, sightline: sim.p50_us, ratio, better: 'lower', target: `<= ${TARGET}`, pass: ratio <= TARGET };
    log(`${o.name}: similar ${sim.calls_per_s.toFixed(0)}/s, search ${raw.calls_per_s.toFixed(0)}/s, p50 ratio ${ratio.toFixed(2)}`);
  }
  const wall = (Date.now() - wall0) / 1000;
  const own = process.cpuUsage(own0);
  const busy = (os.cpus().reduce((s, c) => s + c.times.user + c.times.sys + c.times.nice, 0) - cpu0) / 1000;
  const foreign = Math.max(0, (busy - (own.user + own.system) / 1e6) / wall);
  const g = git();
  const mode = QUICK ? 'quick' : 'full';
  console.log(`single similarItems(itemId, ${N}) vs the raw search of the same index (Node ${process.version}) — ${mode}; ${CALLS} calls each; git ${g.commit}`);
  const pad = (s, w) => String(s).padStart(w);
  console.log(`${'object'.padEnd(18)}${pad('similar/s', 11)}${pad('search/s', 11)}${pad('sim p50', 9)}${pad('sim p99', 9)}${pad('raw p50', 9)}${pad('raw p99', 9)}${pad('ratio', 7)}${pad('target', 8)}${pad('result', 7)}`);
  for (const [name, o] of Object.entries(results)) {
    const m = metrics[`${name}_p50_us`];
    const s = o.similar_items;
    const w = o.raw_search;
    console.log(`${name.padEnd(18)}${pad(s.calls_per_s.toFixed(0), 11)}${pad(w.calls_per_s.toFixed(0), 11)}${pad(s.p50_us.toFixed(1) + 'u', 9)}${pad(s.p99_us.toFixed(1) + 'u', 9)}${pad(w.p50_us.toFixed(1) + 'u', 9)}${pad(w.p99_us.toFixed(1) + 'u', 9)}${pad(m.ratio.toFixed(2), 7)}${pad(m.target, 8)}${pad(m.pass ? 'PASS' : 'FAIL', 7)}`);
  }
  const nPass = Object.values(metrics).filter((m) => m.pass).length;
  console.log(`targets: ${nPass}/${Object.keys(metrics).length} pass (ratio = p50 similarItems call / p50 raw search call)`);
  console.log(`other processes used ${foreign.toFixed(2)} of ${os.cpus().length} cores on average while timing`);
  console.log(JSON.stringify({
    benchmark: 'node_single_call', mode, started, finished: new Date().toISOString(), git: g,
    machine: { cpu_model: os.cpus()[0].model, nproc: os.cpus().length, foreign_cores_during_timing: foreign },
    versions: { node: process.version },
    settings: { N, calls: CALLS, dim: DIM, seed: SEED },
    targets: Object.fromEntries(Object.keys(metrics).map((k) => [k, `<= ${TARGET}`])),
    all_targets_pass: nPass === Object.keys(metrics).length,
    metrics, objects: results,
  }));
}

main();
