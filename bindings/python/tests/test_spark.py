"""sightline.spark against a real pyspark in local[2]: Spark ALS factors
served by sightline give Spark's own answers, distributed scoring keeps the
business rules, and the cluster-side aggregation builds the local builder's
matrix. One SparkSession for the module. Skipped only when pyspark or Java
is missing, and then failed instead when SIGHTLINE_REQUIRE_SPARK=1 (the
project's test command sets it)."""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter

import numpy as np
import pytest

import sightline


def _missing() -> "str | None":
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        return f"pyspark with pyarrow is not installed ({exc}); pip install 'sightline[spark]'"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (java on PATH or JAVA_HOME) for pyspark"
    return None


MISSING = _missing()
REQUIRED = os.environ.get("SIGHTLINE_REQUIRE_SPARK") == "1"
pytestmark = [
    pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=str(MISSING)),
    # pyspark 4.3 warns about pandas 3 on every Arrow conversion; not ours to fix.
    pytest.mark.filterwarnings("ignore::FutureWarning:pyspark"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

N = 10
NOW = 1_767_225_600  # fixed request time: engine answers must not depend on the clock


@pytest.fixture(scope="module")
def spark():
    if MISSING is not None:
        pytest.fail(f"SIGHTLINE_REQUIRE_SPARK=1 but {MISSING}")
    from pyspark.sql import SparkSession

    # Executors' Python must be this interpreter (it has sightline installed).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]").appName("sightline-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def shop():
    data = sightline.demo_data(customers=400, products=150, events=20_000, seed=3, as_frame=True)
    events = data["events"][["user", "item", "kind", "timestamp", "region"]].copy()
    # Quantities (1..3) so the weight column is exercised too.
    events["qty"] = (np.arange(len(events)) % 3 + 1).astype(np.int64)
    return {"events": events, "catalog": data["catalog"]}


@pytest.fixture(scope="module")
def events_df(spark, shop):
    return spark.createDataFrame(shop["events"]).cache()


@pytest.fixture(scope="module")
def spark_als(spark, events_df):
    from pyspark.ml.recommendation import ALS as SparkALS
    from pyspark.sql import functions as F

    from sightline.spark import index_ids

    indexed, user_map, item_map = index_ids(events_df, "user", "item")
    ratings = indexed.groupBy("user_index", "item_index").agg(F.count("*").cast("float").alias("rating"))
    model = SparkALS(rank=8, maxIter=6, regParam=0.1, alpha=4.0, implicitPrefs=True, seed=1,
                     userCol="user_index", itemCol="item_index", ratingCol="rating").fit(ratings)
    return model, user_map.cache(), item_map.cache()


@pytest.fixture(scope="module")
def local_model(shop, tmp_path_factory):
    inter = sightline.Interactions.from_pandas(shop["events"], weight_col="qty")
    model = sightline.ALS(factors=8, iterations=5, random_state=0).fit(inter)
    path = tmp_path_factory.mktemp("models") / "als.slm"
    model.save(path)
    return model, inter, str(path)


def test_from_spark_als_serves_sparks_own_top_n(spark, spark_als, tmp_path):
    from pyspark.sql import functions as F

    from sightline.spark import from_spark_als

    als, user_map, item_map = spark_als
    path = tmp_path / "spark.slm"
    model = from_spark_als(als, path=path, user_ids=user_map, item_ids=item_map, regularization=0.1)
    users = {r["index"]: r["id"] for r in user_map.collect()}
    items = {r["index"]: r["id"] for r in item_map.collect()}
    assert model.user_ids == [users[i] for i in sorted(users)]
    assert model.item_ids == [items[i] for i in sorted(items)]
    assert model.user_factors.shape == (len(users), 8)
    assert model.get_params()["regularization"] == pytest.approx(0.1)
    loaded = sightline.ALS.load(path)
    np.testing.assert_array_equal(loaded.item_factors, model.item_factors)

    subset = user_map.orderBy("index").limit(40).select(F.col("index").alias("user_index"))
    theirs = als.recommendForUserSubset(subset, N).collect()
    assert len(theirs) == 40
    item_row = {i: r for r, i in enumerate(model.item_ids)}
    for row in theirs:
        user = users[row["user_index"]]
        ours = model.recommend_by_id(user, N=N)
        their_items = [items[r["item_index"]] for r in row["recommendations"]]
        their_scores = np.array([r["rating"] for r in row["recommendations"]])
        our_scores = np.array([s for _, s in ours])
        np.testing.assert_allclose(our_scores, their_scores, rtol=1e-4, atol=1e-5)
        # Same items, up to the order of (near-)ties: sightline scores Spark's
        # picks as Spark does.
        u = model.user_factors[model.user_ids.index(user)]
        rescored = np.array([model.item_factors[item_row[i]] @ u for i in their_items])
        np.testing.assert_allclose(rescored, their_scores, rtol=1e-4, atol=1e-5)
        differ = [k for k, (a, b) in enumerate(zip([i for i, _ in ours], their_items)) if a != b]
        for k in differ:
            assert abs(our_scores[k] - their_scores[k]) < 1e-4


def test_to_spark_gives_the_factors_with_string_ids(spark, local_model):
    from sightline.spark import to_spark

    model, _, path = local_model
    users, items = to_spark(path, spark)
    assert users.columns == ["id", "features"]
    got = {r["id"]: np.array(r["features"], dtype=np.float32) for r in items.collect()}
    assert set(got) == set(model.item_ids)
    for row, item in enumerate(model.item_ids):
        np.testing.assert_array_equal(got[item], model.item_factors[row])
    assert users.count() == len(model.user_ids)
    first = users.where(users.id == model.user_ids[0]).first()
    np.testing.assert_array_equal(np.array(first["features"], dtype=np.float32), model.user_factors[0])


def test_recommend_for_users_equals_the_local_batch(spark, local_model):
    from sightline.spark import recommend_for_users

    model, inter, path = local_model
    chosen = model.user_ids[:60] + ["nobody"]
    users = spark.createDataFrame([(u,) for u in chosen], "customer string").repartition(3)
    got = recommend_for_users(users, path, n=N, user_col="customer").toPandas()
    assert list(got.columns) == ["user", "rank", "item", "score", "source", "reason"]
    assert "nobody" not in set(got["user"])  # unknown users get no rows
    assert got.groupby("user").size().eq(N).all() and got["user"].nunique() == 60
    rows = np.arange(60)
    ids, scores = model.recommend(rows, N=N)
    for r, user in enumerate(chosen[:60]):
        mine = got[got["user"] == user].sort_values("rank")
        assert mine["rank"].tolist() == list(range(1, N + 1))
        assert mine["item"].tolist() == [model.item_ids[i] for i in ids[r]]
        np.testing.assert_allclose(mine["score"].to_numpy(), scores[r], rtol=1e-6)
        bought = {model.item_ids[i] for i in inter.user_items[r].indices}
        assert not bought & set(mine["item"])  # training history left out
    assert set(got["source"]) == {"als"}

    # ship=True: executors read the driver's file through SparkFiles.
    shipped = recommend_for_users(users, path, n=3, user_col="customer", ship=True).toPandas()
    assert shipped.groupby("user").size().eq(3).all() and shipped["user"].nunique() == 60
    assert shipped[shipped["rank"] == 1].set_index("user")["item"].to_dict() == \
        got[got["rank"] == 1].set_index("user")["item"].to_dict()


def test_recommend_for_users_with_a_placement_keeps_the_rules(spark, shop, local_model, tmp_path):
    from sightline.spark import recommend_for_users

    model, inter, _ = local_model
    catalog = shop["catalog"]
    banned = model.recommend_by_id(model.user_ids[0], N=1)[0][0]
    config = sightline.demo_engine_config()
    # Generous budgets: answers must not depend on this busy machine's timing.
    config["placements"]["email"].update({
        "rules": {"max_per_brand": 2, "exclude_items": [banned]},
        "sources": [{"source": "als", "weight": 1.0, "budget_ms": 30_000},
                    {"source": "popular", "weight": 0.2, "budget_ms": 30_000}],
        "deadline_ms": 60_000,
    })
    engine = sightline.Engine(config, catalog=catalog, als=model)
    path = tmp_path / "engine.slm"
    engine.save(path)
    first = shop["events"].drop_duplicates("user")
    who = first.head(40)[["user", "region"]]
    users = spark.createDataFrame(who).repartition(2)
    got = recommend_for_users(users, path, n=N, placement="email", config=config,
                              region_col="region", now=NOW).toPandas()
    assert got["user"].nunique() == 40
    brand = dict(zip(catalog["id"], catalog["brand"]))
    stock = dict(zip(catalog["id"], catalog["in_stock"]))
    for user, answer in got.groupby("user"):
        assert len(answer) == N
        assert max(Counter(brand[i] for i in answer["item"]).values()) <= 2
        assert banned not in set(answer["item"])
        assert all(stock[i] for i in answer["item"])
        history = {model.item_ids[i] for i in inter.user_items[inter.user_index(user)].indices}
        assert not history & set(answer["item"][answer["source"] == "als"])
    # Same answers as the engine serving online.
    local = sightline.Engine.load(path, config)
    for user, region in who.head(5).itertuples(index=False):
        online = local.recommend("email", user=user, region=region, n=N, consent=True, now=NOW)
        mine = got[got["user"] == user].sort_values("rank")
        assert mine["item"].tolist() == [i["item"] for i in online["items"]]
        assert mine["source"].tolist() == [i["source"] for i in online["items"]]
        assert mine["reason"].tolist() == [i["reason"] for i in online["items"]]


def test_bad_config_fails_on_the_driver(spark, local_model):
    from sightline.spark import recommend_for_users

    users = spark.createDataFrame([("u",)], "user string")
    with pytest.raises(sightline.ConfigError):
        recommend_for_users(users, local_model[2], placement="email",
                            config={"placements": {"email": {"deadline_ms": -1}}})


def _assert_same(got: sightline.Interactions, want: sightline.Interactions) -> None:
    assert got.user_ids == want.user_ids
    assert got.item_ids == want.item_ids
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.user_items.indptr, want.user_items.indptr)
    np.testing.assert_array_equal(got.user_items.indices, want.user_items.indices)
    np.testing.assert_array_equal(got.user_items.data, want.user_items.data)
    if want.last_seen is None:
        assert got.last_seen is None
    else:
        np.testing.assert_array_equal(got.last_seen, want.last_seen)


