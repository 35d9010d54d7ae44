#!/usr/bin/env python3
"""Side-by-side benchmark: sightline.ALS vs implicit 0.7.3's CPU
AlternatingLeastSquares, same data, same settings, one run.

    python3 benches/compare/als_vs_implicit.py [--quick] [--shape skewed|uniform|all]
        [--json-out benches/results/als_vs_implicit.json]      # from the repo root

What it does (see benches/README.md for the details and the targets):

1. Creates/reuses the venv benches/compare/.venv, installs the pinned
   requirements.txt when they changed, always rebuilds the sightline wheel
   from bindings/python with maturin (incremental) and force-reinstalls it,
   then re-executes itself inside the venv.
2. Generates (or loads from benches/compare/.cache/) seeded synthetic
   user×item matrices of the same size, one per data shape: 200k users ×
   20k items × ~10M non-zeros (--quick: 20k × 5k × ~500k).
   ``skewed``: Zipf item popularity, log-normal user activity, latent
   clusters, small counts as values. ``uniform``: every item equally
   likely, log-normal user activity, all-ones weights.
3. Per shape, times sequentially and with identical settings (factors 64,
   regularization 0.01, alpha 1.0, 2 threads, BLAS pinned to 1 thread,
   5 iterations): the whole ALS fit call (CG with 3 steps, and Cholesky)
   and its iterations (fit callbacks), batch and single-user recommend,
   batch and single similar_items, and the peak RSS of a CG fit (in
   subprocesses).
4. Prints a table per shape and, as the last line of stdout, one JSON
   object (``--json-out`` also writes it, indented, to a file that
   benches/compare/tables.py reads).

Exit code 0 whether or not the targets are met; non-zero only on errors.
Progress messages go to stderr.
"""

import os

# BLAS must be pinned before numpy is imported (also in the re-exec'd child
# and the RSS subprocesses, which inherit the environment).
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
VENV_PY = VENV / "bin" / "python"
CACHE = HERE / ".cache"
REQUIREMENTS = HERE / "requirements.txt"
BINDING_MANIFEST = ROOT / "bindings" / "python" / "Cargo.toml"
# A cargo target dir of its own: a concurrent `maturin develop`/`cargo build`
# in the workspace's target/ would otherwise block on the lock or clobber
# maturin's staging files (target/maturin/) mid-build.
CARGO_TARGET = ROOT / "target" / "als_vs_implicit"

MAX_COUNT = 20    # values are repeat counts of a (user, item) draw, capped
DATA_VERSION = 2  # bump when the skewed generator changes (part of the cache key)
UNIFORM_VERSION = 1  # the same for the uniform generator

SIZES = {
    "full": dict(users=200_000, items=20_000, interactions=10_000_000, clusters=64),
    "quick": dict(users=20_000, items=5_000, interactions=500_000, clusters=32),
}
# Data shapes of the same size: "skewed" (Zipf popularity, latent clusters,
# counts) keeps hot items' factor rows in cache; "uniform" (every item
# equally likely, all-ones weights) makes every gather a likely cache miss.
SHAPES = ("skewed", "uniform")
DATA_SEED = 20240601
MODEL_SEED = 42
SAMPLE_SEED = 7

SETTINGS = dict(
    factors=64,
    regularization=0.01,
    alpha=1.0,
    num_threads=2,
    iterations=5,          # the whole fit call is timed; per iteration: median of 2..5
    rss_iterations=2,      # the RSS subprocess fits (memory peaks in iteration 1)
    n_batch_users=10_000,
    n_single_users=1_000,
    n_similar_items=1_000,
    n_sanity_users=200,
    N=10,
    batch_repeats=3,
    warmup_calls=50,
)

# metric -> (comparison, threshold) on the ratio sightline / implicit
TARGETS = {
    "fit_cg_total_s": ("<=", 0.4),
    "fit_cholesky_total_s": ("<=", 0.4),
    "recommend_batch_users_per_s": (">=", 3.0),
    "recommend_single_p99_ms": ("<=", 0.5),
    "similar_items_batch_items_per_s": (">=", 5.0),
    "fit_cg_peak_rss_mib": ("<=", 1.0),
}


