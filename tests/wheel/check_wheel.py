"""Checks an installed sightline wheel in a clean venv (numpy and scipy from
PyPI, no pandas, no tqdm, not run from the source tree): the version is
Cargo's, the typing files ship, and the main path works without the
optional dependencies.

    python check_wheel.py <expected version>
"""

import importlib.util
import os
import pickle
import sys
import tempfile

import numpy as np

import sightline

expected_version = sys.argv[1]
package_dir = os.path.dirname(sightline.__file__)
assert "site-packages" in package_dir, f"sightline imported from {package_dir}, not the installed wheel"
assert sightline.__version__ == expected_version, (sightline.__version__, expected_version)
for name in ("py.typed", "_sightline.pyi"):
    assert os.path.isfile(os.path.join(package_dir, name)), f"the wheel lacks {name}"
assert importlib.util.find_spec("pandas") is None, "the clean venv should not have pandas"

data = sightline.demo_data(customers=600, products=200, events=20_000, seed=3)
events = data["events"]
interactions = sightline.Interactions.from_events(
    events["user"], events["item"], events["kind"], events["timestamp"],
    item_ids=[item["id"] for item in data["catalog"]],
)
model = sightline.ALS(factors=8, iterations=3, random_state=0).fit(interactions, show_progress=True)
ids, scores = model.recommend(0, N=5)
assert len(ids) == 5 and np.all(np.diff(scores) <= 0)
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "model.slm")
    model.save(path)
    loaded = sightline.ALS.load(path)
np.testing.assert_array_equal(loaded.recommend(0, N=5)[0], ids)
assert pickle.loads(pickle.dumps(model)).to_bytes() == model.to_bytes()
try:
    model.recommend(0, N=5, as_frame=True)
    raise AssertionError("as_frame=True without pandas should raise ImportError")
except ImportError as err:
    assert "pip install pandas" in str(err)
try:
    model.recommend_by_id("nobody")
    raise AssertionError("an unknown id should raise")
except KeyError as err:
    assert isinstance(err, sightline.UnknownIdError)
# pandas is an optional extra, and the implicit drop-in needs neither it nor implicit.
from importlib.metadata import metadata  # noqa: E402

import sightline.implicit.als  # noqa: E402

assert "pandas" in (metadata("sightline").get_all("Provides-Extra") or []), "no sightline[pandas] extra"
assert importlib.util.find_spec("implicit") is None, "the clean venv should not have implicit"
compat = sightline.implicit.als.AlternatingLeastSquares(factors=8, iterations=3, random_state=0)
compat.fit(interactions.user_items, show_progress=False)
compat_ids, _ = compat.recommend(0, interactions.user_items[0], N=5)
assert compat_ids.shape == (5,) and compat_ids.dtype == np.int32
print(f"wheel ok: sightline {sightline.__version__} from {package_dir}")
