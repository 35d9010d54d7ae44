import io
import pickle
import threading

import numpy as np
import pytest

import sightline
from conftest import events_matrix


@pytest.fixture(scope="module")
def demo():
    return sightline.demo_data(customers=3000, products=600, events=120_000, seed=7)


@pytest.fixture(scope="module")
def frames(demo):
    return {i["id"]: i for i in demo["catalog"] if i["category"] == "frames"}


def shop_weights():
    return {"shape": 3.0, "material": 3.0}


def test_similar_frames_share_shape_and_material(demo, frames):
    index = sightline.ContentIndex(weights=shop_weights()).fit(demo["catalog"])
    assert not index.is_hnsw and index.dim > 20
    query = next(iter(frames))
    found = index.similar_items_by_id(query, N=5, categories=["frames"])
    assert len(found) == 5
    for item_id, score in found:
        assert item_id != query
        assert frames[item_id]["shape"] == frames[query]["shape"]
        assert frames[item_id]["material"] == frames[query]["material"]
        assert 0.0 < score <= 1.0 + 1e-6
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)


def test_exact_and_hnsw_agree_and_ids_map(demo):
    exact = sightline.ContentIndex(index="exact").fit(demo["catalog"])
    graph = sightline.ContentIndex(index="hnsw", ef_search=200).fit(demo["catalog"])
    assert graph.is_hnsw and graph.item_ids == exact.item_ids
    ids_e, sc_e = exact.similar_items(np.arange(50), N=10)
    ids_g, sc_g = graph.similar_items(np.arange(50), N=10)
    assert ids_e.shape == (50, 10) and ids_e.dtype == np.int32
    # Near-ties make ids differ; scores of the k-th neighbour must match.
    np.testing.assert_allclose(sc_e, sc_g, atol=1e-5)
    # One item (its own native path) answers as its row of the batch.
    one_ids, one_sc = graph.similar_items(7, N=10)
    assert one_ids.shape == (10,) and one_ids.dtype == np.int32
    np.testing.assert_array_equal(one_ids, ids_g[7])
    np.testing.assert_array_equal(one_sc, sc_g[7])
    # Brute-force reference in numpy.
    v = exact.vectors
    ref = v @ v[3]
    ref[3] = -np.inf
    top = np.sort(ref)[::-1][:10]
    np.testing.assert_allclose(exact.similar_items(3, N=10)[1], top, rtol=1e-5)


def test_filters_hold_and_fill_n(demo):
    catalog = {i["id"]: i for i in demo["catalog"]}
    index = sightline.ContentIndex(index="hnsw").fit(demo["catalog"])
    ids = index.item_ids
    got_ids, _ = index.similar_items(0, N=15, categories=["sunglasses"], in_stock=True, region="au")
    assert len(got_ids) == 15
    for i in got_ids:
        item = catalog[ids[i]]
        assert item["category"] == "sunglasses" and item["in_stock"]
        assert not item["regions"] or "au" in item["regions"]
    # A category with few items: all of them, from the exact fallback.
    tests = [i for i in catalog.values() if i["category"] == "eye_tests"]
    got = index.similar_items_by_id(ids[0], N=50, categories=["eye_tests"])
    assert len(got) == len(tests) > 0


def test_embeddings_hybrid_and_cold_start(demo):
    catalog = demo["catalog"]
    rng = np.random.default_rng(0)
    known = [i["id"] for i in catalog[:300]]
    emb = rng.standard_normal((300, 16)).astype(np.float32)
    index = sightline.ContentIndex(weights=shop_weights()).fit(catalog, embeddings=emb, item_ids=known)
    assert index.dim > 16
    # Embeddings only: neighbours follow the embedding geometry.
    only = sightline.ContentIndex().fit(embeddings=emb, item_ids=known)
    assert only.item_ids == known and only.dim == 16
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    ref = unit @ unit[5]
    ref[5] = -np.inf
    assert only.similar_items(5, N=3)[0].tolist() == np.argsort(-ref)[:3].tolist()
    # A brand-new frame, by attributes.
    frame = next(i for i in catalog if i["category"] == "frames")
    new = dict(frame, id="NEW-1")
    got = index.similar_to_item(new, N=5)
    assert len(got) == 5 and all(g[0] != "NEW-1" for g in got)
    by_id = {i["id"]: i for i in catalog}
    assert sum(by_id[g]["shape"] == frame["shape"] for g, _ in got if "shape" in by_id[g]) >= 4
    with pytest.raises(sightline.InvalidInputError):
        only.similar_to_item(new, N=3)


