#!/usr/bin/env python3
"""Nearest-neighbour search: sightline's content index vs hnswlib 0.8.0 and
numpy, side by side in one run.

    python3 benches/compare/ann_vs_hnswlib.py [--quick] [--wait-idle 120]

Environment: the venv of als_vs_implicit.py (benches/compare/.venv, pinned
benches/compare/requirements.txt including hnswlib==0.8.0, a sightline wheel
freshly built from bindings/python); this script calls that script's
``bootstrap()`` and re-executes itself inside the venv.

Data sets (all seeded):

* ``als``: the item factors of a sightline ALS model (64 factors, 6
  iterations) fitted on als_vs_implicit's synthetic 200k x 20k data set
  (cached in benches/compare/.cache); queries are 1,000 user factors.
* ``lowrank``: 100,000 x 64 vectors drawn like ALS factors, not isotropic:
  ``Z W + 0.3 E`` with ``Z`` 100k x 8 and ``W`` 8 x 64 standard normal,
  ``E`` standard normal noise, rows scaled by a log-normal length;
  queries are 1,000 fresh rows of the same law.

Both libraries index the same float32 rows with the cosine metric, M=16,
ef_construction=200, 2 build threads; queries run one at a time on one
thread (``knn_query(q[None], k=10)`` vs ``ContentIndex.search(q, N=10)``)
for ef in a sweep; recall@10 is against exact cosine top-10 (numpy).
"QPS at recall >= 0.95" is the best QPS over the ef values reaching it.
Exact search: sightline's exact index vs numpy (``X @ q``, argpartition,
sort) on the ``als`` set, one query at a time.

Targets (sightline / peer): QPS at recall >= 0.95 >= 1.0 on both sets;
exact QPS >= 5.0 x numpy on ``als``; build time <= 1.5 x hnswlib.

Prints a table and, as the last line of stdout, one JSON object. Progress
goes to stderr. ``--quick`` (CI smoke) uses 5k-item sets and 200 queries.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
EF_SWEEP = [10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128]
K = 10
M = 16
EF_CONSTRUCTION = 200
BUILD_THREADS = 2
SEED = 20241128
TARGETS = {
    "qps_at_recall_95_als": ">= 1.0",
    "qps_at_recall_95_lowrank": ">= 1.0",
    "build_s_als": "<= 1.5",
    "build_s_lowrank": "<= 1.5",
    "exact_qps_als": ">= 5.0",
}


def ensure_env(argv):
    """Re-executes inside benches/compare/.venv (als_vs_implicit.bootstrap)."""
    sys.path.insert(0, str(HERE))
    import als_vs_implicit  # the shared venv + wheel logic

    als_vs_implicit.reexec_in_venv(__file__, argv)


def log(msg):
    print(f"[ann_vs_hnswlib {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -------------------------------------------------------------------- data --

def als_vectors(quick):
    """Item factors (queries: user factors) of an ALS model on the cached
    synthetic interaction data of als_vs_implicit.py."""
    import numpy as np
    import sightline
    import als_vs_implicit as avi

    X, _, info = avi.load_data("quick" if quick else "full")
    model = sightline.ALS(factors=64, regularization=0.01, alpha=1.0, iterations=6,
                          random_state=42, num_threads=BUILD_THREADS).fit(X)
    rng = np.random.default_rng(SEED)
    n_q = 200 if quick else 1000
    users = rng.choice(model.user_factors.shape[0], n_q, replace=False)
    base = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    queries = np.ascontiguousarray(model.user_factors[users], dtype=np.float32)
    return base, queries, {"source": info["cache_file"], "als_iterations": 6}


def lowrank_vectors(quick):
    import numpy as np

    n = 20_000 if quick else 100_000
    n_q = 200 if quick else 1000
    rng = np.random.default_rng(SEED + 1)
    w = rng.standard_normal((8, 64))

    def draw(rows):
        z = rng.standard_normal((rows, 8))
        v = z @ w + 0.3 * rng.standard_normal((rows, 64))
        v *= rng.lognormal(0.0, 0.5, size=(rows, 1)) / np.linalg.norm(v, axis=1, keepdims=True)
        return v.astype(np.float32)

    return draw(n), draw(n_q), {"law": "Z(n x 8) W(8 x 64) + 0.3 E, log-normal row length"}


def exact_top(base, queries):
    """Exact cosine top-K ids per query (float64 to settle near-ties)."""
    import numpy as np

    b = base / np.linalg.norm(base, axis=1, keepdims=True)
    out = np.empty((len(queries), K), dtype=np.int64)
    for s in range(0, len(queries), 256):
        q = queries[s:s + 256].astype(np.float64)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        scores = q @ b.T.astype(np.float64)
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[s:s + 256] = np.take_along_axis(top, order, axis=1)
    return out


# ----------------------------------------------------------------- timings --

def recall(found, truth):
    return float(sum(len(set(f) & set(t)) for f, t in zip(found, truth)) / (K * len(truth)))


def sweep(search, queries, truth, warmup=50):
    """Per ef: recall@10 and single-query QPS (one thread)."""
    rows = []
    for ef, set_ef in search["efs"]:
        set_ef()
        for q in queries[:warmup]:
            search["one"](q)
        found = []
        t0 = time.perf_counter()
        for q in queries:
            found.append(search["one"](q))
        dt = time.perf_counter() - t0
        rows.append({"ef": ef, "recall": recall(found, truth), "qps": len(queries) / dt})
    return rows


def best_qps(rows, at=0.95):
    ok = [r["qps"] for r in rows if r["recall"] >= at]
    return max(ok) if ok else None


def bench_set(name, base, queries):
    import hnswlib
    import numpy as np
    import sightline

    n, dim = base.shape
    truth = exact_top(base, queries)
    log(f"{name}: {n} x {dim}, {len(queries)} queries")
    # hnswlib
    h = hnswlib.Index(space="cosine", dim=dim)
    h.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=42)
    h.set_num_threads(BUILD_THREADS)
    t0 = time.perf_counter()
    h.add_items(base, np.arange(n))
    h_build = time.perf_counter() - t0
    h.set_num_threads(1)
    log(f"{name}: hnswlib built in {h_build:.2f}s")

    def h_ef(ef):
        return lambda: h.set_ef(ef)

    h_rows = sweep({"efs": [(ef, h_ef(ef)) for ef in EF_SWEEP],
                    "one": lambda q: h.knn_query(q[None, :], k=K)[0][0]}, queries, truth)
    # sightline
    ids = [str(i) for i in range(n)]
    t0 = time.perf_counter()
    s = sightline.ContentIndex(index="hnsw", M=M, ef_construction=EF_CONSTRUCTION,
                               num_threads=BUILD_THREADS).fit(embeddings=base, item_ids=ids)
    s_build = time.perf_counter() - t0
    log(f"{name}: sightline built in {s_build:.2f}s")

    def s_ef(ef):
        return lambda: s.set_ef_search(ef)

    s_rows = sweep({"efs": [(ef, s_ef(ef)) for ef in EF_SWEEP],
                    "one": lambda q: s.search(q, N=K)[0]}, queries, truth)
    return {"n": n, "dim": dim, "queries": len(queries),
            "hnswlib": {"build_s": h_build, "sweep": h_rows, "qps_at_recall_95": best_qps(h_rows)},
            "sightline": {"build_s": s_build, "sweep": s_rows, "qps_at_recall_95": best_qps(s_rows)}}


def bench_exact(base, queries):
    import numpy as np
    import sightline

    n = base.shape[0]
    truth = exact_top(base, queries)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)

    def numpy_one(q):
        s = unit @ (q / np.linalg.norm(q))
        top = np.argpartition(-s, K)[:K]
        return top[np.argsort(-s[top])]

    s = sightline.ContentIndex(index="exact").fit(embeddings=base, item_ids=[str(i) for i in range(n)])
    out = {}
    for lib, one in (("numpy", numpy_one), ("sightline", lambda q: s.search(q, N=K)[0])):
        for q in queries[:50]:
            one(q)
        found = []
        t0 = time.perf_counter()
        for q in queries:
            found.append(one(q))
        dt = time.perf_counter() - t0
        out[lib] = {"qps": len(queries) / dt, "recall": recall(found, truth)}
    return out


# ------------------------------------------------------------------ report --

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sets, 200 queries (CI smoke)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before timing, wait up to SECONDS for other processes to go quiet")
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
    als_base, als_q, als_info = als_vectors(args.quick)
    low_base, low_q, low_info = lowrank_vectors(args.quick)
    if args.wait_idle:
        avi.wait_idle(args.wait_idle)
    busy0, t0 = avi.machine_busy_seconds(), time.monotonic()
    cpu0 = avi.cpu_seconds()
    sets = {"als": bench_set("als", als_base, als_q),
            "lowrank": bench_set("lowrank", low_base, low_q)}
    exact = bench_exact(als_base, als_q)
    wall = time.monotonic() - t0
    foreign = None
    if busy0 is not None:
        foreign = max(0.0, (avi.machine_busy_seconds() - busy0 - (avi.cpu_seconds() - cpu0)) / wall)

    metrics = {}
    for name, r in sets.items():
        h, s = r["hnswlib"], r["sightline"]
        metrics[f"qps_at_recall_95_{name}"] = (h["qps_at_recall_95"], s["qps_at_recall_95"], "higher")
        metrics[f"build_s_{name}"] = (h["build_s"], s["build_s"], "lower")
    metrics["exact_qps_als"] = (exact["numpy"]["qps"], exact["sightline"]["qps"], "higher")

    def passes(ratio, target):
        op, value = target.split()
        return ratio is not None and (ratio >= float(value) if op == ">=" else ratio <= float(value))

    table, report = [], {}
    for key, (peer, ours, better) in metrics.items():
        ratio = None if not peer or ours is None else ours / peer
        target = TARGETS.get(key)
        ok = passes(ratio, target) if target else None
        report[key] = {"peer": peer, "sightline": ours, "ratio": ratio, "better": better,
                       "target": target, "pass": ok}
        table.append((key, peer, ours, ratio, target or "", "" if ok is None else ("PASS" if ok else "FAIL")))

    mode = "quick" if args.quick else "full"
    print(f"sightline vs hnswlib 0.8.0 / numpy — {mode}; cosine, M={M}, ef_construction={EF_CONSTRUCTION}, "
          f"{BUILD_THREADS} build threads, 1 query thread, k={K}; built from git {build.get('commit')}")
    for name, r in sets.items():
        print(f"\n{name}: {r['n']:,} x {r['dim']}, {r['queries']} queries — recall@10 / QPS per ef")
        print(f"{'ef':>5}  {'hnswlib recall':>14} {'hnswlib QPS':>12}  {'sightline recall':>16} {'sightline QPS':>13}")
        for hr, sr in zip(r["hnswlib"]["sweep"], r["sightline"]["sweep"]):
            print(f"{hr['ef']:>5}  {hr['recall']:>14.4f} {hr['qps']:>12,.0f}  {sr['recall']:>16.4f} {sr['qps']:>13,.0f}")
    print(f"\nexact on als: numpy {exact['numpy']['qps']:,.0f} QPS (recall {exact['numpy']['recall']:.4f}), "
          f"sightline {exact['sightline']['qps']:,.0f} QPS (recall {exact['sightline']['recall']:.4f})\n")
    head = ("metric", "peer", "sightline", "ratio s/p", "target", "result")
    print(f"{head[0]:<26} {head[1]:>10} {head[2]:>10} {head[3]:>9} {head[4]:>7} {head[5]:>6}")
    for key, peer, ours, ratio, target, ok in table:
        print(f"{key:<26} {avi.fmt(peer):>10} {avi.fmt(ours):>10} {avi.fmt(ratio):>9} {target:>7} {ok:>6}")
    n_pass = sum(1 for v in report.values() if v["pass"])
    print(f"targets: {n_pass}/{len(TARGETS)} pass")
    if foreign is not None:
        print(f"other processes used {foreign:.2f} of {os.cpu_count()} cores on average while timing")
    print(json.dumps({
        "benchmark": "ann_vs_hnswlib", "mode": mode, "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git": build,
        "machine": {**avi.machine_info(), "foreign_cores_during_timing": foreign},
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                     "hnswlib": "0.8.0", "sightline": sightline.__version__},
        "settings": {"M": M, "ef_construction": EF_CONSTRUCTION, "build_threads": BUILD_THREADS,
                     "k": K, "ef_sweep": EF_SWEEP, "seed": SEED, "metric": "cosine"},
        "data": {"als": als_info, "lowrank": low_info},
        "targets": TARGETS, "all_targets_pass": n_pass == len(TARGETS),
        "metrics": report, "sets": sets, "exact": exact,
    }))


if __name__ == "__main__":
    main()
