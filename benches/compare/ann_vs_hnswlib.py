#!/usr/bin/env python3
"""Nearest-neighbour search: sightline's content index vs hnswlib 0.8.0 and
numpy, side by side in one run, at equal recall.

    python3 benches/compare/ann_vs_hnswlib.py [--quick] [--wait-idle 120]
        [--json-out benches/results/ann_vs_hnswlib.json]

Environment: the venv of als_vs_implicit.py (benches/compare/.venv, pinned
benches/compare/requirements.txt including hnswlib==0.8.0, a sightline wheel
freshly built from bindings/python); this script calls that script's
``bootstrap()`` and re-executes itself inside the venv.

Data sets (all seeded; --quick: smaller sets, 200 queries):

* ``lowrank_20k``, ``lowrank_100k``: 20,000 / 100,000 x 64 vectors not
  produced by the project's generator, drawn like ALS factors but not
  isotropic: ``Z W + 0.3 E`` with ``Z`` n x 8 and ``W`` 8 x 64 standard
  normal, ``E`` standard normal noise, rows scaled by a log-normal length.
* ``als_uniform``, ``als_skewed``: the 20,000 x 64 item factors of a
  sightline ALS model (als_vs_implicit's settings, 5 CG iterations) fitted
  on each of als_vs_implicit's data shapes (cached in benches/compare/.cache).

Queries: 1,000 items of the set, item to item: each library is asked for
k + 1 = 11 neighbours of the item's own vector and the query id is dropped
from its results (then the first 10 kept); the exact truth (float64 cosine)
leaves the query item out too. "Vector" queries (fresh rows of the same law
for ``lowrank``, user factors for ``als``) are swept as well, reported
without a target.

Both libraries index the same float32 rows with the cosine metric, M=16,
ef_construction=200, 2 build threads (build = the whole indexing call);
queries run one at a time on one thread (``knn_query(q[None], k)`` vs
``ContentIndex.search(q, N=k)``) for every ef of a sweep, the libraries
taking turns at each ef, best of 3 passes each (1 with --quick). Equal recall: each
library's QPS at recall@10 = 0.95 is interpolated linearly in log(QPS)
between the two sweep points bracketing 0.95 (first crossing by ascending
ef); when the smallest ef already exceeds 0.95 its QPS is used (a lower
bound, flagged ``bracketed: false``); never reaching 0.95 gives no value.
Exact search: sightline's exact index vs numpy (``X @ q``, argpartition,
sort), the same item queries.

Targets (sightline / peer), every set: QPS at recall 0.95 >= 1.3 x hnswlib;
build time <= 0.7 x hnswlib; exact QPS >= 5 x numpy.

Prints a table and, as the last line of stdout, one JSON object. Progress
goes to stderr.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
EF_SWEEP = [10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256, 384, 512]
K = 10
AT_RECALL = 0.95
REPEATS = 3  # timed passes per (ef, library); the best counts (1 with --quick)
M = 16
EF_CONSTRUCTION = 200
BUILD_THREADS = 2
SEED = 20241128
# metric prefix -> target on the ratio sightline / peer (every set)
TARGETS = {"qps_at_recall_95": ">= 1.3", "build_s": "<= 0.7", "exact_qps": ">= 5.0"}


def ensure_env(argv):
    """Re-executes inside benches/compare/.venv (als_vs_implicit.bootstrap)."""
    sys.path.insert(0, str(HERE))
    import als_vs_implicit  # the shared venv + wheel logic

    als_vs_implicit.reexec_in_venv(__file__, argv)


def log(msg):
    print(f"[ann_vs_hnswlib {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -------------------------------------------------------------------- data --

def als_vectors(quick, shape, n_q):
    """Item factors (vector queries: user factors) of a sightline ALS model
    fitted on als_vs_implicit's cached data of one shape."""
    import numpy as np
    import als_vs_implicit as avi

    X, _, info = avi.load_data("quick" if quick else "full", shape=shape)
    log(f"als_{shape}: fitting ALS on {X.shape[0]} x {X.shape[1]}, nnz {X.nnz:,}")
    model = avi.make_model("sightline", True, 5).fit(X)
    del X
    rng = np.random.default_rng(SEED)
    users = rng.choice(model.user_factors.shape[0], n_q, replace=False)
    base = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    queries = np.ascontiguousarray(model.user_factors[users], dtype=np.float32)
    return base, queries, {"source": info["cache_file"], "als": "als_vs_implicit settings, 5 CG iterations"}


