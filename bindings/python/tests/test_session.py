import pickle
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import sightline

NOW = 1_700_000_000
ITEMS = [f"i{k}" for k in range(40)]


def store(**kwargs):
    return sightline.SessionStore(ITEMS, **kwargs)


def test_recent_context_and_kind_weights():
    s = store(recency_half_life_seconds=600.0)
    assert s.ingest("anon-1", "i1", "view", NOW - 600)
    assert s.ingest("anon-1", "i2", "purchase", NOW)
    assert not s.ingest("anon-1", "not-in-catalog", "view", NOW)
    assert s.recent("anon-1", NOW) == [("i2", "purchase", NOW), ("i1", "view", NOW - 600)]
    ctx = dict(s.context("anon-1", NOW))
    assert ctx["i2"] == pytest.approx(8.0)
    assert ctx["i1"] == pytest.approx(0.5)
    assert s.stats()["unknown_items"] == 1
    assert len(s) == 1


def test_capacity_ttl_and_max_events():
    s = store(capacity=2, shards=1, max_events=3, ttl_seconds=100)
    for k in range(5):
        s.ingest("a", f"i{k}", "view", NOW + k)
    assert [e[0] for e in s.recent("a", NOW + 5)] == ["i4", "i3", "i2"]
    s.ingest("b", "i1", "view", NOW + 6)
    s.ingest("c", "i1", "view", NOW + 7)  # evicts the least recently active: a
    assert s.recent("a", NOW + 7) == []
    assert s.stats()["evictions"] == 1
    assert s.recent("b", NOW + 6 + 101) == []  # expired


def test_merge_at_login_and_gdpr():
    s = store()
    s.ingest("anon", "i1", "view", NOW - 10)
    s.ingest("anon", "i2", "click", NOW - 5)
    s.ingest("cust", "i3", "view", NOW - 7)
    assert s.merge("anon", "cust", NOW) == 2
    assert [e[0] for e in s.recent("cust", NOW)] == ["i2", "i3", "i1"]
    assert s.recent("anon", NOW) == []
    exported = s.export("cust")
    assert [e["item"] for e in exported] == ["i1", "i3", "i2"]
    assert s.forget("cust") and not s.forget("cust")
    assert s.export("cust") == []


def test_bad_events_change_nothing():
    s = store()
    with pytest.raises(sightline.InvalidInputError):
        s.ingest("", "i1", "view", NOW)
    with pytest.raises(sightline.InvalidInputError):
        s.ingest_batch(["a", "b"], ["i1", "i2"], ["view", "mystery"], [NOW, NOW])
    assert len(s) == 0
    with pytest.raises(sightline.ShapeMismatchError):
        s.ingest_batch(["a"], ["i1", "i2"], ["view"], [NOW])
    with pytest.raises(sightline.ConfigError):
        store(max_events=0)
    with pytest.raises(sightline.ConfigError):
        store(weights={"view": -1.0})
    with pytest.raises(sightline.InvalidInputError):
        sightline.SessionStore(["a", "a"])


def test_persistence_and_pickle(tmp_path):
    s = store()
    s.ingest("v", "i3", "add_to_cart", NOW)
    path = tmp_path / "s.sightline"
    s.save(path)
    back = sightline.SessionStore.load(path)
    assert back.recent("v", NOW) == s.recent("v", NOW)
    assert back.get_params() == s.get_params()
    again = pickle.loads(pickle.dumps(s))
    assert again.to_bytes() == s.to_bytes()
    bad = tmp_path / "bad.sightline"
    bad.write_bytes(s.to_bytes()[:-5])
    with pytest.raises(sightline.ModelFormatError):
        sightline.SessionStore.load(bad)


def test_concurrent_ingest_from_threads():
    s = store(capacity=10_000)

    def work(t):
        for k in range(200):
            s.ingest(f"t{t}-{k % 50}", ITEMS[k % 40], "view", NOW + k)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert s.stats()["events"] == 4 * 200
    assert len(s) == 200


@pytest.fixture(scope="module")
def shop():
    """Two taste clusters: visitors browse i0..i19 or i20..i39."""
    rng = np.random.default_rng(3)
    rows, cols = [], []
    for u in range(400):
        base = 0 if u % 2 == 0 else 20
        for i in rng.choice(20, 5, replace=False):
            rows.append(u)
            cols.append(base + int(i))
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(400, 40))
    als = sightline.ALS(factors=8, iterations=10, random_state=0).fit(m, item_ids=ITEMS)
    co = sightline.CoOccurrence(min_support=1).fit(m, item_ids=ITEMS)
    return als, co


def test_session_recs_follow_recent_browsing(shop):
    als, co = shop
    s = store()
    rec = sightline.SessionRecommender(s, als=als, cooccur=co)
    assert rec.recommend("visitor", 5, now=NOW) == []
    viewed = ["i21", "i25", "i30"]
    for k, item in enumerate(viewed):
        s.ingest("visitor", item, "view", NOW - 30 + k)
    got = rec.recommend("visitor", 8, now=NOW, exclude=["i22"])
    assert len(got) == 8
    for item, score, because in got:
        assert item not in viewed and item != "i22"
        assert int(item[1:]) >= 20, got
        assert because in viewed
        assert score > 0
    assert [g[1] for g in got] == sorted((g[1] for g in got), reverse=True)
    with pytest.raises(sightline.InvalidInputError):
        rec.recommend("visitor", 0, now=NOW)
    with pytest.raises(sightline.InvalidInputError):
        sightline.SessionRecommender(s)


def test_session_recs_with_content_on_demo_data():
    d = sightline.demo_data(customers=2000, products=400, events=60_000, seed=11)
    catalog = {i["id"]: i for i in d["catalog"]}
    s = sightline.SessionStore(list(catalog))
    content = sightline.ContentIndex(weights={"shape": 3.0, "material": 3.0}).fit(d["catalog"])
    rec = sightline.SessionRecommender(s, content=content)
    frames = [i for i in catalog.values() if i["category"] == "frames"]
    shape = frames[0]["shape"]
    browsed = [f["id"] for f in frames if f["shape"] == shape][:4]
    for k, item in enumerate(browsed):
        s.ingest("anon-9", item, "view", NOW + k)
    got = rec.recommend("anon-9", 6, now=NOW + 10)
    assert len(got) == 6
    same = sum(catalog[i].get("shape") == shape for i, _, _ in got)
    assert same >= 5, got


def test_recommender_repr_names_its_blend():
    store = sightline.SessionStore(["a", "b", "c"])
    baskets = sp.csr_matrix([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=np.float32)
    co = sightline.CoOccurrence().fit(baskets, item_ids=["a", "b", "c"])
    rec = sightline.SessionRecommender(store, cooccur=co, cooccur_weight=0.5)
    assert repr(rec).startswith("SessionRecommender(cooccur_weight=0.5, store=SessionStore(items=3")
