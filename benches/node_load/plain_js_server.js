'use strict';
// The plain-JS comparison: what a storefront team would write without
// sightline: the same ALS factors (make_data.py) in Float32Arrays, a dot
// product per item and a top-n buffer, answering
// GET /recommendations?user=ID&n=10.
// Usage: node plain_js_server.js DATA_DIR
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const dir = process.argv[2];
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'factors.json'), 'utf8'));
const raw = fs.readFileSync(path.join(dir, 'factors.bin'));
const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const k = meta.factors;
const nUsers = meta.users.length;
const nItems = meta.items.length;
const userFactors = all.subarray(0, nUsers * k);
const itemFactors = all.subarray(nUsers * k, (nUsers + nItems) * k);
const userRow = new Map(meta.users.map((id, i) => [id, i]));

function recommend(user, n) {
  const u = userRow.get(user);
  if (u === undefined) return null;
  const uo = u * k;
  const bestIdx = new Int32Array(n).fill(-1);
  const bestScore = new Float32Array(n).fill(-Infinity);
  for (let i = 0; i < nItems; i++) {
    const io = i * k;
    let s = 0;
    for (let f = 0; f < k; f++) s += userFactors[uo + f] * itemFactors[io + f];
    if (s > bestScore[n - 1]) {
      let j = n - 1;
      while (j > 0 && bestScore[j - 1] < s) {
        bestScore[j] = bestScore[j - 1];
        bestIdx[j] = bestIdx[j - 1];
        j--;
      }
      bestScore[j] = s;
      bestIdx[j] = i;
    }
  }
  const items = [];
  for (let j = 0; j < n && bestIdx[j] >= 0; j++) {
    items.push({ item: meta.items[bestIdx[j]], score: bestScore[j], source: 'als', reason: 'Recommended for you' });
  }
  return { items };
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const n = Math.min(Math.max(Number(url.searchParams.get('n') || 10), 1), 100);
  const out = recommend(url.searchParams.get('user') || '', n);
  const body = JSON.stringify(out || { error: 'unknown user' });
  res.writeHead(out ? 200 : 404, { 'content-type': 'application/json' });
  res.end(body);
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
