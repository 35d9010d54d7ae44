"""ALS.partial_fit_users / partial_fit_items / explain (implicit's API) on the
demo shop."""

import pickle

import numpy as np
import pytest

import sightline


@pytest.fixture(scope="module")
def shop():
    d = sightline.demo_data(customers=2_000, products=400, events=60_000, seed=3, as_frame=True)
    X = sightline.Interactions.from_pandas(d["events"], item_ids=d["catalog"]["id"])
    return d, X


def fitted(X):
    return sightline.ALS(factors=16, iterations=6, random_state=0).fit(X)


def test_refit_existing_user_matches_recalculate_user_and_leaves_others(shop):
    _, X = shop
    als = fitted(X)
    before = als.user_factors.copy()
    items_before = als.item_factors.copy()
    new_row = X.user_items[7]  # user 3 now has user 7's history
    expected = als.recalculate_user(0, new_row)
    assert als.partial_fit_users([3], new_row) is als
    np.testing.assert_allclose(als.user_factors[3], expected, rtol=1e-5, atol=1e-6)
    others = np.delete(np.arange(len(before)), 3)
    np.testing.assert_array_equal(als.user_factors[others], before[others])
    np.testing.assert_array_equal(als.item_factors, items_before)
    # the stored row is replaced: user 7's items are now filtered for user 3
    recs, _ = als.recommend(3, N=50)
    assert not set(recs.tolist()) & set(new_row.indices.tolist())


def test_new_users_grow_the_model_by_index_and_by_id(shop):
    _, X = shop
    als = fitted(X)
    n = als.user_factors.shape[0]
    als.partial_fit_users(np.array([n + 1]), X.user_items[11])
    assert als.user_factors.shape == (n + 2, 16)
    assert not als.user_factors[n].any()  # the gap row
    assert als.user_ids[-2:] == [str(n), str(n + 1)]
    ids, _ = als.recommend(n + 1, N=5)
    assert not set(ids.tolist()) & set(X.user_items[11].indices.tolist())
    # string ids: known ones refit, unknown ones appended in order
    known = X.user_ids[4]
    als.partial_fit_users([known, "NEW-A", "NEW-B"], X.user_items[[4, 5, 6]])
    assert als.user_ids[-2:] == ["NEW-A", "NEW-B"] and len(als.user_ids) == n + 4
    assert [i for i, _ in als.recommend_by_id("NEW-B", N=3)] == [
        als.item_ids[i] for i in als.recommend(n + 3, N=3)[0]]
    # the new users survive pickling and the model file
    again = pickle.loads(pickle.dumps(als))
    assert again.user_ids == als.user_ids
    np.testing.assert_array_equal(again.user_factors, als.user_factors)


def test_partial_fit_items_adds_a_product_like_its_twin(shop):
    _, X = shop
    als = fitted(X)
    twin = int(np.argmax(np.diff(X.user_items.tocsc().indptr)))  # the most-bought item
    column = X.user_items.T.tocsr()[twin]  # its buyers, as an item x users row
    n_items = als.item_factors.shape[0]
    als.partial_fit_items(["FR-NEW"], column)
    assert als.item_ids[-1] == "FR-NEW" and als.item_factors.shape[0] == n_items + 1
    similar, _ = als.similar_items(n_items, N=3)
    assert twin in similar.tolist()
    # its buyers' stored rows now include the new product, so it is filtered for them
    buyer = int(column.indices[0])
    assert n_items not in als.recommend(buyer, N=n_items + 1)[0].tolist()


