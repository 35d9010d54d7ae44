// Cross-runtime check (Node addon and WASM module): the model file written by
// the Rust example `cross_runtime_fixture` must give the same top-10 lists.
'use strict';
const fs = require('fs');
const path = require('path');
const assert = require('assert');

const [modelPath, expectedPath] = process.argv.slice(2);
const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
const root = path.resolve(__dirname, '..', '..');
const runtimes = {
  node: () => require(path.join(root, 'bindings/node')).Model.load(modelPath),
  wasm: () => require(path.join(root, 'bindings/wasm')).Model.fromBytes(new Uint8Array(fs.readFileSync(modelPath))),
};

function same(label, got, row) {
  assert.deepStrictEqual(got.map((r) => r.itemId), row.ids, `${label}: ids differ`);
  got.forEach((r, i) => assert.ok(Math.abs(r.score - row.scores[i]) <= 1e-5, `${label}: score ${i} ${r.score} vs ${row.scores[i]}`));
}

for (const [name, load] of Object.entries(runtimes)) {
  const model = load();
  for (const row of expected.users) {
    const got = model.recommend(row.user, 10);
    same(`${name} recommend ${row.user}`, got, row);
    assert.ok(got.every((r) => !row.liked.includes(r.itemId)), `${name}: liked item returned`);
  }
  for (const row of expected.items) same(`${name} similarItems ${row.item}`, model.similarItems(row.item, 10), row);
  console.log(`${name}: ${expected.users.length} users and ${expected.items.length} items match`);
}
