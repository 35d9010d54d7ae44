"""Differential tests: ``sightline.implicit`` against implicit 0.7.3 itself.

The same inputs go to implicit and to the compat class. With the same
factors loaded into both, ids must be identical and scores equal to float32
tolerance; trained on the same data with the same settings, held-out
quality must agree; exceptions and warnings must be of the same classes.
"""

import inspect
import io
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

implicit = pytest.importorskip(
    "implicit", reason="the differential tests need implicit==0.7.3 (bindings/python/requirements-dev.txt)"
)
import implicit.evaluation as ie  # noqa: E402
from implicit.als import AlternatingLeastSquares as ImplicitALS  # noqa: E402

import sightline.implicit.evaluation as se  # noqa: E402
from sightline.implicit.als import AlternatingLeastSquares as SightlineALS  # noqa: E402

FLT_MAX = np.finfo(np.float32).max
N_USERS, N_ITEMS = 240, 90

pytestmark = [
    pytest.mark.filterwarnings("ignore:OpenBLAS is configured"),
    # implicit divides its -FLT_MAX markers by the query norm in similar_items
    pytest.mark.filterwarnings("ignore:overflow encountered in divide:RuntimeWarning"),
]


def implicit_model(**kw):
    kw.setdefault("use_gpu", False)
    return ImplicitALS(**kw)


@pytest.fixture(scope="module")
def data():
    """Users in three taste groups, each liking a third of the catalog more,
    with weights 1..4: structure a model can learn, and ties are rare."""
    rng = np.random.default_rng(11)
    rows, cols, vals = [], [], []
    for u in range(N_USERS):
        group = u % 3
        n = rng.integers(4, 14)
        liked = np.where(rng.random(N_ITEMS) < 0.8, group, rng.integers(0, 3, N_ITEMS))
        pool = np.flatnonzero(liked == group) if rng.random() < 0.85 else np.arange(N_ITEMS)
        for i in rng.choice(pool[(pool % 3) == group] if pool.size > 30 else pool, n, replace=False):
            rows.append(u)
            cols.append(i)
            vals.append(float(rng.integers(1, 5)))
    m = sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=(N_USERS, N_ITEMS))
    m.sum_duplicates()
    return m


@pytest.fixture(scope="module")
def pair(data):
    """An implicit model and a sightline one holding the same factors."""
    theirs = implicit_model(factors=16, iterations=6, regularization=0.05, alpha=2.0, random_state=3)
    theirs.fit(data, show_progress=False)
    ours = SightlineALS(factors=16, iterations=6, regularization=0.05, alpha=2.0, random_state=3)
    ours.user_factors = theirs.user_factors
    ours.item_factors = theirs.item_factors
    return theirs, ours


def assert_same_ranking(theirs, ours, filtered=None):
    """Same shapes and dtypes; ids identical where implicit ranks an item
    (near-ties may swap), scores equal to float32 tolerance; filtered entries
    (-FLT_MAX) drawn from the filtered set; padding identical."""
    (tid, tsc), (oid, osc) = theirs, ours
    assert oid.shape == tid.shape and osc.shape == tsc.shape
    assert oid.dtype == tid.dtype and osc.dtype == tsc.dtype
    tid, tsc, oid, osc = (np.atleast_2d(a) for a in (tid, tsc, oid, osc))
    for r in range(tid.shape[0]):
        ranked = tsc[r] > -1e30
        np.testing.assert_allclose(osc[r][ranked], tsc[r][ranked], rtol=2e-4, atol=2e-5)
        differ = ranked & (oid[r] != tid[r])
        # A different id is only allowed where the two scores tie.
        for c in np.flatnonzero(differ):
            assert abs(tsc[r][c] - osc[r][c]) < 2e-4 and np.isclose(
                tsc[r][c], osc[r][list(oid[r]).index(tid[r][c])] if tid[r][c] in oid[r] else np.inf,
                rtol=2e-4, atol=2e-5,
            ), (r, c, tid[r], oid[r])
        flagged = tsc[r] == -FLT_MAX
        np.testing.assert_array_equal(osc[r] == -FLT_MAX, flagged)
        if filtered is not None and flagged.any():
            assert set(oid[r][flagged]) <= set(filtered[r]), (oid[r], filtered[r])


