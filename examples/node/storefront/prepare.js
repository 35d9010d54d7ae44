'use strict';
// Builds the storefront's engine file from the addon's demo shop: ALS,
// co-occurrence and content models trained on the demo catalog and events
// (what a nightly job would do), the events ingested (trending, the popular
// fallback), saved by `engine.save`, plus the catalog as JSON for the page's
// product grid.
// `node prepare.js [--model FILE] [--als FILE] [--products N] [--events N]`
// (`--als` serves a given ALS model file instead of training one).
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const {
  Als,
  CoOccurrence,
  ContentIndex,
  Engine,
  Interactions,
  Model,
  demoData,
  demoEngineConfig,
} = require('../../../bindings/node');

/** Where the server looks when it is not given `--model`. */
const DEFAULT_MODEL = path.join(__dirname, 'data', 'storefront.slm');

/** The catalog JSON written next to a model file (`shop.slm` → `shop.catalog.json`). */
function catalogPathOf(modelPath) {
  const { dir, name } = path.parse(modelPath);
  return path.join(dir, `${name}.catalog.json`);
}

/** Writes `file` whole or not at all: a watcher never sees half a file. */
function writeAtomic(file, write) {
  const tmp = `${file}.${process.pid}.tmp`;
  write(tmp);
  fs.renameSync(tmp, file);
}

/**
 * The demo shop's models, trained on its events with fixed seeds: ALS for
 * "recommended for you" and the session rail, co-occurrence for "goes well
 * with", content similarity for "similar frames". `als` (a `Model`) is used
 * instead of training one when given.
 */
function train(rows, events, als, seed) {
  const data = Interactions.fromEvents(events, { items: rows.map((r) => String(r.id)) });
  return {
    als: als || new Als({ factors: 32, iterations: 10, seed }).fit(data),
    cooccur: CoOccurrence.fit(data),
    content: ContentIndex.build({ catalog: rows }),
  };
}

/**
 * Builds the demo engine and saves it to `model` (and its catalog JSON).
 * The demo's time window ends now, so its trending is current. `catalog`
 * (rows) replaces the demo catalog, e.g. to ship a changed assortment;
 * `als` (a `Model` or a model file's path) is served by the `als` source and
 * the session recommender instead of a freshly trained one. Returns `{ model, catalogPath, catalog }`.
 */
function prepare({
  model = DEFAULT_MODEL,
  products = 400,
  customers = 2000,
  events = 80000,
  days = 60,
  seed = 42,
  catalog,
  als,
} = {}) {
  const start = Math.floor(Date.now() / 1000) - days * 86400;
  const demo = demoData({ customers, products, events, seed, start, days });
  const rows = catalog || demo.catalog;
  const known = new Set(rows.map((r) => String(r.id)));
  const learnt = demo.events.filter((e) => known.has(e.item));
  const given = typeof als === 'string' ? Model.load(als) : als;
  const engine = new Engine(demoEngineConfig(), rows, train(rows, learnt, given, seed));
  engine.ingestBatch(learnt, false);
  fs.mkdirSync(path.dirname(model), { recursive: true });
  const catalogPath = catalogPathOf(model);
  writeAtomic(catalogPath, (tmp) => fs.writeFileSync(tmp, JSON.stringify(rows)));
  writeAtomic(model, (tmp) => engine.save(tmp));
  return { model, catalogPath, catalog: rows };
}

module.exports = { prepare, catalogPathOf, DEFAULT_MODEL };

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: DEFAULT_MODEL },
      als: { type: 'string' },
      products: { type: 'string', default: '400' },
      events: { type: 'string', default: '80000' },
    },
  });
  const t = Date.now();
  const out = prepare({
    model: values.model,
    als: values.als,
    products: +values.products,
    events: +values.events,
  });
  console.log(`wrote ${out.model} (${out.catalog.length} products) in ${Date.now() - t} ms`);
}
