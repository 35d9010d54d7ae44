"""Cross-runtime check (Python): the model file written by the Rust example
`cross_runtime_fixture` must give the same top-10 lists and scores here."""
import json
import sys

import numpy as np
import sightline

model_path, expected_path = sys.argv[1], sys.argv[2]
expected = json.load(open(expected_path))
model = sightline.ALS.load(model_path)
assert model.item_factors.shape == (expected["n_items"], expected["factors"])
item_ids = model.item_ids

for row in expected["users"]:
    ids, scores = model.recommend(row["index"], None, N=10)
    assert [item_ids[i] for i in ids] == row["ids"], (row["user"], ids)
    np.testing.assert_allclose(scores, row["scores"], atol=1e-5)
    by_id = model.recommend_by_id(row["user"], N=10)
    assert [i for i, _ in by_id] == row["ids"]
    assert not set(row["ids"]) & set(row["liked"])
for row in expected["items"]:
    ids, scores = model.similar_items(row["index"], N=10)
    assert [item_ids[i] for i in ids] == row["ids"], (row["item"], ids)
    np.testing.assert_allclose(scores, row["scores"], atol=1e-5)
print(f"python: {len(expected['users'])} users and {len(expected['items'])} items match")