def test_hybrid_with_als(demo):
    items = sorted(set(demo["events"]["item"]))
    m, _ = events_matrix(demo["events"], items)
    als = sightline.ALS(factors=16, iterations=5, random_state=1).fit(m, item_ids=items)
    index = sightline.ContentIndex(attribute_weight=0.5).fit(demo["catalog"], als=als)
    assert index.dim == sightline.ContentIndex().fit(demo["catalog"]).dim + 16
    ids, scores = index.similar_items(1, N=5)
    assert len(ids) == 5 and np.all(np.isfinite(scores))


def test_search_vectors_and_threads(demo):
    index = sightline.ContentIndex().fit(demo["catalog"])
    q = index.vectors[:64]
    ids, scores = index.search(q, N=4)
    assert ids.shape == (64, 4)
    assert (ids[:, 0] == np.arange(64)).mean() > 0.9  # each row finds itself (or a twin)
    one_ids, _ = index.search(q[7], N=4)
    assert one_ids.tolist() == ids[7].tolist()
    # Searches from several Python threads at once.
    out = {}

    def work(k):
        out[k] = index.search(q, N=4)[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all((out[k] == ids).all() for k in range(4))


def test_persistence_round_trip(demo, tmp_path):
    for kind in ("exact", "hnsw"):
        index = sightline.ContentIndex(index=kind, ef_search=80).fit(demo["catalog"])
        path = tmp_path / f"{kind}.sightline"
        index.save(path)
        back = sightline.ContentIndex.load(path)
        assert back.is_hnsw == (kind == "hnsw") and back.get_params()["ef_search"] == 80
        a = index.similar_items(np.arange(20), N=5, in_stock=True)
        b = back.similar_items(np.arange(20), N=5, in_stock=True)
        assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
        assert back.to_bytes() == index.to_bytes()
        buf = io.BytesIO()
        index.save(buf)
        buf.seek(0)
        assert sightline.ContentIndex.load(buf).to_bytes() == index.to_bytes()
        again = pickle.loads(pickle.dumps(index))
        assert again.to_bytes() == index.to_bytes()


def test_bad_input_raises_typed_errors(demo, tmp_path):
    with pytest.raises(sightline.ConfigError):
        sightline.ContentIndex(metric="euclid")
    with pytest.raises(sightline.ConfigError):
        sightline.ContentIndex(M=1).fit(demo["catalog"])
    with pytest.raises(sightline.ConfigError):
        sightline.ContentIndex(als_weight=float("nan")).fit(demo["catalog"])
    with pytest.raises(sightline.InvalidInputError):
        sightline.ContentIndex().similar_items(0)
    with pytest.raises(sightline.InvalidInputError):
        sightline.ContentIndex().fit()
    with pytest.raises(sightline.ShapeMismatchError):
        sightline.ContentIndex().fit(embeddings=np.ones((3, 2)), item_ids=["a", "b"])
    with pytest.raises(sightline.InvalidInputError):
        sightline.ContentIndex().fit(embeddings=np.array([[1.0, np.nan]]), item_ids=["a"])
    with pytest.raises(sightline.InvalidInputError):
        sightline.ContentIndex().fit([{"id": "a", "category": "x"}, {"id": "a", "category": "y"}])
    index = sightline.ContentIndex().fit(demo["catalog"])
    with pytest.raises(sightline.UnknownIdError):
        index.similar_items_by_id("nope")
    with pytest.raises(KeyError):
        index.similar_items_by_id("nope")
    with pytest.raises(sightline.InvalidInputError):
        index.similar_items(10**6)
    with pytest.raises(sightline.InvalidInputError):
        index.similar_items(0, N=0)
    with pytest.raises(sightline.ShapeMismatchError):
        index.search(np.ones(3, np.float32))
    with pytest.raises(sightline.InvalidInputError):
        index.search(np.full(index.dim, np.nan, np.float32))
    bad = tmp_path / "bad.sightline"
    bad.write_bytes(index.to_bytes()[:-10])
    with pytest.raises(sightline.ModelFormatError):
        sightline.ContentIndex.load(bad)
    with pytest.raises(sightline.SightlineIOError):
        sightline.ContentIndex.load(tmp_path / "missing.sightline")


def test_dataframe_catalog(demo):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(demo["catalog"])
    a = sightline.ContentIndex().fit(frame)
    b = sightline.ContentIndex().fit(demo["catalog"])
    assert a.to_bytes() == b.to_bytes()
