// A straightforward plain-JS re-ranker (Float32Array loops) doing the same
// computation as sightline's `rerank` on a slice file: session weighting,
// fold-in (Cholesky), scores, eligibility (stock, the session's own items),
// MMR by attribute similarity, the brand cap, reasons. The benchmark checks
// it returns the same items as sightline-wasm before timing either.

/** Reads a slice file (safetensors + sightline metadata) into typed arrays. */
export function parseSlice(buffer) {
  const view = new DataView(buffer);
  const headerLen = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLen)));
  const meta = JSON.parse(JSON.parse(header.__metadata__.sightline).meta);
  const config = meta.slice.config;
  const tensor = (name) => {
    const [start, end] = header[name].data_offsets;
    return new Float32Array(buffer.slice(8 + headerLen + start, 8 + headerLen + end));
  };
  return { config, factors: tensor('slice.item_factors'), gram: tensor('slice.item_gram') };
}

/** Precomputes what does not depend on the request. */
export function prepare({ config, factors, gram }) {
  const items = config.items;
  const index = new Map(items.map((it, i) => [it.id, i]));
  const fields = config.diversity.by.attributes;
  const dict = new Map();
  const attrs = new Int32Array(items.length * fields.length);
  items.forEach((it, i) => fields.forEach((f, j) => {
    const v = f === 'brand' ? it.brand : f === 'category' ? it.category : it.attributes?.[f];
    if (v == null) return;
    const key = JSON.stringify(v);
    if (!dict.has(key)) dict.set(key, dict.size + 1);
    attrs[i * fields.length + j] = dict.get(key);
  }));
  const brands = new Map();
  const brand = Int32Array.from(items, (it) => {
    if (it.brand == null) return -1;
    if (!brands.has(it.brand)) brands.set(it.brand, brands.size);
    return brands.get(it.brand);
  });
  return {
    config, factors, gram, index, attrs, nFields: fields.length, brand,
    inStock: Uint8Array.from(items, (it) => (it.in_stock === false ? 0 : 1)),
    k: config.als.factors,
  };
}

function dot(a, ao, b, bo, k) {
  let s = 0;
  for (let d = 0; d < k; d++) s += a[ao + d] * b[bo + d];
  return s;
}

/**
 * Re-ranks `candidates` for `opts` ({ sessionEvents, n, now, rules: { max_per_brand } });
 * `shallow` runs MMR only as deep as the answer needs, as sightline does.
 */
export function rerankPlain(p, candidates, opts, shallow = false) {
  const { config, factors, k } = p;
  const kw = { view: 1, click: 2, add_to_cart: 4, purchase: 8, ...flatWeights(config.session.kind_weights) };
  const hl = config.session.recency_half_life_seconds;
  const now = opts.now ?? Math.max(...opts.sessionEvents.map((e) => e.timestamp));
  // Session weights per item, best first.
  const weight = new Map();
  for (const e of opts.sessionEvents) {
    const i = p.index.get(e.itemId);
    if (i === undefined) continue;
    const w = kw[e.kind ?? 'view'] * 2 ** (-Math.max(0, now - e.timestamp) / hl);
    weight.set(i, (weight.get(i) ?? 0) + w);
  }
  const ctx = [...weight].filter((c) => c[1] > 0).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  // Fold-in: (G + λI + Σ αw·yyᵀ) x = Σ (α₀ + αw)·y, by Cholesky.
  const { alpha, unobserved_weight: a0, regularization, regularization_exponent: nu } = config.als;
  const reg = nu === 0 ? regularization : regularization * (ctx.length + a0 * config.model_items) ** nu;
  const A = Float32Array.from(p.gram);
  const b = new Float32Array(k);
  for (let d = 0; d < k; d++) A[d * k + d] += reg;
  for (const [i, w] of ctx) {
    const c = alpha * w, o = i * k;
    for (let r = 0; r < k; r++) {
      const yr = factors[o + r];
      b[r] += (a0 + c) * yr;
      for (let s = 0; s <= r; s++) A[r * k + s] += c * yr * factors[o + s];
    }
  }
  const x = cholSolve(A, b, k);
  // Score the eligible candidates, best first (stable).
  const inSession = new Set(ctx.map((c) => c[0]));
  let pool = [];
  candidates.forEach((id) => {
    const i = p.index.get(id);
    if (i === undefined) throw new Error(`unknown item id "${id}"`);
    if (p.inStock[i] && !inSession.has(i)) pool.push({ i, score: dot(x, 0, factors, i * k, k) });
  });
  pool.sort((u, v) => v.score - u.score);
  const lambda = opts.diversity?.lambda ?? config.diversity.lambda;
  const cap = opts.rules?.max_per_brand ?? config.rules.max_per_brand ?? Infinity;
  // Straightforward: MMR orders the whole pool. `shallow`: sightline's
  // diversify_then_rules — 2n deep, doubling while the brand cap leaves < n.
  let depth = shallow ? Math.min(2 * opts.n, pool.length) : pool.length;
  let out;
  for (;;) {
    out = brandCap(p, mmr(p, pool, lambda, depth), cap, opts.n);
    if (out.length >= opts.n || depth >= pool.length) break;
    depth = Math.min(2 * depth, pool.length);
  }
  return out.map((c) => ({ itemId: config.items[c.i].id, score: c.score, reason: 'session', because: config.items[mostLike(p, c.i, ctx)].id }));
}

