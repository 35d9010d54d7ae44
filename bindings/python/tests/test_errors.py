import errno
import os
import subprocess
import sys

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
    SightlineFileNotFoundError,
    SightlineIOError,
    SightlinePermissionError,
    UnknownIdError,
    _errors,
    _sightline,
)
from conftest import random_interactions


def small():
    return random_interactions(30, 20, 0.2, seed=5)


def test_hierarchy_and_codes():
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(ShapeMismatchError, InvalidInputError)
    assert issubclass(UnknownIdError, KeyError)
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ModelFormatError, OSError)
    assert issubclass(SightlineIOError, OSError)
    for cls, code in [(InvalidInputError, "INVALID_INPUT"), (ShapeMismatchError, "SHAPE_MISMATCH"),
                      (UnknownIdError, "UNKNOWN_ID"), (ConfigError, "CONFIG"),
                      (ModelFormatError, "MODEL_FORMAT"), (SightlineIOError, "IO")]:
        assert issubclass(cls, SightlineError) and cls.code == code
    assert issubclass(SightlineFileNotFoundError, SightlineIOError)
    assert issubclass(SightlineFileNotFoundError, FileNotFoundError)
    assert issubclass(SightlinePermissionError, SightlineIOError)
    assert issubclass(SightlinePermissionError, PermissionError)
    assert issubclass(FitInterrupted, SightlineError) and issubclass(FitInterrupted, KeyboardInterrupt)
    assert FitInterrupted.code == "INTERRUPTED"


def test_every_core_error_code_has_its_own_class():
    # The binding's match over the core enum needs a catch-all arm (the
    # enum is non-exhaustive); this keeps a new variant from falling into it.
    classes = [getattr(_errors, name) for name in _errors.__all__]
    by_code = {}
    for cls in classes:
        if cls is not SightlineError and "code" in vars(cls):
            assert cls.code not in by_code, f"{cls} and {by_code.get(cls.code)} share {cls.code}"
            by_code[cls.code] = cls
    assert len(_sightline.ERROR_CODES) == len(set(_sightline.ERROR_CODES)) == 7
    assert set(_sightline.ERROR_CODES) == set(by_code)
    assert all(name in sightline.__all__ for name in _errors.__all__)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0, 1e300])
def test_bad_weights(bad):
    m = small().astype(np.float64)
    m.data[3] = bad
    with pytest.raises(InvalidInputError) as exc:
        sightline.ALS(factors=4).fit(m)
    assert isinstance(exc.value, ValueError) and exc.value.code == "INVALID_INPUT"


@pytest.mark.parametrize("bad", [[[1, 0], [0, 1]], np.eye(3, dtype=np.float32), "matrix", None])
def test_wrong_type(bad):
    with pytest.raises(TypeError):
        sightline.ALS(factors=4).fit(bad)


def test_non_numeric_and_non_2d():
    m = small().astype(np.complex64)
    with pytest.raises(TypeError):
        sightline.ALS(factors=4).fit(m)
    with pytest.raises(ShapeMismatchError):
        sightline.ALS(factors=4).fit(sp.coo_array(np.array([1.0, 0.0, 2.0])))


def test_empty_matrix():
    with pytest.raises(InvalidInputError):
        sightline.ALS(factors=4).fit(sp.csr_matrix((5, 5), dtype=np.float32))
    with pytest.raises(InvalidInputError):
        sightline.ALS(factors=4).fit(sp.csr_matrix((0, 0), dtype=np.float32))


def test_corrupt_csr_structure():
    m = small()
    m.indices[0] = 10_000  # column out of range
    with pytest.raises(InvalidInputError):
        sightline.ALS(factors=4).fit(m)


@pytest.mark.parametrize("kwargs, field", [
    ({"factors": 0}, "factors"), ({"factors": -3}, "factors"), ({"iterations": 0}, "iterations"),
    ({"alpha": 0.0}, "alpha"), ({"regularization": -1.0}, "regularization"),
    ({"regularization": float("nan")}, "regularization"), ({"random_state": -1}, "random_state"),
])
def test_bad_config(kwargs, field):
    with pytest.raises(ConfigError) as exc:
        sightline.ALS(**kwargs).fit(small())
    assert isinstance(exc.value, ValueError)
    assert exc.value.field == field and exc.value.code == "CONFIG"
    assert field in str(exc.value)


def test_bad_config_raised_at_construction():
    with pytest.raises(ConfigError):
        sightline.ALS(factors=0)
    with pytest.raises(TypeError):
        sightline.ALS(factors="64")


def test_bad_config_set_after_construction():
    als = sightline.ALS(factors=4)
    als.factors = 0
    with pytest.raises(ConfigError):
        als.fit(small())


