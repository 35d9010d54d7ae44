import numpy as np
import pytest

import sightline
from conftest import row_items


def test_single_shapes_and_order(model):
    ids, scores = model.recommend(0, N=10)
    assert ids.shape == (10,) and scores.shape == (10,)
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    assert np.all(np.diff(scores) <= 0)
    assert len(set(ids.tolist())) == 10


def test_filter_already_liked_items(model, user_items):
    n_items = user_items.shape[1]
    for u in (0, 5, 17):
        liked = row_items(user_items, u)
        for ui in (None, user_items, user_items[u]):
            ids, _ = model.recommend(u, ui, N=n_items)
            assert not liked & set(ids.tolist())
            assert len(ids) == n_items - len(liked)
        ids, _ = model.recommend(u, N=n_items, filter_already_liked_items=False)
        assert len(ids) == n_items and liked <= set(ids.tolist())


def test_user_items_row_overrides_stored_row(model, user_items):
    other = user_items[1]
    ids, _ = model.recommend(0, other, N=user_items.shape[1])
    assert not row_items(user_items, 1) & set(ids.tolist())
    assert len(ids) == user_items.shape[1] - len(row_items(user_items, 1))


def test_filter_items_and_items(model, user_items):
    top, _ = model.recommend(3, N=5)
    ids, _ = model.recommend(3, N=5, filter_items=top[:2])
    assert not set(top[:2].tolist()) & set(ids.tolist())
    assert list(ids[:3]) == list(top[2:])
    allowed = [i for i in range(0, user_items.shape[1], 7) if i not in row_items(user_items, 3)]
    ids, scores = model.recommend(3, N=100, items=allowed)
    assert sorted(ids.tolist()) == sorted(allowed)
    assert np.all(np.diff(scores) <= 0)
    ids, _ = model.recommend(3, N=100, items=allowed, filter_items=allowed[:1])
    assert sorted(ids.tolist()) == sorted(allowed[1:])


def test_batch_equals_single(model, user_items):
    users = np.array([0, 4, 9, 4, 250])
    for ui in (None, user_items, user_items[users]):
        bids, bscores = model.recommend(users, ui, N=8)
        assert bids.shape == (5, 8) and bscores.shape == (5, 8)
        assert bids.dtype == np.int32 and bscores.dtype == np.float32
        for k, u in enumerate(users):
            ids, scores = model.recommend(int(u), N=8)
            assert list(bids[k]) == list(ids)
            np.testing.assert_allclose(bscores[k], scores, rtol=1e-5, atol=1e-6)
    bids, _ = model.recommend([0, 1], N=8, filter_items=[1, 2], items=list(range(20)))
    for k in range(2):
        ids, _ = model.recommend(k, N=8, filter_items=[1, 2], items=list(range(20)))
        assert list(bids[k][: len(ids)]) == list(ids)


def test_batch_padding(model, user_items):
    allowed = [i for i in range(5) if i not in row_items(user_items, 0)]
    ids, scores = model.recommend([0], N=10, items=list(range(5)))
    assert ids.shape == (1, 10)
    k = len(allowed)
    assert sorted(ids[0, :k].tolist()) == allowed
    assert (ids[0, k:] == -1).all() and np.isneginf(scores[0, k:]).all()
    single, _ = model.recommend(0, N=10, items=list(range(5)))
    assert len(single) == k


def test_n_larger_than_catalog(model, user_items):
    n_items = user_items.shape[1]
    ids, _ = model.recommend(0, N=10 * n_items)
    assert len(ids) == n_items - len(row_items(user_items, 0))
    bids, _ = model.recommend([0, 1], N=10 * n_items)
    assert bids.shape == (2, n_items)


def test_recalculate_user_is_close_to_trained_user(model, user_items):
    overlaps = []
    for u in range(0, 300, 15):
        ids, _ = model.recommend(u, user_items, N=10)
        rids, rscores = model.recommend(u, user_items[u], N=10, recalculate_user=True)
        assert not row_items(user_items, u) & set(rids.tolist())
        assert np.all(np.diff(rscores) <= 0)
        overlaps.append(len(set(ids.tolist()) & set(rids.tolist())))
        v = model.recalculate_user(u, user_items)
        w = model.user_factors[u]
        assert v.dtype == np.float32 and v.shape == (16,)
        assert v @ w / (np.linalg.norm(v) * np.linalg.norm(w)) > 0.98
    assert np.mean(overlaps) >= 8
    # batch form agrees with the single form
    users = [0, 15, 30]
    bids, _ = model.recommend(users, user_items[users], N=10, recalculate_user=True)
    for k, u in enumerate(users):
        rids, _ = model.recommend(u, user_items[u], N=10, recalculate_user=True)
        assert list(bids[k]) == list(rids)


