'use strict';
// The demo storefront page: a product grid from /catalog and one
// recommendation rail per placement from /recommendations. Clicking a
// product sends a view event (and a tracked click when it came from a rail)
// for this browser's visitor id, then re-renders the rails.

/** The rails, in page order; product-dependent ones need a viewed product. */
const RAILS = [
  { placement: 'home', title: 'Recommended for you' },
  { placement: 'product_page', title: 'Similar to what you are viewing', needsItem: true },
  { placement: 'cart', title: 'Goes well with it', needsItem: true },
];
const GRID_SIZE = 36;
const RAIL_SIZE = 6;

const $ = (id) => document.getElementById(id);
const state = {
  visitor: localStorage.getItem('sightline-visitor'),
  consent: localStorage.getItem('sightline-consent') !== 'no',
  viewing: null,
  catalog: new Map(),
  renders: 0,
};
if (!state.visitor) newVisitor();

function newVisitor() {
  state.visitor = `v-${Math.random().toString(36).slice(2, 10)}`;
  localStorage.setItem('sightline-visitor', state.visitor);
}

async function call(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${url}: ${json.error.code}: ${json.error.message}`);
  return json;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A product card; `from` is `{ recommendationId }` for a rail's card. */
function card(id, from, extra) {
  const item = state.catalog.get(id) || { id, title: id, category: '' };
  const node = el('button', 'card');
  node.type = 'button';
  node.dataset.item = id;
  node.append(
    el('span', `swatch ${item.category}`, item.category.replace('_', ' ')),
    el('strong', 'title', item.title || id),
    el('span', 'meta', [item.brand, item.price != null ? `£${item.price.toFixed(2)}` : null].filter(Boolean).join(' · ')),
  );
  if (extra) node.append(extra);
  node.addEventListener('click', () => select(id, from).catch(report));
  return node;
}

async function renderRails() {
  const params = new URLSearchParams({ visitor: state.visitor, n: String(RAIL_SIZE), consent: state.consent ? '1' : '0' });
  const rails = [];
  for (const rail of RAILS) {
    if (rail.needsItem && !state.viewing) continue;
    const q = new URLSearchParams(params);
    q.set('placement', rail.placement);
    if (state.viewing) q.set('item', state.viewing);
    rails.push(call('GET', `/recommendations?${q}`).then((r) => [rail, r]));
  }
  const answers = await Promise.all(rails);
  const container = $('rails');
  container.replaceChildren();
  for (const [rail, r] of answers) {
    const section = el('section', 'rail');
    section.dataset.placement = rail.placement;
    section.dataset.recommendationId = r.recommendationId;
    section.append(el('h2', null, rail.title));
    const row = el('div', 'row');
    for (const it of r.items) {
      const why = el('span', 'reason', it.reason);
      const c = card(it.item, { recommendationId: r.recommendationId }, why);
      c.dataset.source = it.source;
      row.append(c);
    }
    section.append(row);
    container.append(section);
    call('POST', '/track', { type: 'impression', recommendationId: r.recommendationId }).catch(report);
  }
  state.renders += 1;
  document.body.dataset.renders = String(state.renders);
}

/** The visitor looked at `id` (from a rail: a tracked click too). */
async function select(id, from) {
  state.viewing = id;
  $('viewing').textContent = `· viewing ${state.catalog.get(id)?.title || id}`;
  const events = [{ user: state.visitor, item: id, kind: from ? 'click' : 'view', session: state.visitor }];
  await call('POST', `/events?consent=${state.consent ? 1 : 0}`, events);
  if (from) await call('POST', '/track', { type: 'click', recommendationId: from.recommendationId, item: id });
  await renderRails();
}

function report(err) {
  console.error(String(err));
}

async function start() {
  $('visitor').textContent = state.visitor;
  $('consent').checked = state.consent;
  $('consent').addEventListener('change', (e) => {
    state.consent = e.target.checked;
    localStorage.setItem('sightline-consent', state.consent ? 'yes' : 'no');
    renderRails().catch(report);
  });
  $('reset').addEventListener('click', () => {
    newVisitor();
    state.viewing = null;
    $('visitor').textContent = state.visitor;
    $('viewing').textContent = '';
    renderRails().catch(report);
  });
  const catalog = await call('GET', '/catalog');
  for (const item of catalog) state.catalog.set(String(item.id), item);
  // A spread of the assortment: every category, not just the first one.
  const shown = catalog.filter((_, i) => i % Math.max(1, Math.floor(catalog.length / GRID_SIZE)) === 0);
  $('grid').replaceChildren(...shown.slice(0, GRID_SIZE).map((item) => card(String(item.id), null)));
  await renderRails();
}

start().catch(report);
