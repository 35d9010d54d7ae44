'use strict';
// index.d.ts against the built addon: every export and method is declared,
// and the interfaces of the plain objects (dts-header.d.ts) list exactly the
// fields the addon gives and takes.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const addon = require('..');
const { Engine, demoData, demoEngineConfig } = addon;

const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');

/** The field names of `export interface NAME { … }` (top level only). */
function interfaceFields(name) {
  const start = dts.indexOf(`export interface ${name} `);
  assert.ok(start >= 0, `interface ${name} is declared`);
  const body = dts.slice(dts.indexOf('{', start) + 1);
  const fields = [];
  let depth = 0;
  for (const line of body.split('\n')) {
    if (depth === 0) {
      const m = /^ {2}(\w+)\??:/.exec(line);
      if (m) fields.push(m[1]);
      if (/^\}/.test(line)) break;
    }
    depth += (line.match(/[{(]/g) || []).length - (line.match(/[})]/g) || []).length;
  }
  return fields.sort();
}

const keys = (o) => Object.keys(o).sort();

test('every export of the addon is declared, and nothing else', () => {
  const declared = [...dts.matchAll(/^export declare (?:class|function) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(declared.sort(), keys(addon).filter((k) => !k.startsWith('__')));
});

test('every method of every class is declared', () => {
  const classes = keys(addon).filter((k) => /^[A-Z]/.test(k) && typeof addon[k] === 'function');
  assert.ok(classes.includes('Engine') && classes.includes('Als') && classes.includes('Model'));
  for (const name of classes) {
    const cls = addon[name];
    const own = (o) => Object.getOwnPropertyNames(o).filter((m) => m !== 'constructor' && m !== 'prototype');
    const methods = own(cls.prototype).filter((m) => typeof Object.getOwnPropertyDescriptor(cls.prototype, m).value === 'function');
    const getters = own(cls.prototype).filter((m) => Object.getOwnPropertyDescriptor(cls.prototype, m).get);
    const statics = own(cls).filter((m) => typeof cls[m] === 'function');
    const start = dts.indexOf(`export declare class ${name} `);
    assert.ok(start >= 0, name);
    const body = dts.slice(start, dts.indexOf('\n}', start));
    for (const m of methods) assert.match(body, new RegExp(`\\n  ${m}\\(`), `${name}.${m}`);
    for (const m of getters) assert.match(body, new RegExp(`\\n  get ${m}\\(`), `${name}.${m}`);
    for (const m of statics) assert.match(body, new RegExp(`\\n  static ${m}\\(`), `${name}.${m}`);
  }
  assert.ok(Object.getOwnPropertyNames(addon.Engine.prototype).includes('recommendAsync'));
});

test('AlsParams lists every hyper-parameter', () => {
  assert.deepEqual(interfaceFields('AlsParams'), keys(new addon.Als().params));
});

test('the interfaces list the fields the addon gives', () => {
  const demo = demoData({ customers: 300, products: 200, events: 5000, seed: 9 });
  const engine = new Engine(demoEngineConfig(), demo.catalog);
  engine.ingestBatch(demo.events, true);
  const user = demo.events[demo.events.length - 1].user;
  const r = engine.recommend({ placement: 'home', user, consent: true, now: 1767225600 });
  engine.trackImpression(r.recommendationId, 1767225600);
  engine.trackClick(r.recommendationId, r.items[0].item, 1767225601);
  const stats = engine.stats();
  const group = stats.tracking.find((g) => g.ctr !== null);
  const exported = engine.exportUser(user);

  assert.deepEqual(interfaceFields('DemoData'), keys(demo));
  assert.deepEqual(interfaceFields('Recommendation'), keys(r));
  assert.deepEqual(interfaceFields('RecommendedItem'), keys(r.items[0]));
  assert.deepEqual(interfaceFields('SourceReport'), keys(r.sources[0]));
  assert.deepEqual(interfaceFields('EngineStats'), keys(stats));
  assert.deepEqual(interfaceFields('GroupStats'), keys(group));
  assert.deepEqual(interfaceFields('Rate'), keys(group.ctr));
  assert.deepEqual(interfaceFields('BreakerReport'), keys(stats.breakers.popular));
  assert.deepEqual(interfaceFields('UserExport'), keys(exported));
  assert.deepEqual(interfaceFields('ForgetReport'), keys(engine.forgetUser(user)));
  assert.deepEqual(interfaceFields('EngineEvent'), keys(demo.events[0]));
  const item = demo.catalog.find((i) => i.brand && i.price !== null);
  // The named columns of a row; every other column is an attribute.
  const named = interfaceFields('CatalogItem');
  assert.deepEqual(keys(item).filter((k) => named.includes(k)), named);
  assert.ok(keys(item).includes('shape'), 'attributes are columns');
});

test('RecommendRequest lists the fields the core takes', () => {
  // The core names its fields when it rejects an unknown one.
  const err = (() => {
    try {
      addon.Engine.fromJson('{}', [{ id: 'a', category: 'c' }]).recommend({ placement: 'home', x: 1 });
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.ok(err, 'an unknown field throws');
  const taken = [...err.message.split('expected one of')[1].matchAll(/`(\w+)`/g)].map((m) =>
    m[1].replace(/_(\w)/g, (_, c) => c.toUpperCase()),
  );
  assert.deepEqual(interfaceFields('RecommendRequest'), taken.sort());
});


test('ErrorCode lists exactly the codes of the core', () => {
  const start = dts.indexOf('export type ErrorCode =');
  assert.ok(start >= 0, 'ErrorCode is declared');
  const body = dts.slice(start, dts.indexOf('\n\n', start));
  const declared = [...body.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]).sort();
  assert.deepEqual(declared, [...addon.errorCodes()].sort());
});
