#!/usr/bin/env python3
"""Rewrites the performance tables of README.md and benches/README.md from
the JSON result files in benches/results/ (one run per script).

    python3 benches/compare/tables.py           # rewrite the tables in place
    python3 benches/compare/tables.py --check   # exit 1 if they differ from the JSON

Each table sits between marker comments, ``<!-- tables:NAME:begin -->`` and
``<!-- tables:NAME:end -->``; everything between them is generated. Names:

* ``als`` / ``als-detail``: benches/results/als_vs_implicit.json
  (``als_vs_implicit.py --json-out ...``), one column group per data shape;
* ``ann`` / ``ann-detail``: benches/results/ann_vs_hnswlib.json;
* ``single-call`` / ``single-call-detail``: benches/results/single_call.json
  (``single_call.py``), when present;
* ``limits``: benches/results/limits.json (``limits.py``), the machine's
  limit for each measured operation.

Every table names the commit and start time of its run and marks every
target PASS or FAIL. Standard library only (runs outside the venv).
"""

import argparse
import difflib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS = ROOT / "benches" / "results"
DOCS = [ROOT / "README.md", ROOT / "benches" / "README.md"]

# README rows of the ALS table: (metric key, label); every targeted metric
# is shown wherever it sits.
ALS_SHORT = [
    ("fit_cg_total_s", "ALS fit, whole call, CG"),
    ("fit_cg_iter_s", "ALS iteration, CG (median)"),
    ("fit_cholesky_total_s", "ALS fit, whole call, Cholesky"),
    ("fit_cholesky_iter_s", "ALS iteration, Cholesky (median)"),
    ("recommend_batch_users_per_s", "batch recommend, 10k users"),
    ("recommend_single_p50_ms", "single recommend p50"),
    ("recommend_single_p99_ms", "single recommend p99"),
    ("similar_items_batch_items_per_s", "similar_items, 1000 at once"),
    ("similar_items_single_p50_ms", "similar_items, one at a time, p50"),
    ("similar_items_single_p99_ms", "similar_items, one at a time, p99"),
    ("fit_cg_peak_rss_mib", "peak RSS of a CG fit (data included)"),
]
ANN_SETS = ["lowrank_20k", "lowrank_100k", "als_uniform", "als_skewed"]
ANN_KINDS = [("qps_at_recall_95", "HNSW QPS at recall@10 = 0.95, item to item", "hnswlib"),
             ("build_s", "HNSW build, 2 threads (s)", "hnswlib"),
             ("exact_qps", "exact search QPS, item to item", "numpy"),
             ("qps_at_recall_95_vector", "HNSW QPS at recall@10 = 0.95, vector queries", "hnswlib")]


