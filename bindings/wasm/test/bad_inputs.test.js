'use strict';
// The bad-input matrix (issue 18) through the WebAssembly module (the
// nodejs build): every case of tests/bad_inputs/cases.json that lists `wasm`
// throws an Error with its `code` within the hang bound (cases run in a
// worker thread) and leaves the fixture's probed outputs unchanged. The
// module cannot fit or build an engine, so its valid files are the
// cross-runtime model fixture and the demo page's slice. Shared JS
// machinery: tests/bad_inputs/runner.js; the format: tests/bad_inputs/README.md.
const fs = require('node:fs');
const path = require('node:path');
const { registerMatrix, decode, text, fileBytes } = require('../../../tests/bad_inputs/runner.js');

function makeFixture() {
  const { Model, ModelSlice, SessionStore } = require('../pkg/node/sightline_wasm.js');
  const { loadFixture } = require('../../../tests/cross_runtime/model_contract.js');
  const fx = loadFixture();
  const web = process.env.SIGHTLINE_WEB_DATA || path.join(__dirname, '..', '..', '..', 'examples', 'web', 'data');
  const sliceBytes = fs.readFileSync(path.join(web, 'slice.slm'));
  const model = Model.fromBytes(fx.bytes);
  const slice = ModelSlice.fromBytes(sliceBytes);
  const sliceItems = slice.itemIds();
  const visitor = new SessionStore(50);
  visitor.add({ itemId: sliceItems[2], kind: 'view', timestamp: 1_700_000_000 });
  const f = {
    model,
    slice,
    visitor,
    user: fx.expected.users[0].user,
    modelItem: fx.expected.items[0].item,
    sliceItem: sliceItems[0],
    bases: { model: fx.bytes, slice: sliceBytes },
    probe() {
      return [
        model.recommend(f.user, 5),
        slice.rerank(sliceItems.slice(0, 10), { sessionEvents: visitor.events() }),
        visitor.events(),
      ];
    },
  };
  return f;
}

/** A session event of the core's schema (`item`) as pages write it (`itemId`). */
const pageEvent = ({ item, ...rest }) => ({ itemId: item, ...rest });

function run(op, input, f) {
  const { Model, ModelSlice, SessionStore } = require('../pkg/node/sightline_wasm.js');
  const model = { $user: f.user, $item: f.modelItem };
  const slice = { $user: f.user, $item: f.sliceItem };
  switch (op) {
    case 'model.load_bytes':
      return Model.fromBytes(fileBytes(input.bytes, f.bases));
    case 'slice.from_bytes':
      return ModelSlice.fromBytes(fileBytes(input.bytes, f.bases));
    case 'model.recommend': {
      const i = decode(input, model);
      return f.model.recommend(i.user, i.n);
    }
    case 'model.similar_items': {
      const i = decode(input, model);
      return f.model.similarItems(i.item, i.n);
    }
    case 'slice.rerank': {
      const i = decode(input, slice);
      const { session, ...options } = i.options || {};
      return f.slice.rerank(i.candidates, { ...options, ...(session ? { sessionEvents: session.map(pageEvent) } : {}) });
    }
    case 'visitor.add':
      return f.visitor.add(pageEvent(decode(input.event, slice)));
    case 'visitor.new':
      return new SessionStore(input.max_events);
    case 'visitor.from_json':
      return SessionStore.fromJSON(text(input.text));
    default:
      throw new Error(`wasm runs ${op} but the runner has no handler for it`);
  }
}

registerMatrix({ file: __filename, runtime: 'wasm', makeFixture, run });
