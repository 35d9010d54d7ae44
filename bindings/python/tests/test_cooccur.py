import io
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import sightline

ITEMS = ["frame", "lens", "case", "cloth", "sunglasses"]
BASKETS = [
    ["frame", "lens", "case"],
    ["frame", "lens"],
    ["frame", "lens", "cloth"],
    ["frame", "case"],
    ["sunglasses", "case"],
    ["sunglasses", "cloth"],
    ["frame", "lens"],
]
FRAME, LENS, CASE, CLOTH, SUN = range(5)


def baskets_matrix(fmt="csr"):
    rows, cols = [], []
    for r, basket in enumerate(BASKETS):
        for item in basket:
            rows.append(r)
            cols.append(ITEMS.index(item))
    m = sp.coo_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(BASKETS), len(ITEMS)))
    return m.asformat(fmt)


@pytest.fixture(scope="module")
def cooc():
    return sightline.CoOccurrence().fit(baskets_matrix(), item_ids=ITEMS)


@pytest.mark.parametrize("weighting", ["bm25", "count", "lift", "cosine"])
def test_lens_is_top_neighbour_of_frame(weighting):
    model = sightline.CoOccurrence(weighting=weighting).fit(baskets_matrix(), item_ids=ITEMS)
    ids, scores = model.similar_items(FRAME, N=10)
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    assert ids[0] == LENS
    assert FRAME not in ids
    assert np.all(np.diff(scores) <= 0)
    assert model.similar_items_by_id("frame", N=1)[0][0] == "lens"


def test_count_scores_and_min_support():
    model = sightline.CoOccurrence(weighting="count", min_support=2).fit(baskets_matrix())
    ids, scores = model.similar_items(FRAME)
    # frame+lens share 4 baskets, frame+case 2, frame+cloth only 1 (< min_support)
    assert ids.tolist() == [LENS, CASE]
    assert scores.tolist() == [4.0, 2.0]
    loose = sightline.CoOccurrence(weighting="count", min_support=1).fit(baskets_matrix())
    assert CLOTH in loose.similar_items(FRAME)[0].tolist()
    assert model.item_ids == ["0", "1", "2", "3", "4"]


def test_max_neighbors_and_N():
    model = sightline.CoOccurrence(weighting="count", min_support=1, max_neighbors=1).fit(baskets_matrix())
    ids, _ = model.similar_items(FRAME, N=10)
    assert ids.tolist() == [LENS]
    ids, _ = sightline.CoOccurrence(weighting="count", min_support=1).fit(baskets_matrix()).similar_items(FRAME, N=2)
    assert len(ids) == 2


def test_other_sparse_formats_give_same_model():
    a = sightline.CoOccurrence().fit(baskets_matrix("csr"))
    b = sightline.CoOccurrence().fit(baskets_matrix("csc"))
    assert a.to_bytes() == b.to_bytes()


def test_recommend_for_items(cooc):
    ids, scores = cooc.recommend_for_items([FRAME, CASE])
    assert FRAME not in ids and CASE not in ids
    assert ids[0] == LENS
    assert np.all(scores > 0)
    # a single int works, and filter_items removes items
    ids1, _ = cooc.recommend_for_items(FRAME, N=5, filter_items=[LENS])
    assert LENS not in ids1 and FRAME not in ids1
    # weights change the mix: a heavy sunglasses context ranks case above lens
    count = sightline.CoOccurrence(weighting="count", min_support=1).fit(baskets_matrix())
    ids2, scores2 = count.recommend_for_items([FRAME, SUN], weights=[0.01, 10.0])
    assert ids2[0] == CASE and ids2.tolist().index(CASE) < ids2.tolist().index(LENS)
    assert scores2[0] == pytest.approx(0.01 * 2 + 10.0 * 1)
    ids3, _ = count.recommend_for_items([FRAME, SUN], weights=np.array([1.0, 0.01]))
    assert ids3[0] == LENS
    assert cooc.recommend_for_items_by_id(["frame", "case"], N=1)[0][0] == "lens"
    # unknown ids in filter_items are ignored
    assert cooc.recommend_for_items_by_id("frame", filter_items=["nope", "lens"], N=1)[0][0] != "lens"


def test_errors(cooc):
    with pytest.raises(sightline.InvalidInputError):
        cooc.similar_items(FRAME, N=0)
    with pytest.raises(sightline.InvalidInputError):
        cooc.recommend_for_items([FRAME], N=0)
    with pytest.raises(sightline.InvalidInputError):
        cooc.similar_items(99)
    with pytest.raises(sightline.InvalidInputError):
        cooc.similar_items(-1)
    with pytest.raises(sightline.UnknownIdError) as exc:
        cooc.similar_items_by_id("monocle")
    assert exc.value.id == "monocle" and isinstance(exc.value, KeyError)
    with pytest.raises(sightline.UnknownIdError):
        cooc.recommend_for_items_by_id(["monocle"])
    with pytest.raises(sightline.InvalidInputError):
        cooc.recommend_for_items([FRAME, LENS], weights=[1.0, float("nan")])
    with pytest.raises(sightline.InvalidInputError):
        cooc.recommend_for_items([FRAME], weights=[-1.0])
    with pytest.raises(sightline.ShapeMismatchError):
        cooc.recommend_for_items([FRAME, LENS], weights=[1.0])
    with pytest.raises(sightline.InvalidInputError):
        cooc.recommend_for_items([])
    with pytest.raises(sightline.InvalidInputError):
        cooc.recommend_for_items([FRAME], filter_items=[99])
    with pytest.raises(TypeError):
        cooc.similar_items(1.5)


