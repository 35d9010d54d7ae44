"""sightline.Interactions (event tables into a users x items matrix), results
as DataFrames, and shape/orientation/dtype errors that name what was expected."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import sightline

KIND_WEIGHT = {"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "purchase": 8.0}


@pytest.fixture(scope="module")
def demo():
    return sightline.demo_data(customers=1_500, products=400, events=40_000, seed=7, as_frame=True)


@pytest.fixture(scope="module")
def interactions(demo):
    return sightline.Interactions.from_pandas(demo["events"], item_ids=demo["catalog"]["id"])


def test_from_pandas_sums_kind_weights_and_keeps_latest_time(demo, interactions):
    ev = demo["events"]
    expected = (ev.assign(w=ev["kind"].map(KIND_WEIGHT))
                .groupby(["user", "item"]).agg(weight=("w", "sum"), last_seen=("timestamp", "max")))
    got = interactions.to_pandas().set_index(["user", "item"]).sort_index()
    assert len(got) == len(expected) == interactions.nnz
    np.testing.assert_allclose(got["weight"].to_numpy(), expected["weight"].to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(got["last_seen"].to_numpy(), expected["last_seen"].to_numpy())
    # users numbered in order of first appearance, items in catalog order
    assert interactions.user_ids == list(dict.fromkeys(ev["user"]))
    assert interactions.item_ids == demo["catalog"]["id"].tolist()
    assert interactions.shape == (ev["user"].nunique(), len(demo["catalog"]))
    m = interactions.user_items
    assert isinstance(m, sp.csr_matrix) and m.dtype == np.float32 and m.has_canonical_format
    u, i = interactions.user_index(ev["user"][0]), interactions.item_index(ev["item"][0])
    assert m[u, i] == expected.loc[(ev["user"][0], ev["item"][0]), "weight"]
    assert "with timestamps" in repr(interactions)


def test_options_weights_kinds_and_plain_columns(demo):
    ev = demo["events"].head(5_000)
    counts = sightline.Interactions.from_pandas(ev, kind_col=None, ts_col=None)
    assert counts.last_seen is None
    assert counts.user_items.sum() == len(ev)
    heavy = sightline.Interactions.from_pandas(ev, kind_weights={"view": 0.0, "purchase": 100.0})
    purchases = (ev["kind"] == "purchase").sum()
    clicks, carts = (ev["kind"] == "click").sum(), (ev["kind"] == "add_to_cart").sum()
    assert heavy.user_items.sum() == pytest.approx(100 * purchases + 2 * clicks + 4 * carts)
    qty = ev.assign(qty=3.0)
    tripled = sightline.Interactions.from_pandas(qty, weight_col="qty")
    base = sightline.Interactions.from_pandas(ev)
    np.testing.assert_allclose(tripled.user_items.toarray(), 3 * base.user_items.toarray())
    # a custom kind counts once it has a weight
    wish = ev.assign(kind=ev["kind"].replace({"view": "wishlist"}))
    with pytest.raises(sightline.InvalidInputError, match="wishlist"):
        sightline.Interactions.from_pandas(wish)
    assert sightline.Interactions.from_pandas(wish, kind_weights={"wishlist": 1.0}).nnz == base.nnz
    # plain lists, integer ids and datetime64 timestamps
    lists = sightline.Interactions.from_events(
        [10, 11, 10], ["a", "b", "a"], timestamps=np.array(["2026-01-01", "2026-01-02", "2026-01-03"],
                                                           dtype="datetime64[s]"))
    assert lists.user_ids == ["10", "11"] and lists.item_ids == ["a", "b"]
    assert lists.user_items.toarray().tolist() == [[2.0, 0.0], [0.0, 1.0]]
    assert lists.last_seen.tolist() == [1767398400, 1767312000]


def test_bad_events_raise_typed_errors(demo):
    ev = demo["events"].head(100).copy()
    with pytest.raises(sightline.InvalidInputError, match="kind_col=None"):
        sightline.Interactions.from_pandas(ev, kind_col="event_type")
    with pytest.raises(sightline.InvalidInputError, match="no column 'customer'"):
        sightline.Interactions.from_pandas(ev, user_col="customer")
    missing = ev.copy()
    missing.loc[17, "user"] = None
    with pytest.raises(sightline.InvalidInputError, match="row 17"):
        sightline.Interactions.from_pandas(missing)
    with pytest.raises(sightline.UnknownIdError) as info:
        sightline.Interactions.from_pandas(ev, item_ids=["FR-00001"])
    assert isinstance(info.value, KeyError) and info.value.kind == "item"
    with pytest.raises(sightline.InvalidInputError, match="event 3"):
        sightline.Interactions.from_pandas(ev.assign(qty=[1.0] * 3 + [np.nan] + [1.0] * 96),
                                           weight_col="qty")
    with pytest.raises(sightline.InvalidInputError, match="event 5"):
        sightline.Interactions.from_pandas(ev.assign(qty=[1.0] * 5 + [-2.0] + [1.0] * 94),
                                           weight_col="qty")
    with pytest.raises(sightline.ShapeMismatchError):
        sightline.Interactions.from_events(["u1", "u2"], ["a"])
    with pytest.raises(sightline.ConfigError) as info:
        sightline.Interactions.from_pandas(ev, kind_weights={"click": -1.0})
    assert info.value.field == "weights.click"
    with pytest.raises(sightline.InvalidInputError, match="empty"):
        sightline.Interactions.from_pandas(ev.head(0))
    with pytest.raises(TypeError, match="weights must be numeric"):
        sightline.Interactions.from_pandas(ev.assign(qty="x"), weight_col="qty")


def test_models_splits_and_metrics_take_interactions(demo, interactions):
    als = sightline.ALS(factors=16, iterations=4, random_state=1).fit(interactions)
    assert als.user_ids == interactions.user_ids and als.item_ids == interactions.item_ids
    user = interactions.user_ids[3]
    by_id = als.recommend_by_id(user, N=5)
    ids, _ = als.recommend(interactions.user_index(user), N=5)
    assert [item for item, _ in by_id] == [interactions.item_ids[i] for i in ids]
    train, test = sightline.train_test_split(interactions, 0.8, random_state=3)
    assert train.shape == test.shape == interactions.shape
    assert train.nnz + test.nnz == interactions.nnz
    metrics = sightline.ranking_metrics_at_k(als, train, test, K=10)
    assert 0.0 < metrics["precision"] <= 1.0
    co = sightline.CoOccurrence().fit(interactions)
    assert co.item_ids == interactions.item_ids
    wrapped = sightline.Interactions(interactions.user_items)
    assert wrapped.user_ids[:2] == ["0", "1"] and wrapped.last_seen is None
    with pytest.raises(sightline.UnknownIdError):
        interactions.user_index("nobody")


def test_one_similar_item_reads_no_ids(demo, interactions, monkeypatch):
    # The id list is only for DataFrames: copying every id into Python
    # strings on each call cost 100x the query itself (issue 20).
    models = [
        sightline.ALS(factors=8, iterations=2, random_state=1).fit(interactions),
        sightline.CoOccurrence().fit(interactions),
        sightline.ContentIndex().fit(demo["catalog"]),
    ]
    for model in models:
        expected = model.similar_items(3, N=4)
        monkeypatch.setattr(type(model), "item_ids", property(lambda self: pytest.fail("ids copied")))
        ids, scores = model.similar_items(3, N=4)
        np.testing.assert_array_equal(ids, expected[0])
        np.testing.assert_array_equal(scores, expected[1])
        assert ids.ndim == 1 and 3 not in ids.tolist()
        monkeypatch.undo()


def test_results_as_frames(demo, interactions):
    als = sightline.ALS(factors=16, iterations=4, random_state=1).fit(interactions)
    ids, scores = als.recommend(5, N=7)
    frame = als.recommend(5, N=7, as_frame=True)
    assert list(frame.columns) == ["rank", "itemid", "item_id", "score"]
    assert frame["itemid"].tolist() == ids.tolist() and frame["rank"].tolist() == list(range(1, 8))
    np.testing.assert_array_equal(frame["score"].to_numpy(), scores)
    assert frame["item_id"].tolist() == [als.item_ids[i] for i in ids]
    # batch: one block per user, padding rows dropped
    users = np.array([0, 9])
    allowed = np.arange(3)
    batch = als.recommend(users, N=5, items=allowed, filter_already_liked_items=False, as_frame=True)
    assert list(batch.columns) == ["userid", "user_id", "rank", "itemid", "item_id", "score"]
    assert batch.groupby("userid").size().tolist() == [3, 3]
    assert batch["user_id"].iloc[-1] == als.user_ids[9]
    sims = als.similar_items([0, 1], N=4, as_frame=True)
    assert sims.groupby("query").size().tolist() == [4, 4] and set(sims["query_id"]) == set(als.item_ids[:2])
    assert list(als.similar_users(2, N=3, as_frame=True).columns) == ["rank", "userid", "user_id", "score"]
    co = sightline.CoOccurrence().fit(interactions)
    co_ids, _ = co.similar_items(0, N=5)
    assert co.similar_items(0, N=5, as_frame=True)["itemid"].tolist() == co_ids.tolist()
    assert len(co.recommend_for_items([0, 1], N=3, as_frame=True)) <= 3
    content = sightline.ContentIndex().fit(demo["catalog"])
    c_ids, _ = content.similar_items(4, N=6)
    assert content.similar_items(4, N=6, as_frame=True)["itemid"].tolist() == c_ids.tolist()
    found = content.search(content.vectors[:2], N=3, as_frame=True)
    assert found.groupby("query").size().tolist() == [3, 3]
    trending = sightline.Trending()
    trending.ingest_dataframe(demo["events"])
    now = int(demo["events"]["timestamp"].max())
    items, level = trending.popular(region="au", N=4, now=now)
    popular = trending.popular(region="au", N=4, now=now, as_frame=True)
    assert popular["item_id"].tolist() == [i for i, _ in items] and set(popular["level"]) == {level}


def test_orientation_and_dtype_errors_name_the_expected_shape(interactions):
    als = sightline.ALS(factors=8, iterations=2, random_state=0).fit(interactions)
    n_users, n_items = interactions.shape
    transposed = interactions.user_items.T.tocsr()
    with pytest.raises(sightline.ShapeMismatchError, match=rf"x {n_items}; got {n_items} x {n_users}.*transposed"):
        als.recommend(np.arange(2), transposed)
    with pytest.raises(sightline.ShapeMismatchError, match="transposed"):
        als.recommend(0, transposed)
    with pytest.raises(sightline.ShapeMismatchError, match="transposed"):
        sightline.ALS().fit(transposed, item_ids=interactions.item_ids)
    with pytest.raises(sightline.ShapeMismatchError, match="user_ids"):
        sightline.ALS().fit(interactions.user_items, user_ids=["a"])
    for fmt in ("csc", "coo"):  # other layouts are converted, orientation still checked
        with pytest.raises(sightline.ShapeMismatchError, match="transposed"):
            als.recommend(np.arange(2), transposed.asformat(fmt))
    complex_matrix = interactions.user_items.astype(np.complex64)
    with pytest.raises(TypeError, match="complex64"):
        sightline.ALS().fit(complex_matrix)
    with pytest.raises(TypeError, match="users x items"):
        sightline.ALS().fit(interactions.user_items.toarray())


def test_leave_last_k_out_split_holds_out_the_newest_items(interactions):
    train, test = sightline.leave_last_k_out_split(interactions, K=2)
    m, ts = interactions.user_items, interactions.last_seen
    assert train.nnz + test.nnz == m.nnz
    counts = np.diff(m.indptr)
    np.testing.assert_array_equal(np.diff(test.indptr), np.where(counts > 2, 2, 0))
    for u in np.flatnonzero(counts > 2):
        start, end = m.indptr[u], m.indptr[u + 1]
        when = dict(zip(m.indices[start:end].tolist(), ts[start:end].tolist()))
        held = [when[i] for i in test.indices[test.indptr[u]:test.indptr[u + 1]]]
        kept = [when[i] for i in train.indices[train.indptr[u]:train.indptr[u + 1]]]
        assert min(held) >= max(kept)
    with pytest.raises(sightline.InvalidInputError, match="ts_col"):
        sightline.leave_last_k_out_split(interactions.user_items)
    with pytest.raises(sightline.InvalidInputError, match="K must be > 0|k must be > 0"):
        sightline.leave_last_k_out_split(interactions, K=0)
