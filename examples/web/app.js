// The demo page: a grid of the demo shop's frames; every click goes into the
// visitor's session (in page memory, persisted to localStorage) and the
// "Based on your browsing" rail is re-ranked at once by sightline-wasm from
// a model slice the server exported (data/slice.slm). Nothing leaves the page.
import init, { ModelSlice, SessionStore } from '../../bindings/wasm/pkg/web/sightline_wasm.js';

const STORAGE_KEY = 'sightline-demo-session';
const RAIL_SIZE = 8;

await init();
const [bytes, catalog] = await Promise.all([
  fetch('data/slice.slm').then((r) => r.arrayBuffer()),
  fetch('data/catalog.json').then((r) => r.json()),
]);
const slice = ModelSlice.fromBytes(new Uint8Array(bytes));
const items = new Map(catalog.items.map((item) => [item.id, item]));
// The server's candidate order for this placement (here: the slice's order).
const candidates = slice.itemIds();
const session = loadSession();

/** The stored session, or a fresh one when there is none or it is unreadable. */
function loadSession() {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored) {
    try {
      return SessionStore.fromJSON(stored);
    } catch (err) {
      console.warn(`stored session ignored: ${err.message}`);
    }
  }
  return new SessionStore();
}

const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const colour = (item) => (item.attributes.colours || ['grey'])[0];
const money = (p) => (p == null ? '' : `£${p.toFixed(0)}`);

function card(item, extra = '') {
  return `<span class="swatch c-${esc(colour(item))} s-${esc(item.attributes.shape)}" aria-hidden="true"></span>
    <span class="title">${esc(item.title)}</span>
    <span class="meta">${esc(item.brand)} · ${esc(item.attributes.shape?.replace('_', ' '))} · ${money(item.price)}</span>${extra}`;
}

function reasonText(r) {
  if (r.reason === 'session') return `Because you viewed ${items.get(r.because)?.title ?? r.because}`;
  if (r.reason === 'pinned') return 'Featured';
  return 'Popular with other shoppers';
}

function renderRail() {
  const t0 = performance.now();
  const ranked = slice.rerank(candidates, { sessionEvents: session.events(), n: RAIL_SIZE });
  const ms = performance.now() - t0;
  const rail = document.getElementById('rail');
  rail.innerHTML = ranked
    .map((r) => `<li data-item-id="${esc(r.itemId)}" data-reason="${r.reason}" data-because="${esc(r.because)}">
      ${card(items.get(r.itemId), `<span class="reason">${esc(reasonText(r))}</span>`)}</li>`)
    .join('');
  const viewed = new Set(session.events().map((e) => e.itemId));
  for (const button of document.querySelectorAll('#grid button[data-item-id]')) {
    button.classList.toggle('viewed', viewed.has(button.dataset.itemId));
  }
  rail.dataset.state = session.length ? 'personal' : 'default';
  rail.dataset.version = String(Number(rail.dataset.version || 0) + 1);
  document.getElementById('rerank-time').textContent =
    `re-ranked ${candidates.length} candidates in ${ms.toFixed(2)} ms · ${session.length} event(s) in your session`;
}

function renderGrid() {
  const grid = document.getElementById('grid');
  grid.innerHTML = candidates
    .map((id) => `<button type="button" class="card" data-item-id="${esc(id)}">${card(items.get(id))}</button>`)
    .join('');
  grid.addEventListener('click', (ev) => {
    const button = ev.target.closest('button[data-item-id]');
    if (!button) return;
    session.add({ itemId: button.dataset.itemId, kind: 'click' });
    localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    renderRail();
  });
}

document.getElementById('clear').addEventListener('click', () => {
  session.clear();
  localStorage.removeItem(STORAGE_KEY);
  renderRail();
});

renderGrid();
renderRail();
