"""sightline: embeddable product recommendations with a Rust core.

``sightline.ALS`` mirrors ``implicit.als.AlternatingLeastSquares`` (implicit
0.7): fit on a scipy.sparse user×item matrix, then ``recommend`` and
``similar_items`` return ``(ids, scores)`` numpy arrays. Models are saved in
sightline's portable model file, which loads identically from Rust, Python,
Node.js and WebAssembly.

``sightline.CoOccurrence`` (item-to-item "bought together" neighbours from
baskets) and ``sightline.Trending`` (time-decayed "popular in your area" and
"trending now" with region/country/channel/category back-off) wrap the core's
``cooccur`` and ``trending`` modules.

``sightline.implicit`` is the drop-in for code written for implicit:
``sightline.implicit.als.AlternatingLeastSquares`` and
``sightline.implicit.evaluation`` keep implicit's defaults, semantics and
answers. ``sightline.ALS`` is sightline's own tuned model; its differences
from implicit, on purpose:

* ``similar_items`` leaves the query item itself out of its results
  (implicit returns it first, with score 1).
* Batch calls (``userid``/``itemid`` given as an array) return 2-D arrays
  ``min(N, n_items)`` wide; a row with fewer eligible items is padded with
  id ``-1`` and score ``-inf``. Single-user calls return only the eligible
  items (no padding).
* ``user_items`` in ``recommend`` is optional: ``None`` filters with the
  training interactions stored in the model. It may be one row per requested
  user (implicit's convention) or the full user×item matrix.
* Errors are the classes of ``sightline`` (``InvalidInputError`` etc.), which
  also derive from ``ValueError``/``KeyError``/``OSError``.
"""

from __future__ import annotations

import json
import math
import operator
import os
import secrets
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from . import _sightline
from ._errors import (
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
)

__version__: str = _sightline.__version__

__all__ = [
    "Interactions",
    "ALS",
    "CoOccurrence",
    "Trending",
    "ContentIndex",
    "SessionStore",
    "SessionRecommender",
    "Engine",
    "demo_data",
    "demo_engine_config",
    "tune_als",
    "train_test_split",
    "leave_k_out_split",
    "leave_last_k_out_split",
    "ranking_metrics_at_k",
    "default_param_grid",
    "SightlineError",
    "InvalidInputError",
    "ShapeMismatchError",
    "UnknownIdError",
    "ConfigError",
    "ModelFormatError",
    "SightlineIOError",
    "SightlineFileNotFoundError",
    "SightlinePermissionError",
    "FitInterrupted",
    "implicit",
    "__version__",
]

_INDEX = np.int64
_EMPTY = np.empty(0, dtype=_INDEX)


# ------------------------------------------------------------- conversions --

def _csr(matrix: Any, name: str = "user_items") -> "sp.csr_matrix":
    """Any scipy.sparse matrix/array (or ``Interactions``) as CSR with a
    real dtype (no validation of the values: the core does that)."""
    if isinstance(matrix, Interactions):
        return matrix.user_items
    if not sp.issparse(matrix):
        raise TypeError(
            f"{name} must be a scipy.sparse users x items matrix or array (csr, csc or coo, "
            f"e.g. scipy.sparse.csr_matrix) or a sightline.Interactions, got {type(matrix).__name__}"
        )
    if matrix.ndim != 2:
        raise ShapeMismatchError(f"{name} must be a 2-D users x items matrix, got {matrix.ndim}-D")
    if matrix.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real weights (bool, int or float; float32 is used without a copy), "
            f"got dtype {matrix.dtype}"
        )
    if matrix.format != "csr":
        matrix = matrix.tocsr()
    return matrix


def _shape_hint(name: str, shape: Tuple[int, int], rows: str, n_items: int,
                n_users: Optional[int] = None) -> str:
    """A shape error that names the expected shape, and says so when the
    matrix looks transposed (implicit before 0.5 took items x users)."""
    got = f"{shape[0]} x {shape[1]}"
    message = f"{name} must be users x items, {rows} x {n_items}; got {got}"
    if shape[0] == n_items and (n_users is None or shape[1] == n_users):
        message += f" - it looks transposed (items x users): pass {name}.T.tocsr()"
    return message


def _csr_parts(matrix: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr int64, indices int64, data float32) of a CSR matrix."""
    indptr = np.ascontiguousarray(matrix.indptr, dtype=_INDEX)
    indices = np.ascontiguousarray(matrix.indices, dtype=_INDEX)
    with np.errstate(over="ignore"):  # out-of-range values become inf; the core rejects them
        data = np.ascontiguousarray(matrix.data, dtype=np.float32)
    return indptr, indices, data


_I64 = (-(1 << 63), (1 << 63) - 1)


def _index(value: Any, name: str) -> int:
    """An integer argument for the native layer (int64). Python ints beyond
    int64 saturate, as JS numbers do, so the core caps or rejects them with
    its own message (``N=10**30`` returns every item) instead of an
    ``OverflowError`` from the conversion."""
    try:
        i = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    return min(max(i, _I64[0]), _I64[1])


def _index_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ShapeMismatchError(f"{name} must be 1-D, got {arr.ndim}-D")
    if arr.size == 0:
        return _EMPTY
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must contain integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=_INDEX)


def _trim(ids: np.ndarray, scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Row 0 of padded 2-D results, without the padding."""
    k = int(np.count_nonzero(ids[0] >= 0))
    return ids[0, :k].copy(), scores[0, :k].copy()


def _frame(columns: Dict[str, Any]) -> Any:
    """A pandas DataFrame (``as_frame=True`` results)."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "as_frame=True needs pandas (pip install pandas, or sightline[pandas])"
        ) from None
    return pd.DataFrame(columns)


def _ranked_frame(
    ids: np.ndarray,
    scores: np.ndarray,
    names: Optional[List[str]],
    target: str = "item",
    query: Optional[Tuple[str, str]] = None,
    queries: Optional[np.ndarray] = None,
    query_names: Optional[List[str]] = None,
) -> Any:
    """``(ids, scores)`` results as a long DataFrame, padding dropped:
    ``[<query index>, <query id>,] rank, <target>id, <target>_id, score``
    with a 1-based rank; ``query`` names the two query columns. 2-D results
    have one block of rows per query."""
    ids, scores = np.asarray(ids), np.asarray(scores)
    if ids.ndim == 1:
        ids, scores = ids[None, :], scores[None, :]
    row, col = np.nonzero(ids >= 0)
    taken = ids[row, col]
    columns: Dict[str, Any] = {}
    if query is not None and queries is not None:
        q = np.asarray(queries)[row]
        columns[query[0]] = q
        if query_names is not None:
            columns[query[1]] = np.asarray(query_names, dtype=object)[q]
    columns["rank"] = col + 1
    columns[f"{target}id"] = taken
    if names is not None:
        columns[f"{target}_id"] = np.asarray(names, dtype=object)[taken]
    columns["score"] = scores[row, col]
    return _frame(columns)


def _similar_result(result: Tuple[np.ndarray, np.ndarray], as_frame: bool, itemid: Any,
                    model: Any) -> Any:
    """A ``similar_items`` result, as a DataFrame when asked (a query column
    for array queries). ``model.item_ids`` is read only for a frame: it
    copies every id into Python strings, far more than one query costs."""
    if not as_frame:
        return result
    names = model.item_ids
    batch = np.ndim(itemid) > 0
    return _ranked_frame(*result, names, "item", ("query", "query_id") if batch else None,
                         np.asarray(itemid) if batch else None, names)


def _pairs_frame(pairs: Sequence[Tuple[Any, ...]], columns: Sequence[str], **extra: Any) -> Any:
    """``(item_id, score, ...)`` tuples as a DataFrame with a 1-based rank."""
    frame = _frame({name: [p[i] for p in pairs] for i, name in enumerate(columns)})
    frame.insert(0, "rank", np.arange(1, len(pairs) + 1))
    for key, value in extra.items():
        frame[key] = value
    return frame


def _params_repr(obj: Any, shown: Optional[Sequence[str]] = None) -> str:
    """``Class(param=value, ...)`` from ``get_params()`` (all, or ``shown``)."""
    params = obj.get_params()
    names = params if shown is None else shown
    args = ", ".join(f"{k}={params[k]!r}" for k in names)
    return f"{type(obj).__name__}({args})"


def _config_error(field: str, message: str) -> ConfigError:
    """A ``ConfigError`` worded like the core's, with ``field`` set."""
    err = ConfigError(f"invalid config field `{field}`: {message}")
    err.field = field
    return err


def _seed(random_state: Any) -> int:
    """implicit's ``random_state`` (None, int, RandomState, Generator) as a u64 seed."""
    if random_state is None:
        return secrets.randbits(64)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    try:
        seed = operator.index(random_state)
    except TypeError:
        raise TypeError(
            "random_state must be None, an int, a numpy RandomState or Generator, "
            f"got {type(random_state).__name__}"
        ) from None
    if not 0 <= seed < 2**64:
        raise _config_error("random_state", f"must be in 0..2**64, got {seed}")
    return seed


def _fit_ids(user_items: Any, matrix: Any, user_ids: Optional[Sequence[Any]],
             item_ids: Optional[Sequence[Any]]) -> Tuple[Optional[List[str]], Optional[List[str]]]:
    """The row and column ids for ``fit``: the given ones, else those of an
    ``Interactions``, else None (decimal indices)."""
    if isinstance(user_items, Interactions):
        user_ids = user_items.user_ids if user_ids is None else user_ids
        item_ids = user_items.item_ids if item_ids is None else item_ids
    users = None if user_ids is None else [str(u) for u in user_ids]
    items = None if item_ids is None else [str(i) for i in item_ids]
    if items is not None and len(items) != matrix.shape[1]:
        raise ShapeMismatchError(
            _shape_hint("user_items", matrix.shape, "n_users", len(items))
            + f" (one column per item id; {len(items)} item_ids given)"
        )
    if users is not None and len(users) != matrix.shape[0]:
        raise ShapeMismatchError(
            f"user_items has {matrix.shape[0]} rows but {len(users)} user_ids were given "
            "(one row per user)"
        )
    return users, items


# ------------------------------------------------------------ interactions --

def _id_column(values: Any, name: str) -> List[str]:
    """An id column as strings; missing values (None/NaN) are an error that
    names the first row with one."""
    arr = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ShapeMismatchError(f"{name} must be 1-D, got {arr.ndim}-D")
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(np.isnan(arr))
        if bad.size == 0 and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)  # ids read as float (a column with NaN once) print as ints
    elif arr.dtype.kind == "O":
        bad = np.flatnonzero([v is None or (isinstance(v, float) and math.isnan(v)) for v in arr])
    else:
        bad = _EMPTY
    if bad.size:
        raise InvalidInputError(f"{name} has a missing value (None/NaN) at row {int(bad[0])}")
    if arr.dtype.kind in "OU":
        return [v if isinstance(v, str) else str(v) for v in arr.tolist()]
    return arr.astype(str).tolist()


