"""The bad-input matrix (issue 18) through the Python API: every case of
tests/bad_inputs/cases.json that lists ``python`` raises the exception class
of its code (never a bare RuntimeError or a panic) within the hang bound and
leaves every object's probed output unchanged. The Rust, Node and WASM
runners read the same file; the format is in tests/bad_inputs/README.md."""
import faulthandler
import json
import math
import pathlib
import struct
import time
import zlib

import numpy as np
import pytest
import scipy.sparse as sp

import sightline
from sightline import (
    ConfigError,
    FitInterrupted,
    InvalidInputError,
    ModelFormatError,
    ShapeMismatchError,
    SightlineError,
    SightlineIOError,
    UnknownIdError,
)

RUNTIME = "python"
HANG_BOUND = 10.0
DOC = json.loads((pathlib.Path(__file__).parents[3] / "tests" / "bad_inputs" / "cases.json").read_text())
MINE = [c for c in DOC["cases"] if RUNTIME in c.get("runtimes", DOC["operations"][c["op"]])]
CLASSES = {
    "INVALID_INPUT": InvalidInputError, "SHAPE_MISMATCH": ShapeMismatchError,
    "UNKNOWN_ID": UnknownIdError, "CONFIG": ConfigError, "MODEL_FORMAT": ModelFormatError,
    "IO": SightlineIOError, "INTERRUPTED": FitInterrupted,
}


class Fixture:
    """Valid objects of every kind the cases attack, made from the demo shop."""

    def __init__(self):
        demo = sightline.demo_data(customers=300, products=60, events=6000, seed=42)
        ev = demo["events"]
        self.catalog = demo["catalog"]
        item_ids = [i["id"] for i in self.catalog]
        self.data = sightline.Interactions.from_events(ev["user"], ev["item"], ev["kind"], item_ids=item_ids)
        self.model = sightline.ALS(factors=8, iterations=3, num_threads=1, random_state=0).fit(self.data)
        self.model_bytes = self.model.to_bytes()
        self.engine = sightline.Engine(sightline.demo_engine_config(), self.catalog, als=self.model)
        last = range(len(ev["user"]) - 500, len(ev["user"]))
        for k in last:
            self.engine.ingest(ev["user"][k], ev["item"][k], ev["kind"][k], int(ev["timestamp"][k]))
        self.engine_bytes = self.engine.to_bytes()
        self.slice_bytes = self.engine.export_slice("home", item_ids[:30])
        self.session = sightline.SessionStore(item_ids)
        for k in last[-200:]:
            self.session.ingest(ev["user"][k], ev["item"][k], ev["kind"][k], int(ev["timestamp"][k]))
        self.user = ev["user"][-1]
        self.item = item_ids[1]
        self.now = int(ev["timestamp"][-1])

    def probe(self):
        """Everything observable about the objects (counters of rejected
        input left out): must not change when a case fails."""
        served = self.engine.recommend("home", user=self.user, now=self.now)["items"]
        stats = self.session.stats()
        return (
            self.model.recommend_by_id(self.user, 5),
            zlib.crc32(self.model.to_bytes()),
            [i["item"] for i in served],
            repr(self.engine.export_user(self.user)),
            stats["keys"], stats["events"],
            self.session.recent(self.user, self.now),
        )


@pytest.fixture(scope="module")
def fx():
    f = Fixture()
    f.before = f.probe()
    assert f.probe() == f.before, "the probe itself must not change state"
    return f


def decode(v, f, item):
    """`$float`, `$repeat` and the fixture placeholders `$user`, `$item`, `$now`."""
    if v == "$user":
        return f.user
    if v == "$item":
        return item
    if v == "$now":
        return f.now
    if isinstance(v, dict):
        if "$repeat" in v:
            return v["$repeat"] * v["times"]
        if "$float" in v:
            return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[v["$float"]]
        return {k: decode(x, f, item) for k, x in v.items()}
    if isinstance(v, list):
        return [decode(x, f, item) for x in v]
    return v


def text(g):
    if isinstance(g, str):
        return g
    if "repeat" in g:
        return g["repeat"] * g["times"]
    return "".join(text(p) for p in g["concat"])


