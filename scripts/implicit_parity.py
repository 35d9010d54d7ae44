#!/usr/bin/env python3
"""Generates docs/implicit-parity.md: every public API item of implicit
0.7.3 (found by introspecting the installed implicit) with its status in
``sightline.implicit``.

Usage: python scripts/implicit_parity.py [--check]   (needs implicit==0.7.3
and sightline installed). --check exits 1 when the checked-in table differs.

Every item implicit has must be classified below, and for items marked as
provided the script checks that sightline.implicit has them with every
argument implicit's signature names: an unclassified or missing item is an
error, so the table cannot drift from either library.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "implicit-parity.md"

SAME, NOTE, NOT = "same", "same, with a note", "not provided"

# implicit item -> (status, note). Keys: "module.name" for functions and
# classes, "module.Class.member" for members.
ALS = "implicit.als.AlternatingLeastSquares"
STATUS = {
    # -- implicit.als -------------------------------------------------------
    ALS: (NOTE, "implicit's arguments, order and defaults; `use_gpu=True` raises `ValueError` "
                "(CPU only; implicit's default is 'CUDA available'); factors are computed in "
                "float32 (another `dtype` warns `ParameterWarning`)"),
    f"{ALS}.fit": (NOTE, "same confidence `alpha*w`, plain regularization, CG/Cholesky with f32 "
                         "gathers (`bf16_gathers` off, as implicit computes), initial factors and "
                         "warm start from set factors; negative weights (implicit's dislikes) raise "
                         "`ValueError`"),
    f"{ALS}.recommend": (SAME, "ids and scores identical to float32 tolerance; filtered items last "
                               "at `-FLT_MAX`, then 0/0 padding; ties among filtered items are in "
                               "index order"),
    f"{ALS}.recommend_all": (SAME, "deprecated in implicit, kept with its `DeprecationWarning`"),
    f"{ALS}.rank_items": (SAME, "deprecated in implicit, kept with its `DeprecationWarning`"),
    f"{ALS}.similar_items": (NOTE, "cosine, query included; filtered entries past the eligible "
                                   "ones score `-FLT_MAX` (implicit divides that marker by the "
                                   "query norm)"),
    f"{ALS}.similar_users": (NOTE, "as `similar_items`"),
    f"{ALS}.recalculate_user": (SAME, "exact solve of implicit's system"),
    f"{ALS}.recalculate_item": (SAME, "exact solve of implicit's system"),
    f"{ALS}.partial_fit_users": (SAME, "implicit's growth: zero rows up to `max(userids)`"),
    f"{ALS}.partial_fit_items": (SAME, "implicit's growth: zero rows up to `max(itemids)`"),
    f"{ALS}.explain": (NOTE, "same score and contributions; `user_weights` is a `cho_factor`-style "
                             "`(c, lower)` tuple whose unused triangle is zero"),
    f"{ALS}.save": (SAME, "implicit's `.npz` keys: implicit loads sightline's files and vice versa; "
                          "an unfitted model saves its parameters"),
    f"{ALS}.load": (SAME, "reads implicit's and sightline's `.npz` files"),
    f"{ALS}.to_gpu": (NOTE, "raises `ValueError` (as implicit without CUDA): sightline is CPU only"),
    f"{ALS}.solver": (NOT, "implicit's Cython solver function; the solver is chosen by "
                           "`use_cg` / `cg_steps`"),
    f"{ALS}.YtY": (SAME, ""),
    f"{ALS}.XtX": (SAME, ""),
    f"{ALS}.user_norms": (SAME, ""),
    f"{ALS}.item_norms": (SAME, ""),
    f"{ALS}.user_factors": (NOTE, "float32, read-only: assign a new array to change it (the core "
                                  "serves the assigned factors)"),
    f"{ALS}.item_factors": (NOTE, "as `user_factors`"),
    **{f"{ALS}.{a}": (SAME, "") for a in (
        "factors", "regularization", "alpha", "dtype", "use_native", "use_cg", "iterations",
        "calculate_training_loss", "num_threads", "cg_steps", "fit_callback")},
    f"{ALS}.random_state": (NOTE, "the same initial factors for None, an int or a Generator; a "
                                  "legacy `RandomState` seeds a Generator (implicit 0.7.3 raises "
                                  "`AttributeError` there)"),
    # -- implicit.evaluation ------------------------------------------------
    "implicit.evaluation.train_test_split": (SAME, "the same numpy random stream: the same seed "
                                                   "gives the same split"),
    "implicit.evaluation.leave_k_out_split": (SAME, "the same random streams (implicit shuffles "
                                                    "with numpy's global state)"),
    "implicit.evaluation.ranking_metrics_at_k": (SAME, "implicit's formulas, computed by the core; "
                                                       "works with any implicit-style model"),
    "implicit.evaluation.precision_at_k": (SAME, "pooled over users, as implicit"),
    "implicit.evaluation.mean_average_precision_at_k": (SAME, ""),
    "implicit.evaluation.ndcg_at_k": (SAME, ""),
    "implicit.evaluation.AUC_at_k": (SAME, "implicit's AUC limited to the top K"),
    # -- implicit.nearest_neighbours -----------------------------------------
    **{f"implicit.nearest_neighbours.{n}": (NOT, "implicit's item-kNN gives other numbers than "
                                                 "sightline's co-occurrence core; use "
                                                 "`sightline.CoOccurrence` (BM25, cosine, lift)")
       for n in ("ItemItemRecommender", "CosineRecommender", "TFIDFRecommender",
                 "BM25Recommender", "bm25_weight", "tfidf_weight", "normalize")},
    # -- other models --------------------------------------------------------
    **{f"implicit.approximate_als.{n}": (NOT, "approximate search over ALS factors: sightline's "
                                              "`ContentIndex` (HNSW) serves that need")
       for n in ("AnnoyAlternatingLeastSquares", "NMSLibAlternatingLeastSquares",
                 "FaissAlternatingLeastSquares")},
    "implicit.bpr.BayesianPersonalizedRanking": (NOT, "another model; sightline trains ALS"),
    "implicit.lmf.LogisticMatrixFactorization": (NOT, "another model; sightline trains ALS"),
}

# Where an item lives in sightline.implicit.
COUNTERPART = {
    "implicit.als": "sightline.implicit.als",
    "implicit.evaluation": "sightline.implicit.evaluation",
}


def implicit_items():
    """[(key, kind, parameters or None)] for every public item of implicit."""
    import implicit
    import implicit.cpu.als

    items = []
    for modname in implicit.__all__:
        if modname.startswith("__"):
            continue
        module = getattr(implicit, modname)
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            kind = "class" if inspect.isclass(obj) else "function"
            items.append((f"{module.__name__}.{name}", kind, _params(obj)))
    # The ALS factory's CPU class: its methods, properties and attributes.
    cls = implicit.cpu.als.AlternatingLeastSquares
    for name, obj in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        kind = "property" if isinstance(obj, property) else "method"
        items.append((f"{ALS}.{name}", kind, None if kind == "property" else _params(obj)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        instance = cls()
    for name in sorted(vars(instance)):
        if not name.startswith("_"):
            items.append((f"{ALS}.{name}", "attribute", None))
    return items


def _params(obj):
    try:
        return [p for p in inspect.signature(obj).parameters if p != "self"]
    except (TypeError, ValueError):
        return None


def check_counterpart(key, kind, params):
    """Raises when a provided item is missing in sightline.implicit or lacks
    an argument of implicit's."""
    import importlib

    module, _, rest = key.partition(".")[2].partition(".")
    target = importlib.import_module(COUNTERPART[f"implicit.{module}"])
    parts = rest.split(".")
    obj = getattr(target, parts[0])
    if len(parts) == 2:
        if kind == "attribute":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if not hasattr(obj(), parts[1]):
                    raise SystemExit(f"sightline.implicit lacks attribute {key}")
            return
        obj = getattr(obj, parts[1])
        if isinstance(obj, property):
            return
    if params is not None:
        ours = [p for p in inspect.signature(obj).parameters if p != "self"]
        missing = [p for p in params if p not in ours]
        if missing:
            raise SystemExit(f"sightline.implicit's {key} lacks arguments {missing}")