class Interactions:
    """A users x items matrix of summed event weights, with the ids of its
    rows and columns: what ``ALS.fit``, ``CoOccurrence.fit``, the splits and
    ``ranking_metrics_at_k`` take (anywhere a scipy.sparse ``user_items`` is
    accepted; ``fit`` then also takes its ids).

    Built from an event table by ``from_pandas`` / ``from_events`` with the
    core's rules, so every runtime builds the same matrix from the same
    events: each event adds ``kind weight x weight`` (kind weights ``view`` 1,
    ``click`` 2, ``add_to_cart`` 4, ``purchase`` 8 unless ``kind_weights``
    overrides them; other kinds need a weight), repeated (user, item) pairs
    add up, users are numbered in order of first appearance, items too
    unless ``item_ids`` (e.g. the catalog) fixes them. ``last_seen`` holds each
    entry's latest timestamp when events have them.

    ``Interactions(user_items, user_ids=None, item_ids=None)`` wraps an
    existing scipy.sparse matrix.
    """

    def __init__(
        self,
        user_items: Any,
        user_ids: Optional[Sequence[Any]] = None,
        item_ids: Optional[Sequence[Any]] = None,
        last_seen: Optional[np.ndarray] = None,
    ) -> None:
        matrix = _csr(user_items)
        if not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()
        users, items = _fit_ids(None, matrix, user_ids, item_ids)
        n_users, n_items = matrix.shape
        self._matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self._user_ids = users if users is not None else [str(u) for u in range(n_users)]
        self._item_ids = items if items is not None else [str(i) for i in range(n_items)]
        if last_seen is not None:
            last_seen = np.asarray(last_seen, dtype=np.int64)
            if last_seen.shape != (self._matrix.nnz,):
                raise ShapeMismatchError(
                    f"last_seen must have one timestamp per stored entry ({self._matrix.nnz}), "
                    f"got shape {last_seen.shape}"
                )
        self._last_seen = last_seen
        self._user_index: Optional[Dict[str, int]] = None
        self._item_index: Optional[Dict[str, int]] = None

    @classmethod
    def from_events(
        cls,
        users: Sequence[Any],
        items: Sequence[Any],
        kinds: Optional[Sequence[str]] = None,
        timestamps: Any = None,
        weights: Any = None,
        kind_weights: Optional[Dict[str, float]] = None,
        item_ids: Optional[Sequence[Any]] = None,
    ) -> "Interactions":
        """Builds from parallel event columns (lists, numpy arrays or pandas
        Series). ``kinds`` None counts every event as 1; ``weights`` (e.g.
        quantities) multiply the kind weight; ``timestamps`` are int Unix
        seconds or ``datetime64``. ``item_ids`` fixes the columns (an event
        on another item raises ``UnknownIdError``). Missing ids, negative or
        NaN weights and kinds without a weight raise ``InvalidInputError``
        naming the row; columns of different lengths ``ShapeMismatchError``.
        The GIL is released while building."""
        quantities = None
        if weights is not None:
            quantities = np.asarray(weights)
            if quantities.dtype.kind not in "biuf":
                raise TypeError(f"weights must be numeric, got dtype {quantities.dtype}")
            with np.errstate(over="ignore"):  # out-of-range values become inf; the core rejects them
                quantities = np.ascontiguousarray(quantities, dtype=np.float32)
        built = _sightline.interactions_build(
            _id_column(users, "users"),
            _id_column(items, "items"),
            None if kinds is None else _id_column(kinds, "kinds"),
            quantities,
            None if timestamps is None else _timestamps(timestamps),
            {} if kind_weights is None else {str(k): float(v) for k, v in kind_weights.items()},
            None if item_ids is None else [str(i) for i in item_ids],
        )
        matrix = sp.csr_matrix(
            (built["data"], built["indices"], built["indptr"]), shape=built["shape"]
        )
        return cls(matrix, built["user_ids"], built["item_ids"], built["last_seen"])

    @classmethod
    def from_pandas(
        cls,
        df: Any,
        user_col: str = "user",
        item_col: str = "item",
        kind_col: Optional[str] = "kind",
        ts_col: Optional[str] = "timestamp",
        weight_col: Optional[str] = None,
        kind_weights: Optional[Dict[str, float]] = None,
        item_ids: Optional[Sequence[Any]] = None,
    ) -> "Interactions":
        """Builds from an event DataFrame (or a dict of columns, such as
        ``demo_data()["events"]``): one row per event. ``kind_col`` /
        ``ts_col`` / ``weight_col`` None leave that column out (every event
        then counts 1 / no timestamps / no quantity). A named column that is
        absent raises ``InvalidInputError``. See ``from_events``."""

        def column(name: Optional[str], what: str) -> Any:
            if name is None:
                return None
            if name not in df:
                hint = "" if what in ("user_col", "item_col") else f" (pass {what}=None to go without)"
                raise InvalidInputError(f"events have no column {name!r} for {what}{hint}")
            return df[name]

        return cls.from_events(
            column(user_col, "user_col"), column(item_col, "item_col"),
            kinds=column(kind_col, "kind_col"), timestamps=column(ts_col, "ts_col"),
            weights=column(weight_col, "weight_col"), kind_weights=kind_weights,
            item_ids=item_ids,
        )

    @property
    def user_items(self) -> "sp.csr_matrix":
        """The users x items weights (float32 CSR)."""
        return self._matrix

    @property
    def user_ids(self) -> List[str]:
        """The id of every row."""
        return self._user_ids

    @property
    def item_ids(self) -> List[str]:
        """The id of every column."""
        return self._item_ids

    @property
    def last_seen(self) -> Optional[np.ndarray]:
        """Latest event time (int64 Unix seconds) of every stored entry, in
        CSR order, or None without timestamps."""
        return self._last_seen

    @property
    def shape(self) -> Tuple[int, int]:
        """``(n_users, n_items)``."""
        return self._matrix.shape

    @property
    def nnz(self) -> int:
        """Number of stored (user, item) entries."""
        return int(self._matrix.nnz)

    def user_index(self, user_id: Any) -> int:
        """The row of a user id; an unknown id raises ``UnknownIdError``."""
        if self._user_index is None:
            self._user_index = {u: i for i, u in enumerate(self._user_ids)}
        return _lookup(self._user_index, str(user_id), "user")

    def item_index(self, item_id: Any) -> int:
        """The column of an item id; an unknown id raises ``UnknownIdError``."""
        if self._item_index is None:
            self._item_index = {u: i for i, u in enumerate(self._item_ids)}
        return _lookup(self._item_index, str(item_id), "item")

    def to_pandas(self) -> Any:
        """One row per stored entry: ``user``, ``item``, ``weight`` (and
        ``last_seen`` when known), in CSR order."""
        import pandas as pd

        coo = self._matrix.tocoo()
        frame = pd.DataFrame({
            "user": np.asarray(self._user_ids, dtype=object)[coo.row],
            "item": np.asarray(self._item_ids, dtype=object)[coo.col],
            "weight": coo.data,
        })
        if self._last_seen is not None:
            frame["last_seen"] = self._last_seen
        return frame

    def __repr__(self) -> str:
        n_users, n_items = self.shape
        ts = ", with timestamps" if self._last_seen is not None else ""
        return f"Interactions({n_users} users x {n_items} items, {self.nnz} entries{ts})"


def _lookup(index: Dict[str, int], key: str, kind: str) -> int:
    try:
        return index[key]
    except KeyError:
        err = UnknownIdError(f"unknown {kind} id {json.dumps(key)}")
        err.kind, err.id = kind, key
        raise err from None


# ------------------------------------------------------------- model files --

def _to_bytes_arg(data: Union[bytes, bytearray, memoryview]) -> bytes:
    return data if isinstance(data, bytes) else bytes(data)