# ----------------------------------------------------------------- defaults --


def test_constructor_has_implicits_arguments_and_defaults():
    theirs = inspect.signature(implicit.als.AlternatingLeastSquares).parameters
    ours = inspect.signature(SightlineALS).parameters
    assert list(ours) == list(theirs)
    for name, p in theirs.items():
        if name != "use_gpu":  # implicit's default is "has CUDA"; False here
            assert ours[name].default == p.default, name
    model = SightlineALS()
    assert (model.factors, model.regularization, model.alpha, model.iterations) == (100, 0.01, 1.0, 15)
    assert model.cg_steps == 3 and model.user_factors is None


def test_iterations_0_gives_implicits_initial_factors(data):
    theirs = implicit_model(factors=8, iterations=0, random_state=42)
    theirs.fit(data, show_progress=False)
    ours = SightlineALS(factors=8, iterations=0, random_state=42)
    ours.fit(data, show_progress=False)
    np.testing.assert_array_equal(ours.user_factors, theirs.user_factors)
    np.testing.assert_array_equal(ours.item_factors, theirs.item_factors)


# -------------------------------------------------------------- recommend --

USERS = np.array([0, 5, 17, 100, 239])


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("filter_liked", [True, False])
@pytest.mark.parametrize("filter_items", [None, [1, 4, 7, 30]])
@pytest.mark.parametrize("N", [5, 120])
@pytest.mark.parametrize("recalculate", [False, True])
def test_recommend_same_answers(pair, data, batch, filter_liked, filter_items, N, recalculate):
    theirs, ours = pair
    userid = USERS if batch else 17
    rows = data[USERS] if batch else data[17]
    args = dict(N=N, filter_already_liked_items=filter_liked, filter_items=filter_items,
                recalculate_user=recalculate)
    expected = theirs.recommend(userid, rows, **args)
    got = ours.recommend(userid, rows, **args)
    liked = [list(data[u].indices) for u in np.atleast_1d(userid)]
    filtered = [(l if filter_liked else []) + (filter_items or []) for l in liked]
    assert_same_ranking(expected, got, filtered)


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("filter_liked", [True, False])
@pytest.mark.parametrize("N", [3, 50])
def test_recommend_items_ranks_exactly_those(pair, data, batch, filter_liked, N):
    theirs, ours = pair
    items = [40, 3, 8, 77, 12, 60, 2]
    userid = USERS if batch else 5
    rows = data[USERS] if batch else data[5]
    expected = theirs.recommend(userid, rows, N=N, filter_already_liked_items=filter_liked, items=items)
    got = ours.recommend(userid, rows, N=N, filter_already_liked_items=filter_liked, items=items)
    assert_same_ranking(expected, got)
    assert set(np.ravel(got[0])) <= set(items)


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("filter_items", [None, [2, 9]])
@pytest.mark.parametrize("N", [6, 100])
@pytest.mark.parametrize("recalculate", [False, True])
def test_similar_items_same_answers(pair, data, batch, filter_items, N, recalculate):
    theirs, ours = pair
    itemid = np.array([0, 9, 44]) if batch else 9
    item_users = data.T.tocsr()[np.atleast_1d(itemid)] if recalculate else None
    if recalculate and not batch:
        item_users = item_users[0]
    args = dict(N=N, recalculate_item=recalculate, item_users=item_users, filter_items=filter_items)
    expected = theirs.similar_items(itemid, **args)
    got = ours.similar_items(itemid, **args)
    # implicit divides its -FLT_MAX markers by the query norm: compare ranked places.
    ranked = np.atleast_2d(expected[1]) > -1e30
    assert got[0].shape == expected[0].shape and got[0].dtype == expected[0].dtype
    assert_same_ranking(
        (np.where(ranked, np.atleast_2d(expected[0]), -1), np.where(ranked, np.atleast_2d(expected[1]), -FLT_MAX)),
        (np.where(ranked, np.atleast_2d(got[0]), -1), np.where(ranked, np.atleast_2d(got[1]), -FLT_MAX)),
    )
    if not recalculate and not filter_items:
        assert np.atleast_2d(got[0])[:, 0].tolist() == np.atleast_1d(itemid).tolist()  # the query first


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("N", [4, 12])
def test_similar_with_a_subset_and_similar_users(pair, batch, N):
    theirs, ours = pair
    itemid = np.array([3, 8]) if batch else 3
    items = [8, 3, 50, 61, 70]
    assert_same_ranking(theirs.similar_items(itemid, N=N, items=items),
                        ours.similar_items(itemid, N=N, items=items))
    userid = np.array([1, 50]) if batch else 50
    for kw in ({}, {"filter_users": [2, 3]}, {"users": [50, 7, 9, 1, 200]}):
        expected = theirs.similar_users(userid, N=N, **kw)
        got = ours.similar_users(userid, N=N, **kw)
        ranked = np.atleast_2d(expected[1]) > -1e30
        assert got[0].shape == expected[0].shape
        np.testing.assert_array_equal(np.atleast_2d(got[0])[ranked], np.atleast_2d(expected[0])[ranked])
        np.testing.assert_allclose(np.atleast_2d(got[1])[ranked], np.atleast_2d(expected[1])[ranked],
                                   rtol=2e-4, atol=2e-5)


