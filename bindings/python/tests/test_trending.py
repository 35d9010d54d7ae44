import io
import pickle
import threading

import numpy as np
import pytest

import sightline

NOW = 1_700_000_000
H = 3600
PARENTS = {"uk-a": "uk", "uk-b": "uk"}


def store(**kwargs):
    kwargs.setdefault("region_parent", PARENTS)
    kwargs.setdefault("min_segment_weight", 5.0)
    return sightline.Trending(**kwargs)


def test_decayed_order_and_scores():
    t = store(half_life_hours=72.0)
    t.ingest("u1", "old", "view", NOW - 100 * H)
    t.ingest("u2", "old", "view", NOW - 100 * H)
    t.ingest("u3", "old", "view", NOW - 100 * H)
    t.ingest("u4", "new", "view", NOW - 1 * H)
    t.ingest("u5", "new", "view", NOW - 1 * H)
    t.ingest("u6", "half", "view", NOW - 72 * H)
    items, level = t.popular(N=10, now=NOW)
    assert level == "global"
    assert [i for i, _ in items] == ["new", "old", "half"]
    scores = dict(items)
    assert scores["half"] == pytest.approx(0.5, rel=1e-6)
    assert scores["old"] == pytest.approx(3 * 2 ** (-100 / 72), rel=1e-6)
    assert scores["new"] == pytest.approx(2 * 2 ** (-1 / 72), rel=1e-6)
    # long before, "old" still led
    items, _ = t.popular(N=1, now=NOW - 99 * H)
    assert items[0][0] == "old"
    assert len(t.popular(N=2, now=NOW)[0]) == 2


def test_kind_weights_and_custom_kinds():
    t = store(weights={"purchase": 8.0, "wishlist": 3.0})
    t.ingest("u", "viewed", "view", NOW)
    t.ingest("u", "bought", "purchase", NOW)
    t.ingest("u", "wished", "wishlist", NOW)
    assert t.popular(now=NOW)[0] == [("bought", 8.0), ("wished", 3.0), ("viewed", 1.0)]
    with pytest.raises(sightline.InvalidInputError):
        t.ingest("u", "x", "share", NOW)  # custom kind without a weight
    assert t.get_params()["weights"]["wishlist"] == 3.0


def test_region_back_off_level():
    t = store()
    n = 10
    t.ingest_batch(["u"] * n, ["a"] * n, ["view"] * n, [NOW] * n, regions=["uk-a"] * n)
    t.ingest("u", "b", "view", NOW, region="uk-b")
    t.ingest("u", "c", "view", NOW, region="nl")
    t.ingest_batch(["u"] * 3, ["d"] * 3, ["view"] * 3, [NOW] * 3)
    # enough weight in the region itself
    items, level = t.popular(region="uk-a", now=NOW)
    assert level == "region:uk-a" and items == [("a", 10.0)]
    # uk-b is sparse (1 < 5): its country answers (11 >= 5)
    items, level = t.popular(region="uk-b", now=NOW)
    assert level == "country:uk" and [i for i, _ in items] == ["a", "b"]
    # nl is sparse and has no country: global
    items, level = t.popular(region="nl", now=NOW)
    assert level == "global" and [i for i, _ in items] == ["a", "d", "b", "c"]
    # an unseen region backs off too
    assert t.popular(region="zz", now=NOW)[1] == "global"
    assert "region:uk-a" in t.segments and "country:uk" in t.segments


def test_channel_and_category():
    catalog = [{"id": "sun1", "category": "sunglasses"}, {"id": "frame1", "category": "frames", "title": "x"}]
    t = store(catalog=catalog, min_segment_weight=0.0)
    assert t.item_ids == ["sun1", "frame1"]
    t.ingest("u", "sun1", "view", NOW, channel="app")
    t.ingest("u", "frame1", "purchase", NOW, channel="web")
    t.ingest("u", "other", "view", NOW, channel="web")
    items, level = t.popular(category="sunglasses", now=NOW)
    assert level == "category:sunglasses" and items == [("sun1", 1.0)]
    items, level = t.popular(channel="web", now=NOW)
    assert level == "channel:web" and [i for i, _ in items] == ["frame1", "other"]
    # without a catalog, a category query finds nothing
    bare = store()
    bare.ingest("u", "sun1", "view", NOW)
    assert bare.popular(category="sunglasses", now=NOW) == ([], "category:sunglasses")


