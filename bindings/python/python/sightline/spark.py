"""Train on Apache Spark, serve with sightline (``pip install 'sightline[spark]'``).

When the event history outgrows one machine, the cluster does what needs
it and sightline does the rest:

* ``index_ids`` gives Spark's ALS the integer ids it needs, with the id maps
  as DataFrames; ``from_spark_als`` turns the fitted
  ``pyspark.ml.recommendation.ALSModel`` into a sightline ``ALS`` (and model
  file) with the original string ids joined back, streaming the factors to
  the driver one packed Arrow batch at a time; ``to_spark`` gives a
  sightline model's factors back as DataFrames.
* ``recommend_for_users`` scores a DataFrame of users on the executors
  (``mapInPandas``): each Python worker loads the model or engine file once
  and answers with the native core (GIL released), under the same business
  rules as online serving when a placement is given.
* ``interactions_from_spark`` aggregates raw events on the cluster (kind
  weight x quantity summed per pair, latest timestamp) and builds, from the
  aggregated pairs alone, the same ``Interactions`` as ``from_events`` on the
  same events.

Importing ``sightline`` never imports pyspark; this module does.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from . import ALS, Engine, Interactions, InvalidInputError, _sightline

try:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "sightline.spark needs pyspark with pandas and pyarrow: pip install 'sightline[spark]' "
        f"(and Java 17+ for Spark itself): {exc}"
    ) from exc

__all__ = [
    "index_ids",
    "interactions_to_spark",
    "from_spark_als",
    "to_spark",
    "recommend_for_users",
    "interactions_from_spark",
    "RECOMMENDATION_SCHEMA",
]

#: The schema of ``recommend_for_users``' answer (rank counts from 1).
RECOMMENDATION_SCHEMA = (
    "user string, rank int, item string, score float, source string, reason string"
)

PathLike = Union[str, "os.PathLike[str]"]


# ------------------------------------------------------------------ ids --

def _id_map(df: "DataFrame", col: str) -> "DataFrame":
    """Distinct ids of ``col`` (as strings, sorted) numbered 0.. by
    ``zipWithIndex``: scalable (no single-partition window) and the same
    numbering on every run."""
    ids = df.select(F.col(col).cast("string").alias("id")).where(F.col("id").isNotNull())
    ranked = ids.distinct().orderBy("id").rdd.zipWithIndex().map(lambda p: (p[0][0], p[1]))
    spark = df.sparkSession
    return spark.createDataFrame(ranked, "id string, index int")


def index_ids(
    df: "DataFrame", user_col: str = "user", item_col: str = "item"
) -> Tuple["DataFrame", "DataFrame", "DataFrame"]:
    """Integer ids for Spark's ALS (it takes int columns only).

    Returns ``(indexed, user_map, item_map)``: ``df`` with the int columns
    ``{user_col}_index`` and ``{item_col}_index`` added, and the maps as
    DataFrames of ``id`` (string) and ``index`` (int), numbered in id order.
    Pass the maps to ``from_spark_als`` to get the string ids back."""
    user_map, item_map = _id_map(df, user_col), _id_map(df, item_col)
    indexed = (
        df.join(F.broadcast(item_map.withColumnRenamed("id", "_i").withColumnRenamed(
            "index", f"{item_col}_index")), F.col(item_col).cast("string") == F.col("_i"))
        .drop("_i")
        .join(user_map.withColumnRenamed("id", "_u").withColumnRenamed(
            "index", f"{user_col}_index"), F.col(user_col).cast("string") == F.col("_u"))
        .drop("_u")
    )
    return indexed, user_map, item_map


def interactions_to_spark(
    interactions: Any, spark: "SparkSession", user_ids: Optional[List[Any]] = None,
    item_ids: Optional[List[Any]] = None,
) -> Tuple["DataFrame", "DataFrame", "DataFrame"]:
    """Spark ALS input from a sightline ``Interactions`` (or a scipy.sparse
    users x items matrix, e.g. a split's train part, with ``user_ids`` /
    ``item_ids``): ``(ratings, user_map, item_map)``, ratings with the int
    columns ``user_index`` / ``item_index`` (the matrix's rows and columns)
    and the float ``rating`` (the summed weight), and the id maps (``id``,
    ``index``) for ``from_spark_als``, whose model then lines up with the
    matrix row for row."""
    if isinstance(interactions, Interactions):
        user_ids = interactions.user_ids if user_ids is None else user_ids
        item_ids = interactions.item_ids if item_ids is None else item_ids
        interactions = interactions.user_items
    coo = interactions.tocoo()
    n_users, n_items = coo.shape
    ratings = spark.createDataFrame(pd.DataFrame({
        "user_index": coo.row.astype(np.int32), "item_index": coo.col.astype(np.int32),
        "rating": coo.data.astype(np.float32),
    }), "user_index int, item_index int, rating float")

    def id_map(ids: Optional[List[Any]], n: int) -> "DataFrame":
        names = [str(i) for i in range(n)] if ids is None else [str(i) for i in ids]
        if len(names) != n:
            raise InvalidInputError(f"{len(names)} ids for {n} rows/columns")
        return spark.createDataFrame(pd.DataFrame({"id": names, "index": np.arange(n, dtype=np.int32)}),
                                     "id string, index int")

    return ratings, id_map(user_ids, n_users), id_map(item_ids, n_items)


# -------------------------------------------------------------- factors --

def _packer(k: int) -> Any:
    """A ``mapInPandas`` function packing each Arrow batch into one row
    (indices and factors as raw bytes), so the driver receives a few large
    rows instead of one Python Row per id; missing factors become zeros."""
    def pack(batches: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
        for pdf in batches:
            if len(pdf) == 0:
                continue
            factors = np.zeros((len(pdf), k), dtype=np.float32)
            for row, features in enumerate(pdf["features"].to_numpy()):
                if features is not None:
                    factors[row] = features
            yield pd.DataFrame({
                "index": [np.ascontiguousarray(pdf["index"].to_numpy(np.int64)).tobytes()],
                "ids": [pdf["id"].tolist()],
                "factors": [factors.tobytes()],
                "rows": [len(pdf)],
            })
    return pack


def _stream_factors(factors: "DataFrame", id_map: Optional["DataFrame"], k: int,
                    side: str) -> Tuple[List[str], np.ndarray]:
    """(ids, float32 ``n x k`` factors) of a Spark ALS factor DataFrame
    (``id`` int, ``features`` array<float>) ordered by Spark's index.
    With ``id_map`` (``id``, ``index``) the rows are the map's, with its
    string ids, and an id without factors (not in the training data) gets
    zeros; without it the model's ids as strings. Streams a packed batch at
    a time (``toLocalIterator``)."""
    df = factors.withColumnRenamed("id", "index")
    if id_map is None:
        df = df.withColumn("id", F.col("index").cast("string"))
    else:
        missing = {"id", "index"} - set(id_map.columns)
        if missing:
            raise InvalidInputError(
                f"{side}_ids must be an id map with columns 'id' and 'index' (from index_ids), "
                f"missing {sorted(missing)}"
            )
        ids = id_map.select(F.col("id").cast("string"), F.col("index").cast("int"))
        df = ids.join(df, "index", "left")
    packed = df.select("index", "id", "features").mapInPandas(
        _packer(k), "index binary, ids array<string>, factors binary, rows int")
    indices: List[np.ndarray] = []
    ids_out: List[str] = []
    blocks: List[np.ndarray] = []
    for row in packed.toLocalIterator():
        indices.append(np.frombuffer(row["index"], dtype=np.int64))
        ids_out.extend(row["ids"])
        blocks.append(np.frombuffer(row["factors"], dtype=np.float32).reshape(row["rows"], k))
    if not blocks:
        raise InvalidInputError(f"the Spark model has no {side} factors")
    order = np.argsort(np.concatenate(indices), kind="stable")
    return [ids_out[i] for i in order], np.ascontiguousarray(np.concatenate(blocks)[order])


def from_spark_als(
    als_model: Any,
    path: Optional[PathLike] = None,
    user_ids: Optional["DataFrame"] = None,
    item_ids: Optional["DataFrame"] = None,
    **als_params: Any,
) -> ALS:
    """A sightline ``ALS`` serving the factors of a fitted
    ``pyspark.ml.recommendation.ALSModel``, saved to ``path`` when given.

    ``user_ids`` / ``item_ids``: the id maps of ``index_ids`` or
    ``interactions_to_spark`` (``id``, ``index``) to join the original string
    ids back: the model then has one row per map entry in index order (ids
    absent from Spark's training data get zero factors), so its rows line up
    with the matrix the map numbers. None keeps the ids Spark has factors
    for, as strings, in index order. The
    factors stream to the driver a packed batch at a time; the training data
    never leaves the cluster. ``als_params`` (sightline ``ALS`` arguments, e.g.
    ``regularization=``, ``alpha=`` of the Spark run) are stored as the
    model's parameters (``factors`` is the Spark model's rank); they matter
    only when the model is trained further with sightline. The model has no
    stored interactions, so ``recommend`` filters nothing unless given
    ``user_items``, as Spark's ``recommendForUserSubset``."""
    k = int(als_model.rank)
    users, user_factors = _stream_factors(als_model.userFactors, user_ids, k, "user")
    items, item_factors = _stream_factors(als_model.itemFactors, item_ids, k, "item")
    params = ALS(**{**als_params, "factors": k})._params(0)
    model = ALS._from_native(
        _sightline._Model.from_factors(params, user_factors, item_factors, users, items))
    if path is not None:
        model.save(path)
    return model


def to_spark(model: Union[ALS, PathLike], spark: "SparkSession") -> Tuple["DataFrame", "DataFrame"]:
    """``(user_factors, item_factors)`` of a sightline ``ALS`` (or its model
    file) as DataFrames of ``id`` (string) and ``features`` (array<float>),
    Spark ALS's factor layout with the string ids."""
    if not isinstance(model, ALS):
        model = ALS.load(model)
    if model.user_factors is None:
        raise InvalidInputError("the model is not fitted")

    def frame(ids: List[str], factors: np.ndarray) -> "DataFrame":
        pdf = pd.DataFrame({"id": ids, "features": list(factors)})
        return spark.createDataFrame(pdf, "id string, features array<float>")

    return frame(model.user_ids, model.user_factors), frame(model.item_ids, model.item_factors)


# -------------------------------------------------------------- scoring --

# Per Python worker process: what recommend_for_users loaded, by (kind,
# path, config). Spark reuses its Python workers across tasks
# (spark.python.worker.reuse, on by default), so each loads a file once.
_LOADED: Dict[Tuple[str, str, str], Any] = {}


def _loaded(kind: str, path: str, config: Any) -> Any:
    """The cached model (``kind`` "als": (ALS, {user id: row})) or engine
    (with ``config``: a dict, JSON/TOML text or a path)."""
    key = (kind, path, json.dumps(config, sort_keys=True, default=str))
    if key not in _LOADED:
        if kind == "als":
            als = ALS.load(path)
            _LOADED[key] = (als, {u: i for i, u in enumerate(als.user_ids)})
        else:
            _LOADED[key] = Engine.load(path, config)
    return _LOADED[key]


def _empty_answer() -> "pd.DataFrame":
    return pd.DataFrame({"user": pd.Series([], dtype=object), "rank": pd.Series([], dtype=np.int32),
                         "item": pd.Series([], dtype=object), "score": pd.Series([], dtype=np.float32),
                         "source": pd.Series([], dtype=object), "reason": pd.Series([], dtype=object)})


def _score_als(path: str, users: List[str], n: int) -> "pd.DataFrame":
    """Batch ALS top-n of the known ``users`` (native batch recommend,
    items of their stored interactions left out); unknown users get no rows."""
    als, index = _loaded("als", path, None)
    known = [u for u in users if u in index]
    if not known:
        return _empty_answer()
    rows = np.fromiter((index[u] for u in known), dtype=np.int64, count=len(known))
    ids, scores = als.recommend(rows, N=n)
    keep = ids >= 0
    item_ids = np.asarray(als.item_ids, dtype=object)
    per_user = keep.sum(axis=1)
    return pd.DataFrame({
        "user": np.repeat(np.asarray(known, dtype=object), per_user),
        "rank": (np.nonzero(keep)[1] + 1).astype(np.int32),
        "item": item_ids[ids[keep]],
        "score": scores[keep].astype(np.float32),
        "source": "als",
        "reason": None,
    })


def _score_engine(path: str, config: Any, placement: str, users: List[str],
                  regions: Optional[List[Optional[str]]], n: int, now: Optional[int]) -> "pd.DataFrame":
    """The engine's answer for ``placement`` per user (consenting customers),
    as online serving gives it."""
    engine = _loaded("engine", path, config)
    out: Dict[str, List[Any]] = {c: [] for c in ("user", "rank", "item", "score", "source", "reason")}
    for i, user in enumerate(users):
        region = None if regions is None else regions[i]
        answer = engine.recommend(placement, user=user, region=region, n=n, consent=True, now=now)
        for rank, item in enumerate(answer["items"], start=1):
            out["user"].append(user)
            out["rank"].append(rank)
            out["item"].append(item["item"])
            out["score"].append(item["score"])
            out["source"].append(item["source"])
            out["reason"].append(item["reason"])
    if not out["user"]:
        return _empty_answer()
    frame = pd.DataFrame(out)
    frame["rank"] = frame["rank"].astype(np.int32)
    frame["score"] = frame["score"].astype(np.float32)
    return frame


def recommend_for_users(
    df: "DataFrame",
    model_path: PathLike,
    n: int = 10,
    placement: Optional[str] = None,
    config: Any = None,
    user_col: str = "user",
    region_col: Optional[str] = None,
    now: Optional[int] = None,
    ship: bool = False,
) -> "DataFrame":
    """Top-``n`` recommendations for every user of ``df``, computed on the
    executors: a DataFrame of ``RECOMMENDATION_SCHEMA`` (user, rank, item,
    score, source, reason), ``n`` rows per user at most.

    Without ``placement``, ``model_path`` is an ALS model file
    (``ALS.save`` / ``from_spark_als``): the native batch recommend, leaving
    out the items of a user's stored training interactions; users the model
    does not know get no rows. With ``placement``, ``model_path`` is an
    engine file (``Engine.save``) and ``config`` its engine config (dict,
    JSON/TOML text or a path readable by the executors): every user gets the
    engine's answer for that placement as a consenting customer (``region_col``
    gives their region, ``now`` the request time in Unix seconds), with the
    same filters, brand caps, diversity, promotions and fallbacks as online
    serving. The engine's live purchase history is not part of an engine
    file, so ``exclude_purchased_within_days`` sees no purchases here; the
    ALS source still leaves out a user's training interactions.

    ``model_path`` must be readable on every executor (a shared file
    system, or the local path in ``local[*]``), or ``ship=True`` copies it
    from the driver to every executor (``SparkContext.addFile``; the file
    name must then be unique among the job's added files). Each Python worker process
    loads the file once (read into memory: the core does not memory-map
    model files) and keeps it for later tasks; the native calls release the
    GIL."""
    path = os.fspath(model_path)
    n = int(n)
    if n < 1:
        raise InvalidInputError(f"n must be >= 1, got {n}")
    if placement is not None:
        # Checked on the driver, so a bad config fails before any task runs
        # (rules naming catalog items are checked when executors load it).
        Engine.check_config(config)
    shipped = None
    if ship:
        df.sparkSession.sparkContext.addFile(path)
        shipped = os.path.basename(path)
    cols = [F.col(user_col).cast("string").alias("user")]
    if region_col is not None:
        cols.append(F.col(region_col).cast("string").alias("region"))
    users = df.select(*cols)

    def score(batches: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
        local = path
        if shipped is not None:
            from pyspark import SparkFiles

            local = SparkFiles.get(shipped)
        for pdf in batches:
            ids = pdf["user"].tolist()
            if placement is None:
                yield _score_als(local, ids, n)
            else:
                regions = pdf["region"].tolist() if "region" in pdf else None
                yield _score_engine(local, config, placement, ids, regions, n, now)

    return users.mapInPandas(score, RECOMMENDATION_SCHEMA)


# ------------------------------------------------------------ data prep --

def interactions_from_spark(
    df: "DataFrame",
    user_col: str = "user",
    item_col: str = "item",
    kind_col: Optional[str] = None,
    weight_col: Optional[str] = None,
    ts_col: Optional[str] = None,
    kind_weights: Optional[Dict[str, float]] = None,
    item_ids: Optional[List[Any]] = None,
) -> Interactions:
    """``Interactions`` from a Spark DataFrame of raw events, aggregated on
    the cluster: per (user, item) pair the sum of kind weight x quantity
    (``weight_col``; 1 without) and the latest timestamp (``ts_col``: int
    Unix seconds or a timestamp column). Only the aggregated pairs reach the
    driver.

    The result equals ``Interactions.from_events`` on the same events in
    the DataFrame's order: the kind weights are the core's (defaults with
    ``kind_weights`` applied, read from the core); users (and, without
    ``item_ids``, items) are numbered by first appearance, carried as the
    smallest ``monotonically_increasing_id`` of each pair on the raw rows.
    Sums are taken in double precision and rounded once to float32, so
    fractional quantities may differ from the local builder's float32
    running sum in the last bit. Missing ids, kinds without a weight and
    negative or NaN weights raise ``InvalidInputError``; with ``item_ids``
    an unknown item raises ``UnknownIdError``."""
    for name, col in (("user_col", user_col), ("item_col", item_col), ("kind_col", kind_col),
                      ("weight_col", weight_col), ("ts_col", ts_col)):
        if col is not None and col not in df.columns:
            raise InvalidInputError(f"events have no column {col!r} for {name}")
    weights = _sightline.kind_weights({str(k): float(v) for k, v in (kind_weights or {}).items()})
    events = df.withColumn("_pos", F.monotonically_increasing_id())
    w = F.lit(1.0)
    if kind_col is not None:
        kinds = [r[0] for r in events.select(kind_col).distinct().collect()]
        unknown = sorted(str(k) for k in kinds if k not in weights)
        if unknown:
            raise InvalidInputError(
                f"event kind {unknown[0]!r} has no weight: pass kind_weights={{{unknown[0]!r}: ...}}")
        lookup = F.create_map(*[x for k, v in weights.items() for x in (F.lit(k), F.lit(float(v)))])
        w = lookup[F.col(kind_col)]
    if weight_col is not None:
        w = w * F.col(weight_col).cast("double")
    aggs = [F.sum(w).alias("weight"), F.min(w).alias("min_weight"),
            F.sum((w.isNull() | F.isnan(w)).cast("int")).alias("bad_weights"), F.min("_pos").alias("first")]
    if ts_col is not None:
        ts = F.col(ts_col)
        if isinstance(df.schema[ts_col].dataType, (T.TimestampType, T.TimestampNTZType)):
            ts = F.unix_timestamp(ts)
        aggs.append(F.max(ts.cast("long")).alias("last_seen"))
    pairs = (events.groupBy(F.col(user_col).cast("string").alias("user"),
                            F.col(item_col).cast("string").alias("item"))
             .agg(*aggs).toPandas())
    if pairs["user"].isna().any() or pairs["item"].isna().any():
        raise InvalidInputError("events have a missing user or item id")
    if (pairs["bad_weights"] > 0).any() or (pairs["min_weight"] < 0).any() or pairs["weight"].isna().any():
        raise InvalidInputError("event weights (kind weight x quantity) must be present, finite and >= 0")
    pairs = pairs.sort_values("first", kind="stable")
    return Interactions.from_events(
        pairs["user"].tolist(), pairs["item"].tolist(),
        timestamps=None if ts_col is None else pairs["last_seen"].to_numpy(np.int64),
        weights=pairs["weight"].to_numpy(np.float64),
        item_ids=item_ids,
    )
