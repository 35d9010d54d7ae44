import io
import pathlib
import pickle

import numpy as np
import pytest

import sightline


def assert_same_model(a, b):
    assert np.array_equal(a.user_factors, b.user_factors)
    assert np.array_equal(a.item_factors, b.item_factors)
    assert a.user_ids == b.user_ids and a.item_ids == b.item_ids
    for u in (0, 1, 99):
        ia, sa = a.recommend(u, N=10)
        ib, sb = b.recommend(u, N=10)
        assert np.array_equal(ia, ib) and np.array_equal(sa, sb)
    ia, sa = a.similar_items(4, N=10)
    ib, sb = b.similar_items(4, N=10)
    assert np.array_equal(ia, ib) and np.array_equal(sa, sb)
    assert a.recommend_by_id("7", N=5) == b.recommend_by_id("7", N=5)
    assert repr(a) == repr(b)


def test_save_load(model, tmp_path):
    path = tmp_path / "model.sightline"
    model.save(path)
    assert path.stat().st_size > 0
    assert_same_model(model, sightline.ALS.load(path))
    assert_same_model(model, sightline.ALS.load(str(path)))
    # atomic save: no temporary files left behind
    assert [p.name for p in tmp_path.iterdir()] == ["model.sightline"]


def test_file_objects(model):
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    assert_same_model(model, sightline.ALS.load(buf))


def test_to_bytes_from_bytes(model):
    data = model.to_bytes()
    assert isinstance(data, bytes)
    assert_same_model(model, sightline.ALS.from_bytes(data))
    assert_same_model(model, sightline.ALS.from_bytes(bytearray(data)))
    assert_same_model(model, sightline.ALS.from_bytes(memoryview(data)))
    assert sightline.ALS.from_bytes(data).to_bytes() == data


def test_pickle(model):
    clone = pickle.loads(pickle.dumps(model))
    assert_same_model(model, clone)
    fresh = pickle.loads(pickle.dumps(sightline.ALS(factors=5)))
    assert fresh.factors == 5 and fresh.user_factors is None


def test_loaded_model_keeps_params(user_items, tmp_path):
    als = sightline.ALS(factors=6, regularization=0.5, alpha=2.0, iterations=3, use_cg=False, random_state=11)
    als.fit(user_items)
    loaded = sightline.ALS.from_bytes(als.to_bytes())
    assert loaded.get_params() == als.get_params()


def test_loaded_model_filters_stored_interactions(model, user_items):
    loaded = sightline.ALS.from_bytes(model.to_bytes())
    liked = set(user_items.indices[user_items.indptr[0]:user_items.indptr[1]].tolist())
    ids, _ = loaded.recommend(0, N=user_items.shape[1])
    assert not liked & set(ids.tolist())


def test_every_model_class_pickles_to_the_bytes_it_saves(tmp_path):
    d = sightline.demo_data(customers=500, products=150, events=10_000, seed=9)
    items = [i["id"] for i in d["catalog"]]
    ev = d["events"]
    X = sightline.Interactions.from_events(ev["user"], ev["item"], ev["kind"], ev["timestamp"], item_ids=items)
    trending = sightline.Trending()
    trending.ingest_batch(ev["user"], ev["item"], ev["kind"], ev["timestamp"], ev["region"])
    sessions = sightline.SessionStore(items)
    sessions.ingest_batch(ev["user"][-50:], ev["item"][-50:], ev["kind"][-50:], ev["timestamp"][-50:])
    als = sightline.ALS(factors=8, iterations=2, random_state=0).fit(X)
    objects = [
        als,
        sightline.CoOccurrence().fit(X),
        sightline.ContentIndex().fit(d["catalog"]),
        trending,
        sessions,
        sightline.Engine(None, catalog=d["catalog"], als=als),
    ]
    for obj in objects:
        saved = io.BytesIO()
        obj.save(saved)
        path = tmp_path / f"{type(obj).__name__}.slm"
        obj.save(path)
        assert saved.getvalue() == path.read_bytes() == obj.to_bytes(), type(obj).__name__
        assert pickle.loads(pickle.dumps(obj)).to_bytes() == obj.to_bytes(), type(obj).__name__