def log(msg):
    print(f"[als_vs_implicit {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    # Child output goes to stderr so that stdout holds only the report.
    subprocess.run([str(c) for c in cmd], check=True, stdout=sys.stderr, **kw)


# --------------------------------------------------------------- bootstrap --

def installed_matches_build():
    """Imports sightline and checks that its extension is the one this run
    built: the venv may be shared with another script (ml100k.py) that
    reinstalls the wheel meanwhile. None when unknown."""
    import sightline

    want = json.loads(os.environ.get("ALS_VS_IMPLICIT_BUILD", "{}")).get("extension_sha256")
    if not want:
        return None
    with open(sightline._sightline.__file__, "rb") as f:
        ok = hashlib.sha256(f.read()).hexdigest() == want
    if not ok:
        log("warning: the installed sightline extension is not the one this run built "
            "(reinstalled meanwhile by another process?)")
    return ok


def in_venv():
    return Path(sys.prefix).resolve() == VENV.resolve()


def bootstrap():
    """venv + pinned requirements (only when changed) + fresh sightline wheel."""
    if not VENV_PY.exists():
        log(f"creating venv {VENV}")
        run([sys.executable, "-m", "venv", VENV])
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(
        REQUIREMENTS.read_bytes() + platform.python_version().encode()
    ).hexdigest()
    if not stamp.exists() or stamp.read_text().strip() != digest:
        log("installing pinned requirements")
        run([VENV_PY, "-m", "pip", "install", "-q", "-r", REQUIREMENTS])
        stamp.write_text(digest + "\n")
    else:
        log("pinned requirements up to date")

    # what the wheel is built from (the core may change while we run)
    os.environ["ALS_VS_IMPLICIT_BUILD"] = json.dumps({
        "commit": cmd_out(["git", "log", "-1", "--format=%h"]),
        "subject": cmd_out(["git", "log", "-1", "--format=%s"]),
        "uncommitted_core_bindings": (cmd_out(["git", "status", "--porcelain", "--", "core", "bindings"])
                                      or "").splitlines(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    wheel_dir = CACHE / "wheels"
    shutil.rmtree(wheel_dir, ignore_errors=True)
    wheel_dir.mkdir(parents=True)
    log("building the sightline wheel (maturin, release; cargo is incremental)")
    t0 = time.perf_counter()
    run([VENV / "bin" / "maturin", "build", "--release", "-m", BINDING_MANIFEST,
         "--out", wheel_dir, "-i", VENV_PY], cwd=ROOT,
        env={**os.environ, "CARGO_TARGET_DIR": str(CARGO_TARGET)})
    wheels = sorted(wheel_dir.glob("sightline-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one sightline wheel in {wheel_dir}, found {wheels}")
    run([VENV_PY, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", wheels[0]])
    import zipfile

    with zipfile.ZipFile(wheels[0]) as z:
        ext = [n for n in z.namelist() if n.startswith("sightline/_sightline") and n.endswith(".so")]
        build = json.loads(os.environ["ALS_VS_IMPLICIT_BUILD"])
        build["extension_sha256"] = hashlib.sha256(z.read(ext[0])).hexdigest() if ext else None
        os.environ["ALS_VS_IMPLICIT_BUILD"] = json.dumps(build)
    log(f"sightline wheel {wheels[0].name} built and installed in {time.perf_counter() - t0:.1f}s")


def reexec_in_venv(script, argv):
    """For the other compare scripts: bootstrap the shared venv and wheel,
    then re-execute `script` inside it (once: `--_bootstrapped` marks it)."""
    if "--_bootstrapped" in argv:
        return
    bootstrap()
    py = str(VENV_PY)
    os.execv(py, [py, str(Path(script).resolve()), *argv, "--_bootstrapped"])


# -------------------------------------------------------------------- data --

def data_path(size, shape="skewed"):
    s = SIZES[size]
    if shape == "uniform":
        return CACHE / (f"uniform_v{UNIFORM_VERSION}_u{s['users']}_i{s['items']}"
                        f"_n{s['interactions']}_s{DATA_SEED}.npz")
    return CACHE / (
        f"synth_v{DATA_VERSION}_u{s['users']}_i{s['items']}_n{s['interactions']}"
        f"_c{s['clusters']}_s{DATA_SEED}.npz"
    )


def generate_uniform(users, items, interactions, clusters, seed):
    """Seeded uniform-popularity set, vectorised: log-normal user activity
    (as the skewed set), every item equally likely, all-ones weights.
    Users keep a dummy cluster each so that the sanity check runs (its
    home-cluster shares are meaningless here)."""
    import numpy as np

    del clusters
    draws = interactions
    for attempt in range(6):  # calibrate the draws until distinct pairs are within 2%
        rng = np.random.default_rng([seed, 1, attempt])
        sigma = 1.1
        mu = np.log(draws / users) - sigma**2 / 2
        counts = np.maximum(1, np.rint(rng.lognormal(mu, sigma, size=users))).astype(np.int64)
        counts = np.minimum(counts, items // 2)
        uid = np.repeat(np.arange(users, dtype=np.int64), counts)
        keys = np.unique(uid * items + rng.integers(0, items, size=uid.size))
        n = uid.size
        del uid
        if abs(keys.size - interactions) <= 0.02 * interactions:
            break
        draws = int(draws * (interactions / keys.size) ** 1.3)
    indptr = np.zeros(users + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // items, minlength=users), out=indptr[1:])
    return dict(indptr=indptr, indices=(keys % items).astype(np.int32),
                data=np.ones(keys.size, dtype=np.float32), draws=np.array(n, dtype=np.int64),
                shape=np.array([users, items], dtype=np.int64),
                user_cluster=np.zeros(users, dtype=np.int32),
                item_cluster=np.zeros(items, dtype=np.int32))


def generate(users, items, interactions, clusters, seed):
    """Seeded synthetic implicit-feedback counts, vectorised.

    * items: Zipf-like popularity (weight ∝ rank^-1.0 over a random
      permutation) and one latent cluster each;
    * users: log-normal activity (σ = 1.1, heavy right tail, ≥ 1) and one
      home cluster each;
    * each draw picks, with p = 0.75, an item of the user's home cluster
      by popularity within the cluster, else an item by global popularity;
    * repeated (user, item) draws add up: values are small positive counts
      (capped at MAX_COUNT).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    ranks = rng.permutation(items) + 1
    weight = 1.0 / ranks.astype(np.float64) ** 1.0
    item_cluster = rng.integers(0, clusters, size=items)
    user_cluster = rng.integers(0, clusters, size=users)

    # global popularity CDF
    gcdf = np.cumsum(weight)
    gcdf /= gcdf[-1]
    # per-cluster CDFs laid end to end: cluster c occupies [c, c + 1)
    order = np.lexsort((np.arange(items), item_cluster))
    w_sorted = weight[order]
    c_sorted = item_cluster[order]
    csum = np.cumsum(w_sorted)
    starts = np.searchsorted(c_sorted, np.arange(clusters), side="left")
    ends = np.searchsorted(c_sorted, np.arange(clusters), side="right")
    base = np.where(starts > 0, csum[np.maximum(starts - 1, 0)], 0.0)
    total = csum[np.maximum(ends - 1, 0)] - base
    ccdf = (csum - base[c_sorted]) / total[c_sorted] + c_sorted
    ccdf[ends[ends > starts] - 1] = np.arange(clusters)[ends > starts] + 1.0  # exact ends

    # Repeated (user, item) draws collapse, so the number of draws is
    # calibrated (deterministically) until the distinct pairs are within 2%
    # of `interactions`.
    draws = int(interactions * 1.2)
    for attempt in range(6):
        out = _draw(np.random.default_rng([seed, attempt]), users, items, draws,
                    user_cluster, order, ccdf, gcdf)
        nnz = out["indices"].size
        if abs(nnz - interactions) <= 0.02 * interactions:
            break
        draws = int(draws * (interactions / nnz) ** 1.3)
    out.update(shape=np.array([users, items], dtype=np.int64),
               user_cluster=user_cluster.astype(np.int32),
               item_cluster=item_cluster.astype(np.int32))
    return out


def _draw(rng, users, items, draws, user_cluster, order, ccdf, gcdf):
    import numpy as np

    sigma = 1.1
    mu = np.log(draws / users) - sigma**2 / 2
    counts = np.maximum(1, np.rint(rng.lognormal(mu, sigma, size=users))).astype(np.int64)
    counts = np.minimum(counts, items // 2)
    uid = np.repeat(np.arange(users, dtype=np.int64), counts)
    n = uid.size

    in_cluster = rng.random(n) < 0.75
    u01 = rng.random(n)
    item = np.empty(n, dtype=np.int64)
    ic = np.flatnonzero(in_cluster)
    pos = np.searchsorted(ccdf, user_cluster[uid[ic]] + u01[ic], side="right")
    item[ic] = order[np.minimum(pos, items - 1)]
    gl = np.flatnonzero(~in_cluster)
    item[gl] = np.minimum(np.searchsorted(gcdf, u01[gl], side="right"), items - 1)
    del u01, in_cluster, ic, gl, pos

    keys, vals = np.unique(uid * items + item, return_counts=True)
    del uid, item
    rows = keys // items
    indices = (keys % items).astype(np.int32)
    indptr = np.zeros(users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=users), out=indptr[1:])
    data = np.minimum(vals, MAX_COUNT).astype(np.float32)
    return dict(indptr=indptr, indices=indices, data=data, draws=np.array(n, dtype=np.int64))


def load_data(size, create=True, shape="skewed"):
    """(csr_matrix float32, dict of extras, info dict); cached as .npz."""
    import numpy as np
    import scipy.sparse as sp

    path = data_path(size, shape)
    info = {"shape": shape, "cache_file": str(path.relative_to(ROOT)), "seed": DATA_SEED,
            **SIZES[size]}
    if shape == "uniform":
        del info["clusters"]
    if path.exists():
        t0 = time.perf_counter()
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        info["generated"] = False
        info["load_s"] = round(time.perf_counter() - t0, 3)
    else:
        if not create:
            raise RuntimeError(f"{path} missing")
        log(f"generating {shape} synthetic data {SIZES[size]} seed={DATA_SEED}")
        t0 = time.perf_counter()
        gen = generate_uniform if shape == "uniform" else generate
        arrays = gen(seed=DATA_SEED, **SIZES[size])
        info["generated"] = True
        info["generate_s"] = round(time.perf_counter() - t0, 3)
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # uncompressed: loads fast, few temporaries
        os.replace(tmp, path)
        log(f"generated in {info['generate_s']}s -> {path}")
    users, items = (int(v) for v in arrays["shape"])
    X = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                      shape=(users, items), copy=False)
    info["nnz"] = int(X.nnz)
    info["draws"] = int(arrays["draws"])
    extras = {"user_cluster": arrays["user_cluster"], "item_cluster": arrays["item_cluster"]}
    return X, extras, info


def data_stats(X):
    import numpy as np

    per_user = np.diff(X.indptr)
    per_item = np.bincount(X.indices, minlength=X.shape[1])
    top = np.sort(per_item)[::-1]
    return {
        "density": X.nnz / (X.shape[0] * X.shape[1]),
        "user_interactions_p50": float(np.median(per_user)),
        "user_interactions_p99": float(np.percentile(per_user, 99)),
        "user_interactions_max": int(per_user.max()),
        "empty_users": int((per_user == 0).sum()),
        "empty_items": int((per_item == 0).sum()),
        "top1pct_items_share": float(top[: max(1, len(top) // 100)].sum() / X.nnz),
        "value_mean": float(X.data.mean()),
        "value_max": float(X.data.max()),
    }


# ------------------------------------------------------------------ models --

def make_model(lib, use_cg, iterations):
    s = SETTINGS
    if lib == "implicit":
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=s["factors"], regularization=s["regularization"], alpha=s["alpha"],
            iterations=iterations, use_cg=use_cg, num_threads=s["num_threads"],
            random_state=MODEL_SEED, calculate_training_loss=False,
        )
    import sightline

    # implicit's objective: a plain regularisation (no frequency scaling).
    return sightline.ALS(
        factors=s["factors"], regularization=s["regularization"], alpha=s["alpha"],
        regularization_exponent=0.0,
        iterations=iterations, use_cg=use_cg, num_threads=s["num_threads"],
        random_state=MODEL_SEED, calculate_training_loss=False,
    )


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def machine_busy_seconds():
    """CPU seconds all processes on the machine have used (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    busy = sum(v[:8]) - v[3] - v[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def wait_idle(timeout):
    """Waits (up to `timeout` s) until other processes use < 0.15 cores
    over 3 consecutive 2-second windows."""
    deadline, quiet, last_log = time.monotonic() + timeout, 0, -1e9
    while time.monotonic() < deadline:
        b0, t0 = machine_busy_seconds(), time.monotonic()
        time.sleep(2)
        cores = (machine_busy_seconds() - b0) / (time.monotonic() - t0)
        quiet = quiet + 1 if cores < 0.15 else 0
        if quiet >= 3:
            log("machine is idle")
            return True
        if quiet == 0 and time.monotonic() - last_log >= 30:
            last_log = time.monotonic()
            log(f"waiting for an idle machine: others use {cores:.2f} cores")
    log("warning: machine still busy after --wait-idle timeout; timings will be noisy")
    return False


def timed_fit(lib, use_cg, X):
    """Times the whole `fit` call, from the user's CSR matrix to a fitted
    model (set-up included), and each iteration with a callback that
    time-stamps it (perf_counter, the same clock for both libraries).
    Iteration 1 includes set-up (conversion, transpose, init), so the
    per-iteration median uses iterations 2..n and set-up is estimated as
    the first interval minus that median."""
    import numpy as np

    iterations = SETTINGS["iterations"]
    model = make_model(lib, use_cg, iterations)
    stamps, reported = [], []

    def callback(iteration, seconds, loss):
        stamps.append(time.perf_counter())
        reported.append(float(seconds))

    c0, m0 = cpu_seconds(), machine_busy_seconds()
    t0 = time.perf_counter()
    model.fit(X, show_progress=False, callback=callback)
    total = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    foreign = None if m0 is None else max(0.0, (machine_busy_seconds() - m0 - cpu) / total)
    if len(stamps) != iterations:
        raise RuntimeError(f"{lib}: callback called {len(stamps)} times, expected {iterations}")
    per_iter = np.diff([t0] + stamps)
    steady = per_iter[1:]
    return model, {
        "iter_median_s": float(np.median(steady)),
        "iter_min_s": float(steady.min()),
        "first_iter_s": float(per_iter[0]),
        "setup_s": float(max(0.0, per_iter[0] - np.median(steady))),
        "total_s": float(total),
        "cpu_util": float(cpu / total),
        # cores that other processes used meanwhile (noise indicator)
        "foreign_cores": None if foreign is None else round(foreign, 3),
        "per_iter_s": [round(float(v), 4) for v in per_iter],
        # implicit reports each iteration's seconds; sightline the seconds since fit start
        "callback_seconds": [round(v, 4) for v in reported],
    }


def check_factors(lib, model):
    import numpy as np

    for name in ("user_factors", "item_factors"):
        f = np.asarray(getattr(model, name))
        if not np.isfinite(f).all():
            raise RuntimeError(f"{lib}: non-finite {name}")


# ------------------------------------------------------------ query timing --

def time_batch(fn, repeats):
    import numpy as np

    fn()  # warm-up (lazy norms, caches, page faults)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_single(fn, args, warmup):
    import numpy as np

    for a in args[:warmup]:
        fn(a)
    lat = np.empty(len(args))
    for j, a in enumerate(args):
        t0 = time.perf_counter()
        fn(a)
        lat[j] = time.perf_counter() - t0
    lat *= 1e3
    return {"p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "mean_ms": float(lat.mean()), "max_ms": float(lat.max())}


def bench_queries(lib, model, X, batch_users, batch_rows, single_users, single_rows, sim_items):
    s = SETTINGS
    N = s["N"]
    out = {}
    sec = time_batch(lambda: model.recommend(batch_users, batch_rows, N=N,
                                             filter_already_liked_items=True),
                     s["batch_repeats"])
    out["recommend_batch_users_per_s"] = len(batch_users) / sec
    out["recommend_batch_s"] = sec
    lat = time_single(
        lambda j: model.recommend(int(single_users[j]), single_rows[j], N=N,
                                  filter_already_liked_items=True),
        list(range(len(single_users))), s["warmup_calls"])
    out.update({f"recommend_single_{k}": v for k, v in lat.items()})
    sec = time_batch(lambda: model.similar_items(sim_items, N=N), s["batch_repeats"])
    out["similar_items_batch_items_per_s"] = len(sim_items) / sec
    out["similar_items_batch_s"] = sec
    lat = time_single(lambda i: model.similar_items(int(i), N=N), list(sim_items),
                      s["warmup_calls"])
    out.update({f"similar_items_single_{k}": v for k, v in lat.items()})
    return out


# ----------------------------------------------------------------- sanity --

def sanity(models, X, extras, users):
    """Not asserted: agreement of the two libraries and with the latent
    structure. For `users`: top-10 (liked filtered) overlap between the
    libraries; share of recommended items in the user's home cluster (vs a
    popularity recommender and the 1/clusters of random); share of the
    unfiltered top-10 that are training items (held-in hit rate)."""
    import numpy as np

    N = SETTINGS["N"]
    rows = X[users]
    ucl = extras["user_cluster"][users]
    icl = extras["item_cluster"]
    clustered = len(np.unique(icl)) > 1  # the uniform set has no latent clusters
    recs, out = {}, {}
    for lib, model in models.items():
        ids, _ = model.recommend(users, rows, N=N, filter_already_liked_items=True)
        ids = np.asarray(ids)
        recs[lib] = ids
        valid = ids >= 0
        if clustered:
            out[f"{lib}_home_cluster_share"] = float(
                (icl[np.where(valid, ids, 0)] == ucl[:, None])[valid].mean())
        held, _ = model.recommend(users, rows, N=N, filter_already_liked_items=False)
        held = np.asarray(held)
        hits = [len(set(h[h >= 0].tolist()) & set(rows.indices[rows.indptr[j]:rows.indptr[j + 1]].tolist()))
                / min(N, rows.indptr[j + 1] - rows.indptr[j]) for j, h in enumerate(held)]
        out[f"{lib}_heldin_hit_at_10"] = float(np.mean(hits))
    a, b = recs["implicit"], recs["sightline"]
    out["top10_overlap"] = float(np.mean([len(set(x[x >= 0].tolist()) & set(y[y >= 0].tolist())) / N
                                          for x, y in zip(a, b)]))
    out["n_users"] = len(users)
    if not clustered:
        return out
    # popularity baseline for the home-cluster share
    pop = np.argsort(-np.bincount(X.indices, minlength=X.shape[1]), kind="stable")
    shares = []
    for j in range(len(users)):
        liked = set(rows.indices[rows.indptr[j]:rows.indptr[j + 1]].tolist())
        top = [i for i in pop[: N + len(liked)] if i not in liked][:N]
        shares.append(np.mean(icl[top] == ucl[j]))
    out["popularity_home_cluster_share"] = float(np.mean(shares))
    out["random_home_cluster_share"] = 1.0 / len(np.unique(icl))
    return out


# -------------------------------------------------------------------- RSS --

def proc_status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_child(lib, size, shape):
    """Hidden mode: load the cached data, import the library, fit (CG) and
    print one JSON line with the RSS before and the peak after.

    The peak is VmHWM of /proc/self/status, reset after loading (writing 5
    to /proc/self/clear_refs) so that it covers the fit alone.
    getrusage().ru_maxrss is printed too, but on Linux it is useless here:
    a child inherits its parent's high-water mark through fork+exec (the
    kernel folds the pre-exec mm into signal->maxrss), so it reports the
    benchmark parent's peak, not the fit's."""
    X, _, _ = load_data(size, create=False, shape=shape)
    if lib == "implicit":
        import implicit.cpu.als  # noqa: F401
    matches = installed_matches_build() if lib == "sightline" else None
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        base_rss = proc_status_kib("VmRSS")
        load_hwm = proc_status_kib("VmHWM")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            reset = True
        except OSError:
            reset = False
        base_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model = make_model(lib, True, SETTINGS["rss_iterations"])
        model.fit(X, show_progress=False)
        peak = proc_status_kib("VmHWM")
        peak_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"lib": lib, "baseline_rss_kib": base_rss, "load_hwm_kib": load_hwm,
                      "hwm_reset": reset, "peak_hwm_kib": peak,
                      "ru_maxrss_before_kib": base_maxrss, "ru_maxrss_after_kib": peak_maxrss,
                      "sightline_matches_build": matches}))


def measure_rss(lib, size, shape):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-child", lib,
           "--shape", shape, "--_bootstrapped"]
    if size == "quick":
        cmd.append("--quick")
    log(f"{shape}: peak RSS of a CG fit ({SETTINGS['rss_iterations']} iterations): {lib} (subprocess)")
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    d = json.loads(res.stdout.strip().splitlines()[-1])
    mib = lambda kib: kib / 1024.0  # noqa: E731
    return {"baseline_mib": mib(d["baseline_rss_kib"]),
            "peak_mib": mib(d["peak_hwm_kib"]),
            "delta_mib": mib(d["peak_hwm_kib"] - d["baseline_rss_kib"]),
            "load_peak_mib": mib(d["load_hwm_kib"]),
            "hwm_reset": d["hwm_reset"],
            "ru_maxrss_before_mib": mib(d["ru_maxrss_before_kib"]),
            "ru_maxrss_after_mib": mib(d["ru_maxrss_after_kib"]),
            "sightline_matches_build": d.get("sightline_matches_build")}


# ---------------------------------------------------------------- context --

def machine_info():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {"cpu_model": cpu, "nproc": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)), "mem_gib": mem,
            "platform": platform.platform()}


def cmd_out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def versions():
    import implicit
    import numpy
    import scipy
    import sightline
    import threadpoolctl

    blas = [{k: i.get(k) for k in ("internal_api", "version", "num_threads", "filepath")}
            for i in threadpoolctl.threadpool_info()]
    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "implicit": implicit.__version__,
            "sightline": sightline.__version__, "threadpoolctl": threadpoolctl.__version__,
            "rustc": cmd_out(["rustc", "--version"]),
            "maturin": cmd_out([str(VENV / "bin" / "maturin"), "--version"]),
            "threadpools": blas}


# ------------------------------------------------------------------ report --

def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.3f}"
    return f"{v:.4f}"


def run_shape(shape, size, wait_idle_s):
    """Every timing on one data shape; returns the shape's report."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    X, extras, data_info = load_data(size, shape=shape)
    data_info.update(data_stats(X))
    log(f"{shape}: {X.shape[0]} users x {X.shape[1]} items, nnz={X.nnz:,}")

    rng = np.random.default_rng(SAMPLE_SEED)
    s = SETTINGS
    batch_users = np.sort(rng.choice(X.shape[0], size=min(s["n_batch_users"], X.shape[0]),
                                     replace=False)).astype(np.int64)
    batch_rows = X[batch_users]
    single_users = rng.choice(X.shape[0], size=s["n_single_users"], replace=False).astype(np.int64)
    single_rows = [X[int(u)] for u in single_users]  # one-row CSR each, sliced before timing
    sim_items = rng.choice(X.shape[1], size=min(s["n_similar_items"], X.shape[1]),
                           replace=False).astype(np.int64)
    active = np.flatnonzero(np.diff(X.indptr) >= 5)
    sanity_users = np.sort(rng.choice(active, size=s["n_sanity_users"], replace=False)).astype(np.int64)

    if wait_idle_s > 0:
        wait_idle(wait_idle_s)
    load_before = os.getloadavg()
    busy0, wall0 = machine_busy_seconds(), time.perf_counter()
    own0 = cpu_seconds()
    if load_before[0] > 0.5:
        log(f"warning: load average {load_before[0]:.2f} before timing: other processes "
            "share the CPU, timings will be noisy")
    results = {"implicit": {}, "sightline": {}}
    fits = {"implicit": {}, "sightline": {}}
    models = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for solver, use_cg in (("cg", True), ("cholesky", False)):
            for lib in ("implicit", "sightline"):
                log(f"{shape}: fit {lib} solver={solver} iterations={s['iterations']}")
                model, f = timed_fit(lib, use_cg, X)
                check_factors(lib, model)
                fits[lib][solver] = f
                log(f"  whole call {f['total_s']:.2f}s, median iteration {f['iter_median_s']:.3f}s, "
                    f"set-up ~{f['setup_s']:.3f}s, cpu util {f['cpu_util']:.2f}, "
                    f"other processes {f['foreign_cores']} cores")
                if use_cg:
                    models[lib] = model
                else:
                    del model
        for lib in ("implicit", "sightline"):
            log(f"{shape}: queries {lib}")
            results[lib] = bench_queries(lib, models[lib], X, batch_users, batch_rows,
                                         single_users, single_rows, sim_items)
        log(f"{shape}: sanity")
        sanity_out = sanity(models, X, extras, sanity_users)
    del models
    # cores other processes used during the in-process timings (noise indicator)
    foreign_cores = None
    if busy0 is not None:
        wall = time.perf_counter() - wall0
        foreign_cores = max(0.0, (machine_busy_seconds() - busy0 - (cpu_seconds() - own0)) / wall)
        if foreign_cores > 0.1:
            log(f"warning: other processes used {foreign_cores:.2f} cores on average while timing")
    del X, batch_rows, single_rows
    rss = {lib: measure_rss(lib, size, shape) for lib in ("implicit", "sightline")}
    load_after = os.getloadavg()

    metrics = {}

    def add(name, unit, better, imp, sig):
        ratio = (sig / imp) if imp not in (None, 0) and sig is not None else None
        m = {"unit": unit, "better": better, "implicit": imp, "sightline": sig, "ratio": ratio}
        if name in TARGETS:
            op, thr = TARGETS[name]
            m["target"] = f"{op} {thr}"
            m["pass"] = bool(ratio is not None and (ratio <= thr if op == "<=" else ratio >= thr))
        metrics[name] = m

    for solver in ("cg", "cholesky"):
        fi, fs = fits["implicit"][solver], fits["sightline"][solver]
        add(f"fit_{solver}_total_s", "s", "lower", fi["total_s"], fs["total_s"])
        add(f"fit_{solver}_iter_s", "s", "lower", fi["iter_median_s"], fs["iter_median_s"])
        add(f"fit_{solver}_setup_s", "s", "lower", fi["setup_s"], fs["setup_s"])
        add(f"fit_{solver}_cpu_util", "cores", "info", fi["cpu_util"], fs["cpu_util"])
    ri, rs = results["implicit"], results["sightline"]
    add("recommend_batch_users_per_s", "users/s", "higher",
        ri["recommend_batch_users_per_s"], rs["recommend_batch_users_per_s"])
    add("recommend_single_p50_ms", "ms", "lower", ri["recommend_single_p50_ms"], rs["recommend_single_p50_ms"])
    add("recommend_single_p99_ms", "ms", "lower", ri["recommend_single_p99_ms"], rs["recommend_single_p99_ms"])
    add("similar_items_batch_items_per_s", "items/s", "higher",
        ri["similar_items_batch_items_per_s"], rs["similar_items_batch_items_per_s"])
    add("similar_items_single_p50_ms", "ms", "lower",
        ri["similar_items_single_p50_ms"], rs["similar_items_single_p50_ms"])
    add("similar_items_single_p99_ms", "ms", "lower",
        ri["similar_items_single_p99_ms"], rs["similar_items_single_p99_ms"])
    add("fit_cg_baseline_rss_mib", "MiB", "info", rss["implicit"]["baseline_mib"], rss["sightline"]["baseline_mib"])
    add("fit_cg_peak_rss_mib", "MiB", "lower", rss["implicit"]["peak_mib"], rss["sightline"]["peak_mib"])
    add("fit_cg_delta_rss_mib", "MiB", "lower", rss["implicit"]["delta_mib"], rss["sightline"]["delta_mib"])
    passed = [m["pass"] for m in metrics.values() if "pass" in m]
    return {
        "data": data_info,
        "machine": {"loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in load_after],
                    "foreign_cores_during_timing": None if foreign_cores is None else round(foreign_cores, 3)},
        "all_targets_pass": all(passed),
        "metrics": metrics,
        "fits": fits,
        "queries": results,
        "rss": rss,
        "sanity": sanity_out,
    }


def print_shape(shape, r, git):
    s = SETTINGS
    d = r["data"]
    header = ("metric", "unit", "implicit", "sightline", "ratio s/i", "target", "result")
    rows = [header]
    for name, m in r["metrics"].items():
        rows.append((name, m["unit"], fmt(m["implicit"]), fmt(m["sightline"]),
                     "-" if m["ratio"] is None else f"{m['ratio']:.3f}",
                     m.get("target", ""), ("PASS" if m["pass"] else "FAIL") if "pass" in m else ""))
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    line = lambda row: "  ".join(v.ljust(w) if c == 0 else v.rjust(w)  # noqa: E731
                                 for c, (v, w) in enumerate(zip(row, widths)))
    print()
    print(f"sightline vs implicit — {shape} data: {d['users']:,} users x {d['items']:,} items, "
          f"nnz {d['nnz']:,}; factors {s['factors']}, reg {s['regularization']}, alpha {s['alpha']}, "
          f"{s['num_threads']} threads, BLAS 1 thread, {s['iterations']} iterations (fit = whole call); "
          f"built from git {git.get('commit')}"
          f"{' + uncommitted core/bindings changes' if git.get('uncommitted_core_bindings') else ''}")
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows[1:]:
        print(line(row))
    passed = [m["pass"] for m in r["metrics"].values() if "pass" in m]
    print(f"targets ({shape}): {sum(passed)}/{len(passed)} pass")
    foreign = r["machine"]["foreign_cores_during_timing"]
    if foreign is not None:
        print(f"other processes used {foreign:.2f} of {os.cpu_count()} cores on average while timing"
              + (" — timings are NOISY" if foreign > 0.1 else ""))
    print("sanity (not asserted): " + ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r["sanity"].items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="20k users x 5k items x ~500k interactions per shape (CI smoke)")
    ap.add_argument("--shape", choices=[*SHAPES, "all"], default="all",
                    help="data shape(s) to measure (default: all, each reported separately)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before timing each shape, wait up to SECONDS for other processes to go quiet")
    ap.add_argument("--json-out", metavar="FILE",
                    help="also write the JSON report to FILE (e.g. benches/results/als_vs_implicit.json)")
    ap.add_argument("--rss-child", choices=["implicit", "sightline"], help=argparse.SUPPRESS)
    ap.add_argument("--_bootstrapped", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    size = "quick" if args.quick else "full"

    if not args._bootstrapped:
        bootstrap()
        os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()),
                                *sys.argv[1:], "--_bootstrapped"])
    if not in_venv():
        log(f"warning: running outside {VENV} (sys.prefix={sys.prefix})")

    if args.rss_child:
        rss_child(args.rss_child, size, args.shape)
        return 0

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    git = json.loads(os.environ.get("ALS_VS_IMPLICIT_BUILD", "{}"))
    if os.environ.get("SIGHTLINE_NUM_THREADS"):
        log(f"warning: SIGHTLINE_NUM_THREADS={os.environ['SIGHTLINE_NUM_THREADS']} caps sightline's threads")
    git["installed_matches_build"] = installed_matches_build()  # imports sightline now

    shapes = SHAPES if args.shape == "all" else (args.shape,)
    per_shape = {}
    for shape in shapes:
        per_shape[shape] = run_shape(shape, size, args.wait_idle)
        print_shape(shape, per_shape[shape], git)
    passed = [m["pass"] for r in per_shape.values() for m in r["metrics"].values() if "pass" in m]
    print(f"\ntargets, all shapes: {sum(passed)}/{len(passed)} pass\n")

    s = SETTINGS
    report = {
        "benchmark": "als_vs_implicit",
        "mode": size,
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": git,
        "machine": machine_info(),
        "versions": versions(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                               "OMP_NUM_THREADS", "SIGHTLINE_NUM_THREADS",
                                               "RUSTFLAGS")},
        "settings": {**s, "model_seed": MODEL_SEED, "sample_seed": SAMPLE_SEED,
                     "cg_steps_both": 3,
                     "fit_method": "whole fit() call from the user's CSR matrix to a fitted model "
                                   "(set-up included), perf_counter",
                     "per_iter_method": "median of perf_counter deltas between successive fit "
                                        "callbacks (both libraries), iterations 2..n; set-up = "
                                        "first interval minus that median"},
        "targets": {k: f"{op} {thr}" for k, (op, thr) in TARGETS.items()},
        "all_targets_pass": all(passed),
        "shapes": per_shape,
    }
    text = json.dumps(report, separators=(",", ":"))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(report, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