# ------------------------------------------------- fold-in, partial fits --


def test_recalculate_and_partial_fit_same_factors(data):
    theirs = implicit_model(factors=8, iterations=4, random_state=1)
    theirs.fit(data, show_progress=False)
    ours = SightlineALS(factors=8, iterations=4, random_state=1)
    ours.user_factors, ours.item_factors = theirs.user_factors, theirs.item_factors
    np.testing.assert_allclose(ours.recalculate_user(7, data[7]), theirs.recalculate_user(7, data[7]),
                               rtol=1e-3, atol=1e-5)
    users = [3, N_USERS + 2]  # the second grows the model, as in implicit
    theirs.partial_fit_users(users, data[[3, 4]])
    ours.partial_fit_users(users, data[[3, 4]])
    assert ours.user_factors.shape == theirs.user_factors.shape == (N_USERS + 3, 8)
    np.testing.assert_allclose(ours.user_factors, theirs.user_factors, rtol=1e-3, atol=1e-5)
    item_users = data.T.tocsr()[[5, 6]]
    # item_users from before the users grew (fewer columns), as implicit allows
    theirs.partial_fit_items([5, N_ITEMS], item_users)
    ours.partial_fit_items([5, N_ITEMS], item_users)
    assert ours.item_factors.shape == theirs.item_factors.shape == (N_ITEMS + 1, 8)
    np.testing.assert_allclose(ours.item_factors, theirs.item_factors, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(ours.recalculate_item(5, item_users[0]),
                               theirs.recalculate_item(5, item_users[0]), rtol=1e-3, atol=1e-5)


def test_explain_same_answers(pair, data):
    theirs, ours = pair
    t_score, t_top, t_weights = theirs.explain(11, data, 20, N=4)
    o_score, o_top, o_weights = ours.explain(11, data, 20, N=4)
    assert o_score == pytest.approx(t_score, rel=1e-3, abs=1e-5)
    assert [i for i, _ in o_top] == [int(i) for i, _ in t_top]
    np.testing.assert_allclose([s for _, s in o_top], [s for _, s in t_top], rtol=1e-3, atol=1e-5)
    # implicit's cho_factor tuple and ours are interchangeable
    again = ours.explain(11, data, 21, user_weights=t_weights)
    assert again[0] == pytest.approx(theirs.explain(11, data, 21, user_weights=t_weights)[0], rel=1e-3, abs=1e-5)
    assert ours.explain(11, data, 21, user_weights=o_weights)[0] == pytest.approx(again[0], rel=1e-4, abs=1e-6)


# ---------------------------------------------------------------- training --


@pytest.mark.parametrize("use_cg", [True, False])
def test_training_from_the_same_start_follows_implicit(data, use_cg):
    kw = dict(factors=16, iterations=10, regularization=0.1, alpha=3.0, random_state=5, use_cg=use_cg,
              calculate_training_loss=True)
    losses = {"theirs": [], "ours": []}
    theirs = implicit_model(**kw)
    theirs.fit(data, show_progress=False, callback=lambda it, s, loss: losses["theirs"].append((it, loss)))
    ours = SightlineALS(**kw)
    ours.fit(data, show_progress=False, callback=lambda it, s, loss: losses["ours"].append((it, loss)))
    assert [it for it, _ in losses["ours"]] == list(range(10))
    np.testing.assert_allclose([l for _, l in losses["ours"]], [l for _, l in losses["theirs"]], rtol=2e-3)
    # CG's 3 steps per half-iteration amplify float32 rounding order a little.
    np.testing.assert_allclose(ours.item_factors, theirs.item_factors, rtol=0.05,
                               atol=1e-2 if use_cg else 2e-3)
    users = np.arange(N_USERS)
    t_ids, _ = theirs.recommend(users, data, N=5)
    o_ids, _ = ours.recommend(users, data, N=5)
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(t_ids, o_ids)])
    assert overlap > 0.95