def test_bad_partial_fits_raise_and_change_nothing(shop):
    _, X = shop
    als = sightline.ALS(factors=8, iterations=3, random_state=1).fit(
        X.user_items, user_ids=[str(k + 1) for k in range(X.shape[0])])
    snapshot = als.to_bytes()
    n = X.shape[0]
    cases = [
        (sightline.InvalidInputError, lambda: als.partial_fit_users([0, 0], X.user_items[[1, 2]])),
        (sightline.ShapeMismatchError, lambda: als.partial_fit_users([0], X.user_items[[1, 2]])),
        (sightline.ShapeMismatchError, lambda: als.partial_fit_users([0], X.user_items[:, :9][1])),
        (sightline.ShapeMismatchError, lambda: als.partial_fit_items([0], X.user_items[1])),
        # ids are "1".."n": growing to index n would name a row "n", which is taken
        (sightline.InvalidInputError, lambda: als.partial_fit_users([n], X.user_items[1])),
        (sightline.InvalidInputError, lambda: als.partial_fit_users([-1], X.user_items[1])),
        (TypeError, lambda: als.partial_fit_users([0.5], X.user_items[1])),
    ]
    for error, call in cases:
        with pytest.raises(error):
            call()
        assert als.to_bytes() == snapshot
    with pytest.raises(sightline.InvalidInputError, match="not fitted"):
        sightline.ALS().partial_fit_users([0], X.user_items[0])


def test_explain_splits_the_score_over_the_history(shop):
    _, X = shop
    als = fitted(X)
    user = 12
    row = X.user_items[user]
    item = int(als.recommend(user, N=1)[0][0])
    score, top, weights = als.explain(user, X.user_items, item, N=3)
    expected = float(als.recalculate_user(user, row) @ als.item_factors[item])
    assert score == pytest.approx(expected, rel=1e-4)
    assert len(top) == min(3, row.nnz)
    assert [c for _, c in top] == sorted((c for _, c in top), reverse=True)
    assert {i for i, _ in top} <= set(row.indices.tolist())
    _, everything, _ = als.explain(user, row, item, N=row.nnz)
    assert sum(c for _, c in everything) == pytest.approx(score, rel=1e-4, abs=1e-5)
    assert weights.shape == (16, 16) and np.allclose(weights, np.tril(weights))
    # the stored row is the default history, and the factor can be passed back
    assert als.explain(user, None, item, N=3)[1] == top
    other = int(als.recommend(user, N=2)[0][1])
    reused = als.explain(user, row, other, user_weights=weights, N=3)
    assert reused == als.explain(user, row, other, N=3)[:2] + (reused[2],)
    with pytest.raises(sightline.ShapeMismatchError):
        als.explain(user, row, item, user_weights=np.eye(3, dtype=np.float32))
    with pytest.raises(sightline.InvalidInputError):
        als.explain(user, row, item, user_weights=np.full((16, 16), np.nan, dtype=np.float32))
    with pytest.raises(sightline.InvalidInputError):
        als.explain(user, row, 10_000)


def test_sharers_keep_their_model_until_swapped(shop):
    d, X = shop
    als = fitted(X)
    engine = sightline.Engine({"placements": {"mine": {"sources": [{"source": "als"}], "fallback": []}}},
                              catalog=d["catalog"], als=als)
    now = int(d["events"]["timestamp"].max())
    user = X.user_ids[0]
    before = engine.recommend("mine", user=user, consent=True, now=now)["items"]
    other_taste = X.user_items[int(np.argmax(np.diff(X.user_items.indptr)))]
    als.partial_fit_users([user], other_taste)
    assert engine.recommend("mine", user=user, consent=True, now=now)["items"] == before
    engine.swap_models(catalog=d["catalog"], als=als)
    after = engine.recommend("mine", user=user, consent=True, now=now)["items"]
    assert [i["item"] for i in after] != [i["item"] for i in before]


def test_readers_in_threads_see_whole_models_during_partial_fits(shop):
    import threading

    _, X = shop
    als = fitted(X)
    n_items = X.shape[1]
    errors, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                ids, scores = als.recommend(np.arange(50), N=5)
                assert ids.shape == (50, 5) and np.all(ids < n_items)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    for k in range(30):
        als.partial_fit_users([f"NEW-{k}"], X.user_items[k])
    stop.set()
    for r in readers:
        r.join()
    assert not errors, errors[:3]
    assert als.user_ids[-1] == "NEW-29" and len(als.user_ids) == X.shape[0] + 30
