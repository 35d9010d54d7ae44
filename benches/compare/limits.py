#!/usr/bin/env python3
"""What this machine could do at best, against what the side-by-side runs
measured: bytes moved and flops of each measured operation, divided by the
machine's memory bandwidth and sgemm peak, measured here and now.

    python3 benches/compare/limits.py --json-out benches/results/limits.json

Reads benches/results/als_vs_implicit.json and ann_vs_hnswlib.json (data
sizes, measured times);
measures with numpy (the comparison venv, created by als_vs_implicit.py):

* memory bandwidth: ``np.copyto`` of a 512 MiB float32 array (read + write
  counted), on 1 and on 2 threads (halves in parallel; numpy releases the
  GIL), best of 5; L3 bandwidth the same on 4 MiB, 50 copies per timing;
* sgemm peak: ``a @ b`` on 2048 x 2048 float32, BLAS on 1 and on 2 threads,
  best of 5.

The work model of each operation (what sightline does; ``k`` factors, ``z``
interactions, ``U`` users, ``I`` items, both sides per iteration):

* CG iteration (3 steps): every interaction gathers one bf16 row of the
  other side once (``2k`` bytes; user rows 25.6 MB and item rows 2.5 MB sit
  in the 32 MB L3, so this is a lower bound on traffic), four passes over the
  packed rows (residual + 3 steps) each ``4k`` flops per interaction, and a
  Gram product (``2k^2``) per row per pass;
* Cholesky iteration: per interaction a rank-1 term of the lower triangle
  (``k^2`` flops, as a syrk), per row a Cholesky factorisation and two
  triangular solves (``k^3/3 + 2k^2``); gathers in f32 (``4k`` bytes);
* batch recommend and similar_items batch: the exact index's int8 scan
  (of the item factors, or of their unit rows) reads ``k`` bytes per item
  per query from L3 and does ``k`` int8 multiply-adds per item, a quarter
  of an f32 one's cost each (VNNI). This is a full-scan bound: most rows
  are ruled out in bulk, and recommend's scan ends where the item norms
  left cannot reach the top k, so both can beat it;
* ANN (ann_vs_hnswlib.json, one query thread): the exact int8 scan reads
  ``n * dim`` bytes per query (int8 work as above); an HNSW query at ef = 10 scores at most
  ``ef * 2M`` neighbours (vector and links each). Random node reads are
  latency-bound, so the bandwidth limit is optimistic there.

Prints, as the last line of stdout, one JSON object (``rows``: per set and
operation the bytes, flops, the two times they need, the limit, sightline's
measured figure and ``times_limit``, measured over limit as time); tables.py
renders it (``tables:limits``).
"""

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV_PY = HERE / ".venv" / "bin" / "python"


def reexec_in_venv():
    """numpy and threadpoolctl come from the comparison venv."""
    if Path(sys.prefix).resolve() != (HERE / ".venv").resolve():
        if not VENV_PY.exists():
            sys.exit("limits.py: run als_vs_implicit.py first (it creates benches/compare/.venv)")
        os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])