def test_config_and_fit_errors():
    for kwargs, field in [
        ({"weighting": "tfidf"}, "weighting"),
        ({"min_support": 0}, "min_support"),
        ({"min_support": -1}, "min_support"),
        ({"max_neighbors": 0}, "max_neighbors"),
        ({"k1": -1.0}, "weighting.k1"),
        ({"b": 2.0}, "weighting.b"),
    ]:
        with pytest.raises(sightline.ConfigError) as exc:
            sightline.CoOccurrence(**kwargs)
        assert exc.value.field == field
    with pytest.raises(sightline.InvalidInputError):
        sightline.CoOccurrence().similar_items(0)  # not fitted
    with pytest.raises(sightline.InvalidInputError):
        sightline.CoOccurrence().fit(sp.csr_matrix((3, 4), dtype=np.float32))  # empty
    bad = baskets_matrix()
    bad.data[0] = np.nan
    with pytest.raises(sightline.InvalidInputError):
        sightline.CoOccurrence().fit(bad)
    with pytest.raises(TypeError):
        sightline.CoOccurrence().fit(np.ones((2, 2)))
    with pytest.raises(sightline.SightlineError):
        sightline.CoOccurrence().fit(baskets_matrix(), item_ids=["a", "b"])  # wrong count


def assert_same(a, b):
    for item in range(len(ITEMS)):
        ia, sa = a.similar_items(item)
        ib, sb = b.similar_items(item)
        assert np.array_equal(ia, ib) and np.array_equal(sa, sb)
    ia, sa = a.recommend_for_items([FRAME, CASE], weights=[1.0, 0.5])
    ib, sb = b.recommend_for_items([FRAME, CASE], weights=[1.0, 0.5])
    assert np.array_equal(ia, ib) and np.array_equal(sa, sb)
    assert a.item_ids == b.item_ids
    assert repr(a) == repr(b)


def test_persistence(tmp_path):
    model = sightline.CoOccurrence(weighting="lift", min_support=1, max_neighbors=3).fit(
        baskets_matrix(), item_ids=ITEMS
    )
    path = tmp_path / "cooc.sightline"
    model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["cooc.sightline"]
    assert_same(model, sightline.CoOccurrence.load(path))
    assert_same(model, sightline.CoOccurrence.load(str(path)))
    data = model.to_bytes()
    assert isinstance(data, bytes)
    clone = sightline.CoOccurrence.from_bytes(bytearray(data))
    assert_same(model, clone)
    assert clone.to_bytes() == data
    assert clone.get_params() == model.get_params()
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    assert_same(model, sightline.CoOccurrence.load(buf))
    assert_same(model, pickle.loads(pickle.dumps(model)))
    fresh = pickle.loads(pickle.dumps(sightline.CoOccurrence(max_neighbors=7)))
    assert fresh.max_neighbors == 7 and fresh.item_ids is None


def test_persistence_errors(tmp_path):
    with pytest.raises(sightline.ModelFormatError):
        sightline.CoOccurrence.from_bytes(b"not a model")
    with pytest.raises(sightline.SightlineIOError) as exc:
        sightline.CoOccurrence.load(tmp_path / "missing.sightline")
    assert isinstance(exc.value, FileNotFoundError) or exc.value.errno is not None
    # an ALS-only model file has no cooccur component
    als = sightline.ALS(factors=2, iterations=1, random_state=0).fit(baskets_matrix())
    with pytest.raises(sightline.ModelFormatError):
        sightline.CoOccurrence.from_bytes(als.to_bytes())


def test_repr():
    assert repr(sightline.CoOccurrence(weighting="count")) == (
        "CoOccurrence(weighting='count', min_support=2, max_neighbors=100, k1=1.2, b=0.75)"
    )


def test_similar_items_batch_matches_single_calls():
    rng = np.random.default_rng(5)
    m = sp.random(200, 30, density=0.15, random_state=rng, format="csr", dtype=np.float32)
    m.data[:] = 1.0
    model = sightline.CoOccurrence(min_support=1, max_neighbors=5).fit(m)
    ids, scores = model.similar_items(np.arange(30), N=8)
    assert ids.shape == (30, 8) and ids.dtype == np.int32
    for i in range(30):
        one_ids, one_scores = model.similar_items(i, N=8)
        k = len(one_ids)
        assert k <= 5
        assert ids[i, :k].tolist() == one_ids.tolist()
        assert (ids[i, k:] == -1).all() and np.isneginf(scores[i, k:]).all()
    with pytest.raises(sightline.InvalidInputError):
        model.similar_items([0, 99], N=3)
