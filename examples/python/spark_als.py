#!/usr/bin/env python3
"""Train on Apache Spark, serve with sightline: the whole path on the demo shop.

    python examples/python/spark_als.py                 # ~2M events (a few minutes on 2 cores)
    python examples/python/spark_als.py --events 100000 # small and quick

Needs ``pip install 'sightline[spark]'`` and Java 17+. Steps:

1. raw events -> Spark DataFrame -> ``interactions_from_spark`` (aggregated
   on the cluster, only the pairs reach the driver);
2. temporal hold-out (each customer's latest item) and Spark MLlib ALS
   (``implicitPrefs``) on the training pairs;
3. ``from_spark_als`` -> a sightline model file with the string ids, scored
   with sightline's ``ranking_metrics_at_k``;
4. distributed scoring of every customer for an email campaign, under the
   engine's business rules (brand cap, in stock, sold in their region);
5. sightline's own ALS on the same training pairs, for comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections import Counter

import sightline
from sightline.spark import (
    from_spark_als, interactions_from_spark, interactions_to_spark, recommend_for_users,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2_000_000, help="demo events (default 2M)")
    ap.add_argument("--rank", type=int, default=64, help="factors of both models")
    args = ap.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")  # pandas 3 notice
    from pyspark.ml.recommendation import ALS as SparkALS
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[*]").appName("sightline-spark-example")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "8")
             .config("spark.driver.memory", "3g")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    customers = max(args.events // 50, 200)
    demo = sightline.demo_data(customers=customers, products=3_000, events=args.events, as_frame=True)
    catalog = demo["catalog"]
    events = spark.createDataFrame(demo["events"][["user", "item", "kind", "timestamp", "region"]])
    print(f"demo shop: {args.events:,} events, {customers:,} customers, {len(catalog):,} products")

    t = time.perf_counter()
    inter = interactions_from_spark(events, kind_col="kind", ts_col="timestamp",
                                    item_ids=catalog["id"].tolist())
    print(f"1. interactions_from_spark: {inter} in {time.perf_counter() - t:.1f}s")

    train, test = sightline.leave_last_k_out_split(inter, K=1)
    ratings, user_map, item_map = interactions_to_spark(train, spark, inter.user_ids, inter.item_ids)
    t = time.perf_counter()
    spark_model = SparkALS(rank=args.rank, maxIter=10, regParam=0.1, alpha=4.0, implicitPrefs=True,
                           userCol="user_index", itemCol="item_index", ratingCol="rating",
                           seed=7).fit(ratings)
    print(f"2. Spark ALS (rank {args.rank}, 10 iterations): {time.perf_counter() - t:.1f}s")

    out = tempfile.mkdtemp(prefix="sightline-spark-")
    model_path = os.path.join(out, "spark_als.slm")
    t = time.perf_counter()
    imported = from_spark_als(spark_model, model_path, user_ids=user_map, item_ids=item_map,
                              regularization=0.1, alpha=4.0, iterations=10)
    spark_metrics = sightline.ranking_metrics_at_k(imported, train, test, K=10)
    print(f"3. imported into {model_path} in {time.perf_counter() - t:.1f}s (incl. evaluation): "
          f"nDCG@10 {spark_metrics['ndcg']:.4f}, recall@10 {spark_metrics['recall']:.4f}")

    config = sightline.demo_engine_config()
    config["placements"]["email"]["rules"] = {"max_per_brand": 2}
    engine_path = os.path.join(out, "engine.slm")
    sightline.Engine(config, catalog=catalog, als=imported).save(engine_path)
    who = events.groupBy("user").agg({"region": "first"}).withColumnRenamed("first(region)", "region")
    t = time.perf_counter()
    recs = recommend_for_users(who, engine_path, n=10, placement="email", config=config,
                               region_col="region").toPandas()
    brand = dict(zip(catalog["id"], catalog["brand"]))
    worst = max(max(Counter(brand[i] for i in g["item"]).values()) for _, g in recs.groupby("user"))
    print(f"4. email campaign: {len(recs):,} recommendations for {recs['user'].nunique():,} customers "
          f"in {time.perf_counter() - t:.1f}s; most items of one brand per customer: {worst} (cap 2)")
    print(recs.head(5).to_string(index=False))

    t = time.perf_counter()
    own = sightline.ALS(factors=args.rank, iterations=10, random_state=7).fit(train, show_progress=False)
    fit_s = time.perf_counter() - t
    own_metrics = sightline.ranking_metrics_at_k(own, train, test, K=10)
    print(f"5. sightline ALS on the same pairs: fit {fit_s:.1f}s, nDCG@10 {own_metrics['ndcg']:.4f}, "
          f"recall@10 {own_metrics['recall']:.4f}")
    spark.stop()


if __name__ == "__main__":
    main()