def test_interactions_from_spark_equals_the_local_builder(spark, shop, events_df):
    from sightline.spark import interactions_from_spark

    ev = shop["events"]
    got = interactions_from_spark(events_df, "user", "item", kind_col="kind", weight_col="qty",
                                  ts_col="timestamp")
    want = sightline.Interactions.from_events(ev["user"], ev["item"], kinds=ev["kind"],
                                              timestamps=ev["timestamp"], weights=ev["qty"])
    assert got.nnz > 3_000
    _assert_same(got, want)

    # Overridden kind weights, a custom kind, the catalog's item order, no timestamps.
    ev2 = ev.copy()
    ev2.loc[ev2.index % 7 == 0, "kind"] = "wishlist"
    df2 = spark.createDataFrame(ev2)
    with pytest.raises(sightline.InvalidInputError, match="wishlist"):
        interactions_from_spark(df2, kind_col="kind")
    weights = {"purchase": 5.0, "wishlist": 3.0}
    catalog = shop["catalog"]["id"].tolist()
    got = interactions_from_spark(df2, kind_col="kind", kind_weights=weights, item_ids=catalog)
    want = sightline.Interactions.from_events(ev2["user"], ev2["item"], kinds=ev2["kind"],
                                              kind_weights=weights, item_ids=catalog)
    _assert_same(got, want)

    # No kinds: every event counts 1; a timestamp column works as Unix seconds.
    from pyspark.sql import functions as F

    df3 = events_df.withColumn("ts", F.timestamp_seconds("timestamp"))
    got = interactions_from_spark(df3, ts_col="ts")
    want = sightline.Interactions.from_events(ev["user"], ev["item"], timestamps=ev["timestamp"])
    _assert_same(got, want)


