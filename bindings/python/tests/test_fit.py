import numpy as np
import pytest
import scipy.sparse as sp

import sightline
from conftest import random_interactions


def test_factor_shapes_and_dtypes(model, user_items):
    n_users, n_items = user_items.shape
    assert model.user_factors.shape == (n_users, 16)
    assert model.item_factors.shape == (n_items, 16)
    assert model.user_factors.dtype == np.float32
    assert model.item_factors.dtype == np.float32
    assert np.isfinite(model.user_factors).all() and np.isfinite(model.item_factors).all()
    assert not model.user_factors.flags.writeable


def test_default_and_custom_ids(model, user_items):
    assert model.user_ids == [str(i) for i in range(user_items.shape[0])]
    assert model.item_ids == [str(i) for i in range(user_items.shape[1])]
    m = random_interactions(20, 10, 0.3)
    users = [f"u{i}" for i in range(20)]
    items = [f"i{i}" for i in range(10)]
    als = sightline.ALS(factors=4, iterations=3, random_state=0).fit(m, user_ids=users, item_ids=items)
    assert als.user_ids == users and als.item_ids == items


def test_same_seed_is_deterministic(user_items):
    a = sightline.ALS(factors=8, iterations=5, random_state=7).fit(user_items)
    b = sightline.ALS(factors=8, iterations=5, random_state=7).fit(user_items)
    c = sightline.ALS(factors=8, iterations=5, random_state=8).fit(user_items)
    assert np.array_equal(a.user_factors, b.user_factors)
    assert np.array_equal(a.item_factors, b.item_factors)
    assert not np.array_equal(a.user_factors, c.user_factors)


def test_numpy_random_state_objects(user_items):
    a = sightline.ALS(factors=4, iterations=2, random_state=np.random.RandomState(1)).fit(user_items)
    b = sightline.ALS(factors=4, iterations=2, random_state=np.random.default_rng(1)).fit(user_items)
    assert a.user_factors.shape == b.user_factors.shape


def test_cholesky_solver(user_items):
    als = sightline.ALS(factors=8, iterations=5, use_cg=False, random_state=0).fit(user_items)
    assert als.use_cg is False
    ids, scores = als.recommend(0, N=5)
    assert len(ids) == 5 and np.all(np.diff(scores) <= 0)
    cg = sightline.ALS(factors=8, iterations=5, use_cg=True, random_state=0).fit(user_items)
    assert not np.array_equal(als.user_factors, cg.user_factors)


@pytest.mark.parametrize("fmt", ["coo", "csc", "lil", "dok"])
def test_other_sparse_formats_are_converted(user_items, fmt):
    ref = sightline.ALS(factors=4, iterations=3, random_state=1).fit(user_items)
    als = sightline.ALS(factors=4, iterations=3, random_state=1).fit(user_items.asformat(fmt))
    assert np.array_equal(ref.user_factors, als.user_factors)


def test_sparse_arrays_and_dtypes(user_items):
    ref = sightline.ALS(factors=4, iterations=3, random_state=1).fit(user_items)
    for m in (sp.csr_array(user_items), user_items.astype(np.float64), user_items.astype(np.int64)):
        als = sightline.ALS(factors=4, iterations=3, random_state=1).fit(m)
        assert np.array_equal(ref.user_factors, als.user_factors)


def test_unsorted_and_duplicate_entries_are_summed():
    a = sp.csr_matrix((np.array([1.0, 2.0, 3.0], np.float32), np.array([2, 0, 2]), np.array([0, 3, 3])), shape=(2, 3))
    b = sp.csr_matrix((np.array([2.0, 4.0], np.float32), np.array([0, 2]), np.array([0, 2, 2])), shape=(2, 3))
    fa = sightline.ALS(factors=2, iterations=2, random_state=0).fit(a).user_factors
    fb = sightline.ALS(factors=2, iterations=2, random_state=0).fit(b).user_factors
    assert np.array_equal(fa, fb)


def test_progress_output_and_callback(user_items, capsys):
    calls = []
    sightline.ALS(factors=4, iterations=3, random_state=0, calculate_training_loss=True).fit(
        user_items, show_progress=True, callback=lambda it, secs, loss: calls.append((it, secs, loss))
    )
    assert [c[0] for c in calls] == [1, 2, 3]
    assert all(c[1] >= 0 and c[2] is not None and np.isfinite(c[2]) for c in calls)
    err = capsys.readouterr().err
    assert "3/3" in err


def test_no_loss_without_calculate_training_loss(user_items):
    losses = []
    sightline.ALS(factors=4, iterations=2, random_state=0).fit(user_items, callback=lambda i, s, l: losses.append(l))
    assert losses == [None, None]


def test_exception_in_callback_propagates_and_leaves_model_unfitted(user_items):
    als = sightline.ALS(factors=4, iterations=5, random_state=0)

    def boom(it, secs, loss):
        if it == 2:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        als.fit(user_items, callback=boom)
    assert als.user_factors is None


def test_refit_replaces_model(user_items):
    als = sightline.ALS(factors=4, iterations=2, random_state=0).fit(user_items)
    als.fit(random_interactions(50, 30, 0.2, seed=3))
    assert als.user_factors.shape == (50, 4) and als.item_factors.shape == (30, 4)


def test_repr_and_params():
    als = sightline.ALS(factors=8, regularization=0.1, random_state=3)
    assert repr(als) == (
        "ALS(factors=8, regularization=0.1, alpha=4.0, iterations=15, use_cg=True, "
        "random_state=3, num_threads=0, calculate_training_loss=False, unobserved_weight=1.0, "
        "regularization_exponent=0.5, init_std=0.1)"
    )
    assert als.get_params()["factors"] == 8


def test_not_fitted():
    als = sightline.ALS()
    assert als.user_factors is None and als.item_ids is None
    for call in (lambda: als.recommend(0), lambda: als.similar_items(0), lambda: als.to_bytes(),
                 lambda: als.recommend_by_id("0")):
        with pytest.raises(sightline.InvalidInputError, match="not fitted"):
            call()
