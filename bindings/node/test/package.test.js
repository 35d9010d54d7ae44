'use strict';
// The package as users get it: `npm pack` gives a tarball that installs into
// an empty project and loads both as CommonJS (`require`) and as ESM
// (`import`, named exports included).
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pkgDir = path.join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('npm pack installs into an empty project and loads as CJS and ESM', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sightline-pack-'));
  try {
    const [{ filename, files }] = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', work, ...quiet], pkgDir));
    const shipped = files.map((f) => f.path).sort();
    for (const needed of ['index.js', 'index.d.ts', 'package.json']) {
      assert.ok(shipped.includes(needed), `${needed} is in the package: ${shipped}`);
    }
    assert.ok(shipped.some((f) => f.endsWith('.node')), `the addon is in the package: ${shipped}`);
    assert.ok(!shipped.some((f) => f.startsWith('src/') || f.startsWith('test/')), `no sources: ${shipped}`);

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    // A local tarball with no dependencies: nothing is fetched.
    run(npm, ['install', '--offline', ...quiet, path.join(work, filename)], app);

    const probe = `engine = new Engine({}, [{ id: 'a', category: 'c' }, { id: 'b', category: 'c' }]);
      r = engine.recommend({ placement: 'home', n: 2, now: 1767225000 });
      if (r.items.length !== 2 || typeof r.recommendationId !== 'string') throw new Error(JSON.stringify(r));
      try { engine.recommend({ placement: 'nowhere' }); throw new Error('no error'); }
      catch (e) { if (!(e instanceof Error) || e.code !== 'INVALID_INPUT') throw e; }
      console.log(typeof Model.load, r.items.length);`;
    fs.writeFileSync(path.join(app, 'cjs.js'), `const { Engine, Model } = require('sightline'); let engine, r;\n${probe}\n`);
    fs.writeFileSync(path.join(app, 'esm.mjs'), `import { Engine, Model } from 'sightline'; let engine, r;\n${probe}\n`);
    assert.equal(run(process.execPath, ['cjs.js'], app).trim(), 'function 2');
    assert.equal(run(process.execPath, ['esm.mjs'], app).trim(), 'function 2');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
