'use strict';
// Shared fixtures of the model tests (not a test file: `npm test` runs
// test/*.test.js only): a small demo shop, its matrix and a train/test cut.
const { demoData, Interactions } = require('..');

/** The small demo shop, built once per test process. */
const demo = demoData({ customers: 600, products: 150, events: 20000, seed: 7 });
/** The catalog id of every frame. */
const frames = new Set(demo.catalog.filter((i) => i.category === 'frames').map((i) => i.id));
/** Every demo event as a matrix over the catalog's items. */
const itemIds = demo.catalog.map((i) => i.id);
const all = () => Interactions.fromEvents(demo.events, { items: itemIds });

module.exports = { demo, frames, itemIds, all };