def best(f, repeats=5):
    """Least wall time of `repeats` calls of `f`."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def bandwidth(np, threads, mib=512, rounds=1):
    """Bytes per second of copying `mib` MiB (read + write counted) on
    `threads` threads, `rounds` times per timing: 512 MiB streams from
    memory, 4 MiB stays in the L3 cache."""
    n = mib * 2**20 // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.zeros(n, dtype=np.float32)
    parts = np.array_split(np.arange(n), threads)
    bounds = [(p[0], p[-1] + 1) for p in parts]

    def part(a, b):
        for _ in range(rounds):
            np.copyto(dst[a:b], src[a:b])

    def copy():
        ts = [threading.Thread(target=part, args=ab) for ab in bounds]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    return rounds * 2 * 4 * n / best(copy)


def sgemm_peak(np, threads):
    """Flops per second of a 2048^3 float32 matrix product."""
    from threadpoolctl import threadpool_limits

    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b
        return 2 * n**3 / best(lambda: a @ b)


# An int8 multiply-add (VNNI: 4 per 32-bit lane) costs a quarter of an f32 one.
INT8 = 0.25


def als_work(data, k, cg_steps):
    """(operation, bytes, flops, per, cached) for one ALS data shape; `per`
    is the number of queries the counts are for (None: one fit iteration),
    `cached` whether the bytes come from the L3 cache rather than memory."""
    z, users, items = data["nnz"], data["users"], data["items"]
    rows = users + items
    passes = cg_steps + 1
    return [
        ("fit_cg_iter_s", 2 * z * 2 * k, passes * (2 * z * 4 * k + rows * 2 * k * k), None, False),
        ("fit_cholesky_iter_s", 2 * z * 4 * k,
         2 * z * k * k + rows * (k**3 / 3 + 2 * k * k), None, False),
        ("recommend_batch_users_per_s", items * k, INT8 * 2 * k * items, 1, True),
        ("similar_items_batch_items_per_s", items * k, INT8 * 2 * k * items, 1, True),
    ]


def ann_work(s, m0=32):
    """(operation, bytes, flops, per, cached) for one ANN set: the exact int8
    scan reads `n * dim` bytes per query; an HNSW query at ef = 10 (k = 11)
    scores at most `ef * 2M` neighbours of `dim` floats (plus their links)."""
    n, dim, ef = s["n"], s["dim"], 11
    return [
        ("exact_qps", n * dim, INT8 * 2 * n * dim, 1, True),
        ("qps_at_recall_95", ef * m0 * (4 * dim + 4 * m0), ef * m0 * 2 * dim, 1, True),
    ]


def row(what, op, nbytes, flops, per, measured, bw, peak):
    """One comparison: the time the bytes and the flops need at the
    machine's rates, the larger of the two as the limit, and the measured
    figure over it (rates are compared as time per query)."""
    t_bytes, t_flops = nbytes / bw, flops / peak
    limit = max(t_bytes, t_flops)
    measured_t = measured if per is None else per / measured
    return {"set": what, "operation": op, "bytes": nbytes, "flops": flops,
            "t_bytes_s": t_bytes, "t_flops_s": t_flops,
            "limit": limit if per is None else per / limit,
            "unit": "s" if per is None else "/s", "sightline": measured,
            "times_limit": measured_t / limit}


def main():
    reexec_in_venv()
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=str(ROOT / "benches/results"),
                    help="directory of als_vs_implicit.json and ann_vs_hnswlib.json")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    results = Path(args.results)
    als = json.loads((results / "als_vs_implicit.json").read_text())
    ann = json.loads((results / "ann_vs_hnswlib.json").read_text())
    k = als["settings"]["factors"]
    steps = als["settings"]["cg_steps_both"]

    machine = {
        "bandwidth_gbs_1t": bandwidth(np, 1) / 1e9,
        "bandwidth_gbs_2t": bandwidth(np, 2) / 1e9,
        "l3_bandwidth_gbs_1t": bandwidth(np, 1, mib=4, rounds=50) / 1e9,
        "l3_bandwidth_gbs_2t": bandwidth(np, 2, mib=4, rounds=50) / 1e9,
        "sgemm_gflops_1t": sgemm_peak(np, 1) / 1e9,
        "sgemm_gflops_2t": sgemm_peak(np, 2) / 1e9,
    }

    def rates(threads, cached):
        """(bytes/s, flops/s) on `threads` threads."""
        bw = f"{'l3_' if cached else ''}bandwidth_gbs_{threads}t"
        return machine[bw] * 1e9, machine[f"sgemm_gflops_{threads}t"] * 1e9

    # Fits and batches use both cores; ANN queries run on one thread.
    rows = []
    for shape, r in als["shapes"].items():
        for op, nbytes, flops, per, cached in als_work(r["data"], k, steps):
            rows.append(row(shape, op, nbytes, flops, per, r["metrics"][op]["sightline"],
                            *rates(2, cached)))
    for name, s in ann["sets"].items():
        for op, nbytes, flops, per, cached in ann_work(s):
            rows.append(row(name, op, nbytes, flops, per, ann["metrics"][f"{op}_{name}"]["sightline"],
                            *rates(1, cached)))
    out = {"benchmark": "limits", "mode": "full",
           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "git": {"commit": (als.get("git") or {}).get("commit"),
                   "ann_commit": (ann.get("git") or {}).get("commit")},
           "machine": machine, "rows": rows}
    print(json.dumps(machine), file=sys.stderr)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
