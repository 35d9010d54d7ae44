'use strict';
// Load benchmark of the Node storefront (issue 15): a benchmark, not a test.
//
// 1. Latency, open loop: `oha` sends GET /recommendations?placement=home at a
//    fixed rate for 30 s and measures each request from its *scheduled* send
//    time (--latency-correction), against the storefront on the demo shop and
//    against a trivial node:http JSON server (the floor the generator and
//    node:http add on their own), in the same run.
// 2. Throughput, closed loop: `wrk` against a plain-JS server scoring 20k x 64
//    ALS factors with Float32Array loops and against the storefront serving
//    the same factors through the whole engine (home placement).
//
// Prints one JSON document (also written to OUT_DIR/results.json) and a table.
// Usage: node benches/node_load/run.js [--rate 2000] [--seconds 30] [--out DIR]
// Needs: oha (`cargo install oha --locked`), wrk (Debian `wrk`), the built
// Node addon (bindings/node: npm run build) and the Python venv (.venv) for
// make_data.py.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.resolve(__dirname, '..', '..');
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const RATE = Number(args.rate || 2000);
const SECONDS = Number(args.seconds || 30);
const OUT = path.resolve(args.out || path.join(ROOT, 'target', 'node-load'));
const STOREFRONT = path.join(ROOT, 'examples', 'node', 'storefront', 'server.js');

function need(tool, hint) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${tool} not found: ${hint}`);
  }
}

function makeData() {
  if (fs.existsSync(path.join(OUT, 'shop20k.slm')) && fs.existsSync(path.join(OUT, 'factors.bin'))) return;
  const python = path.join(ROOT, '.venv', 'bin', 'python');
  execFileSync(python, [path.join(__dirname, 'make_data.py'), OUT], { stdio: 'inherit' });
}

/** Starts a server that prints `listening on URL`; resolves { url, stop }. */
function start(script, scriptArgs) {
  const child = spawn(process.execPath, [script, ...scriptArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    child.once('exit', (code) => reject(new Error(`${path.basename(script)} exited with ${code}`)));
    lines.on('line', (line) => {
      const m = /^listening on (http:\/\/\S+)/.exec(line);
      if (!m) return;
      child.removeAllListeners('exit');
      resolve({
        url: m[1],
        stop: () => new Promise((done) => {
          child.once('exit', done);
          child.kill('SIGTERM');
        }),
      });
    });
  });
}

function run(cmd, cmdArgs) {
  return execFileSync(cmd, cmdArgs, { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** oha at a fixed rate; users drawn by oha from `userRegex`. */
function openLoop(url, userRegex, seconds) {
  const pattern = `${url}/recommendations\\?placement=home&user=${userRegex}&n=10&consent=1`;
  const out = JSON.parse(
    run('oha', ['-z', `${seconds}s`, '-q', String(RATE), '--latency-correction', '--no-tui', '-w',
      '--output-format', 'json', '--rand-regex-url', pattern]),
  );
  const p = out.latencyPercentiles;
  const ms = (s) => Math.round(s * 1e6) / 1e3;
  const codes = out.statusCodeDistribution || {};
  const ok = codes['200'] || 0;
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  const errors = total - ok + Object.values(out.errorDistribution || {}).reduce((a, b) => a + b, 0);
  return { requests: total, errors, error_kinds: out.errorDistribution, rps: Math.round(out.summary.requestsPerSec), p50_ms: ms(p.p50), p99_ms: ms(p.p99), p999_ms: ms(p['p99.9']), max_ms: ms(out.summary.slowest) };
}

/** wrk, closed loop, each request for a user drawn from `users`. */
function closedLoop(url, query, users, seconds) {
  const lua = path.join(OUT, 'users.lua');
  fs.writeFileSync(lua, `local users = {${users.map((u) => JSON.stringify(u)).join(',')}}
math.randomseed(7)
request = function()
  return wrk.format("GET", "/recommendations?${query}&n=10&user=" .. users[math.random(#users)])
end
`);
  const out = run('wrk', ['-t1', '-c16', `-d${seconds}s`, '--latency', '-s', lua, url]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const non2xx = Number((/Non-2xx or 3xx responses:\s+(\d+)/.exec(out) || [0, 0])[1]);
  const sock = /Socket errors:.*/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const scale = { us: 1e-3, ms: 1, s: 1e3 };
  return { rps: Math.round(rps), errors: non2xx + (sock ? 1 : 0), p99_ms: p99 ? Number(p99[1]) * scale[p99[2]] : null };
}

async function measure(script, scriptArgs, fn) {
  const server = await start(script, scriptArgs);
  try {
    return fn(server.url);
  } finally {
    await server.stop();
  }
}

async function main() {
  need('oha', 'cargo install oha --locked');
  need('wrk', 'apt-get install wrk');
  makeData();
  const meta = JSON.parse(fs.readFileSync(path.join(OUT, 'factors.json'), 'utf8'));
  const users = meta.users.filter((_, i) => i % 25 === 0);
  // prepare.js's demo shop has customers C000001..C002000.
  const demoUsers = 'C00[01][0-9]{3}';
  const warm = Math.min(5, SECONDS);

  const latency = {};
  latency.trivial = await measure(path.join(__dirname, 'trivial_server.js'), [], (url) => {
    openLoop(url, demoUsers, warm);
    return openLoop(url, demoUsers, SECONDS);
  });
  latency.sightline = await measure(STOREFRONT, ['--port', '0'], (url) => {
    openLoop(url, demoUsers, warm);
    return openLoop(url, demoUsers, SECONDS);
  });
  latency.p99_over_floor_ms = Math.round((latency.sightline.p99_ms - latency.trivial.p99_ms) * 1000) / 1000;

  const throughput = {};
  throughput.plain_js = await measure(path.join(__dirname, 'plain_js_server.js'), [OUT], (url) => {
    closedLoop(url, 'placement=home&consent=1', users, warm);
    return closedLoop(url, 'placement=home&consent=1', users, SECONDS);
  });
  throughput.sightline = await measure(STOREFRONT, ['--port', '0', '--model', path.join(OUT, 'shop20k.slm'), '--state', path.join(OUT, 'state.slm')], (url) => {
    closedLoop(url, 'placement=home&consent=1', users, warm);
    return closedLoop(url, 'placement=home&consent=1', users, SECONDS);
  });
  throughput.speedup = Math.round((throughput.sightline.rps / throughput.plain_js.rps) * 10) / 10;

  const results = { rate: RATE, seconds: SECONDS, cpus: require('node:os').cpus().length, latency, throughput };
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 2));
  console.log(JSON.stringify(results));
  console.log(`
open loop ${RATE} req/s for ${SECONDS} s (oha, latency from scheduled send time)
  server              requests  errors    p50 ms   p99 ms  p99.9 ms
  trivial node:http   ${fmt(latency.trivial)}
  sightline (home)    ${fmt(latency.sightline)}
  p99 over the floor: ${latency.p99_over_floor_ms} ms

closed loop (wrk, 1 thread, 16 connections), 20k x 64 factors, ${SECONDS} s
  plain JS Float32Array   ${throughput.plain_js.rps} req/s  (errors ${throughput.plain_js.errors})
  sightline (home)        ${throughput.sightline.rps} req/s  (errors ${throughput.sightline.errors})
  speed-up: ${throughput.speedup}x`);
}

function fmt(r) {
  return [r.requests, r.errors, r.p50_ms, r.p99_ms, r.p999_ms].map((v) => String(v).padStart(9)).join('');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