def test_burst_item_in_trending_now():
    t = store(min_segment_weight=0.0)
    users, items, kinds, ts = [], [], [], []
    for h in range(0, 14 * 24, 4):  # steady: a view every 4 hours for two weeks
        users.append("s")
        items.append("steady")
        kinds.append("view")
        ts.append(NOW - 14 * 24 * H + h * H)
    for k in range(12):  # burst: 12 views in the last 2 hours
        users.append(f"b{k}")
        items.append("burst")
        kinds.append("view")
        ts.append(NOW - 2 * H + k * 600)
    assert t.ingest_batch(users, items, kinds, np.array(ts)) == len(users)
    trending, level = t.trending_now(now=NOW)
    assert level == "global"
    assert trending[0][0] == "burst"
    steady = dict(trending).get("steady", 0.0)
    assert steady < 0.2 * trending[0][1]
    # the steady item is still the most popular overall
    assert t.popular(now=NOW)[0][0][0] == "steady"


def test_datetime64_timestamps():
    a, b = store(), store()
    stamps = np.array([NOW - 5 * H, NOW], dtype="datetime64[s]")
    a.ingest_batch(["u", "v"], ["x", "y"], ["view", "click"], stamps)
    b.ingest_batch(["u", "v"], ["x", "y"], ["view", "click"], [NOW - 5 * H, NOW])
    assert a.to_bytes() == b.to_bytes()
    assert a.popular(now=np.datetime64(NOW, "s")) == b.popular(now=NOW)


def test_errors():
    t = store()
    t.ingest("u", "x", "view", NOW)
    with pytest.raises(sightline.InvalidInputError):
        t.popular(N=0, now=NOW)
    with pytest.raises(sightline.InvalidInputError):
        t.trending_now(N=0, now=NOW)
    with pytest.raises(sightline.InvalidInputError):
        t.popular(channel="fax", now=NOW)
    with pytest.raises(sightline.InvalidInputError):
        t.ingest("u", "x", "view", NOW, channel="fax")
    with pytest.raises(sightline.InvalidInputError):
        t.ingest("u", "", "view", NOW)
    with pytest.raises(sightline.InvalidInputError):
        t.ingest("u", "x", "view", NOW, region="")
    with pytest.raises(sightline.ShapeMismatchError):
        t.ingest_batch(["u", "v"], ["x"], ["view", "view"], [NOW, NOW])
    with pytest.raises(sightline.ShapeMismatchError):
        t.ingest_batch(["u"], ["x"], ["view"], [NOW], regions=["nl", "nl"])
    with pytest.raises(TypeError):
        t.ingest_batch(["u"], ["x"], ["view"], [1.5])
    # all or nothing: a bad event leaves the store unchanged
    before = t.to_bytes()
    with pytest.raises(sightline.InvalidInputError):
        t.ingest_batch(["u", "v"], ["y", "z"], ["view", "view"], [NOW, NOW], channels=["web", "fax"])
    with pytest.raises(sightline.InvalidInputError):
        t.ingest_batch(["u", "v"], ["y", "z"], ["view", "nope"], [NOW, NOW])
    assert t.to_bytes() == before
    with pytest.raises(sightline.InvalidInputError):
        sightline.Trending(catalog=[{"id": "a"}, {"id": "a"}])  # duplicate id


def test_config_errors():
    for kwargs, field in [
        ({"half_life_hours": 0.0}, "half_life_hours"),
        ({"window_hours": 200.0}, "baseline_hours"),
        ({"max_items_per_segment": 0}, "max_items_per_segment"),
        ({"max_items_per_segment": -3}, "max_items_per_segment"),
        ({"max_segments": 15}, "max_segments"),
        ({"min_segment_weight": float("nan")}, "min_segment_weight"),
        ({"smoothing": 0.0}, "smoothing"),
        ({"weights": {"view": -1.0}}, "weights.view"),
        ({"half_life_by_kind": {"purchase": -2.0}}, "half_life_by_kind.purchase"),
    ]:
        with pytest.raises(sightline.ConfigError) as exc:
            sightline.Trending(**kwargs)
        assert exc.value.field == field