def lowrank_vectors(n, n_q, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((8, 64))

    def draw(rows):
        z = rng.standard_normal((rows, 8))
        v = z @ w + 0.3 * rng.standard_normal((rows, 64))
        v *= rng.lognormal(0.0, 0.5, size=(rows, 1)) / np.linalg.norm(v, axis=1, keepdims=True)
        return v.astype(np.float32)

    return draw(n), draw(n_q), {"law": "Z(n x 8) W(8 x 64) + 0.3 E, log-normal row length",
                                "seed": seed}


def exact_top(base, queries, exclude=None):
    """Exact cosine top-K ids per query (float64 to settle near-ties);
    `exclude[j]` (an item id) is left out of query j's answer."""
    import numpy as np

    b = base / np.linalg.norm(base, axis=1, keepdims=True)
    out = np.empty((len(queries), K), dtype=np.int64)
    for s in range(0, len(queries), 256):
        q = queries[s:s + 256].astype(np.float64)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        scores = q @ b.T.astype(np.float64)
        if exclude is not None:
            scores[np.arange(len(q)), exclude[s:s + 256]] = -np.inf
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[s:s + 256] = np.take_along_axis(top, order, axis=1)
    return out


# ----------------------------------------------------------------- timings --

def recall(found, truth):
    return float(sum(len(set(f) & set(t)) for f, t in zip(found, truth)) / (K * len(truth)))


def drop_query(raw, exclude):
    """Each raw k + 1 answer without the query id, first K kept."""
    if exclude is None:
        return [[int(x) for x in r][:K] for r in raw]
    return [[int(x) for x in r if int(x) != int(e)][:K] for r, e in zip(raw, exclude)]


def run_queries(one, queries, warmup=50, repeats=1):
    """Single-query QPS on one thread, the best of `repeats` passes (other
    processes only ever slow a pass down); returns (raw answers, qps)."""
    for q in queries[:warmup]:
        one(q)
    best = 0.0
    for _ in range(repeats):
        found = []
        t0 = time.perf_counter()
        for q in queries:
            found.append(one(q))
        best = max(best, len(queries) / (time.perf_counter() - t0))
    return found, best


def sweep(libs, queries, truth, exclude, repeats):
    """Per ef and library: recall@10 and single-query QPS. The libraries
    take turns at each ef (best of `repeats` passes each), so that a burst
    of load from other processes hits both."""
    rows = {lib: [] for lib in libs}
    for ef in EF_SWEEP:
        for lib, (set_ef, one) in libs.items():
            set_ef(ef)
            raw, qps = run_queries(one, queries, repeats=repeats)
            rows[lib].append({"ef": ef, "recall": round(recall(drop_query(raw, exclude), truth), 5),
                              "qps": round(qps, 1)})
    return rows


def qps_at_recall(rows, at=AT_RECALL):
    """QPS at recall `at`, linear in log(QPS) between the bracketing sweep
    points (first crossing by ascending ef). (qps or None, bracketed)."""
    for j, r in enumerate(rows):
        if r["recall"] >= at:
            if j == 0:
                return r["qps"], False
            lo = rows[j - 1]
            t = (at - lo["recall"]) / (r["recall"] - lo["recall"])
            return math.exp(math.log(lo["qps"]) + t * (math.log(r["qps"]) - math.log(lo["qps"]))), True
    return None, False


def bench_set(name, base, item_q, vec_q, repeats):
    """Builds both indexes and sweeps item-to-item and vector queries."""
    import hnswlib
    import numpy as np
    import sightline

    n, dim = base.shape
    item_vecs = base[item_q]
    truth_item = exact_top(base, item_vecs, exclude=item_q)
    truth_vec = exact_top(base, vec_q)
    log(f"{name}: {n} x {dim}, {len(item_q)} item queries, {len(vec_q)} vector queries")

    h = hnswlib.Index(space="cosine", dim=dim)
    h.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=42)
    h.set_num_threads(BUILD_THREADS)
    t0 = time.perf_counter()
    h.add_items(base, np.arange(n))
    h_build = time.perf_counter() - t0
    h.set_num_threads(1)
    log(f"{name}: hnswlib built in {h_build:.2f}s")

    ids = [str(i) for i in range(n)]
    t0 = time.perf_counter()
    s = sightline.ContentIndex(index="hnsw", M=M, ef_construction=EF_CONSTRUCTION,
                               num_threads=BUILD_THREADS).fit(embeddings=base, item_ids=ids)
    s_build = time.perf_counter() - t0
    log(f"{name}: sightline built in {s_build:.2f}s")

    item = sweep({"hnswlib": (h.set_ef, lambda q: h.knn_query(q[None, :], k=K + 1)[0][0]),
                  "sightline": (s.set_ef_search, lambda q: s.search(q, N=K + 1)[0])},
                 item_vecs, truth_item, item_q, repeats)
    vec = sweep({"hnswlib": (h.set_ef, lambda q: h.knn_query(q[None, :], k=K)[0][0]),
                 "sightline": (s.set_ef_search, lambda q: s.search(q, N=K)[0])},
                vec_q, truth_vec, None, repeats)
    del h, s

    out = {"n": n, "dim": dim, "item_queries": len(item_q), "vector_queries": len(vec_q)}
    for lib, build in (("hnswlib", h_build), ("sightline", s_build)):
        qi, bi = qps_at_recall(item[lib])
        qv, bv = qps_at_recall(vec[lib])
        out[lib] = {"build_s": build, "sweep_item": item[lib], "sweep_vector": vec[lib],
                    "qps_at_recall_95": qi, "bracketed": bi,
                    "qps_at_recall_95_vector": qv, "bracketed_vector": bv}
    return out


