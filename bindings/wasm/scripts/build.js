#!/usr/bin/env node
'use strict';
// Builds the package: cargo (release, wasm32) → wasm-bindgen for each target
// (pkg/node: CommonJS for Node and the tests, pkg/web: ES module for a
// <script type="module"> page, pkg/bundler: for webpack/vite) → with
// `--opt`, wasm-opt -Oz from npm `binaryen` (never Debian's binaryen: its
// output fails to load). Honours CARGO_TARGET_DIR through `cargo metadata`.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const here = path.join(__dirname, '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: here, stdio: 'inherit' });

const meta = JSON.parse(
  execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: here, encoding: 'utf8' }),
);
const wasm = path.join(meta.target_directory, 'wasm32-unknown-unknown', 'wasm-release', 'sightline_wasm.wasm');

run('cargo', ['build', '-p', 'sightline-wasm', '--profile', 'wasm-release', '--target', 'wasm32-unknown-unknown']);
const targets = { node: 'nodejs', web: 'web', bundler: 'bundler' };
for (const [dir, target] of Object.entries(targets)) {
  const out = path.join(here, 'pkg', dir);
  fs.rmSync(out, { recursive: true, force: true });
  run('wasm-bindgen', ['--target', target, '--out-dir', out, wasm]);
}
if (process.argv.includes('--opt')) {
  // wasm-bindgen writes the same .wasm for every target (only the JS glue
  // differs): optimise it once and copy it.
  const wasmOpt = path.join(here, 'node_modules', '.bin', 'wasm-opt');
  const first = path.join(here, 'pkg', 'node', 'sightline_wasm_bg.wasm');
  run(wasmOpt, ['-Oz', '--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext',
    '--enable-mutable-globals', first, '-o', first]);
  for (const dir of Object.keys(targets).slice(1)) {
    fs.copyFileSync(first, path.join(here, 'pkg', dir, 'sightline_wasm_bg.wasm'));
  }
}
