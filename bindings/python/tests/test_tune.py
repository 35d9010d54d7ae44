import numpy as np
import pytest
import scipy.sparse as sp

import sightline


def planted(n_users=120, n_items=40, seed=0):
    """Two taste groups: users of group g hold most of group g's items."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    half = n_items // 2
    for u in range(n_users):
        g = u % 2
        items = rng.choice(half, size=8, replace=False) + g * half
        other = rng.integers(n_items)
        for i in set(items.tolist()) | {int(other)}:
            rows.append(u)
            cols.append(i)
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_users, n_items))
    return m


def split(m, frac=0.25, seed=1):
    rng = np.random.default_rng(seed)
    coo = m.tocoo()
    test = np.zeros(m.nnz, dtype=bool)
    for u in range(m.shape[0]):
        idx = np.flatnonzero(coo.row == u)
        if len(idx) >= 2:
            test[rng.choice(idx, size=max(1, round(frac * len(idx))), replace=False)] = True
    mk = lambda mask: sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=m.shape)
    return mk(~test), mk(test)


@pytest.fixture(scope="module")
def data():
    return split(planted())


GRID = {"factors": [2, 8], "regularization": [100.0, 0.1], "alpha": [1.0, 8.0]}


def test_grid_runs_product_and_best_beats_base(data):
    train, valid = data
    best, results = sightline.tune_als(train, valid, param_grid=GRID, k=5, iterations=5, num_threads=1)
    assert len(results) == 8
    # Grid order: factors slowest, alpha fastest; results carry params, metrics, seconds.
    assert [(r["factors"], r["regularization"], r["alpha"]) for r in results[:3]] == [
        (2, 100.0, 1.0), (2, 100.0, 8.0), (2, 0.1, 1.0)]
    for r in results:
        for key in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage", "users", "seconds",
                    "unobserved_weight", "regularization_exponent", "init_std", "iterations"):
            assert key in r
        assert r["iterations"] == 5
    top = max(r["ndcg"] for r in results)
    first = next(r for r in results if r["ndcg"] == top)
    assert (best["factors"], best["regularization"], best["alpha"]) == (
        first["factors"], first["regularization"], first["alpha"])
    # ALS(**best_params) rebuilds the chosen model and reproduces its score.
    model = sightline.ALS(**best).fit(train)
    m = sightline.ranking_metrics_at_k(model, train, valid, K=5)
    assert m["ndcg"] == pytest.approx(top, abs=1e-12)
    assert top >= results[0]["ndcg"]
    base = sightline.ALS(factors=2, regularization=100.0, iterations=5, random_state=0).fit(train)
    assert top >= sightline.ranking_metrics_at_k(base, train, valid, K=5)["ndcg"]
    assert top > 0.3


def test_random_search_is_seeded(data):
    train, valid = data
    space = dict(GRID, unobserved_weight=[1.0, 0.3], regularization_exponent=[0.0, 0.5])
    a = sightline.tune_als(train, valid, space, search="random", n_trials=5, random_state=3,
                           k=5, iterations=3, num_threads=1)
    b = sightline.tune_als(train, valid, space, search="random", n_trials=5, random_state=3,
                           k=5, iterations=3, num_threads=1)
    assert len(a[1]) == 5
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
    assert a[0] == b[0] and strip(a[1]) == strip(b[1])
    keys = {tuple(r[k] for k in space) for r in a[1]}
    assert len(keys) == 5  # distinct points
    assert a[0]["random_state"] == 3
    assert sightline.ALS(**a[0]).unobserved_weight in (1.0, 0.3)


def test_fixed_kwargs_scalars_and_callback(data):
    train, valid = data
    seen = []
    best, results = sightline.tune_als(
        train, valid, {"factors": 4, "alpha": np.array([1.0, 2.0])}, k=5, iterations=2,
        use_cg=False, regularization=5.0, unobserved_weight=0.5, callback=seen.append,
        show_progress=True,
    )
    assert len(results) == 2 and len(seen) == 2
    assert best["use_cg"] is False
    assert best["regularization"] == 5.0 and best["unobserved_weight"] == 0.5
    assert all(r["factors"] == 4 for r in results)


def test_default_grid():
    grid = sightline.default_param_grid()
    assert set(grid) == {"factors", "regularization", "alpha", "unobserved_weight",
                         "regularization_exponent", "init_std", "iterations"}
    assert 1.0 in grid["unobserved_weight"] and 0.0 in grid["regularization_exponent"]


def test_bad_input(data):
    train, valid = data
    with pytest.raises(ValueError):
        sightline.tune_als(train, valid, GRID, metric="auc")
    with pytest.raises(sightline.ConfigError) as e:
        sightline.tune_als(train, valid, GRID, metric="auc")
    assert e.value.field == "metric"
    with pytest.raises(sightline.ConfigError) as e:
        sightline.tune_als(train, valid, {"factors": []})
    assert e.value.field == "space.factors"
    with pytest.raises(sightline.ConfigError) as e:
        sightline.tune_als(train, valid, {"regularization": [1.0, -1.0]})
    assert e.value.field == "space.regularization"
    with pytest.raises(sightline.ConfigError) as e:
        sightline.tune_als(train, valid, {"learning_rate": [1.0]})
    assert e.value.field == "param_grid.learning_rate"
    with pytest.raises(sightline.ConfigError) as e:
        sightline.tune_als(train, valid, GRID, search="bayes")
    assert e.value.field == "search"
    with pytest.raises(sightline.ConfigError) as e:
        sightline.tune_als(train, valid, GRID, search="random", n_trials=0)
    assert e.value.field == "search.trials"
    with pytest.raises(sightline.ShapeMismatchError):
        sightline.tune_als(train, valid[:, :10], GRID)
    with pytest.raises(TypeError):
        sightline.tune_als(train, valid.toarray(), GRID)
    with pytest.raises(sightline.InvalidInputError):
        sightline.tune_als(train, valid, GRID, k=0)
    with pytest.raises(sightline.ConfigError):
        sightline.tune_als(train, valid, GRID, use_cg=True, iterations=0)


def test_callback_exception_stops(data):
    train, valid = data
    calls = []

    def boom(trial):
        calls.append(trial)
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        sightline.tune_als(train, valid, GRID, k=5, iterations=2, callback=boom)
    assert len(calls) == 1


class _Wrapper:
    """An implicit-style model: batch recommend via a sightline ALS."""

    def __init__(self, als):
        self.als = als

    def recommend(self, userid, user_items, N=10, filter_already_liked_items=True):
        return self.als.recommend(userid, user_items, N=N,
                                  filter_already_liked_items=filter_already_liked_items)


def test_ranking_metrics_native_and_generic_agree(data):
    train, valid = data
    als = sightline.ALS(factors=4, iterations=5, random_state=0).fit(train)
    a = sightline.ranking_metrics_at_k(als, train, valid, K=5)
    b = sightline.ranking_metrics_at_k(_Wrapper(als), train, valid, K=5)
    assert set(a) >= {"precision", "recall", "ndcg", "map", "hit_rate", "coverage", "users"}
    for key in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage", "users"):
        assert a[key] == pytest.approx(b[key], abs=1e-12)
    assert a["users"] == int(np.count_nonzero(np.diff(valid.indptr)))
    # Hand check of the generic path on one user: recs [3, 1], truth {1}.
    class Fixed:
        def recommend(self, userid, user_items, N=10, filter_already_liked_items=True):
            return np.array([[3, 1]]), np.zeros((1, 2))
    tr = sp.csr_matrix((1, 5), dtype=np.float32)
    te = sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 5))
    m = sightline.ranking_metrics_at_k(Fixed(), tr, te, K=2)
    assert m["precision"] == pytest.approx(0.5)
    assert m["ndcg"] == pytest.approx(1 / np.log2(3))
    assert m["coverage"] == pytest.approx(2 / 5)
    with pytest.raises(sightline.ShapeMismatchError):
        sightline.ranking_metrics_at_k(als, train, valid[:, :3])


def test_new_als_params_roundtrip(data, tmp_path):
    train, _ = data
    als = sightline.ALS(factors=4, iterations=3, unobserved_weight=0.25, regularization_exponent=1.0,
                        init_std=0.5, regularization=0.001, random_state=0).fit(train)
    path = tmp_path / "m.slm"
    als.save(path)
    loaded = sightline.ALS.load(path)
    assert loaded.unobserved_weight == 0.25
    assert loaded.regularization_exponent == 1.0
    assert loaded.init_std == 0.5
    plain = sightline.ALS(factors=4, iterations=3, regularization=0.001, random_state=0).fit(train)
    assert not np.array_equal(plain.user_factors, als.user_factors)
    with pytest.raises(sightline.ConfigError) as e:
        sightline.ALS(unobserved_weight=0.0)
    assert e.value.field == "unobserved_weight"
    with pytest.raises(sightline.ConfigError):
        sightline.ALS(regularization_exponent=3.0)


def test_splits_partition_the_ratings():
    from conftest import random_interactions

    m = random_interactions(n_users=200, n_items=60, density=0.1, seed=3)
    train, test = sightline.train_test_split(m, train_percentage=0.75, random_state=5)
    assert train.shape == test.shape == m.shape
    assert (train + test != m).nnz == 0
    assert train.multiply(test).nnz == 0
    for u in range(200):
        n = m.indptr[u + 1] - m.indptr[u]
        t = test.indptr[u + 1] - test.indptr[u]
        if n >= 2:
            assert 1 <= t <= n - 1
    again = sightline.train_test_split(m, 0.75, random_state=5)
    assert (again[1] != test).nnz == 0
    train, test = sightline.leave_k_out_split(m, K=2, random_state=1)
    counts = np.diff(test.indptr)
    sizes = np.diff(m.indptr)
    assert ((counts == 2) == (sizes > 2)).all() and (counts[sizes <= 2] == 0).all()
    with pytest.raises(sightline.InvalidInputError):
        sightline.train_test_split(m, train_percentage=1.5)
    with pytest.raises(sightline.InvalidInputError):
        sightline.leave_k_out_split(m, K=0)