def num(v):
    """Compact number: 3 significant figures, thousands as k/M."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if a >= 1000:
        return f"{v:,.0f}"
    if a == 0:
        return "0"
    return f"{v:.3g}"


def ratio(v):
    return "–" if v is None else f"{v:.2f}×"


def verdict(m):
    if m.get("pass") is None:
        return ""
    return "**PASS**" if m["pass"] else "**FAIL**"


def target(m):
    t = m.get("target")
    return "" if not t else str(t).replace(">=", "≥").replace("<=", "≤") + "×"


def run_line(r, extra=""):
    git = r.get("git") or {}
    dirty = " + uncommitted core/bindings changes" if git.get("uncommitted_core_bindings") else ""
    busy = (r.get("machine") or {}).get("foreign_cores_during_timing")
    busy_text = f"; other processes used {busy:.2f} of {r['machine'].get('nproc', 2)} cores while timing" \
        if isinstance(busy, (int, float)) else ""
    return (f"Run: `{r.get('benchmark', '?')}` ({r.get('mode', '?')}), commit `{git.get('commit', '?')}`{dirty}, "
            f"started {r.get('started', '?')}{busy_text}{extra}.")


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def tally(ms):
    p = [m["pass"] for m in ms if m.get("pass") is not None]
    return f"Targets: {sum(p)}/{len(p)} pass."


# --------------------------------------------------------------------- ALS --

def als_shape_foreign(r, shape):
    return r["shapes"][shape]["machine"].get("foreign_cores_during_timing")


def als_block(r, detail):
    shapes = list(r["shapes"])
    lines = []
    if not detail:
        d = r["shapes"][shapes[0]]["data"]
        lines.append(f"Same settings for both libraries: {d['users']:,} users × {d['items']:,} items, "
                     f"64 factors, regularization 0.01, alpha 1, 2 threads, {r['settings']['iterations']} iterations, "
                     "CG with 3 steps; fit is the whole call from a CSR matrix to a fitted model. "
                     "Data shapes: " + "; ".join(
                         f"{s} ({r['shapes'][s]['data']['nnz'] / 1e6:.1f}M non-zeros)" for s in shapes)
                     + ".")
        lines.append("")
    keys = [k for k, _ in ALS_SHORT] if not detail else list(r["shapes"][shapes[0]]["metrics"])
    labels = dict(ALS_SHORT)
    head = ["metric", "target"]
    for s in shapes:
        head += [f"{s}: implicit / sightline", "ratio", "result"]
    rows = []
    for k in keys:
        ms = [r["shapes"][s]["metrics"].get(k) for s in shapes]
        if all(m is None for m in ms):
            continue
        unit = next(m["unit"] for m in ms if m)
        row = [(labels.get(k, k) if not detail else f"`{k}`") + f" ({unit})",
               target(next(m for m in ms if m))]
        for m in ms:
            row += [f"{num(m['implicit'])} / {num(m['sightline'])}", ratio(m["ratio"]), verdict(m)] \
                if m else ["–", "–", ""]
        rows.append(row)
    lines += table(head, rows)
    lines.append("")
    busy = ", ".join(f"{s} {als_shape_foreign(r, s):.2f}" for s in shapes
                     if als_shape_foreign(r, s) is not None)
    lines.append(run_line({**r, "machine": {}},
                          f"; cores used by other processes while timing: {busy}" if busy else "")
                 + " " + tally(m for s in shapes for m in r["shapes"][s]["metrics"].values()))
    if detail:
        lines.append("")
        stats = [("non-zeros", "nnz"), ("per user p50", "user_interactions_p50"),
                 ("per user p99", "user_interactions_p99"), ("top 1 % items' share", "top1pct_items_share"),
                 ("mean value", "value_mean")]
        lines += table(["data"] + shapes,
                       [[label] + [num(r["shapes"][s]["data"].get(key)) for s in shapes]
                        for label, key in stats])
    return lines


# --------------------------------------------------------------------- ANN --

def ge(r, kind, key, lib):
    """"≥ " when a library's QPS at recall 0.95 is its smallest ef's (that
    ef already exceeded 0.95, so its QPS at 0.95 is at least that)."""
    if not kind.startswith("qps_at_recall_95"):
        return ""
    flag = "bracketed_vector" if kind.endswith("_vector") else "bracketed"
    st = r["sets"][key][lib]
    return "≥ " if st.get(flag) is False and st.get(kind) is not None else ""


def ann_block(r, detail):
    m = r["metrics"]
    s = r["settings"]
    lines = [f"Cosine, M {s['M']}, ef_construction {s['ef_construction']}, {s['build_threads']} build "
             f"threads, one query at a time on one thread, k {s['k']}, {s['queries']} queries per set. "
             "Item to item: each library asked for k + 1 and the query item dropped; QPS interpolated "
             "at recall 0.95 (log-linear between the bracketing ef values; ≥ when even the smallest "
             "ef exceeds 0.95).", ""]
    sets = []
    for key in ANN_SETS:
        if f"build_s_{key}" in m:
            n = r["sets"][key]["n"]
            kind = "low-rank" if key.startswith("lowrank") else f"ALS item factors, {key[4:]} set"
            sets.append((key, f"{n / 1000:g}k × {r['sets'][key]['dim']} {kind}"))
    kinds = ANN_KINDS if detail else ANN_KINDS[:3]
    rows = []
    for kind, label, peer in kinds:
        for key, set_label in sets:
            v = m.get(f"{kind}_{key}")
            if v is None:
                continue
            rows.append([f"{label}, {set_label}", f"{ge(r, kind, key, 'hnswlib')}{num(v['peer'])} ({peer})",
                         f"{ge(r, kind, key, 'sightline')}{num(v['sightline'])}", ratio(v["ratio"]),
                         target(v), verdict(v)])
    lines += table(["", "peer", "sightline", "ratio", "target", "result"], rows)
    lines += ["", run_line(r) + " " + tally(m.values())]
    if detail:
        for key, set_label in sets:
            st = r["sets"][key]
            lines += ["", f"Recall@10 / QPS per ef, {set_label} ({st['n']:,} × {st['dim']}), item to item:", ""]
            lines += table(["ef", "hnswlib recall", "hnswlib QPS", "sightline recall", "sightline QPS"],
                           [[h["ef"], f"{h['recall']:.4f}", num(h["qps"]), f"{x['recall']:.4f}", num(x["qps"])]
                            for h, x in zip(st["hnswlib"]["sweep_item"], st["sightline"]["sweep_item"])])
    return lines


# ------------------------------------------------------------- single call --

def single_call_block(r, detail):
    del detail  # one table serves both documents
    rows = [[f"`{k}`", num(m.get("peer")), num(m.get("sightline")), ratio(m.get("ratio")),
             target(m), verdict(m)] for k, m in r["metrics"].items()]
    return table(["metric", "peer", "sightline", "ratio", "target", "result"], rows) + \
        ["", run_line(r) + " " + tally(r["metrics"].values())]


# ------------------------------------------------------------------ limits --

def limits_block(r, detail):
    del detail
    m = r["machine"]
    rows = [[x["set"], f"`{x['operation']}`", num(x["bytes"] / 1e9), num(x["flops"] / 1e9),
             num(x["t_bytes_s"]), num(x["t_flops_s"]), num(x["limit"]) + " " + x["unit"],
             num(x["sightline"]) + " " + x["unit"], f"{x['times_limit']:.1f}×"] for x in r["rows"]]
    head = ["set", "operation", "GB", "GFLOP", "bytes need (s)", "flops need (s)", "limit",
            "sightline", "sightline / limit (time)"]
    return [f"Machine: memory bandwidth (copy) {m['bandwidth_gbs_1t']:.1f} GB/s on 1 thread, "
            f"{m['bandwidth_gbs_2t']:.1f} on 2; L3 (4 MiB copy) {m['l3_bandwidth_gbs_1t']:.0f} / "
            f"{m['l3_bandwidth_gbs_2t']:.0f} GB/s; sgemm {m['sgemm_gflops_1t']:.0f} GFLOP/s on 1 "
            f"thread, {m['sgemm_gflops_2t']:.0f} on 2. Queries: per query (cache-resident data "
            f"against L3 bandwidth); fits: per iteration.",
            ""] + table(head, rows) + ["", f"Measured figures from commit `{r['git']['commit']}` "
                                           f"(ALS) and `{r['git']['ann_commit']}` (ANN); limits measured "
                                           f"{r['started']}."]


SOURCES = {
    "als": ("als_vs_implicit.json", als_block),
    "ann": ("ann_vs_hnswlib.json", ann_block),
    "single-call": ("single_call.json", single_call_block),
    "limits": ("limits.json", limits_block),
}


def block(name, results):
    base, detail = (name[:-len("-detail")], True) if name.endswith("-detail") else (name, False)
    if base not in SOURCES:
        raise SystemExit(f"unknown table marker {name!r}")
    file, render = SOURCES[base]
    path = results / file
    if not path.exists():
        return [f"_No result file `benches/results/{file}` yet._"]
    return render(json.loads(path.read_text()), detail)


def regenerate(text, results=RESULTS):
    out, pos, search = [], 0, 0
    begin = "<!-- tables:"
    while True:
        b = text.find(begin, search)
        if b < 0:
            out.append(text[pos:])
            return "".join(out)
        name_end = text.index(":begin -->", b)
        name = text[b + len(begin):name_end]
        head_end = name_end + len(":begin -->")
        end_marker = f"<!-- tables:{name}:end -->"
        e = text.find(end_marker, head_end)
        if e < 0:
            raise SystemExit(f"missing {end_marker}")
        out.append(text[pos:head_end] + "\n" + "\n".join(block(name, results)) + "\n")
        pos, search = e, e + len(end_marker)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 when a document's tables differ from the JSON")
    ap.add_argument("--results", metavar="DIR", default=str(RESULTS),
                    help="directory of the JSON result files (default benches/results)")
    args = ap.parse_args()
    results = Path(args.results)
    stale = 0
    for doc in DOCS:
        old = doc.read_text()
        new = regenerate(old, results)
        if new == old:
            continue
        if args.check:
            stale += 1
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), str(doc.relative_to(ROOT)) + " (checked in)",
                str(doc.relative_to(ROOT)) + " (from benches/results)"))
        else:
            doc.write_text(new)
            print(f"rewrote the tables in {doc.relative_to(ROOT)}")
    if stale:
        print("tables are stale: run python3 benches/compare/tables.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
