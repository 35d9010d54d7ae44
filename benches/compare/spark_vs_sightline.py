#!/usr/bin/env python3
"""Benchmark (not a test): sightline ALS vs Spark MLlib ALS (implicitPrefs)
on the same data and the same cores, and batch scoring inside Spark.

    python benches/compare/spark_vs_sightline.py [--quick] [--customers N --events N]

Runs in the project's dev venv (bindings/python/requirements-dev.txt has
pyspark; sightline installed with ``maturin develop --release``) with Java
17+. Spark runs in ``local[2]`` and sightline with 2 threads. Steps:

1. the seeded demo shop (default 256k customers, ~200k of them with events,
   2.56M events; --quick 20k / 200k) as a Spark DataFrame; ``interactions_from_spark`` vs the local
   ``Interactions.from_pandas`` on the same events;
2. temporal hold-out (each customer's latest item); fit time of Spark ALS
   (rank 64, 10 iterations, regParam 0.1, alpha 4) and of sightline ALS
   (factors 64, 10 iterations, its defaults otherwise) on the same training
   pairs; held-out nDCG@10 and recall@10 of both with the same metric code
   (sightline's ``ranking_metrics_at_k``, Spark's factors imported with
   ``from_spark_als``);
3. top-10 for every customer from the same (Spark-trained) factors:
   sightline inside Spark (``recommend_for_users``) vs Spark's
   ``recommendForAllUsers``, both written to Spark's ``noop`` sink.

Prints a table on stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from typing import Any, Callable, Dict, Tuple

import sightline
from sightline.spark import (
    from_spark_als, interactions_from_spark, interactions_to_spark, recommend_for_users,
)


def timed(fn: Callable[[], Any]) -> Tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20k customers, 200k events")
    ap.add_argument("--customers", type=int, default=None)
    ap.add_argument("--events", type=int, default=None)
    ap.add_argument("--products", type=int, default=3_000)
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=10)
    args = ap.parse_args()
    # ~78% of the demo's customers have events: 256k customers give ~200k users to score.
    customers = args.customers or (20_000 if args.quick else 256_000)
    n_events = args.events or (200_000 if args.quick else 2_560_000)

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")  # pandas 3 notice
    from pyspark.ml.recommendation import ALS as SparkALS
    from pyspark.sql import SparkSession

    (spark, jvm_s) = timed(lambda: (
        SparkSession.builder.master("local[2]").appName("spark-vs-sightline")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()))
    spark.sparkContext.setLogLevel("ERROR")
    log(f"SparkSession up in {jvm_s:.1f}s (pyspark {spark.version})")

    demo = sightline.demo_data(customers=customers, products=args.products, events=n_events,
                               as_frame=True)
    pdf = demo["events"][["user", "item", "kind", "timestamp"]]
    events = spark.createDataFrame(pdf).cache()
    events.count()
    catalog = demo["catalog"]["id"].tolist()
    log(f"demo shop: {customers:,} customers, {len(catalog):,} products, {n_events:,} events")

    inter, prep_spark_s = timed(lambda: interactions_from_spark(
        events, kind_col="kind", ts_col="timestamp", item_ids=catalog))
    local, prep_local_s = timed(lambda: sightline.Interactions.from_pandas(pdf, item_ids=catalog))
    assert inter.user_ids == local.user_ids and (inter.user_items != local.user_items).nnz == 0

    train, test = sightline.leave_last_k_out_split(inter, K=1)
    ratings, user_map, item_map = interactions_to_spark(train, spark, inter.user_ids, inter.item_ids)
    ratings = ratings.repartition(4).cache()
    ratings.count()

    spark_model, spark_fit_s = timed(lambda: SparkALS(
        rank=args.rank, maxIter=args.iterations, regParam=0.1, alpha=4.0, implicitPrefs=True,
        userCol="user_index", itemCol="item_index", ratingCol="rating", seed=7).fit(ratings))
    log(f"Spark ALS fit {spark_fit_s:.1f}s")
    tmp = tempfile.mkdtemp(prefix="spark-vs-sightline-")
    path = os.path.join(tmp, "spark_als.slm")
    imported, import_s = timed(lambda: from_spark_als(
        spark_model, path, user_ids=user_map, item_ids=item_map,
        regularization=0.1, alpha=4.0, iterations=args.iterations))
    spark_metrics = sightline.ranking_metrics_at_k(imported, train, test, K=10)

    own, own_fit_s = timed(lambda: sightline.ALS(
        factors=args.rank, iterations=args.iterations, random_state=7, num_threads=2).fit(train))
    log(f"sightline ALS fit {own_fit_s:.1f}s")
    own_metrics = sightline.ranking_metrics_at_k(own, train, test, K=10)

    users = spark.createDataFrame([(u,) for u in inter.user_ids], "user string").repartition(8).cache()
    users.count()
    noop = lambda df: df.write.format("noop").mode("overwrite").save()  # noqa: E731
    _, ours_score_s = timed(lambda: noop(recommend_for_users(users, path, n=10)))
    log(f"recommend_for_users {ours_score_s:.1f}s")
    _, theirs_score_s = timed(lambda: noop(spark_model.recommendForAllUsers(10)))
    log(f"recommendForAllUsers {theirs_score_s:.1f}s")

    result: Dict[str, Any] = {
        "benchmark": "spark_vs_sightline",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "pyspark": spark.version, "sightline": sightline.__version__},
        "data": {"customers": customers, "products": len(catalog), "events": n_events,
                 "pairs": inter.nnz, "train_pairs": int(train.nnz), "test_pairs": int(test.nnz)},
        "settings": {"master": "local[2]", "sightline_threads": 2, "rank": args.rank,
                     "iterations": args.iterations, "spark": {"regParam": 0.1, "alpha": 4.0},
                     "sightline": {"regularization": own.regularization, "alpha": own.alpha}},
        "jvm_start_s": round(jvm_s, 2),
        "prep": {"interactions_from_spark_s": round(prep_spark_s, 2),
                 "local_from_pandas_s": round(prep_local_s, 2)},
        "fit": {"spark_s": round(spark_fit_s, 2), "sightline_s": round(own_fit_s, 2),
                "import_spark_factors_s": round(import_s, 2)},
        "ndcg_at_10": {"spark": round(spark_metrics["ndcg"], 4), "sightline": round(own_metrics["ndcg"], 4)},
        "recall_at_10": {"spark": round(spark_metrics["recall"], 4),
                         "sightline": round(own_metrics["recall"], 4)},
        "scoring": {"users": len(inter.user_ids), "n": 10,
                    "sightline_in_spark_s": round(ours_score_s, 2),
                    "spark_recommendForAllUsers_s": round(theirs_score_s, 2)},
    }
    rows = [
        ("fit (s)", result["fit"]["spark_s"], result["fit"]["sightline_s"]),
        ("held-out nDCG@10", result["ndcg_at_10"]["spark"], result["ndcg_at_10"]["sightline"]),
        ("held-out recall@10", result["recall_at_10"]["spark"], result["recall_at_10"]["sightline"]),
        (f"top-10 for {len(inter.user_ids):,} users (s)", theirs_score_s and round(theirs_score_s, 2),
         round(ours_score_s, 2)),
        ("events -> Interactions (s)", round(prep_spark_s, 2), round(prep_local_s, 2)),
    ]
    log(f"\n| {'':34} | Spark MLlib | sightline |\n|{'-' * 36}|-------------|-----------|")
    for name, a, b in rows:
        log(f"| {name:34} | {a:>11} | {b:>9} |")
    log("(scoring: both from Spark's factors, inside Spark; prep: on Spark vs local pandas)")
    spark.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