def filled():
    t = store(half_life_by_kind={"purchase": 240.0}, catalog=[{"id": "p", "category": "frames"}])
    rng = np.random.default_rng(0)
    n = 300
    t.ingest_batch(
        [f"u{k}" for k in rng.integers(0, 40, n)],
        [f"i{k}" for k in rng.integers(0, 25, n)],
        rng.choice(["view", "click", "add_to_cart", "purchase"], n).tolist(),
        NOW - rng.integers(0, 300 * H, n),
        regions=rng.choice(["uk-a", "uk-b", "nl", None], n).tolist(),
        channels=rng.choice(["web", "app", None], n).tolist(),
    )
    return t


QUERIES = [{}, {"region": "uk-a"}, {"region": "uk-b"}, {"region": "nl"}, {"channel": "app"},
           {"category": "frames"}]


def assert_same(a, b):
    for q in QUERIES:
        for now in (NOW, NOW + 50 * H):
            assert a.popular(N=20, now=now, **q) == b.popular(N=20, now=now, **q)
            assert a.trending_now(N=20, now=now, **q) == b.trending_now(N=20, now=now, **q)
    assert a.item_ids == b.item_ids and a.segments == b.segments
    assert a.get_params() == b.get_params() and repr(a) == repr(b)


def test_persistence(tmp_path):
    t = filled()
    path = tmp_path / "trending.sightline"
    t.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["trending.sightline"]
    loaded = sightline.Trending.load(path)
    assert_same(t, loaded)
    assert_same(t, sightline.Trending.load(str(path)))
    data = t.to_bytes()
    assert isinstance(data, bytes)
    assert_same(t, sightline.Trending.from_bytes(memoryview(data)))
    assert sightline.Trending.from_bytes(data).to_bytes() == data
    buf = io.BytesIO()
    t.save(buf)
    buf.seek(0)
    assert_same(t, sightline.Trending.load(buf))
    assert_same(t, pickle.loads(pickle.dumps(t)))
    # a loaded store keeps ingesting exactly like the original
    for s in (t, loaded):
        s.ingest("z", "i3", "purchase", NOW + H, region="uk-b", channel="web")
    assert_same(t, loaded)
    assert t.to_bytes() == loaded.to_bytes()
    with pytest.raises(sightline.ModelFormatError):
        sightline.Trending.from_bytes(b"garbage")
    with pytest.raises(sightline.SightlineIOError):
        sightline.Trending.load(tmp_path / "missing.sightline")


def test_threads_share_a_store():
    t = store(min_segment_weight=0.0)
    errors = []

    def writer(k):
        try:
            for j in range(50):
                t.ingest_batch([f"u{k}"] * 4, [f"i{j % 7}"] * 4, ["view"] * 4, [NOW] * 4, regions=["nl"] * 4)
                t.popular(region="nl", now=NOW)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    items, level = t.popular(region="nl", N=10, now=NOW)
    assert level == "region:nl"
    assert sum(s for _, s in items) == pytest.approx(4 * 50 * 4)


def test_repr_and_params():
    t = sightline.Trending()
    assert repr(t) == (
        "Trending(half_life_hours=72.0, window_hours=24.0, baseline_hours=168.0, "
        "max_items_per_segment=1000, max_segments=20000, min_segment_weight=20.0, "
        "smoothing=5.0)"
    )
    p = t.get_params()
    assert p["weights"] == {"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "purchase": 8.0}
    assert p["region_parent"] == {}  # neutral: no region hierarchy is assumed
    assert sightline.Trending(**p).get_params() == p


def test_catalog_as_dataframe():
    pd = pytest.importorskip("pandas")
    cat = pd.DataFrame({"id": ["a", "b"], "category": ["frames", "sunglasses"], "price": [10.0, 20.0]})
    t = store(catalog=cat)
    t.ingest("u1", "b", "purchase", NOW)
    items, level = t.popular(category="sunglasses", N=5, now=NOW)
    assert [i for i, _ in items] == ["b"] and level == "category:sunglasses"
    assert store(catalog=cat.to_dict("records")).item_ids == t.item_ids


def test_made_up_regions_stay_within_max_segments():
    t = sightline.Trending(max_segments=64)
    t.ingest_batch(
        users=[f"u{i}" for i in range(2000)],
        items=["p"] * 2000,
        kinds=["view"] * 2000,
        timestamps=np.full(2000, NOW, dtype=np.int64),
        regions=[f"made-up-{i}" for i in range(2000)],
    )
    assert len(t.segments) <= 64
    # Global popularity is exact: dropping region segments loses no event.
    items, level = t.popular(N=1, now=NOW)
    assert level == "global" and items[0][0] == "p"
    assert items[0][1] == pytest.approx(2000.0)