class _ModelFile:
    """Persistence shared by every model class: one sightline model file,
    the same bytes in every runtime. Subclasses name their native class
    (``_NATIVE``), the native object to write (``_native()``) and how to
    wrap a loaded one (``_from_native``)."""

    _NATIVE: Any

    def _native(self) -> Any:
        raise NotImplementedError

    @classmethod
    def _from_native(cls, native: Any) -> Any:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The portable sightline model file as bytes."""
        return self._native().to_bytes()

    @classmethod
    def from_bytes(cls, data: Union[bytes, bytearray, memoryview]) -> Any:
        """An object from ``to_bytes`` output (or any model file holding its
        component); corrupt or foreign data raises ``ModelFormatError``."""
        return cls._from_native(cls._NATIVE.from_bytes(_to_bytes_arg(data)))

    def save(self, path: Union[str, "os.PathLike[str]", Any]) -> None:
        """Writes the model file to a path (atomically) or a binary file object."""
        native = self._native()
        if hasattr(path, "write"):
            path.write(native.to_bytes())
        else:
            native.save(os.fspath(path))

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]", Any]) -> Any:
        """Reads a model file from a path or a binary file object."""
        if hasattr(path, "read"):
            return cls.from_bytes(path.read())
        return cls._from_native(cls._NATIVE.load(os.fspath(path)))


class _Estimator(_ModelFile):
    """A model fitted from data (``fit``) or loaded; pickles as its
    parameters plus the model file bytes."""

    _model: Any = None

    def get_params(self) -> Dict[str, Any]:
        raise NotImplementedError

    def _set_model(self, model: Any) -> None:
        self._model = model

    def _fitted(self) -> Any:
        if self._model is None:
            raise InvalidInputError(
                f"this {type(self).__name__} model is not fitted yet; call fit() or load() first"
            )
        return self._model

    def _native(self) -> Any:
        return self._fitted()

    def __getstate__(self) -> Dict[str, Any]:
        return {
            "params": self.get_params(),
            "model": None if self._model is None else self._model.to_bytes(),
        }

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(**state["params"])  # type: ignore[misc]
        if state["model"] is not None:
            self._set_model(self._NATIVE.from_bytes(state["model"]))


# --------------------------------------------------------------------- ALS --

class ALS(_Estimator):
    """Implicit-feedback alternating least squares (Hu, Koren & Volinsky 2008).

    Parameters mirror ``implicit.als.AlternatingLeastSquares``:

    factors: latent dimension. regularization: L2 penalty. alpha: confidence
    scale (``c = unobserved_weight + alpha * weight``). iterations: full
    alternations.
    use_cg: conjugate-gradient solver (3 steps) if True, exact Cholesky solve
    if False. random_state: seed (None = random, or an int, numpy RandomState
    or Generator); the same seed gives identical factors. num_threads: 0 = all
    cores (the environment variable ``SIGHTLINE_NUM_THREADS`` caps it), at
    most 1024 (more raise ``ConfigError``).
    calculate_training_loss: report the loss in the progress output.
    dtype, use_native, use_gpu: accepted for implicit compatibility; factors
    are float32 and computed natively on the CPU (``use_gpu=True`` or another
    dtype raise ``ConfigError``; there is no ``to_gpu``/``to_cpu``).

    Beyond implicit (Rendle et al., "Revisiting the Performance of iALS on
    Item Recommendation Benchmarks", RecSys 2022): unobserved_weight: the
    confidence ``α₀`` of every unobserved (user, item) pair (1 = Hu et al.).
    regularization_exponent: ``ν``; a user or item row with ``n`` observed
    entries gets the penalty ``regularization * (n + α₀ * n_other) ** ν``
    (0 = plain ``regularization``). init_std: scale of the random initial
    factors (standard deviation ``init_std / sqrt(factors)``).

    Invalid hyper-parameters raise ``ConfigError`` here and in ``fit``.
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 1.0,
        alpha: float = 4.0,
        iterations: int = 15,
        use_cg: bool = True,
        random_state: Any = None,
        num_threads: int = 0,
        calculate_training_loss: bool = False,
        unobserved_weight: float = 1.0,
        regularization_exponent: float = 0.5,
        init_std: float = 0.1,
        dtype: Any = np.float32,
        use_native: bool = True,
        use_gpu: bool = False,
    ) -> None:
        # implicit's constructor arguments, accepted so that code written for
        # implicit runs unchanged; sightline is CPU-only and float32.
        if use_gpu:
            raise _config_error("use_gpu", "sightline runs on the CPU only (there is no to_gpu)")
        if np.dtype(dtype) != np.float32:
            raise _config_error("dtype", f"factors are float32 only, got {np.dtype(dtype)}")
        del use_native
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.use_cg = use_cg
        self.random_state = random_state
        self.num_threads = num_threads
        self.calculate_training_loss = calculate_training_loss
        self.unobserved_weight = unobserved_weight
        self.regularization_exponent = regularization_exponent
        self.init_std = init_std
        self._model: Optional[_sightline._Model] = None
        self._factor_cache: Dict[str, np.ndarray] = {}
        _sightline.check_params(self._params(0))

    # -- parameters ---------------------------------------------------------

    def get_params(self) -> Dict[str, Any]:
        """The constructor arguments."""
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "use_cg": self.use_cg,
            "random_state": self.random_state,
            "num_threads": self.num_threads,
            "calculate_training_loss": self.calculate_training_loss,
            "unobserved_weight": self.unobserved_weight,
            "regularization_exponent": self.regularization_exponent,
            "init_std": self.init_std,
        }

    def _params(self, seed: int) -> Dict[str, Any]:
        """The hyper-parameters in the core's ``AlsConfig`` schema (which
        holds the defaults and the checks): implicit's ``use_cg`` picks the
        ``solver`` (the core's default is CG), ``random_state`` is ``seed``."""
        params = {k: _plain(v) for k, v in self.get_params().items()
                  if k not in ("use_cg", "random_state")}
        params["seed"] = seed
        if not self.use_cg:
            params["solver"] = {"type": "cholesky"}
        return params

    def __repr__(self) -> str:
        return _params_repr(self)

    # -- training -----------------------------------------------------------

    def fit(
        self,
        user_items: Any,
        show_progress: bool = False,
        user_ids: Optional[Sequence[Any]] = None,
        item_ids: Optional[Sequence[Any]] = None,
        callback: Optional[Callable[[int, float, Optional[float]], Any]] = None,
    ) -> "ALS":
        """Fits on ``user_items``, a scipy.sparse users×items matrix of
        non-negative weights (CSR; other formats are converted).

        ``user_ids``/``item_ids`` name the rows/columns (stringified; default
        ``"0"``, ``"1"``, ...) for ``recommend_by_id`` and the model file.
        ``show_progress`` prints per-iteration progress (tqdm if installed,
        else a line on stderr). ``callback(iteration, seconds, loss)`` is
        called after each iteration as in implicit. The GIL is released while
        fitting; Ctrl-C stops the fit with ``FitInterrupted`` (a
        ``KeyboardInterrupt``). Returns self.
        """
        matrix = _csr(user_items)
        if not matrix.has_canonical_format:
            # The core trains on these buffers in place: rows must be sorted.
            matrix = matrix.copy()
            matrix.sum_duplicates()
        indptr = np.ascontiguousarray(matrix.indptr, dtype=_INDEX)
        # int32 indices (scipy's default) and float32 data are passed without
        # a copy; other dtypes are converted.
        indices = np.ascontiguousarray(matrix.indices)
        if indices.dtype != np.int32:
            indices = indices.astype(_INDEX)
        with np.errstate(over="ignore"):  # out-of-range values become inf; the core rejects them
            data = np.ascontiguousarray(matrix.data, dtype=np.float32)
        n_rows, n_cols = matrix.shape
        params = self._params(_seed(self.random_state))
        users, items = _fit_ids(user_items, matrix, user_ids, item_ids)

        bar = None
        if show_progress:
            try:
                from tqdm.auto import tqdm  # type: ignore[import-not-found]

                bar = tqdm(total=self.iterations, unit="it", desc="sightline ALS")
            except ImportError:
                bar = None

        def progress(iteration: int, iterations: int, loss: Optional[float], seconds: float) -> None:
            if show_progress:
                if bar is not None:
                    bar.update(1)
                    if loss is not None:
                        bar.set_postfix(loss=f"{loss:.5g}")
                else:
                    loss_text = "" if loss is None else f" loss={loss:.5g}"
                    print(
                        f"sightline ALS: iteration {iteration}/{iterations}{loss_text} ({seconds:.2f}s)",
                        file=sys.stderr,
                        flush=True,
                    )
            if callback is not None:
                callback(iteration, seconds, loss)

        wants_progress = show_progress or callback is not None
        try:
            model = _sightline.fit(
                params, n_rows, n_cols, indptr, indices, data, users, items,
                progress if wants_progress else None,
            )
        finally:
            if bar is not None:
                bar.close()
        self._set_model(model)
        return self

    _NATIVE = _sightline._Model

    def _set_model(self, model: "_sightline._Model") -> None:
        self._model = model
        self._factor_cache = {}

    # -- factors and ids ----------------------------------------------------

    def _factors(self, which: str) -> Optional[np.ndarray]:
        if self._model is None:
            return None
        arr = self._factor_cache.get(which)
        if arr is None:
            arr = getattr(self._model, which)
            arr.flags.writeable = False
            self._factor_cache[which] = arr
        return arr

    @property
    def user_factors(self) -> Optional[np.ndarray]:
        """float32 array ``(n_users, factors)`` (read-only), None before fit."""
        return self._factors("user_factors")

    @property
    def item_factors(self) -> Optional[np.ndarray]:
        """float32 array ``(n_items, factors)`` (read-only), None before fit."""
        return self._factors("item_factors")

    @property
    def user_ids(self) -> Optional[List[str]]:
        """User id of every row of ``user_factors``, None before fit."""
        return None if self._model is None else self._model.user_ids

    @property
    def item_ids(self) -> Optional[List[str]]:
        """Item id of every row of ``item_factors``, None before fit."""
        return None if self._model is None else self._model.item_ids

    # -- recommendations ----------------------------------------------------

    @staticmethod
    def _user_items(model: "_sightline._Model", user_items: Any, n_requested: int) -> Any:
        """``user_items`` as CSR, after checking it has one column per item."""
        matrix = _csr(user_items)
        if matrix.shape[1] != model.n_items:
            rows = f"{n_requested} (one row per userid) or {model.n_users} (every user)"
            raise ShapeMismatchError(
                _shape_hint("user_items", matrix.shape, rows, model.n_items, model.n_users)
            )
        return matrix

    def _user_rows(self, model: "_sightline._Model", user_items: Any, users: np.ndarray) -> Any:
        """The rows of ``user_items`` for ``users``: the matrix itself when it
        has one row per user, else (a full matrix) the rows at ``users``."""
        matrix = self._user_items(model, user_items, len(users))
        if matrix.shape[0] == len(users):
            return matrix
        if matrix.shape[0] == model.n_users:
            bad = users[(users < 0) | (users >= model.n_users)]
            if bad.size:
                raise InvalidInputError(
                    f"user index {int(bad[0])} out of range for {model.n_users} users"
                )
            return matrix[users]
        raise ShapeMismatchError(
            f"user_items has {matrix.shape[0]} rows; expected {len(users)} (one per userid) "
            f"or {model.n_users} (the full user x item matrix)"
        )

    def recommend(
        self,
        userid: Union[int, Sequence[int], np.ndarray],
        user_items: Any = None,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: Optional[Sequence[int]] = None,
        recalculate_user: bool = False,
        items: Optional[Sequence[int]] = None,
        as_frame: bool = False,
    ) -> Any:
        """Top-``N`` items for a user index (or an array of them).

        Returns ``(ids, scores)``: int32 item indices and float32 scores,
        best first. For one user they are 1-D with ``min(N, eligible)``
        entries; for an array of users 2-D ``(len(userid), min(N, n_items))``,
        padded with -1 / -inf.

        ``user_items``: None uses the training interactions stored in the
        model; otherwise a sparse matrix with one row per requested user
        (implicit's convention) or the full users×items matrix.
        ``filter_already_liked_items`` leaves out the items of that row.
        ``filter_items``: item indices never returned. ``items``: rank only
        these items. ``recalculate_user=True`` recomputes the user factors
        from ``user_items`` (for new users or changed histories).

        ``as_frame=True`` returns a pandas DataFrame instead, one row per
        recommendation: ``[userid, user_id,] rank, itemid, item_id, score`` (no
        padding rows).
        """
        ids, scores = self._recommend(userid, user_items, N, filter_already_liked_items,
                                      filter_items, recalculate_user, items)
        if not as_frame:
            return ids, scores
        batch = np.ndim(userid) > 0
        return _ranked_frame(ids, scores, self.item_ids, "item", ("userid", "user_id") if batch else None,
                             np.asarray(userid) if batch else None, self.user_ids)

    def _recommend(
        self, userid: Any, user_items: Any, N: int, filter_already_liked_items: bool,
        filter_items: Any, recalculate_user: bool, items: Any,
    ) -> Tuple[np.ndarray, np.ndarray]:
        model = self._fitted()
        n = _index(N, "N")
        exclude = _EMPTY if filter_items is None else _index_array(filter_items, "filter_items")
        allow = None if items is None else _index_array(items, "items")
        single = np.ndim(userid) == 0
        users = (
            np.array([_index(userid, "userid")], dtype=_INDEX)
            if single
            else _index_array(userid, "userid")
        )
        if not single and not recalculate_user and user_items is not None:
            matrix = self._user_items(model, user_items, len(users))
            if matrix.shape[0] == model.n_users and matrix.shape[0] != len(users):
                # The full users x items matrix: the core reads row `userid`.
                indptr, indices, _ = _csr_parts(matrix)
                return model.recommend_batch(
                    users, n, filter_already_liked_items, exclude, allow,
                    indptr, indices, matrix.shape[1], True,
                )
        rows = None if user_items is None else self._user_rows(model, user_items, users)

        if recalculate_user:
            if rows is None:
                raise InvalidInputError("recalculate_user=True needs user_items")
            indptr, indices, data = _csr_parts(rows)
            ids, scores = model.recommend_recalculated(
                indptr, indices, data, n, filter_already_liked_items, exclude, allow
            )
            return _trim(ids, scores) if single else (ids, scores)
        if single:
            liked = None
            if rows is not None:
                liked = np.ascontiguousarray(rows.indices[rows.indptr[0]:rows.indptr[1]], dtype=_INDEX)
            return model.recommend(int(users[0]), n, filter_already_liked_items, liked, exclude, allow)
        rows_indptr = rows_indices = None
        if rows is not None:
            rows_indptr, rows_indices, _ = _csr_parts(rows)
        return model.recommend_batch(
            users, n, filter_already_liked_items, exclude, allow, rows_indptr, rows_indices,
            model.n_items,
        )

    def partial_fit_users(self, userids: Any, user_items: Any) -> "ALS":
        """implicit's ``partial_fit_users``: re-solves the factors of the
        given users from their new histories against the fixed item factors
        (exactly, by Cholesky), without refitting the model.

        ``userids``: user indices, or string user ids. An index at or past
        the current number of users grows the model to ``max + 1`` users
        (rows in between get zero factors; new rows get their decimal index
        as id). String ids refit known users and append unknown ones in
        order. ``user_items``: one row per entry of ``userids``, one column
        per item. The model's stored training rows are replaced, so
        ``recommend`` leaves out the new histories. A repeated or forgotten
        user, a wrong shape or a taken decimal id raise and change nothing.
        The update is in place (an ``Engine`` or ``SessionRecommender`` built
        from this model keeps the model it was given: pass it to
        ``Engine.swap_models`` to serve the update). The GIL is released.
        Returns self."""
        return self._partial_fit("user", userids, user_items)

    def partial_fit_items(self, itemids: Any, item_users: Any) -> "ALS":
        """implicit's ``partial_fit_items``: re-solves (or adds, e.g. new
        products) the factors of the given items from ``item_users`` — one
        row per entry of ``itemids``, one column per user — against the fixed
        user factors. ``itemids`` are item indices or string ids, with the
        growth rules of ``partial_fit_users``; the stored training columns of
        these items are replaced. Returns self."""
        return self._partial_fit("item", itemids, item_users)

    def _partial_fit(self, side: str, targets: Any, rows: Any) -> "ALS":
        model = self._fitted()
        arr = np.asarray(targets)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        matrix = _csr(rows, "user_items" if side == "user" else "item_users")
        if not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()
        if arr.size and arr.dtype.kind in "OUS":
            model.partial_fit(side, *_csr_parts(matrix), matrix.shape[1],
                              ids=[str(t) for t in arr])
        else:
            model.partial_fit(side, *_csr_parts(matrix), matrix.shape[1],
                              targets=_index_array(arr, f"{side}ids"))
        self._factor_cache = {}
        return self

    def explain(
        self,
        userid: int,
        user_items: Any,
        itemid: int,
        user_weights: Optional[np.ndarray] = None,
        N: int = 10,
    ) -> Tuple[float, List[Tuple[int, float]], np.ndarray]:
        """implicit's ``explain``: why user ``userid`` gets item ``itemid``
        (Hu, Koren & Volinsky 2008, section 5). The user's score is a sum
        over the items of their history; returns ``(score, top_contributions,
        user_weights)``: the score, the ``N`` largest ``(itemid,
        contribution)`` pairs (largest first; they can be negative) and the
        Cholesky factor ``L`` (``factors x factors``, lower-triangular) of the
        user's system, to pass back when explaining more items for the same
        user. The score equals ``recalculate_user`` of that history dotted
        with the item's factors.

        ``user_items``: the user's row (one row, or the full users x items
        matrix), or None for the training row stored in the model."""
        model = self._fitted()
        user = _index(userid, "userid")
        items = weights = None
        if user_items is not None:
            rows = self._user_rows(model, user_items, np.array([user], dtype=_INDEX))
            indptr, indices, data = _csr_parts(rows)
            items, weights = indices[indptr[0]:indptr[1]], data[indptr[0]:indptr[1]]
        if user_weights is not None:
            user_weights = np.ascontiguousarray(user_weights, dtype=np.float32)
            if user_weights.ndim != 2:
                raise ShapeMismatchError(
                    f"user_weights must be the {self.factors} x {self.factors} factor explain returned, "
                    f"got {user_weights.ndim}-D"
                )
        return model.explain(user, items, weights, _index(itemid, "itemid"), _index(N, "N"),
                             user_weights)

    def recalculate_user(self, userid: int, user_items: Any) -> np.ndarray:
        """User factors (float32, ``(factors,)``) solved from the user's row of
        ``user_items`` against the trained item factors."""
        model = self._fitted()
        users = np.array([_index(userid, "userid")], dtype=_INDEX)
        rows = self._user_rows(model, user_items, users)
        indptr, indices, data = _csr_parts(rows)
        return model.fold_in(indices[indptr[0]:indptr[1]], data[indptr[0]:indptr[1]])

    def similar_items(
        self, itemid: Union[int, Sequence[int], np.ndarray], N: int = 10, as_frame: bool = False
    ) -> Any:
        """The ``N`` items most similar to ``itemid`` (cosine of item factors).

        Unlike implicit, the query item itself is not in the results. Returns
        ``(ids int32, scores float32)``, best first; for an array of item
        indices 2-D arrays ``min(N, n_items - 1)`` wide, padded with -1 / -inf.
        ``as_frame=True``: a DataFrame ``[query, query_id,] rank, itemid,
        item_id, score``.
        """
        model = self._fitted()
        n = _index(N, "N")
        if np.ndim(itemid) == 0:
            result = model.similar_items(_index(itemid, "itemid"), n)
        else:
            result = model.similar_items_batch(_index_array(itemid, "itemid"), n)
        return _similar_result(result, as_frame, itemid, self)

    def similar_users(self, userid: int, N: int = 10, as_frame: bool = False) -> Any:
        """The ``N`` users most similar to user index ``userid`` by cosine
        similarity of user factors: ``(ids int32, scores float32)``, best
        first, without the user itself (implicit returns it first).
        ``as_frame=True``: a DataFrame ``rank, userid, user_id, score``."""
        ids, scores = self._fitted().similar_users(_index(userid, "userid"), _index(N, "N"))
        return _ranked_frame(ids, scores, self.user_ids, "user") if as_frame else (ids, scores)

    def recommend_by_id(
        self, user_id: Any, N: int = 10, filter_already_liked_items: bool = True
    ) -> List[Tuple[str, float]]:
        """Top-``N`` ``(item_id, score)`` pairs for a user id; an unknown id
        raises ``UnknownIdError`` (a ``KeyError``)."""
        return self._fitted().recommend_by_id(str(user_id), _index(N, "N"), filter_already_liked_items)

    def similar_items_by_id(self, item_id: Any, N: int = 10) -> List[Tuple[str, float]]:
        """``similar_items`` by string id: ``N`` ``(item_id, score)`` pairs."""
        return self._fitted().similar_items_by_id(str(item_id), _index(N, "N"))

    # -- persistence --------------------------------------------------------

    @classmethod
    def _from_native(cls, model: "_sightline._Model") -> "ALS":
        params = model.params()
        params["random_state"] = params.pop("seed")
        obj = cls(**params)
        obj._set_model(model)
        return obj