def test_held_out_ndcg_matches_implicit(data):
    train, test = ie.train_test_split(data, 0.8, random_state=0)
    scores = {}
    for name, cls in (("implicit", implicit_model), ("sightline", SightlineALS)):
        model = cls(factors=16, iterations=15, regularization=0.05, random_state=0)
        model.fit(train, show_progress=False)
        scores[name] = ie.ranking_metrics_at_k(model, train, test, K=10, show_progress=False)
    assert scores["sightline"]["ndcg"] == pytest.approx(scores["implicit"]["ndcg"], abs=0.02), scores
    assert scores["sightline"]["auc"] == pytest.approx(scores["implicit"]["auc"], abs=0.02), scores


# -------------------------------------------------------------- evaluation --


def test_splits_are_implicits(data):
    for seed in (0, 7):
        for a, b in zip(ie.train_test_split(data, 0.7, random_state=seed),
                        se.train_test_split(data, 0.7, random_state=seed)):
            assert (a != b).nnz == 0 and a.shape == b.shape and a.dtype == b.dtype
    for K, only in ((1, 0.0), (2, 0.25)):
        np.random.seed(3)
        a = ie.leave_k_out_split(data, K=K, train_only_size=only, random_state=1)
        np.random.seed(3)
        b = se.leave_k_out_split(data, K=K, train_only_size=only, random_state=1)
        for x, y in zip(a, b):
            assert (x != y).nnz == 0
    for bad in (dict(K=0), dict(train_only_size=1.0)):
        with pytest.raises(ValueError):
            ie.leave_k_out_split(data, **bad)
        with pytest.raises(ValueError):
            se.leave_k_out_split(data, **bad)


@pytest.mark.parametrize("K", [1, 5, 20])
def test_metrics_are_implicits_numbers(pair, data, K):
    theirs, ours = pair
    train, test = ie.train_test_split(data, 0.75, random_state=4)
    expected = ie.ranking_metrics_at_k(theirs, train, test, K=K, show_progress=False)
    # The same model through both metric codes: the same numbers.
    same = se.ranking_metrics_at_k(theirs, train, test, K=K, show_progress=False)
    assert same.keys() == expected.keys()
    for key in expected:
        assert same[key] == pytest.approx(expected[key], rel=1e-12), key
    # Our model with the same factors: the same numbers too.
    got = se.ranking_metrics_at_k(ours, train, test, K=K, show_progress=False)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-6), key
    for fn, key in ((se.precision_at_k, "precision"), (se.mean_average_precision_at_k, "map"),
                    (se.ndcg_at_k, "ndcg"), (se.AUC_at_k, "auc")):
        assert fn(ours, train, test, K=K, show_progress=False) == pytest.approx(expected[key], rel=1e-6)


# ----------------------------------------------- exceptions and warnings --