def bench_exact(base, item_q, repeats):
    """sightline's exact index vs numpy, item-to-item (k + 1, query dropped)."""
    import numpy as np
    import sightline

    n = base.shape[0]
    queries = base[item_q]
    truth = exact_top(base, queries, exclude=item_q)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)

    def numpy_one(q):
        s = unit @ (q / np.linalg.norm(q))
        top = np.argpartition(-s, K + 1)[:K + 1]
        return top[np.argsort(-s[top])]

    s = sightline.ContentIndex(index="exact").fit(embeddings=base, item_ids=[str(i) for i in range(n)])
    out = {}
    for lib, one in (("numpy", numpy_one), ("sightline", lambda q: s.search(q, N=K + 1)[0])):
        raw, qps = run_queries(one, queries, repeats=repeats)
        out[lib] = {"qps": qps, "recall": recall(drop_query(raw, item_q), truth)}
    return out


# ------------------------------------------------------------------ report --

def passes(ratio, target):
    op, value = target.split()
    return ratio is not None and (ratio >= float(value) if op == ">=" else ratio <= float(value))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sets, 200 queries (CI smoke)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before timing, wait up to SECONDS for other processes to go quiet")
    ap.add_argument("--json-out", metavar="FILE",
                    help="also write the JSON report to FILE (e.g. benches/results/ann_vs_hnswlib.json)")
    ap.add_argument("--_bootstrapped", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    ensure_env(sys.argv[1:])
    sys.path.insert(0, str(HERE))
    import als_vs_implicit as avi
    import hnswlib  # noqa: F401  (fail early when missing)
    import numpy as np
    import sightline

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    build = json.loads(os.environ.get("ALS_VS_IMPLICIT_BUILD", "{}"))
    n_q = 200 if args.quick else 1000
    repeats = 1 if args.quick else REPEATS
    small, large = (5_000, 20_000) if args.quick else (20_000, 100_000)
    data, info = {}, {}
    for label, n, seed in (("lowrank_20k", small, SEED + 1), ("lowrank_100k", large, SEED + 2)):
        base, vec_q, info[label] = lowrank_vectors(n, n_q, seed)
        data[label] = (base, vec_q)
    for shape in ("uniform", "skewed"):
        base, vec_q, info[f"als_{shape}"] = als_vectors(args.quick, shape, n_q)
        data[f"als_{shape}"] = (base, vec_q)
    rng = np.random.default_rng(SEED + 3)
    item_qs = {k: np.sort(rng.choice(b.shape[0], n_q, replace=False)) for k, (b, _) in data.items()}

    if args.wait_idle:
        avi.wait_idle(args.wait_idle)
    load_before = os.getloadavg()
    busy0, t0 = avi.machine_busy_seconds(), time.monotonic()
    cpu0 = avi.cpu_seconds()
    sets, exact = {}, {}
    for name, (base, vec_q) in data.items():
        sets[name] = bench_set(name, base, item_qs[name], vec_q, repeats)
        exact[name] = bench_exact(base, item_qs[name], repeats)
        log(f"{name}: exact numpy {exact[name]['numpy']['qps']:,.0f} QPS, "
            f"sightline {exact[name]['sightline']['qps']:,.0f} QPS")
    wall = time.monotonic() - t0
    foreign = None
    if busy0 is not None:
        foreign = max(0.0, (avi.machine_busy_seconds() - busy0 - (avi.cpu_seconds() - cpu0)) / wall)

    report = {}

    def add(key, target_key, peer, ours, better, **extra):
        ratio = None if not peer or ours is None else ours / peer
        target = TARGETS.get(target_key) if target_key else None
        report[key] = {"peer": peer, "sightline": ours, "ratio": ratio, "better": better,
                       "target": target, "pass": passes(ratio, target) if target else None, **extra}

    for name, r in sets.items():
        h, s = r["hnswlib"], r["sightline"]
        add(f"qps_at_recall_95_{name}", "qps_at_recall_95", h["qps_at_recall_95"],
            s["qps_at_recall_95"], "higher", bracketed=h["bracketed"] and s["bracketed"])
        add(f"build_s_{name}", "build_s", h["build_s"], s["build_s"], "lower")
        add(f"exact_qps_{name}", "exact_qps", exact[name]["numpy"]["qps"],
            exact[name]["sightline"]["qps"], "higher")
        add(f"qps_at_recall_95_vector_{name}", None, h["qps_at_recall_95_vector"],
            s["qps_at_recall_95_vector"], "higher",
            bracketed=h["bracketed_vector"] and s["bracketed_vector"])

    mode = "quick" if args.quick else "full"
    print(f"sightline vs hnswlib 0.8.0 / numpy — {mode}; cosine, M={M}, ef_construction={EF_CONSTRUCTION}, "
          f"{BUILD_THREADS} build threads, 1 query thread, k={K} (item queries: k+1, query id dropped); "
          f"built from git {build.get('commit')}")
    for name, r in sets.items():
        for kind in ("item", "vector"):
            print(f"\n{name}: {r['n']:,} x {r['dim']}, {r[kind + '_queries']} {kind} queries — recall@10 / QPS per ef")
            print(f"{'ef':>5}  {'hnswlib recall':>14} {'hnswlib QPS':>12}  {'sightline recall':>16} {'sightline QPS':>13}")
            for hr, sr in zip(r["hnswlib"]["sweep_" + kind], r["sightline"]["sweep_" + kind]):
                print(f"{hr['ef']:>5}  {hr['recall']:>14.4f} {hr['qps']:>12,.0f}  "
                      f"{sr['recall']:>16.4f} {sr['qps']:>13,.0f}")
    print()
    for name, e in exact.items():
        print(f"exact on {name}: numpy {e['numpy']['qps']:,.0f} QPS (recall {e['numpy']['recall']:.4f}), "
              f"sightline {e['sightline']['qps']:,.0f} QPS (recall {e['sightline']['recall']:.4f})")
    print()
    head = ("metric", "peer", "sightline", "ratio s/p", "target", "result")
    w0 = max(len(k) for k in report)
    print(f"{head[0]:<{w0}} {head[1]:>10} {head[2]:>10} {head[3]:>9} {head[4]:>7} {head[5]:>6}")
    for key, m in report.items():
        ok = "" if m["pass"] is None else ("PASS" if m["pass"] else "FAIL")
        flag = " (not bracketed)" if m.get("bracketed") is False else ""
        print(f"{key:<{w0}} {avi.fmt(m['peer']):>10} {avi.fmt(m['sightline']):>10} "
              f"{avi.fmt(m['ratio']):>9} {m['target'] or '':>7} {ok:>6}{flag}")
    targeted = [m["pass"] for m in report.values() if m["pass"] is not None]
    print(f"targets: {sum(targeted)}/{len(targeted)} pass")
    if foreign is not None:
        print(f"other processes used {foreign:.2f} of {os.cpu_count()} cores on average while timing"
              + (" — timings are NOISY" if foreign > 0.1 else ""))
    out = {
        "benchmark": "ann_vs_hnswlib", "mode": mode, "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git": build,
        "machine": {**avi.machine_info(), "loadavg_before": [round(v, 2) for v in load_before],
                    "foreign_cores_during_timing": None if foreign is None else round(foreign, 3)},
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                     "hnswlib": "0.8.0", "sightline": sightline.__version__},
        "settings": {"M": M, "ef_construction": EF_CONSTRUCTION, "build_threads": BUILD_THREADS,
                     "k": K, "at_recall": AT_RECALL, "ef_sweep": EF_SWEEP, "seed": SEED,
                     "metric": "cosine", "queries": n_q, "repeats": repeats,
                     "equal_recall": "QPS interpolated at recall 0.95, linear in log(QPS) between "
                                     "the bracketing sweep points; item queries ask k+1 and drop "
                                     "the query id, truth leaves it out"},
        "data": info,
        "targets": TARGETS, "all_targets_pass": all(targeted),
        "metrics": report, "sets": sets, "exact": exact,
    }
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
