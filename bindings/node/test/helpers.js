'use strict';
// Shared fixtures of the model tests (not a test file: `npm test` runs
// test/*.test.js only): a small demo shop, its matrix and a train/test cut,
// and a probe of the event loop while a promise is pending.
const { demoData, Interactions } = require('..');

/** The small demo shop, built once per test process. */
const demo = demoData({ customers: 600, products: 150, events: 20000, seed: 7 });
/** The catalog id of every frame. */
const frames = new Set(demo.catalog.filter((i) => i.category === 'frames').map((i) => i.id));
/** Every demo event as a matrix over the catalog's items. */
const itemIds = demo.catalog.map((i) => i.id);
const all = () => Interactions.fromEvents(demo.events, { items: itemIds });

/** Max lag of a setImmediate chain (ms) until `promise` settles. */
async function loopLag(promise) {
  let max = 0;
  let done = false;
  let ticks = 0;
  const settled = promise.finally(() => {
    done = true;
  });
  await new Promise((resolve) => {
    let last = process.hrtime.bigint();
    const tick = () => {
      const t = process.hrtime.bigint();
      max = Math.max(max, Number(t - last) / 1e6);
      last = t;
      ticks += 1;
      if (done) resolve();
      else setImmediate(tick);
    };
    setImmediate(tick);
  });
  return { value: await settled, max, ticks };
}

module.exports = { demo, frames, itemIds, all, loopLag };