def _outcome(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
            error = None
        except Exception as e:  # noqa: BLE001 - the class is what is compared
            error = type(e)
    names = sorted({w.category.__name__ for w in caught if "BLAS" not in str(w.message)})
    return error, names


CASES = {
    "wrong row count": lambda m, d: m.recommend(0, d, N=3),
    "coo user_items": lambda m, d: m.recommend(0, d[0].tocoo(), N=3),
    "userid out of range": lambda m, d: m.recommend(N_USERS + 5, d[0], N=3),
    "items out of range": lambda m, d: m.recommend(0, d[0], items=[1, N_ITEMS + 3]),
    "items and filter_items": lambda m, d: m.recommend(0, d[0], items=[1, 2], filter_items=[3]),
    "itemid out of range": lambda m, d: m.similar_items(N_ITEMS + 1),
    "users and filter_users": lambda m, d: m.similar_users(0, users=[1, 2], filter_users=[3]),
    "partial_fit row count": lambda m, d: m.partial_fit_users([0, 1], d[0]),
    "recalculate row count": lambda m, d: m.recalculate_user([0, 1], d[0]),
    "recalculate coo": lambda m, d: m.recalculate_user(0, d[0].tocoo()),
    "fit coo": lambda m, d: m.fit(d.tocoo(), show_progress=False),
    "to_gpu": lambda m, d: m.to_gpu(),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_exception_and_warning_classes(data, case):
    def fresh(cls):
        model = cls(factors=4, iterations=1, random_state=0)
        model.fit(data, show_progress=False)
        return model

    theirs = _outcome(lambda: CASES[case](fresh(implicit_model), data))
    ours = _outcome(lambda: CASES[case](fresh(SightlineALS), data))
    assert ours == theirs


def test_unfitted_and_gpu_errors():
    for cls in (implicit_model, SightlineALS):
        with pytest.raises(TypeError):
            cls().recommend(0, sp.csr_matrix((1, 3)))
    with pytest.raises(ValueError):
        implicit.als.AlternatingLeastSquares(use_gpu=True)
    with pytest.raises(ValueError):
        SightlineALS(use_gpu=True)


def test_sightline_only_limits_are_clear(data):
    from sightline.implicit.utils import ParameterWarning

    with pytest.warns(ParameterWarning, match="float32"):
        SightlineALS(dtype=np.float64)
    negative = data.copy()
    negative.data[0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        SightlineALS(factors=4).fit(negative, show_progress=False)


# ------------------------------------------------------------- persistence --


def test_save_load_interchange_with_implicit(tmp_path, pair, data):
    theirs, ours = pair
    ours.save(str(tmp_path / "ours"))  # numpy appends .npz, as for implicit
    loaded = implicit.cpu.als.AlternatingLeastSquares.load(str(tmp_path / "ours"))
    np.testing.assert_array_equal(loaded.item_factors, theirs.item_factors)
    assert (loaded.regularization, loaded.alpha, loaded.factors) == (0.05, 2.0, 16)
    buf = io.BytesIO()
    theirs.save(buf)
    buf.seek(0)
    back = SightlineALS.load(buf)
    assert_same_ranking(theirs.recommend(3, data[3], N=8), back.recommend(3, data[3], N=8))
    unfitted = SightlineALS(factors=7, alpha=3.0)
    unfitted.save(str(tmp_path / "empty.npz"))
    again = SightlineALS.load(str(tmp_path / "empty.npz"))
    assert (again.factors, again.alpha, again.user_factors) == (7, 3.0, None)
    copy = pickle.loads(pickle.dumps(ours))
    np.testing.assert_array_equal(copy.recommend(3, data[3])[0], ours.recommend(3, data[3])[0])


def test_factors_are_settable_and_read_only(pair):
    _, ours = pair
    with pytest.raises(ValueError):
        ours.user_factors[0, 0] = 1.0
    model = SightlineALS()
    model.user_factors = np.ones((2, 3))
    model.item_factors = np.eye(3)
    ids, scores = model.recommend(0, None, N=3, filter_already_liked_items=False)
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    np.testing.assert_allclose(scores, [1, 1, 1])


# ------------------------------------------------------------ parity table --


def test_parity_table_is_current():
    """docs/implicit-parity.md is what scripts/implicit_parity.py generates
    from the installed implicit (which also checks that every item marked
    provided exists in sightline.implicit with all of implicit's arguments)."""
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, str(root / "scripts" / "implicit_parity.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_deprecated_calls_match(pair, data):
    theirs, ours = pair
    users = data[:6]
    with pytest.warns(DeprecationWarning):
        expected = theirs.recommend_all(users, N=4)
    with pytest.warns(DeprecationWarning):
        got = ours.recommend_all(users, N=4)
    np.testing.assert_array_equal(got, expected)
    with pytest.warns(DeprecationWarning):
        expected = theirs.rank_items(2, data[2], [5, 1, 30])
    with pytest.warns(DeprecationWarning):
        got = ours.rank_items(2, data[2], [5, 1, 30])
    assert_same_ranking(expected, got)