def test_bad_ids():
    m = small()
    with pytest.raises(ShapeMismatchError):
        sightline.ALS(factors=4).fit(m, user_ids=["a", "b"])
    with pytest.raises(InvalidInputError):
        sightline.ALS(factors=4).fit(m, item_ids=["x"] * m.shape[1])


def test_bad_n(model):
    for n in (0, -1):
        with pytest.raises(InvalidInputError):
            model.recommend(0, N=n)
        with pytest.raises(InvalidInputError):
            model.recommend([0, 1], N=n)
        with pytest.raises(InvalidInputError):
            model.similar_items(0, N=n)
        with pytest.raises(InvalidInputError):
            model.recommend_by_id("0", N=n)
    with pytest.raises(TypeError):
        model.recommend(0, N=2.5)


def test_out_of_range_indices(model, user_items):
    n_users, n_items = user_items.shape
    for bad in (n_users, -1, 2**40):
        with pytest.raises(InvalidInputError):
            model.recommend(bad)
        with pytest.raises(InvalidInputError):
            model.recommend([0, bad])
        with pytest.raises(InvalidInputError):
            model.recommend(bad, user_items)
    with pytest.raises(InvalidInputError):
        model.recommend(0, filter_items=[n_items])
    with pytest.raises(InvalidInputError):
        model.recommend(0, items=[-1])
    with pytest.raises(InvalidInputError):
        model.similar_items(n_items)
    with pytest.raises(InvalidInputError):
        model.similar_items([0, n_items])
    with pytest.raises(TypeError):
        model.recommend(0.5)
    with pytest.raises(TypeError):
        model.recommend(0, filter_items=[1.5])


def test_bad_user_items_shape(model, user_items):
    with pytest.raises(ShapeMismatchError):
        model.recommend(0, user_items[:3])
    with pytest.raises(ShapeMismatchError):
        model.recommend([0, 1, 2], user_items[:2])
    wide = sp.hstack([user_items, user_items]).tocsr()
    with pytest.raises(InvalidInputError):
        model.recommend(0, wide[0])
    with pytest.raises(ShapeMismatchError):
        model.recommend([0, 1], wide)
    with pytest.raises(InvalidInputError):
        model.recommend(0, recalculate_user=True)


def test_unknown_id(model):
    with pytest.raises(UnknownIdError) as exc:
        model.recommend_by_id("nobody")
    assert isinstance(exc.value, KeyError)
    assert exc.value.kind == "user" and exc.value.id == "nobody" and exc.value.code == "UNKNOWN_ID"
    assert str(exc.value) == 'unknown user id "nobody"'
    with pytest.raises(KeyError):
        model.similar_items_by_id("no-such-item")


def test_model_format(model, tmp_path):
    for bad in (b"", b"garbage", b"\x00" * 1000):
        with pytest.raises(ModelFormatError) as exc:
            sightline.ALS.from_bytes(bad)
        assert isinstance(exc.value, OSError) and exc.value.code == "MODEL_FORMAT"
    data = bytearray(model.to_bytes())
    with pytest.raises(ModelFormatError):
        sightline.ALS.from_bytes(bytes(data[: len(data) // 2]))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ModelFormatError):
        sightline.ALS.from_bytes(bytes(data))
    path = tmp_path / "bad.sightline"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelFormatError):
        sightline.ALS.load(path)
    with pytest.raises(TypeError):
        sightline.ALS.from_bytes("a string")


def test_missing_file(tmp_path, model):
    path = tmp_path / "missing.sightline"
    with pytest.raises(FileNotFoundError) as exc:
        sightline.ALS.load(path)
    assert isinstance(exc.value, SightlineFileNotFoundError)
    assert isinstance(exc.value, SightlineIOError)
    assert exc.value.errno == errno.ENOENT and exc.value.code == "IO"
    assert exc.value.filename == str(path)
    assert str(path) in str(exc.value)
    with pytest.raises(FileNotFoundError) as exc:
        model.save(tmp_path / "no-such-dir" / "m.sightline")
    assert exc.value.errno == errno.ENOENT and exc.value.code == "IO"


def test_permission_denied(model):
    # sysfs refuses new files even to root, so this works in any container.
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("no /sys/kernel")
    path = "/sys/kernel/m.sightline"
    with pytest.raises(PermissionError) as exc:
        model.save(path)
    assert isinstance(exc.value, SightlinePermissionError)
    assert exc.value.errno == errno.EACCES and exc.value.code == "IO"
    assert exc.value.filename == path


def test_errors_leave_model_usable(model):
    before = model.recommend(0, N=5)
    with pytest.raises(InvalidInputError):
        model.recommend(10**6)
    after = model.recommend(0, N=5)
    assert np.array_equal(before[0], after[0])
