"""Writes the data of the Node load benchmark (benches/node_load/run.js):

- ``shop20k.slm``: an engine file of a demo shop with 20k products whose
  ``als`` source is a 64-factor ALS model fitted on its events;
- ``factors.bin`` + ``factors.json``: the same model's user and item factors
  (float32, row-major) and ids, which the plain-JS comparison server scores.

Both servers therefore score the same 20k x 64 item factors. Fixed seeds.
Usage: python benches/node_load/make_data.py OUT_DIR
"""
import json
import sys
from pathlib import Path

import numpy as np
import sightline

ITEMS, CUSTOMERS, EVENTS, FACTORS, SEED = 20_000, 50_000, 1_000_000, 64, 7


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    demo = sightline.demo_data(customers=CUSTOMERS, products=ITEMS, events=EVENTS, seed=SEED)
    ev = demo["events"]
    ids = [row["id"] for row in demo["catalog"]]
    x = sightline.Interactions.from_events(ev["user"], ev["item"], ev["kind"], item_ids=ids)
    als = sightline.ALS(factors=FACTORS, iterations=5, random_state=SEED).fit(x)
    engine = sightline.Engine(sightline.demo_engine_config(), demo["catalog"], als=als)
    engine.save(out / "shop20k.slm")

    users = np.ascontiguousarray(als.user_factors, dtype=np.float32)
    items = np.ascontiguousarray(als.item_factors, dtype=np.float32)
    with open(out / "factors.bin", "wb") as f:
        f.write(users.tobytes())
        f.write(items.tobytes())
    meta = {
        "factors": FACTORS,
        "users": [str(u) for u in als.user_ids],
        "items": [str(i) for i in als.item_ids],
    }
    (out / "factors.json").write_text(json.dumps(meta))
    print(json.dumps({"users": users.shape[0], "items": items.shape[0], "factors": FACTORS}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
