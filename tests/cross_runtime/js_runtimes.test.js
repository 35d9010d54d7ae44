'use strict';
// Cross-runtime check for the JS runtimes: the model file written by the Rust
// example `cross_runtime_fixture` must meet the shared contract (same top-10
// ids, scores within 1e-5, liked items left out, same error codes) in the
// Node addon and the WASM module, loaded side by side in one process.
//
//   node --test tests/cross_runtime/
//
// (fixture paths from SIGHTLINE_TEST_MODEL / SIGHTLINE_TEST_EXPECTED, default target/)
const path = require('node:path');
const { registerModelContract } = require('./model_contract.js');

const root = path.resolve(__dirname, '..', '..');
const node = require(path.join(root, 'bindings', 'node'));
const wasm = require(path.join(root, 'bindings', 'wasm'));

registerModelContract({
  name: 'node',
  Model: node.Model,
  fromPath: (p) => node.Model.load(p),
  fromBytes: (bytes) => node.Model.fromBuffer(bytes),
});

registerModelContract({
  name: 'wasm',
  Model: wasm.Model,
  fromBytes: (bytes) => wasm.Model.fromBytes(bytes),
  release: (m) => m.free(),
});