def test_interactions_from_spark_rejects_bad_events(spark):
    from sightline.spark import interactions_from_spark

    df = spark.createDataFrame([("u1", "i1", -2.0), ("u1", "i2", 1.0)], "user string, item string, q double")
    with pytest.raises(sightline.InvalidInputError, match=">= 0"):
        interactions_from_spark(df, weight_col="q")
    with pytest.raises(sightline.InvalidInputError, match="no column 'kind'"):
        interactions_from_spark(df, kind_col="kind")
    with pytest.raises(sightline.UnknownIdError):
        interactions_from_spark(df, item_ids=["i1"])


def test_importing_sightline_does_not_import_pyspark():
    import subprocess

    code = "import sys, sightline, sightline.implicit; assert 'pyspark' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_interactions_to_spark_numbers_like_the_matrix(spark, local_model):
    from sightline.spark import interactions_to_spark

    _, inter, _ = local_model
    ratings, user_map, item_map = interactions_to_spark(inter, spark)
    got = ratings.toPandas()
    coo = inter.user_items.tocoo()
    want = sorted(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()))
    assert sorted(zip(got["user_index"], got["item_index"], got["rating"])) == want
    assert [r["id"] for r in user_map.orderBy("index").collect()] == inter.user_ids
    assert [r["id"] for r in item_map.orderBy("index").collect()] == inter.item_ids
    with pytest.raises(sightline.InvalidInputError, match="ids for"):
        interactions_to_spark(inter.user_items, spark, user_ids=["just-one"])
