'use strict';
// Crash safety of saves through the addon: a child process saving a model
// in a loop (save and saveAsync in turn) is SIGKILLed at random points;
// the file always loads as the whole model. The Rust harness
// (tests/durability.rs) does the same at scale; this checks the binding
// goes through the same atomic write.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Als, Model } = require('..');
const { all } = require('./helpers.js');

// 128 factors: a file of about 400 kB, so some kills land mid-write.
const params = { factors: 128, iterations: 1, seed: 11, numThreads: 1 };

/** The child: loads argv[1] and saves it to argv[2] until killed. */
const saver = `
const { Model } = require(${JSON.stringify(path.join(__dirname, '..'))});
const model = Model.load(process.argv[1]);
const file = process.argv[2];
process.stdout.write('ready\\n');
(async () => {
  for (let i = 0; ; i++) {
    if (i % 2) await model.saveAsync(file); else model.save(file);
    process.stdout.write('saved\\n');
  }
})();
`;

/** Resolves once the child printed `ready`; rejects if it exits first. */
function ready(child) {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready\n')) resolve();
    });
    child.once('exit', (code, signal) => reject(new Error(`saver exited (${code}, ${signal})`)));
  });
}

test('a saver killed at random points leaves a loadable, whole model', async () => {
  const model = new Als(params).fit(all());
  const want = JSON.stringify(model.recommend(model.userIds[0], 10));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sightline-durability-'));
  const file = path.join(dir, 'model.slm');
  const source = path.join(dir, 'source.slm');
  model.save(file);
  model.save(source);
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  let midWrite = 0;
  const kills = 8;
  try {
    for (let k = 0; k < kills; k++) {
      const child = spawn(process.execPath, ['-e', saver, source, file], { stdio: ['ignore', 'pipe', 'inherit'] });
      await ready(child);
      await new Promise((r) => setTimeout(r, random() * 30));
      const exited = new Promise((r) => child.once('exit', (code, signal) => r(signal)));
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      const strays = fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'));
      if (strays.length) midWrite++;
      for (const s of strays) fs.rmSync(path.join(dir, s));
      const loaded = Model.load(file);
      assert.equal(JSON.stringify(loaded.recommend(loaded.userIds[0], 10)), want);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`durability (node): ${kills} kills, ${midWrite} mid-write, ${kills} survived`);
});