# -------------------------------------------------------- evaluation, tuning --

_SEARCHABLE = tuple(_sightline.default_param_space())  # the core's field order
_METRIC_KEYS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage", "users")


def _pair(train: Any, other: Any, other_name: str) -> Tuple[Any, Any]:
    train = _csr(train, "train_user_items")
    other = _csr(other, other_name)
    if other.shape != train.shape:
        raise ShapeMismatchError(
            f"train_user_items is {train.shape[0]}x{train.shape[1]} but "
            f"{other_name} is {other.shape[0]}x{other.shape[1]}"
        )
    return train, other


def _split(ratings: Any, seed: Any, **how: Any) -> Tuple["sp.csr_matrix", "sp.csr_matrix"]:
    m = _csr(ratings, "ratings")
    (a, b) = _sightline.split(m.shape, *_csr_parts(m), _seed(seed), **how)
    return (sp.csr_matrix((a[2], a[1], a[0]), shape=m.shape),
            sp.csr_matrix((b[2], b[1], b[0]), shape=m.shape))


def train_test_split(
    ratings: Any, train_percentage: float = 0.8, random_state: Any = None
) -> Tuple["sp.csr_matrix", "sp.csr_matrix"]:
    """implicit's ``train_test_split``: ``(train, test)`` CSR matrices of
    the same shape, where every user with at least 2 items has
    ``round((1 - train_percentage) * n)`` of them (at least 1, at most
    ``n - 1``), chosen at random, in test. Seeded splits are identical in
    every runtime (the core's ChaCha8 stream). ``train_percentage`` must be
    in (0, 1) (``InvalidInputError`` otherwise)."""
    frac = 1.0 - float(train_percentage)
    return _split(ratings, random_state, test_fraction=frac)


def leave_k_out_split(
    ratings: Any, K: int = 1, random_state: Any = None
) -> Tuple["sp.csr_matrix", "sp.csr_matrix"]:
    """implicit's ``leave_k_out_split``: ``(train, test)`` where every user
    with more than ``K`` items has ``K`` of them, chosen at random, in test
    (users with ``K`` or fewer keep all in train)."""
    return _split(ratings, random_state, k=_index(K, "K"))


def leave_last_k_out_split(interactions: "Interactions", K: int = 1) -> Tuple["sp.csr_matrix", "sp.csr_matrix"]:
    """Temporal holdout: ``(train, test)`` where every user with more than
    ``K`` items has their ``K`` most recent ones (by ``last_seen``; ties go
    to the higher item index) in test - what a model deployed today is
    judged on. Needs an ``Interactions`` with timestamps
    (``Interactions.from_pandas(..., ts_col=...)``); deterministic."""
    if not isinstance(interactions, Interactions) or interactions.last_seen is None:
        raise InvalidInputError(
            "leave_last_k_out_split needs event times: an Interactions built with ts_col "
            "(or given last_seen)"
        )
    return _split(interactions, 0, k=_index(K, "K"), last_seen=interactions.last_seen)


def ranking_metrics_at_k(
    model: Any,
    train_user_items: Any,
    test_user_items: Any,
    K: int = 10,
    show_progress: bool = False,
    num_threads: int = 0,
) -> Dict[str, float]:
    """Ranking metrics at ``K`` of a fitted model on a held-out split, like
    ``implicit.evaluation.ranking_metrics_at_k``.

    Every user with at least one stored entry in ``test_user_items`` is
    ranked, leaving out the items of their row of ``train_user_items``; every
    stored test entry counts as relevant. Returns a dict with ``precision``,
    ``recall``, ``ndcg``, ``map``, ``hit_rate``, ``coverage`` (floats,
    averaged over the evaluated users; formulas in the core's ``eval`` module
    docs) and ``users`` (the number of evaluated users). Unlike implicit there
    is no ``auc``.

    ``model`` is a fitted ``sightline.ALS`` (evaluated natively, GIL
    released) or any object with implicit's batch
    ``recommend(userids, user_items, N=K, filter_already_liked_items=True)``
    returning ``(ids, scores)`` 2-D arrays (an implicit model, a baseline);
    negative ids are treated as padding. Both paths use the same metric code.
    implicit's own numbers (its pooled precision, and ``auc``) are
    ``sightline.implicit.evaluation.ranking_metrics_at_k``.
    ``show_progress`` and ``num_threads`` are accepted for compatibility with
    implicit and ignored.
    """
    del show_progress, num_threads
    train, test = _pair(train_user_items, test_user_items, "test_user_items")
    k = _index(K, "K")
    if isinstance(model, ALS):
        return _sightline.ranking_metrics(
            model._fitted(), train.shape, *_csr_parts(train), *_csr_parts(test), k
        )
    users = np.flatnonzero(np.diff(test.indptr)).astype(_INDEX)
    if users.size == 0:
        raise InvalidInputError("no user has test items: nothing to evaluate")
    ids, _ = model.recommend(users, train[users], N=k, filter_already_liked_items=True)
    ids = np.asarray(ids)
    if ids.ndim == 1:
        ids = ids.reshape(len(users), -1)
    rows = test[users]
    indptr = np.ascontiguousarray(rows.indptr, dtype=_INDEX)
    indices = np.ascontiguousarray(rows.indices, dtype=_INDEX)
    return _sightline.lists_metrics(
        np.ascontiguousarray(ids, dtype=_INDEX), indptr, indices, k, train.shape[1]
    )


def default_param_grid() -> Dict[str, List[Any]]:
    """The core's default search space (``tune_als(param_grid=None)``), as a
    dict of lists; ``init_std`` and ``iterations`` are then taken from the
    ``tune_als`` arguments instead."""
    return _sightline.default_param_space()


def tune_als(
    train_user_items: Any,
    validation_user_items: Any,
    param_grid: Optional[Dict[str, Any]] = None,
    metric: str = "ndcg",
    k: int = 10,
    search: str = "grid",
    n_trials: Optional[int] = None,
    random_state: Any = 0,
    iterations: int = 15,
    num_threads: int = 0,
    show_progress: bool = False,
    callback: Optional[Callable[[Dict[str, Any]], Any]] = None,
    **fixed: Any,
) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """Grid or random search of ``sightline.ALS`` hyper-parameters.

    Each candidate is trained on ``train_user_items`` and scored by
    ``metric`` at ``k`` (``"ndcg"``, ``"precision"``, ``"recall"``,
    ``"map"`` or ``"hit_rate"``, as in ``ranking_metrics_at_k``) on
    ``validation_user_items`` (same shape; e.g. a per-user holdout of the
    training data), leaving out each user's training items.

    ``param_grid`` maps parameter names (``factors``, ``regularization``,
    ``alpha``, ``unobserved_weight``, ``regularization_exponent``,
    ``init_std``, ``iterations``) to lists of values (a scalar fixes it);
    parameters not listed are fixed at ``iterations``, ``num_threads`` and the
    keyword arguments ``**fixed`` of ``sightline.ALS`` (e.g. ``use_cg=False``,
    ``alpha=2.0``), else ALS's defaults. ``None`` searches the default space
    (``default_param_grid()``).

    ``search="grid"`` runs the full product, factors varying slowest, in the
    order listed; ``"random"`` runs ``n_trials`` (default 20, at most the grid
    size) distinct grid points drawn with seed ``random_state``, which also
    seeds every model's initialisation (the same for all candidates). The
    best candidate maximises the metric; ties go to the earlier one; results
    are deterministic for an int ``random_state``.

    Returns ``(best_params, results)``: ``best_params`` is a dict such that
    ``sightline.ALS(**best_params)`` builds the chosen model; ``results`` is
    a list of dicts, one per trial in the order run, with the searched
    parameters, the validation metrics (``precision``, ``recall``, ``ndcg``,
    ``map``, ``hit_rate``, ``coverage``, ``users``, ``k``) and ``seconds``
    (``pandas.DataFrame(results)`` makes it a table).

    The GIL is released while tuning. ``callback(result)`` is called after
    each trial; ``show_progress`` prints one line per trial (tqdm if
    installed). Ctrl-C stops the search with ``FitInterrupted`` (a
    ``KeyboardInterrupt``); an exception raised by ``callback`` propagates. Bad names and values raise
    ``ConfigError`` (a ``ValueError``).
    """
    train, valid = _pair(train_user_items, validation_user_items, "validation_user_items")
    seed = _seed(random_state)
    base = ALS(iterations=iterations, num_threads=num_threads, random_state=seed, **fixed)
    grid = None if param_grid is None else {str(k): _plain(v) for k, v in dict(param_grid).items()}
    if n_trials is not None:
        n_trials = _index(n_trials, "n_trials")
    metric_name = str(metric)

    bar = None
    if show_progress:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-not-found]

            bar = tqdm(total=n_trials if search == "random" else None, unit="trial",
                       desc="sightline tune")
        except ImportError:
            bar = None
    count = [0]

    def progress(trial: Dict[str, Any]) -> None:
        count[0] += 1
        if show_progress:
            if bar is not None:
                bar.update(1)
                bar.set_postfix({metric_name: f"{trial.get(metric_name, float('nan')):.4f}"})
            else:
                shown = ", ".join(f"{p}={trial[p]}" for p in _SEARCHABLE)
                print(
                    f"sightline tune: trial {count[0]}: {shown} -> {metric_name}@{k}="
                    f"{trial.get(metric_name, float('nan')):.4f} ({trial['seconds']:.2f}s)",
                    file=sys.stderr,
                    flush=True,
                )
        if callback is not None:
            callback(trial)

    wants_progress = show_progress or callback is not None
    try:
        best, results = _sightline.tune(
            base._params(seed), train.shape, *_csr_parts(train), *_csr_parts(valid),
            grid, str(search), n_trials, seed, metric_name, _index(k, "k"),
            progress if wants_progress else None,
        )
    finally:
        if bar is not None:
            bar.close()
    best["random_state"] = best.pop("seed")
    return best, results