def test_recalculate_user_for_a_new_user(model, user_items):
    import scipy.sparse as sp

    row = sp.csr_matrix((np.ones(3, np.float32), [1, 2, 3], [0, 3]), shape=(1, user_items.shape[1]))
    ids, _ = model.recommend(0, row, N=5, recalculate_user=True)
    assert len(ids) == 5 and not {1, 2, 3} & set(ids.tolist())


def test_similar_items(model, user_items):
    for item in (0, 7, 50):
        ids, scores = model.similar_items(item, N=10)
        assert ids.shape == (10,) and ids.dtype == np.int32 and scores.dtype == np.float32
        assert item not in ids.tolist()
        assert np.all(np.diff(scores) <= 0)
        assert np.all(scores <= 1.0 + 1e-5) and np.all(scores >= -1.0 - 1e-5)
    ids, scores = model.similar_items(3, N=1000)
    assert len(ids) == user_items.shape[1] - 1
    bids, bscores = model.similar_items(np.array([0, 7]), N=10)
    assert bids.shape == (2, 10)
    for k, item in enumerate([0, 7]):
        ids, scores = model.similar_items(item, N=10)
        assert list(bids[k]) == list(ids)
        np.testing.assert_allclose(bscores[k], scores, rtol=1e-5)  # batch uses gemm
    bids, _ = model.similar_items([3], N=1000)
    assert bids.shape == (1, user_items.shape[1] - 1)


def test_similar_items_cosine(model):
    y = model.item_factors
    ids, scores = model.similar_items(5, N=3)
    expect = y[ids] @ y[5] / (np.linalg.norm(y[ids], axis=1) * np.linalg.norm(y[5]))
    np.testing.assert_allclose(scores, expect, rtol=1e-4)


def test_by_id(model):
    recs = model.recommend_by_id("3", N=5)
    ids, scores = model.recommend(3, N=5)
    assert [r[0] for r in recs] == [str(i) for i in ids]
    np.testing.assert_allclose([r[1] for r in recs], scores)
    assert all(isinstance(r[0], str) and isinstance(r[1], float) for r in recs)
    assert model.recommend_by_id(3, N=5) == recs  # ids are stringified
    sims = model.similar_items_by_id("5", N=4)
    ids, _ = model.similar_items(5, N=4)
    assert [s[0] for s in sims] == [str(i) for i in ids]
    unfiltered = model.recommend_by_id("3", N=1000, filter_already_liked_items=False)
    assert len(unfiltered) == len(model.item_ids)


def test_custom_ids_round_trip(user_items):
    users = [f"user-{i}" for i in range(user_items.shape[0])]
    items = [f"sku-{i}" for i in range(user_items.shape[1])]
    als = sightline.ALS(factors=8, iterations=3, random_state=0).fit(user_items, user_ids=users, item_ids=items)
    recs = als.recommend_by_id("user-2", N=3)
    ids, _ = als.recommend(2, N=3)
    assert [r[0] for r in recs] == [items[i] for i in ids]
    assert als.similar_items_by_id("sku-0", N=2)[0][0].startswith("sku-")


def test_numpy_integer_ids_accepted(model):
    a, _ = model.recommend(np.int64(3), N=3)
    b, _ = model.recommend(3, N=np.int32(3))
    assert list(a) == list(b)
    bids, _ = model.recommend(np.array([3], dtype=np.uint32), N=3)
    assert list(bids[0]) == list(a)


def test_similar_users_by_cosine_without_self(model):
    ids, scores = model.similar_users(3, N=5)
    assert len(ids) == 5 and 3 not in ids.tolist()
    u = model.user_factors
    norms = np.linalg.norm(u, axis=1)
    ref = (u @ u[3]) / (norms * norms[3])
    ref[3] = -np.inf
    np.testing.assert_allclose(scores, np.sort(ref)[::-1][:5], rtol=1e-5)
    with pytest.raises(sightline.InvalidInputError):
        model.similar_users(10**6)