/** The first `n` items with at most `cap` per brand. */
function brandCap(p, list, cap, n) {
  const count = new Map();
  const out = [];
  for (const c of list) {
    if (out.length >= n) break;
    const br = p.brand[c.i];
    if (br >= 0) {
      const seen = (count.get(br) ?? 0) + 1;
      count.set(br, seen);
      if (seen > cap) continue;
    }
    out.push(c);
  }
  return out;
}

function flatWeights(w) {
  const { custom = {}, ...rest } = w;
  return { ...rest, ...custom };
}

/** Solves A x = b for symmetric positive definite A (lower triangle used). */
function cholSolve(A, b, k) {
  const L = new Float32Array(k * k);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c <= r; c++) {
      let s = A[r * k + c];
      for (let t = 0; t < c; t++) s -= L[r * k + t] * L[c * k + t];
      L[r * k + c] = r === c ? Math.sqrt(s) : s / L[c * k + c];
    }
  }
  const y = new Float32Array(k);
  for (let r = 0; r < k; r++) {
    let s = b[r];
    for (let t = 0; t < r; t++) s -= L[r * k + t] * y[t];
    y[r] = s / L[r * k + r];
  }
  const x = new Float32Array(k);
  for (let r = k - 1; r >= 0; r--) {
    let s = y[r];
    for (let t = r + 1; t < k; t++) s -= L[t * k + r] * x[t];
    x[r] = s / L[r * k + r];
  }
  return x;
}

/** Greedy MMR: the first `depth` picks; scores become the sorted input scores. */
function mmr(p, pool, lambda, depth) {
  const n = pool.length;
  if (lambda >= 1 || n === 0) return pool.slice(0, depth);
  const lo = pool[n - 1].score, hi = pool[0].score;
  const rel = Float32Array.from(pool, (c) => (hi > lo ? (c.score - lo) / (hi - lo) : 1));
  const taken = new Uint8Array(n), maxSim = new Float32Array(n);
  const m = p.nFields, attrs = p.attrs;
  const out = [];
  for (let step = 0; step < depth; step++) {
    let best = -1, bestV = -Infinity;
    for (let j = 0; j < n; j++) {
      if (taken[j]) continue;
      const v = lambda * rel[j] - (1 - lambda) * maxSim[j];
      if (best < 0 || v > bestV) { best = j; bestV = v; }
    }
    taken[best] = 1;
    out.push(pool[best]);
    const a = pool[best].i * m;
    for (let q = 0; q < n; q++) {
      if (taken[q]) continue;
      const o = pool[q].i * m;
      let same = 0;
      for (let f = 0; f < m; f++) if (attrs[a + f] !== 0 && attrs[a + f] === attrs[o + f]) same++;
      const s = same / m;
      if (s > maxSim[q]) maxSim[q] = s;
    }
  }
  return out.map((c, r) => ({ i: c.i, score: pool[r].score }));
}

function mostLike(p, i, ctx) {
  const { factors, k } = p;
  const yy = dot(factors, i * k, factors, i * k, k);
  let best = ctx[0][0], bestS = -Infinity;
  for (const [c] of ctx) {
    const cc = dot(factors, c * k, factors, c * k, k);
    const s = yy > 0 && cc > 0 ? dot(factors, i * k, factors, c * k, k) / Math.sqrt(yy * cc) : 0;
    if (s > bestS) { best = c; bestS = s; }
  }
  return best;
}