# ------------------------------------------------------------ co-occurrence --

_WEIGHTINGS = ("bm25", "count", "lift", "cosine")


def _weights_array(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n, dtype=np.float32)
    arr = np.asarray(weights)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ShapeMismatchError(f"weights must be 1-D, got {arr.ndim}-D")
    if arr.size and arr.dtype.kind not in "biuf":
        raise TypeError(f"weights must be numeric, got dtype {arr.dtype}")
    with np.errstate(over="ignore"):  # out-of-range values become inf; the core rejects them
        return np.ascontiguousarray(arr, dtype=np.float32)


class CoOccurrence(_Estimator):
    """Item-to-item co-occurrence ("bought together", "goes well with").

    Every row of the matrix given to ``fit`` is a *basket* (a customer's
    history, a session or an order); two items co-occur when they share a
    basket. Pairs seen in fewer than ``min_support`` baskets are dropped, and
    each item keeps its best ``max_neighbors`` neighbours.

    weighting: how a count becomes a score: ``"bm25"`` (default; idf-weighted
    cosine of BM25-weighted item rows as in implicit's ``bm25_weight``, with
    ``k1`` and ``b``), ``"count"`` (shared baskets), ``"lift"`` (observed /
    expected under independence; favours niche complements) or ``"cosine"``
    (``c_ij / sqrt(n_i n_j)``). ``k1``/``b`` only matter for BM25. Baskets
    with more than 200 items are cut to their 200 highest-weight items.
    Fitting is deterministic.

    Invalid settings raise ``ConfigError`` here and in ``fit``.
    """

    def __init__(
        self,
        weighting: str = "bm25",
        min_support: int = 2,
        max_neighbors: int = 100,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        self.weighting = weighting
        self.min_support = min_support
        self.max_neighbors = max_neighbors
        self.k1 = k1
        self.b = b
        self._model: Optional[_sightline._Cooccur] = None
        _sightline.cooccur_check_params(self._params())

    def get_params(self) -> Dict[str, Any]:
        """The constructor arguments."""
        return {
            "weighting": self.weighting,
            "min_support": self.min_support,
            "max_neighbors": self.max_neighbors,
            "k1": self.k1,
            "b": self.b,
        }

    def _params(self) -> Dict[str, Any]:
        params = self.get_params()
        if not isinstance(params["weighting"], str):
            raise TypeError(f"weighting must be a str, got {type(params['weighting']).__name__}")
        params["weighting"] = params["weighting"].lower()
        return params

    def __repr__(self) -> str:
        return _params_repr(self)

    def fit(
        self, user_items: Any, item_ids: Optional[Sequence[Any]] = None, show_progress: bool = False
    ) -> "CoOccurrence":
        """Fits on ``user_items``, a scipy.sparse baskets×items matrix of
        non-negative weights (rows are baskets or users; CSR, other formats
        are converted). ``item_ids`` name the columns (stringified; default
        ``"0"``, ``"1"``, ...) for the ``*_by_id`` calls. ``show_progress``
        is accepted for compatibility with implicit and ignored. The GIL is
        released while fitting. Empty data raises ``InvalidInputError``.
        Returns self."""
        del show_progress
        matrix = _csr(user_items)
        if not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()
        n_rows, n_cols = matrix.shape
        _, items = _fit_ids(user_items, matrix, None, item_ids)
        self._model = _sightline.cooccur_fit(
            self._params(), n_rows, n_cols, *_csr_parts(matrix), items
        )
        return self

    _NATIVE = _sightline._Cooccur

    @property
    def item_ids(self) -> Optional[List[str]]:
        """Item id of every column, None before fit."""
        return None if self._model is None else self._model.item_ids

    @property
    def n_items(self) -> Optional[int]:
        """Number of items, None before fit."""
        return None if self._model is None else self._model.n_items

    def similar_items(self, itemid: Any, N: int = 10, as_frame: bool = False) -> Any:
        """The best ``N`` neighbours of item index ``itemid``: ``(ids int32,
        scores float32)``, best first (ties to the lower index), never the
        item itself. An item without kept pairs gives empty arrays. An array
        of indices gives 2-D arrays ``min(N, n_items - 1)`` wide, padded with
        id -1 and score -inf (GIL released). ``N=0`` or an out-of-range index
        raise ``InvalidInputError``. ``as_frame=True``: a DataFrame
        ``[query, query_id,] rank, itemid, item_id, score``."""
        if np.ndim(itemid) == 0:
            result = self._fitted().similar_items(_index(itemid, "itemid"), _index(N, "N"))
        else:
            result = self._fitted().similar_items_batch(_index_array(itemid, "itemid"), _index(N, "N"))
        return _similar_result(result, as_frame, itemid, self)

    def recommend_for_items(
        self,
        itemids: Union[int, Sequence[int], np.ndarray],
        weights: Optional[Union[float, Sequence[float], np.ndarray]] = None,
        N: int = 10,
        filter_items: Optional[Sequence[int]] = None,
        as_frame: bool = False,
    ) -> Any:
        """Items that go with context items (a cart, or the product on the
        page): ``score_j = sum_c weights[c] * s(itemids[c], j)``, best first.
        ``as_frame=True``: a DataFrame ``rank, itemid, item_id, score``.

        ``weights`` (default all 1) must be finite and >= 0. The context items
        and ``filter_items`` are never returned; only positive scores are, so
        there may be fewer than ``N``. Returns ``(ids int32, scores float32)``.
        ``N=0``, an empty ``itemids``, a NaN/inf/negative weight or an
        out-of-range index raise ``InvalidInputError``; ``weights`` of another
        length ``ShapeMismatchError``.
        """
        model = self._fitted()
        items = (
            np.array([_index(itemids, "itemids")], dtype=_INDEX)
            if np.ndim(itemids) == 0
            else _index_array(itemids, "itemids")
        )
        exclude = _EMPTY if filter_items is None else _index_array(filter_items, "filter_items")
        result = model.recommend_for_items(
            items, _weights_array(weights, len(items)), _index(N, "N"), exclude
        )
        return _ranked_frame(*result, self.item_ids) if as_frame else result

    def similar_items_by_id(self, item_id: Any, N: int = 10) -> List[Tuple[str, float]]:
        """``similar_items`` by string id: ``N`` ``(item_id, score)`` pairs;
        an unknown id raises ``UnknownIdError`` (a ``KeyError``)."""
        return self._fitted().similar_items_by_id(str(item_id), _index(N, "N"))

    def recommend_for_items_by_id(
        self,
        item_ids: Union[Any, Sequence[Any]],
        weights: Optional[Union[float, Sequence[float], np.ndarray]] = None,
        N: int = 10,
        filter_items: Optional[Sequence[Any]] = None,
    ) -> List[Tuple[str, float]]:
        """``recommend_for_items`` by string ids: ``(item_id, score)`` pairs.
        An unknown context id raises ``UnknownIdError``; unknown ids in
        ``filter_items`` are ignored."""
        if isinstance(item_ids, (str, bytes)) or np.ndim(item_ids) == 0:
            item_ids = [item_ids]
        ids = [str(i) for i in item_ids]
        exclude = [] if filter_items is None else [str(i) for i in filter_items]
        return self._fitted().recommend_for_items_by_id(
            ids, _weights_array(weights, len(ids)), _index(N, "N"), exclude
        )

    # -- persistence --------------------------------------------------------

    @classmethod
    def _from_native(cls, model: "_sightline._Cooccur") -> "CoOccurrence":
        obj = cls(**model.params())
        obj._set_model(model)
        return obj


# ----------------------------------------------------------------- trending --

def _opt_str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _timestamps(values: Any, n: Optional[int] = None) -> np.ndarray:
    """Unix seconds as int64: ints, or numpy datetime64 (converted)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ShapeMismatchError(f"timestamps must be 1-D, got {arr.ndim}-D")
    if arr.dtype.kind == "M":
        return np.ascontiguousarray(arr.astype("datetime64[s]").astype(np.int64))
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"timestamps must be integer Unix seconds, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _opt_column(values: Any) -> Optional[List[Optional[str]]]:
    if values is None:
        return None
    return [None if v is None else str(v) for v in values]


def _now(now: Any) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, np.datetime64):
        return int(now.astype("datetime64[s]").astype(np.int64))
    return _index(now, "now")


class Trending(_ModelFile):
    """"Popular in your area" and "trending now": time-decayed, kind-weighted
    event counts per item and per segment (global, region, country, channel,
    category and region/country × category), with back-off from a sparse
    segment to a denser one.

    half_life_hours: half-life of an event's weight in the popularity score.
    half_life_by_kind: per-kind overrides (``{"purchase": 240.0}``).
    weights: weight per event kind (``view`` 1, ``click`` 2, ``add_to_cart``
    4, ``purchase`` 8 by default; other names add custom kinds; an event of a
    custom kind without a weight raises ``InvalidInputError``).
    window_hours / baseline_hours: mean lifetimes of the "recent" and
    "baseline" rates behind ``trending_now`` (baseline must exceed window).
    smoothing: added to the baseline of the velocity (weight per window).
    max_items_per_segment: memory bound per segment (results are exact while
    a segment has seen fewer distinct items; about 140 bytes per entry).
    max_segments: most segments held (regions come from events, so made-up
    ones cannot grow memory without end; beyond it the weakest region,
    country and category segments are dropped; about 450 bytes each).
    min_segment_weight: a back-off
    level answers only when its total decayed weight reaches this (the last
    level of a chain always answers). region_parent: region code → country
    code for the country level, e.g. ``{"uk-london": "uk"}`` (None = none:
    regions back off straight to global; the demo's map is
    ``demo_engine_config()["trending"]["region_parent"]``).

    catalog: optional list of dicts ``{"id": ..., "category": ...}`` (other
    keys ignored) or a DataFrame with those columns. Category segments
    (``category=`` queries) only receive events of items whose category the
    catalog gives; without a catalog a category query finds nothing.

    Back-off chains: region → country → global; region + category →
    country + category → category; category; channel → global (the channel
    is used only without region and category). Times are Unix seconds.

    Invalid settings raise ``ConfigError``. The store may be shared between
    threads (an internal lock serialises calls; the GIL is released).
    """

    def __init__(
        self,
        half_life_hours: float = 72.0,
        window_hours: float = 24.0,
        baseline_hours: float = 168.0,
        max_items_per_segment: int = 1000,
        max_segments: int = 20_000,
        min_segment_weight: float = 20.0,
        smoothing: float = 5.0,
        half_life_by_kind: Optional[Dict[str, float]] = None,
        weights: Optional[Dict[str, float]] = None,
        region_parent: Optional[Dict[str, str]] = None,
        catalog: Optional[Sequence[Dict[str, Any]]] = None,
    ) -> None:
        params = {
            "half_life_hours": half_life_hours,
            "window_hours": window_hours,
            "baseline_hours": baseline_hours,
            "max_items_per_segment": max_items_per_segment,
            "max_segments": max_segments,
            "min_segment_weight": min_segment_weight,
            "smoothing": smoothing,
            "half_life_by_kind": {} if half_life_by_kind is None else dict(half_life_by_kind),
            "weights": {} if weights is None else dict(weights),
            "region_parent": None if region_parent is None else dict(region_parent),
        }
        rows = None if catalog is None else _catalog_rows(catalog)
        self._store = _sightline._Trending(params, rows)

    _NATIVE = _sightline._Trending

    def _native(self) -> "_sightline._Trending":
        return self._store

    @classmethod
    def _from_native(cls, store: "_sightline._Trending") -> "Trending":
        obj = cls.__new__(cls)
        obj._store = store
        return obj

    def get_params(self) -> Dict[str, Any]:
        """The settings as constructor keyword arguments (weights and
        region_parent in full; without the catalog)."""
        return self._store.params()

    def __repr__(self) -> str:
        return _params_repr(self, ("half_life_hours", "window_hours", "baseline_hours",
                                   "max_items_per_segment", "max_segments", "min_segment_weight",
                                   "smoothing"))

    @property
    def item_ids(self) -> List[str]:
        """Known items: the catalog's, then items first seen in events."""
        return self._store.item_ids

    @property
    def segments(self) -> List[str]:
        """Level names (``global``, ``region:nl``, ...) of segments with events."""
        return self._store.segments

    def ingest(
        self,
        user: Any,
        item: Any,
        kind: str,
        timestamp: int,
        region: Optional[str] = None,
        channel: Optional[str] = None,
        session: Optional[str] = None,
    ) -> None:
        """Adds one event. ``kind``: ``view``, ``click``, ``add_to_cart``,
        ``purchase`` or a custom kind; ``timestamp``: Unix seconds;
        ``channel``: ``web``, ``app``, ``store`` or ``email``. An unknown
        channel, empty item id or region, or a custom kind without weight
        raise ``InvalidInputError`` (the store is unchanged)."""
        self._store.ingest(
            str(user), str(item), str(kind), _index(timestamp, "timestamp"),
            _opt_str(region), _opt_str(channel), _opt_str(session),
        )

    def ingest_batch(
        self,
        users: Sequence[Any],
        items: Sequence[Any],
        kinds: Sequence[str],
        timestamps: Any,
        regions: Optional[Sequence[Optional[str]]] = None,
        channels: Optional[Sequence[Optional[str]]] = None,
        sessions: Optional[Sequence[Optional[str]]] = None,
    ) -> int:
        """Adds many events given as parallel sequences (lists or numpy
        arrays; ``timestamps`` int Unix seconds or ``datetime64``; ``None``
        entries in the optional columns mean "not given"). All or nothing:
        on any error nothing is added. Columns of different lengths raise
        ``ShapeMismatchError``. The GIL is released while ingesting. Returns
        the number of events added."""
        return self._store.ingest_batch(
            [str(u) for u in users],
            [str(i) for i in items],
            [str(k) for k in kinds],
            _timestamps(timestamps),
            _opt_column(regions),
            _opt_column(channels),
            _opt_column(sessions),
        )

    def ingest_dataframe(
        self,
        df: Any,
        user_col: str = "user",
        item_col: str = "item",
        kind_col: str = "kind",
        ts_col: str = "timestamp",
        region_col: Optional[str] = "region",
        channel_col: Optional[str] = "channel",
        session_col: Optional[str] = "session",
    ) -> int:
        """``ingest_batch`` from a pandas DataFrame (or a dict of columns, as
        ``demo_data()["events"]``); optional columns that are absent are
        skipped, missing values (None/NaN) mean "not given"."""
        return self.ingest_batch(**_event_columns(
            df, user_col, item_col, kind_col, ts_col, region_col, channel_col, session_col))

    def _query(
        self, region: Any, channel: Any, category: Any, N: int, now: Any, trending: bool,
        as_frame: bool,
    ) -> Any:
        items, level, _weight = self._store.query(
            _opt_str(region), _opt_str(channel), _opt_str(category), _index(N, "N"), _now(now),
            trending,
        )
        return _pairs_frame(items, ("item_id", "score"), level=level) if as_frame else (items, level)

    def popular(
        self,
        region: Optional[str] = None,
        channel: Optional[str] = None,
        category: Optional[str] = None,
        N: int = 10,
        now: Optional[int] = None,
        as_frame: bool = False,
    ) -> Any:
        """The ``N`` most popular items at ``now`` (Unix seconds; default the
        current time) at the first back-off level with enough weight.

        Returns ``(items, level)``: ``(item_id, score)`` pairs, best first
        (only positive scores), and the level that answered, e.g.
        ``"region:nl"``, ``"country:uk"``, ``"global"``. ``N=0`` or an
        unknown channel raise ``InvalidInputError``. ``as_frame=True``: a
        DataFrame ``rank, item_id, score, level``."""
        return self._query(region, channel, category, N, now, False, as_frame)

    def trending_now(
        self,
        region: Optional[str] = None,
        channel: Optional[str] = None,
        category: Optional[str] = None,
        N: int = 10,
        now: Optional[int] = None,
        as_frame: bool = False,
    ) -> Any:
        """The ``N`` items with the highest positive velocity (recent rate
        against the baseline rate) at the level ``popular`` would use; same
        arguments and return shape as ``popular``. Steadily popular items
        score about 0 and are left out; bursts score high."""
        return self._query(region, channel, category, N, now, True, as_frame)

    # -- persistence --------------------------------------------------------

    def __getstate__(self) -> Dict[str, Any]:
        return {"store": self._store.to_bytes()}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._store = _sightline._Trending.from_bytes(state["store"])


# ----------------------------------------------------------------- content --

_ITEM_FIELDS = ("id", "title", "category", "brand", "price", "in_stock", "regions")


def _plain(value: Any) -> Any:
    """A numpy scalar or array (or a list of them) as the plain Python value
    the serde bridge reads."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _row(entry: Any) -> Dict[str, Any]:
    """A catalog entry as a row of plain values (the core types them)."""
    if not isinstance(entry, dict):
        raise TypeError(f"catalog entries must be dicts, got {type(entry).__name__}")
    return {str(k): _plain(v) for k, v in entry.items()}


def _catalog_rows(catalog: Any) -> List[Dict[str, Any]]:
    """A catalog (list of dicts, or a pandas DataFrame with one row per item)
    as rows for the core: ``id``, ``title``, ``category``, ``brand``,
    ``price``, ``in_stock`` and ``regions`` are the item's fields; every
    other key is an attribute (``Catalog::from_rows``)."""
    if hasattr(catalog, "to_dict") and hasattr(catalog, "columns"):
        catalog = catalog.to_dict("records")
    return [_row(e) for e in catalog]


def _content_filter(categories: Optional[Sequence[str]], in_stock: bool,
                    region: Optional[str]) -> Tuple[Optional[List[str]], bool, Optional[str]]:
    """The filter arguments of the native content searches."""
    cats = None if categories is None else [str(c) for c in categories]
    return cats, bool(in_stock), _opt_str(region)


class ContentIndex(_Estimator):
    """"Similar frames": nearest neighbours over item vectors built from
    catalog attributes, external embeddings (image/text models, any
    dimension) and ALS item factors, alone or combined.

    Each source is a block of the item vector, scaled to unit length and
    weighted by ``attribute_weight`` / ``embedding_weight`` / ``als_weight``
    (cosine metric), so similarity is a weighted mix of the blocks' cosines.
    Items missing from the embeddings or from ALS (new products) are matched
    on the blocks they have: cold-start items get neighbours from their
    attributes alone.

    Attributes: ``category``, ``brand``, ``price`` and every other catalog
    key become one block each: text and list values multi-hot, numbers a soft
    one-hot over ``numeric_buckets`` quantiles (near prices overlap).
    ``weights`` maps a field name to its weight (``{"shape": 3.0}``; 0 drops
    it), other fields get ``default_weight``; values seen on fewer than
    ``min_count`` items are ignored; at most ``max_values`` values per field.

    Search is exact up to ``hnsw_threshold`` items and an HNSW graph above
    (``index="exact"``/``"hnsw"`` forces one). ``M``, ``ef_construction``
    and ``random_state`` shape the graph (the same graph for any thread
    count); ``ef_search`` (settable after fitting) trades recall for speed.
    ``metric``: ``"cosine"`` or ``"inner_product"``.

    Filters (``categories``, ``in_stock``, ``region``) use the catalog given
    to ``fit`` and are applied during the search, so ``N`` results come back
    whenever ``N`` items qualify.
    """

    _NATIVE = _sightline._Content

    def __init__(
        self,
        metric: str = "cosine",
        index: str = "auto",
        hnsw_threshold: int = 50_000,
        M: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        attribute_weight: float = 1.0,
        embedding_weight: float = 1.0,
        als_weight: float = 1.0,
        weights: Optional[Dict[str, float]] = None,
        default_weight: float = 1.0,
        min_count: int = 1,
        max_values: int = 1000,
        numeric_buckets: int = 8,
        random_state: int = 42,
        num_threads: int = 0,
    ) -> None:
        self.metric = metric
        self.index = index
        self.hnsw_threshold = hnsw_threshold
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.attribute_weight = attribute_weight
        self.embedding_weight = embedding_weight
        self.als_weight = als_weight
        self.weights = {} if weights is None else dict(weights)
        self.default_weight = default_weight
        self.min_count = min_count
        self.max_values = max_values
        self.numeric_buckets = numeric_buckets
        self.random_state = random_state
        self.num_threads = num_threads
        self._model: Optional[_sightline._Content] = None
        _sightline.content_check_params(self._config())

    def get_params(self) -> Dict[str, Any]:
        """The constructor arguments (``ef_search`` as currently set)."""
        return {
            "metric": self.metric,
            "index": self.index,
            "hnsw_threshold": self.hnsw_threshold,
            "M": self.M,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search if self._model is None else self._model.ef_search,
            "attribute_weight": self.attribute_weight,
            "embedding_weight": self.embedding_weight,
            "als_weight": self.als_weight,
            "weights": dict(self.weights),
            "default_weight": self.default_weight,
            "min_count": self.min_count,
            "max_values": self.max_values,
            "numeric_buckets": self.numeric_buckets,
            "random_state": self.random_state,
            "num_threads": self.num_threads,
        }

    def _config(self) -> Dict[str, Any]:
        """The constructor arguments in the core's ``ContentConfig`` schema
        (the core validates them)."""
        p = {k: _plain(v) for k, v in self.get_params().items()}
        lower = {k: p[k].lower() if isinstance(p[k], str) else p[k] for k in ("metric", "index")}
        return {
            "features": {
                "weights": {str(k): _plain(v) for k, v in self.weights.items()},
                "default_weight": p["default_weight"],
                "min_count": p["min_count"],
                "max_values": p["max_values"],
                "numeric_buckets": p["numeric_buckets"],
            },
            "metric": lower["metric"],
            "attribute_weight": p["attribute_weight"],
            "embedding_weight": p["embedding_weight"],
            "als_weight": p["als_weight"],
            "index": lower["index"],
            "hnsw_threshold": p["hnsw_threshold"],
            "hnsw": {"m": p["M"], "ef_construction": p["ef_construction"],
                     "ef_search": p["ef_search"], "seed": p["random_state"]},
            "threads": p["num_threads"],
        }

    def __repr__(self) -> str:
        return _params_repr(self, ("metric", "index", "M", "ef_search", "attribute_weight",
                                   "embedding_weight", "als_weight"))

    @classmethod
    def _from_native(cls, native: "_sightline._Content") -> "ContentIndex":
        params = native.params()
        obj = cls(
            metric=params["metric"], index=params["index"], hnsw_threshold=params["hnsw_threshold"],
            M=params["hnsw"]["m"], ef_construction=params["hnsw"]["ef_construction"],
            ef_search=params["hnsw"]["ef_search"], attribute_weight=params["attribute_weight"],
            embedding_weight=params["embedding_weight"], als_weight=params["als_weight"],
            weights=params["features"]["weights"], default_weight=params["features"]["default_weight"],
            min_count=params["features"]["min_count"], max_values=params["features"]["max_values"],
            numeric_buckets=params["features"]["numeric_buckets"], random_state=params["hnsw"]["seed"],
            num_threads=params["threads"],
        )
        obj._model = native
        return obj

    def _set_model(self, model: Any) -> None:
        self._model = model
        model.ef_search = self.ef_search

    def fit(
        self,
        catalog: Any = None,
        embeddings: Any = None,
        item_ids: Optional[Sequence[Any]] = None,
        als: Optional["ALS"] = None,
    ) -> "ContentIndex":
        """Builds the index (GIL released) from any of: ``catalog`` (list of
        item dicts or a DataFrame: ``id``, ``category``, ``brand``, ``price``,
        ``in_stock``, ``regions``, any other column an attribute),
        ``embeddings`` (float matrix, one row per ``item_ids`` entry) and a
        fitted ``als`` model (hybrid). The index's items are the catalog's
        when given, else ``item_ids``, else the ALS model's."""
        rows = None if catalog is None else _catalog_rows(catalog)
        emb = None
        ids = None
        if embeddings is not None:
            emb = np.ascontiguousarray(embeddings, dtype=np.float32)
            if emb.ndim != 2:
                raise ShapeMismatchError(f"embeddings must be 2-D, got {emb.ndim}-D")
            ids = [str(i) for i in (range(emb.shape[0]) if item_ids is None else item_ids)]
        elif item_ids is not None:
            raise InvalidInputError("item_ids name the rows of embeddings; pass embeddings too")
        native_als = None
        if als is not None:
            if not isinstance(als, ALS):
                raise TypeError(f"als must be a sightline.ALS model, got {type(als).__name__}")
            native_als = als._fitted()
        self._model = _sightline.content_build(self._config(), rows, ids, emb, native_als)
        return self

    @property
    def item_ids(self) -> List[str]:
        """Item ids in index order (the ids of ``similar_items``)."""
        return self._fitted().item_ids

    @property
    def dim(self) -> int:
        """Dimensions of an item vector."""
        return self._fitted().dim

    @property
    def is_hnsw(self) -> bool:
        """Whether searches go through the HNSW graph."""
        return self._fitted().is_hnsw

    @property
    def vectors(self) -> np.ndarray:
        """The searched item vectors (weighted, unit length for cosine), a copy."""
        return self._fitted().vectors()

    def set_ef_search(self, ef: int) -> None:
        """Sets the HNSW beam width used by searches (higher: better recall)."""
        self._fitted().ef_search = _index(ef, "ef_search")
        self.ef_search = ef

    def similar_items(
        self,
        itemid: Any,
        N: int = 10,
        categories: Optional[Sequence[str]] = None,
        in_stock: bool = False,
        region: Optional[str] = None,
        as_frame: bool = False,
    ) -> Any:
        """The ``N`` items most similar to item index ``itemid`` (never the
        item itself) that pass the filters: ``(ids, scores)``; 2-D arrays
        (padded with -1 / -inf) when ``itemid`` is an array (GIL released).
        ``as_frame=True``: a DataFrame ``[query, query_id,] rank, itemid,
        item_id, score``."""
        model = self._fitted()
        f = _content_filter(categories, in_stock, region)
        if np.ndim(itemid) == 0:
            result = model.similar_items_one(_index(itemid, "itemid"), _index(N, "N"), *f)
        else:
            result = model.similar_items(_index_array(itemid, "itemid"), _index(N, "N"), *f)
        return _similar_result(result, as_frame, itemid, self)

    def similar_items_by_id(
        self,
        item_id: Any,
        N: int = 10,
        categories: Optional[Sequence[str]] = None,
        in_stock: bool = False,
        region: Optional[str] = None,
    ) -> List[Tuple[str, float]]:
        """``(item_id, score)`` pairs most similar to an item id (unknown id:
        ``UnknownIdError``)."""
        return self._fitted().similar_items_by_id(
            str(item_id), _index(N, "N"), *_content_filter(categories, in_stock, region))

    def search(
        self,
        vectors: Any,
        N: int = 10,
        categories: Optional[Sequence[str]] = None,
        in_stock: bool = False,
        region: Optional[str] = None,
        as_frame: bool = False,
    ) -> Any:
        """Nearest items to query vectors in index space (``dim`` values,
        e.g. rows of ``vectors``): 1-D results for one query, 2-D for a
        matrix of queries (searched in parallel, GIL released).
        ``as_frame=True``: a DataFrame ``[query,] rank, itemid, item_id,
        score`` (``query`` = row of ``vectors``)."""
        model = self._fitted()
        f = _content_filter(categories, in_stock, region)
        q = np.ascontiguousarray(vectors, dtype=np.float32)
        if q.ndim == 1:
            result = model.search_one(q, _index(N, "N"), *f)
        elif q.ndim == 2:
            result = model.search(q, _index(N, "N"), *f)
        else:
            raise ShapeMismatchError(f"vectors must be 1-D or 2-D, got {q.ndim}-D")
        if not as_frame:
            return result
        batch = q.ndim == 2
        return _ranked_frame(*result, self.item_ids, "item", ("query", "query_id") if batch else None,
                             np.arange(len(q)) if batch else None)

    def similar_to_item(
        self,
        item: Dict[str, Any],
        N: int = 10,
        categories: Optional[Sequence[str]] = None,
        in_stock: bool = False,
        region: Optional[str] = None,
    ) -> List[Tuple[str, float]]:
        """Neighbours of a product described by a catalog dict, e.g. one not
        indexed yet (cold start); compares attributes only."""
        return self._fitted().similar_to_item(
            _row(item), _index(N, "N"), *_content_filter(categories, in_stock, region))


# -------------------------------------------------------------------- demo --

def demo_data(
    customers: int = 20_000,
    products: int = 3_000,
    events: int = 1_000_000,
    seed: int = 42,
    as_frame: bool = False,
) -> Dict[str, Any]:
    """The seeded synthetic optical-retail data set the Rust examples use
    (same seed, same data in every runtime): ``{"catalog": [item dicts with
    attributes flattened], "customers": [dicts], "events": columns}``. The
    events are a dict of ``user``, ``item``, ``kind``, ``timestamp`` (int64
    Unix seconds), ``region``, ``channel`` and ``session`` columns, sorted by
    time, or pandas DataFrames for catalog, customers and events with
    ``as_frame=True``."""
    raw = _sightline.demo_data(_index(customers, "customers"), _index(products, "products"),
                               _index(events, "events"), _seed(seed))
    catalog, people = raw["catalog"], raw["customers"]
    columns = {
        "user": raw["users"], "item": raw["items"], "kind": raw["kinds"],
        "timestamp": raw["timestamps"], "region": raw["regions"],
        "channel": raw["channels"], "session": raw["sessions"],
    }
    if as_frame:
        import pandas as pd

        return {"catalog": pd.DataFrame(catalog), "customers": pd.DataFrame(people),
                "events": pd.DataFrame(columns)}
    return {"catalog": catalog, "customers": people, "events": columns}


def demo_engine_config() -> Dict[str, Any]:
    """The demo shop's engine config over the neutral defaults: display
    names of the demo regions, their markets for trending's country level
    and diversity by brand, frame shape and category on the five default
    placements. Pass it (or a copy with changes) to ``Engine`` with
    ``demo_data()``'s catalog: ``sightline.Engine(demo_engine_config(),
    catalog=...)``."""
    return json.loads(_sightline.demo_engine_config())


# ----------------------------------------------------------------- session --

def _column(frame: Any, name: Optional[str], required: bool) -> Optional[List[Any]]:
    if name is None:
        return None
    try:
        col = frame[name]
    except (KeyError, IndexError):
        if required:
            raise InvalidInputError(f"events have no column {name!r}") from None
        return None
    values = col.tolist() if hasattr(col, "tolist") else list(col)
    return values


def _event_columns(
    frame: Any, user_col: str, item_col: str, kind_col: str, ts_col: str,
    region_col: Optional[str], channel_col: Optional[str], session_col: Optional[str],
) -> Dict[str, Any]:
    """Event columns of a DataFrame or a dict of columns, for ``ingest_batch``."""
    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    def opt(name: Optional[str]) -> Optional[List[Optional[str]]]:
        col = _column(frame, name, False)
        return None if col is None else [None if missing(v) else str(v) for v in col]

    if ts_col not in frame:
        raise InvalidInputError(f"events have no column {ts_col!r}")
    return {
        "users": _column(frame, user_col, True),
        "items": _column(frame, item_col, True),
        "kinds": _column(frame, kind_col, True),
        "timestamps": np.asarray(frame[ts_col]),
        "regions": opt(region_col),
        "channels": opt(channel_col),
        "sessions": opt(session_col),
    }


class SessionStore(_ModelFile):
    """"Based on your recent browsing": a live, bounded, thread-safe store of
    each visitor's recent events (customers and anonymous visitors alike).

    item_ids: the item universe (normally the catalog's ids); events on other
    items are counted and skipped. capacity: most visitors held (the least
    recently active is evicted beyond it); max_events: newest events kept per
    visitor; ttl_seconds: a visitor idle longer than this (by event time) is
    forgotten; recency_half_life_seconds: how fast an event's weight in the
    session context fades; weights: per event kind (``view`` 1, ``click`` 2,
    ``add_to_cart`` 4, ``purchase`` 8 by default); shards: lock stripes.

    Times are Unix seconds. Calls release the GIL; the store may be shared by
    threads. Saving writes the live sessions into a model file.
    """

    _NATIVE = _sightline._Session

    def __init__(
        self,
        item_ids: Sequence[Any],
        capacity: int = 100_000,
        max_events: int = 50,
        ttl_seconds: int = 1800,
        recency_half_life_seconds: float = 600.0,
        weights: Optional[Dict[str, float]] = None,
        shards: int = 16,
    ) -> None:
        config = {
            "capacity": _index(capacity, "capacity"),
            "max_events": _index(max_events, "max_events"),
            "ttl_seconds": _index(ttl_seconds, "ttl_seconds"),
            "recency_half_life_seconds": float(recency_half_life_seconds),
            "shards": _index(shards, "shards"),
        }
        flat = None if weights is None else {str(k): float(v) for k, v in weights.items()}
        self._store = _sightline._Session(config, [str(i) for i in item_ids], flat)

    def _native(self) -> "_sightline._Session":
        return self._store

    @classmethod
    def _from_native(cls, native: "_sightline._Session") -> "SessionStore":
        obj = cls.__new__(cls)
        obj._store = native
        return obj

    def get_params(self) -> Dict[str, Any]:
        """The settings (without the item universe)."""
        c = self._store.params()
        return {
            "capacity": c["capacity"], "max_events": c["max_events"], "ttl_seconds": c["ttl_seconds"],
            "recency_half_life_seconds": c["recency_half_life_seconds"], "weights": self._store.weights(),
            "shards": c["shards"],
        }

    def __repr__(self) -> str:
        p = self.get_params()
        return (f"SessionStore(items={len(self.item_ids)}, capacity={p['capacity']}, "
                f"max_events={p['max_events']}, ttl_seconds={p['ttl_seconds']}, visitors={len(self)})")

    def __len__(self) -> int:
        return len(self._store)

    def __getstate__(self) -> Dict[str, Any]:
        return {"model": self._store.to_bytes()}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._store = _sightline._Session.from_bytes(state["model"])

    @property
    def item_ids(self) -> List[str]:
        """The item universe."""
        return self._store.item_ids

    def ingest(self, user: Any, item: Any, kind: str, timestamp: Any) -> bool:
        """Adds one event; ``False`` when the item is not in the universe.
        Invalid events raise ``InvalidInputError`` and change nothing."""
        return self._store.ingest(str(user), str(item), str(kind), int(_timestamps([timestamp])[0]))

    def ingest_batch(self, users: Sequence[Any], items: Sequence[Any], kinds: Sequence[str], timestamps: Any) -> int:
        """Adds many events (parallel sequences); all or nothing. Returns how
        many were stored (items outside the universe are skipped)."""
        return self._store.ingest_batch(
            [str(u) for u in users], [str(i) for i in items], [str(k) for k in kinds], _timestamps(timestamps))

    def ingest_dataframe(self, df: Any, user_col: str = "user", item_col: str = "item",
                         kind_col: str = "kind", ts_col: str = "timestamp") -> int:
        """``ingest_batch`` from a DataFrame or a dict of columns."""
        cols = _event_columns(df, user_col, item_col, kind_col, ts_col, None, None, None)
        return self.ingest_batch(cols["users"], cols["items"], cols["kinds"], cols["timestamps"])

    def recent(self, user: Any, now: Any = None) -> List[Tuple[str, str, int]]:
        """The visitor's unexpired events at ``now``: ``(item_id, kind,
        timestamp)``, newest first."""
        return self._store.recent(str(user), _now(now))

    def context(self, user: Any, now: Any = None) -> List[Tuple[str, float]]:
        """``(item_id, weight)``: per item, the sum over its recent events of
        kind weight × 2^(−age / half-life), heaviest first."""
        return self._store.context(str(user), _now(now))

    def merge(self, anonymous: Any, user: Any, now: Any = None) -> int:
        """At login: moves the anonymous visitor's events to ``user``
        (time-ordered, capped); returns how many were kept."""
        return self._store.merge(str(anonymous), str(user), _now(now))

    def forget(self, user: Any) -> bool:
        """Removes everything held about a visitor (GDPR); whether anything was held."""
        return self._store.forget(str(user))

    def export(self, user: Any) -> List[Dict[str, Any]]:
        """Everything held about a visitor, oldest first (GDPR export)."""
        return [{"item": i, "kind": k, "timestamp": t} for i, k, t in self._store.export(str(user))]

    def expire(self, now: Any = None) -> int:
        """Drops every visitor idle past the TTL at ``now``; returns how many."""
        return self._store.expire(_now(now))

    def stats(self) -> Dict[str, int]:
        """Counters: keys, events, evictions, expirations, unknown_items."""
        return self._store.stats()


class SessionRecommender:
    """Recommendations from a visitor's recent browsing: the session's
    recency- and kind-weighted items are folded into ALS (``als``), and
    their co-occurrence (``cooccur``) and content (``content``) neighbours
    are looked up; the lists are scaled to 0–1 and blended with the given
    weights. Viewed items are never recommended back."""

    def __init__(
        self,
        store: SessionStore,
        als: Optional["ALS"] = None,
        cooccur: Optional["CoOccurrence"] = None,
        content: Optional["ContentIndex"] = None,
        als_weight: float = 1.0,
        cooccur_weight: float = 1.0,
        content_weight: float = 1.0,
    ) -> None:
        if not isinstance(store, SessionStore):
            raise TypeError(f"store must be a sightline.SessionStore, got {type(store).__name__}")
        if als is None and cooccur is None and content is None:
            raise InvalidInputError("give at least one of als, cooccur, content")
        self.store = store
        self._weights = {name: float(w) for name, model, w in (
            ("als", als, als_weight), ("cooccur", cooccur, cooccur_weight),
            ("content", content, content_weight)) if model is not None}
        self._rec = _sightline._SessionRecommender(
            store._store,
            None if als is None else als._fitted(), float(als_weight),
            None if cooccur is None else cooccur._fitted(), float(cooccur_weight),
            None if content is None else content._fitted(), float(content_weight),
        )

    def __repr__(self) -> str:
        blend = ", ".join(f"{name}_weight={w!r}" for name, w in self._weights.items())
        return f"SessionRecommender({blend}, store={self.store!r})"

    def recommend(
        self, user: Any, N: int = 10, now: Any = None, exclude: Optional[Sequence[Any]] = None,
        as_frame: bool = False,
    ) -> Any:
        """Up to ``N`` ``(item_id, score, because_item_id)`` for the visitor
        at ``now``; an empty list when the visitor has no recent events.
        ``as_frame=True``: a DataFrame ``rank, item_id, score, because``."""
        recs = self._rec.recommend(
            str(user), _index(N, "N"), _now(now), None if exclude is None else [str(e) for e in exclude])
        return _pairs_frame(recs, ("item_id", "score", "because")) if as_frame else recs


# ------------------------------------------------------------------ engine --

class Engine:
    """The recommendation engine: one object answering "what do we show this
    person, here, now?" for every placement (``home``, ``product_page``,
    ``cart``, ``email``, ``in_store`` and your own), with business rules,
    promotions, diversity, fallbacks that never return an empty list,
    circuit breakers, A/B experiments, CTR/conversion attribution, GDPR
    erasure/export and metrics.

    config: a dict, a JSON or TOML string, or a path to a ``.json``/``.toml``
    file (``None`` = the defaults); invalid configs raise ``ConfigError``
    naming the field. catalog: list of item dicts or a DataFrame (as for
    ``ContentIndex.fit``). als / cooccur / content: fitted models (any may be
    omitted; placements using a missing one fall back).

    Calls release the GIL; an engine may be shared by threads.
    """

    def __init__(
        self,
        config: Any = None,
        catalog: Any = None,
        als: Optional["ALS"] = None,
        cooccur: Optional["CoOccurrence"] = None,
        content: Optional["ContentIndex"] = None,
    ) -> None:
        if catalog is None:
            raise InvalidInputError("an engine needs a catalog")
        self._engine = _sightline._Engine(
            config, _catalog_rows(catalog),
            None if als is None else als._fitted(),
            None if cooccur is None else cooccur._fitted(),
            None if content is None else content._fitted(),
        )

    @staticmethod
    def check_config(config: Any) -> None:
        """Raises ``ConfigError`` (naming the field) when a config is invalid
        without a catalog (rules are checked against the catalog by ``Engine``)."""
        _sightline._Engine.check_config(config)

    @property
    def config(self) -> Dict[str, Any]:
        """The effective config (defaults filled in)."""
        return self._engine.config()

    def __repr__(self) -> str:
        c = self.config
        placements = {name: [s["source"] for s in p["sources"]] for name, p in c["placements"].items()}
        experiments = [x["name"] for x in c["experiments"]]
        promotions = [p["id"] for p in c["promotions"]]
        return (f"Engine(placements={placements}, experiments={experiments}, "
                f"promotions={promotions})")

    def recommend(
        self,
        placement: str,
        user: Optional[str] = None,
        session: Optional[str] = None,
        region: Optional[str] = None,
        channel: Optional[str] = None,
        context_items: Optional[Sequence[str]] = None,
        cart: Optional[Sequence[str]] = None,
        category: Optional[str] = None,
        n: Optional[int] = None,
        consent: bool = False,
        now: Any = None,
    ) -> Dict[str, Any]:
        """A response dict: ``recommendation_id``, ``placement``,
        ``experiment``, ``variant``, ``items`` (dicts with ``item``, ``score``,
        ``source``, ``reason``, ``promotion``), ``content`` (banner slots),
        ``fallback_used``, ``personalised`` and per-``sources`` outcomes.
        Without ``consent`` the answer is not personalised."""
        req: Dict[str, Any] = {"placement": str(placement), "consent": bool(consent),
                               "now": _now(now)}
        for key, value in (("user", user), ("session", session), ("region", region),
                           ("channel", channel), ("category", category)):
            if value is not None:
                req[key] = str(value)
        if context_items is not None:
            req["context_items"] = [str(i) for i in context_items]
        if cart is not None:
            req["cart"] = [str(i) for i in cart]
        if n is not None:
            req["n"] = _index(n, "n")
        return self._engine.recommend(req)

    def ingest(self, user: Any, item: Any, kind: str, timestamp: Any, region: Optional[str] = None,
               channel: Optional[str] = None, session: Optional[str] = None, consent: bool = True) -> None:
        """Learns from one live event (trending always; session, purchase
        history and conversion attribution only with ``consent``)."""
        self._engine.ingest(str(user), str(item), str(kind), int(_timestamps([timestamp])[0]),
                            _opt_str(region), _opt_str(channel), _opt_str(session), bool(consent))

    def ingest_dataframe(self, df: Any, consent: bool = True, user_col: str = "user",
                         item_col: str = "item", kind_col: str = "kind", ts_col: str = "timestamp",
                         region_col: Optional[str] = "region", channel_col: Optional[str] = "channel",
                         session_col: Optional[str] = "session") -> int:
        """Ingests every event of a DataFrame or dict of columns, in order,
        all or nothing (an invalid event raises ``InvalidInputError`` naming
        its row, and nothing is learnt); then recomputes the popular cache as
        of the newest event. Returns the number of events."""
        c = _event_columns(df, user_col, item_col, kind_col, ts_col, region_col, channel_col, session_col)
        return self._engine.ingest_batch(
            [str(u) for u in c["users"]], [str(i) for i in c["items"]], [str(k) for k in c["kinds"]],
            _timestamps(c["timestamps"]), c["regions"], c["channels"], c["sessions"], bool(consent))

    def track_impression(self, recommendation_id: str, timestamp: Any = None) -> bool:
        """A response was shown; ``False`` for an unknown/expired id or a repeat."""
        return self._engine.track_impression(str(recommendation_id), _now(timestamp))

    def track_click(self, recommendation_id: str, item: Any, timestamp: Any = None) -> bool:
        """A click on ``item`` of a response; ``False`` when not attributable."""
        return self._engine.track_click(str(recommendation_id), str(item), _now(timestamp))

    def track_conversion(self, user: Any, item: Any, revenue: float, timestamp: Any = None) -> bool:
        """A purchase, attributed to the user's last click on the item within
        the conversion window."""
        return self._engine.track_conversion(str(user), str(item), float(revenue), _now(timestamp))

    def refresh_popular(self, now: Any = None) -> None:
        """Recomputes the popular-per-region cache of the last fallback at
        ``now``. The engine also does it after ``ingest_dataframe`` and when
        a request finds the cache ``popular_refresh_seconds`` (config,
        default 900) away from its time."""
        self._engine.refresh_popular(_now(now))

    def stats(self) -> Dict[str, Any]:
        """CTR/CVR per placement × variant × source with Wilson intervals,
        metrics (requests, fallbacks, latencies) and breaker states."""
        return self._engine.stats()

    def metrics_prometheus(self) -> str:
        """The metrics in the Prometheus text exposition format."""
        return self._engine.metrics_prometheus()

    def forget_user(self, user: Any) -> Dict[str, Any]:
        """Erases a person now (session, purchases, attribution, ALS factors);
        returns what was removed."""
        return self._engine.forget_user(str(user))

    def export_user(self, user: Any) -> Dict[str, Any]:
        """Everything held about a person."""
        return self._engine.export_user(str(user))

    def swap_models(self, catalog: Any, als: Optional["ALS"] = None,
                    cooccur: Optional["CoOccurrence"] = None,
                    content: Optional["ContentIndex"] = None) -> None:
        """Serves new models from now on (atomically; readers never wait)."""
        self._engine.swap_models(
            _catalog_rows(catalog), None if als is None else als._fitted(),
            None if cooccur is None else cooccur._fitted(),
            None if content is None else content._fitted())

    def export_slice(self, placement: str, items: Sequence[str]) -> bytes:
        """The model slice of the served ALS model, catalog and config for
        ``placement`` and its candidate ``items`` (e.g. a response's item
        ids): the bytes a page loads with sightline-wasm's
        ``ModelSlice.fromBytes`` to re-rank them privately with the visitor's
        own browsing. Raises ``InvalidInputError`` (unknown placement, no ALS
        model served) or ``UnknownIdError``."""
        return self._engine.export_slice(placement, [str(i) for i in items])

    def reload_models(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Serves the models (catalog, ALS, co-occurrence, content) of an
        engine file written by ``save``, as ``swap_models`` does, keeping this
        engine's live trending, sessions and tracking: a model refresh while
        serving. A missing, corrupt or truncated file (``SightlineFileNotFoundError``,
        ``ModelFormatError``) or models that do not fit the config change
        nothing; the GIL is released while the file is read."""
        self._engine.reload_models(os.fspath(path))

    def save(self, path: Union[str, "os.PathLike[str]", Any]) -> None:
        """Saves models, catalog and the live trending and session stores
        into one model file, at a path (atomically) or into a binary file
        object. The config is not stored: pass it to ``load``. Tracking
        counters and circuit-breaker states start afresh after ``load``."""
        if hasattr(path, "write"):
            path.write(self.to_bytes())
        else:
            self._engine.save(os.fspath(path))

    def to_bytes(self) -> bytes:
        """The bytes ``save`` writes."""
        return self._engine.to_bytes()

    @classmethod
    def from_bytes(cls, data: Union[bytes, bytearray, memoryview], config: Any = None) -> "Engine":
        """An engine from ``to_bytes`` output, with ``config``."""
        obj = cls.__new__(cls)
        obj._engine = _sightline._Engine.from_bytes(_to_bytes_arg(data), config)
        return obj

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]", Any], config: Any = None) -> "Engine":
        """An engine from ``save`` output (a path or a binary file object),
        with ``config``."""
        if hasattr(path, "read"):
            return cls.from_bytes(path.read(), config)
        obj = cls.__new__(cls)
        obj._engine = _sightline._Engine.load(os.fspath(path), config)
        return obj

    def __getstate__(self) -> Dict[str, Any]:
        return {"config": self._engine.config(), "engine": self.to_bytes()}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._engine = _sightline._Engine.from_bytes(state["engine"], state["config"])


from . import implicit  # noqa: E402  (uses the names above)