def render():
    import implicit

    items = implicit_items()
    unknown = [k for k, _, _ in items if k not in STATUS]
    if unknown:
        raise SystemExit(f"unclassified implicit API items: {unknown}")
    rows, counts = [], {SAME: 0, NOTE: 0, NOT: 0}
    for key, kind, params in items:
        status, note = STATUS[key]
        counts[status] += 1
        if status != NOT:
            check_counterpart(key, kind, params)
        ours = "—" if status == NOT else "`" + key.replace("implicit.", "sightline.implicit.", 1) + "`"
        args = "" if not params else "(" + ", ".join(params) + ")"
        rows.append(f"| `{key}`{args} | {kind} | {ours} | {status} | {note} |")
    total = len(items)
    provided = counts[SAME] + counts[NOTE]
    head = [
        "# implicit parity",
        "",
        f"Generated by `scripts/implicit_parity.py` from implicit {implicit.__version__} "
        "(introspected: every public function and class of the modules in `implicit.__all__`, "
        "and every method, property and attribute of the CPU `AlternatingLeastSquares`); "
        "`bindings/python/tests/test_implicit_compat.py` checks it is current and proves the "
        "statuses against implicit itself.",
        "",
        "The one-line change: `from sightline.implicit.als import AlternatingLeastSquares` "
        "(and `sightline.implicit.evaluation` for `implicit.evaluation`).",
        "",
        f"**{total} implicit API items: {provided} provided ({counts[SAME]} same, "
        f"{counts[NOTE]} same with a note), {counts[NOT]} not provided.**",
        "",
        "| implicit item | kind | sightline | status | note |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


def main():
    text = render()
    if "--check" in sys.argv:
        if DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/implicit_parity.py", file=sys.stderr)
            sys.exit(1)
        return
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