def file_bytes(g, f):
    """The bytes a file generator describes (see the README)."""
    if "hex" in g:
        return bytes.fromhex(g["hex"])
    if "text" in g or "repeat" in g:
        return text(g.get("text", g)).encode()
    if "safetensors" in g:
        st = g["safetensors"]
        header = bytes.fromhex(st["header_hex"]) if "header_hex" in st else text(st["header"]).encode()
        return struct.pack("<Q", len(header)) + header + bytes(st["data_len"])
    b = bytearray({"model": f.model_bytes, "slice": f.slice_bytes, "engine": f.engine_bytes}[g["from"]])
    if "truncate_at" in g:
        del b[int(len(b) * g["truncate_at"]):]
    if "truncate_to" in g:
        del b[g["truncate_to"] if g["truncate_to"] < 0 else g["truncate_to"]:]
    if "flip_at" in g:
        b[int(len(b) * g["flip_at"])] ^= 0xFF
    if "replace" in g:
        old, new = (s.encode() for s in g["replace"])
        assert old in b, f"{old!r} not in the base file"
        b = b.replace(old, new, 1)
    return bytes(b)


def run(op, inp, f):
    model_item = f.model.item_ids[0]
    if op == "als.fit":
        params = dict(factors=4, iterations=2, num_threads=1, random_state=0)
        params.update(decode(inp.get("params", {}), f, f.item))
        if "events" in inp:
            # No interactions: a matrix of users and items without one entry.
            data = sp.csr_matrix((3, 4), dtype=np.float32)
        else:
            data = f.data
        return sightline.ALS(**params).fit(data)
    if op == "interactions.build":
        users, items, weights = zip(*decode(inp["events"], f, f.item))
        return sightline.Interactions.from_events(list(users), list(items), weights=list(weights))
    if op == "interactions.columns":
        i = decode(inp, f, f.item)
        return sightline.Interactions.from_events(i["users"], i["items"], kinds=i.get("kinds"),
                                                  timestamps=i.get("timestamps"), weights=i.get("weights"))
    if op == "model.load_bytes":
        return sightline.ALS.from_bytes(file_bytes(inp["bytes"], f))
    if op == "engine.load_bytes":
        return sightline.Engine.from_bytes(file_bytes(inp["bytes"], f), sightline.demo_engine_config())
    if op == "model.recommend":
        i = decode(inp, f, model_item)
        return f.model.recommend_by_id(i["user"], N=i["n"])
    if op == "model.similar_items":
        i = decode(inp, f, model_item)
        return f.model.similar_items_by_id(i["item"], N=i["n"])
    if op in ("engine.from_config_json", "engine.from_config_toml"):
        return sightline.Engine.check_config(text(inp["text"]))
    if op == "engine.recommend":
        return f.engine.recommend(**decode(inp["request"], f, f.item))
    if op == "engine.ingest":
        e = decode(inp["event"], f, f.item)
        return f.engine.ingest(e["user"], e["item"], e["kind"], e["timestamp"])
    if op == "session.ingest":
        e = decode(inp["event"], f, f.item)
        return f.session.ingest(e["user"], e["item"], e["kind"], e["timestamp"])
    if op == "catalog.load":
        return sightline.Engine(None, decode(inp["items"], f, f.item))
    raise AssertionError(f"python runs {op} but the runner has no handler for it")


def test_every_runtime_runs_enough_cases():
    skipped = len(DOC["cases"]) - len(MINE)
    print(f"bad-input matrix (python): {len(MINE)} cases run, {skipped} skipped by declaration")
    assert len(MINE) >= 40


@pytest.mark.parametrize("case", MINE, ids=[c["id"] for c in MINE])
def test_bad_input(case, fx):
    # A hang cannot be caught in-process: past the bound, dump every
    # thread's stack and exit, failing the run.
    faulthandler.dump_traceback_later(HANG_BOUND, exit=True)
    t = time.perf_counter()
    try:
        if case["code"] is None:
            run(case["op"], case["input"], fx)
        else:
            cls = CLASSES[case["code"]]
            with pytest.raises(SightlineError) as exc:
                run(case["op"], case["input"], fx)
            assert isinstance(exc.value, cls) and exc.value.code == case["code"], repr(exc.value)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert time.perf_counter() - t < HANG_BOUND
    assert fx.probe() == fx.before, "the failed call changed the fixture's state"
