// Times sightline-wasm's ModelSlice.rerank against the plain-JS re-ranker
// (plain.js: straightforward, MMR over the whole pool; and with sightline's
// shallow MMR) on the same slice and request, side by side in this page:
// WARMUP untimed runs, then RUNS timed runs of each with performance.now().
// The result goes to window.benchResult (and the page) as JSON.
import init, { ModelSlice } from '../../bindings/wasm/pkg/web/sightline_wasm.js';
import { parseSlice, prepare, rerankPlain } from './plain.js';

const params = new URLSearchParams(location.search);
const WARMUP = Number(params.get('warmup') || 50);
const RUNS = Number(params.get('runs') || 500);

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  const q = (f) => s[Math.min(s.length - 1, Math.floor(f * s.length))];
  return { runs: s.length, min_ms: s[0], median_ms: q(0.5), p95_ms: q(0.95) };
}

function time(fn) {
  for (let i = 0; i < WARMUP; i++) fn();
  const times = new Float64Array(RUNS);
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    fn();
    times[i] = performance.now() - t0;
  }
  return stats(times);
}

async function main() {
  await init();
  const data = '../../examples/web/data/';
  const [bytes, bench] = await Promise.all([
    fetch(data + 'bench-slice.slm').then((r) => r.arrayBuffer()),
    fetch(data + 'rerank-cases.json').then((r) => r.json()).then((j) => j.bench),
  ]);
  const slice = ModelSlice.fromBytes(new Uint8Array(bytes));
  const plain = prepare(parseSlice(bytes));
  const { candidates, options } = bench;
  const viaWasm = () => slice.rerank(candidates, options);
  const viaJs = () => rerankPlain(plain, candidates, options);
  const viaJsShallow = () => rerankPlain(plain, candidates, options, true);
  const ids = (list) => list.map((r) => r.itemId).join(',');
  const want = ids(bench.expected);
  const same = {
    wasm: ids(viaWasm()) === want, plain_js: ids(viaJs()) === want, plain_js_shallow_mmr: ids(viaJsShallow()) === want,
  };
  const wasm = time(viaWasm);
  const js = time(viaJs);
  const jsShallow = time(viaJsShallow);
  const result = {
    candidates: candidates.length, factors: slice.factors, session_events: options.sessionEvents.length,
    n: options.n, lambda: 0.7, warmup: WARMUP, same_items_as_native: same,
    wasm, plain_js: js, plain_js_shallow_mmr: jsShallow,
    speedup_median: js.median_ms / wasm.median_ms, speedup_min: js.min_ms / wasm.min_ms,
    speedup_median_vs_shallow_js: jsShallow.median_ms / wasm.median_ms,
    user_agent: navigator.userAgent,
  };
  document.getElementById('out').textContent = JSON.stringify(result, null, 2);
  window.benchResult = result;
}

main().catch((err) => {
  window.benchResult = { error: String(err) };
  console.error(err);
});
