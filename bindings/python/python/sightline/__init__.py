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

Differences from implicit (ALS), on purpose:

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
    InvalidInputError,
    ModelFormatError,
    ShapeMismatchError,
    SightlineError,
    SightlineIOError,
    UnknownIdError,
)

__version__: str = _sightline.__version__

__all__ = [
    "ALS",
    "CoOccurrence",
    "Trending",
    "tune_als",
    "ranking_metrics_at_k",
    "default_param_grid",
    "SightlineError",
    "InvalidInputError",
    "ShapeMismatchError",
    "UnknownIdError",
    "ConfigError",
    "ModelFormatError",
    "SightlineIOError",
    "__version__",
]

_INDEX = np.int64
_EMPTY = np.empty(0, dtype=_INDEX)


# ------------------------------------------------------------- conversions --

def _csr(matrix: Any, name: str = "user_items") -> "sp.csr_matrix":
    """Any scipy.sparse matrix/array as canonical-dtype CSR (no validation of
    the values: the core does that)."""
    if not sp.issparse(matrix):
        raise TypeError(
            f"{name} must be a scipy.sparse matrix or array (e.g. scipy.sparse.csr_matrix), "
            f"got {type(matrix).__name__}"
        )
    if matrix.ndim != 2:
        raise ShapeMismatchError(f"{name} must be 2-D, got {matrix.ndim}-D")
    if matrix.format != "csr":
        matrix = matrix.tocsr()
    if matrix.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a real numeric dtype, got {matrix.dtype}")
    return matrix


def _csr_parts(matrix: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr int64, indices int64, data float32) of a CSR matrix."""
    indptr = np.ascontiguousarray(matrix.indptr, dtype=_INDEX)
    indices = np.ascontiguousarray(matrix.indices, dtype=_INDEX)
    with np.errstate(over="ignore"):  # out-of-range values become inf; the core rejects them
        data = np.ascontiguousarray(matrix.data, dtype=np.float32)
    return indptr, indices, data


def _index(value: Any, name: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None


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
        err = ConfigError(f"invalid config field `random_state`: must be in 0..2**64, got {seed}")
        err.field = "random_state"
        raise err
    return seed


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
    cores (the environment variable ``SIGHTLINE_NUM_THREADS`` caps it).
    calculate_training_loss: report the loss in the progress output.

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
    ) -> None:
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
        params = self.get_params()
        del params["random_state"]
        params["seed"] = seed
        return params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

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
        fitting; Ctrl-C stops the fit with ``KeyboardInterrupt``. Returns self.
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
        users = None if user_ids is None else [str(u) for u in user_ids]
        items = None if item_ids is None else [str(i) for i in item_ids]

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

    def _user_rows(self, model: "_sightline._Model", user_items: Any, users: np.ndarray) -> Any:
        """The rows of ``user_items`` for ``users``: the matrix itself when it
        has one row per user, else (a full matrix) the rows at ``users``."""
        matrix = _csr(user_items)
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
    ) -> Tuple[np.ndarray, np.ndarray]:
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
        """
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
            matrix = _csr(user_items)
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

    def recalculate_user(self, userid: int, user_items: Any) -> np.ndarray:
        """User factors (float32, ``(factors,)``) solved from the user's row of
        ``user_items`` against the trained item factors."""
        model = self._fitted()
        users = np.array([_index(userid, "userid")], dtype=_INDEX)
        rows = self._user_rows(model, user_items, users)
        indptr, indices, data = _csr_parts(rows)
        return model.fold_in(indices[indptr[0]:indptr[1]], data[indptr[0]:indptr[1]])

    def similar_items(
        self, itemid: Union[int, Sequence[int], np.ndarray], N: int = 10
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The ``N`` items most similar to ``itemid`` (cosine of item factors).

        Unlike implicit, the query item itself is not in the results. Returns
        ``(ids int32, scores float32)``, best first; for an array of item
        indices 2-D arrays ``min(N, n_items - 1)`` wide, padded with -1 / -inf.
        """
        model = self._fitted()
        n = _index(N, "N")
        if np.ndim(itemid) == 0:
            return model.similar_items(_index(itemid, "itemid"), n)
        return model.similar_items_batch(_index_array(itemid, "itemid"), n)

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

_SEARCHABLE = (
    "factors", "regularization", "alpha", "unobserved_weight",
    "regularization_exponent", "init_std", "iterations",
)
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
    installed). Ctrl-C stops the search with ``KeyboardInterrupt``; an
    exception raised by ``callback`` propagates. Bad names and values raise
    ``ConfigError`` (a ``ValueError``).
    """
    train, valid = _pair(train_user_items, validation_user_items, "validation_user_items")
    seed = _seed(random_state)
    base = ALS(iterations=iterations, num_threads=num_threads, random_state=seed, **fixed)
    grid: Optional[Dict[str, List[Any]]] = None
    if param_grid is not None:
        grid = {}
        for name, values in dict(param_grid).items():
            if name not in _SEARCHABLE:
                err = ConfigError(
                    f"invalid config field `param_grid.{name}`: not a searchable parameter; "
                    f"expected one of {', '.join(_SEARCHABLE)}"
                )
                err.field = f"param_grid.{name}"
                raise err
            if np.ndim(values) == 0:
                values = [values]
            grid[name] = [v.item() if isinstance(v, np.generic) else v for v in values]
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
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

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
        items = None if item_ids is None else [str(i) for i in item_ids]
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

    def similar_items(self, itemid: int, N: int = 10) -> Tuple[np.ndarray, np.ndarray]:
        """The best ``N`` neighbours of item index ``itemid``: ``(ids int32,
        scores float32)``, best first (ties to the lower index), never the
        item itself. An item without kept pairs gives empty arrays.
        ``N=0`` or an out-of-range index raise ``InvalidInputError``."""
        return self._fitted().similar_items(_index(itemid, "itemid"), _index(N, "N"))

    def recommend_for_items(
        self,
        itemids: Union[int, Sequence[int], np.ndarray],
        weights: Optional[Union[float, Sequence[float], np.ndarray]] = None,
        N: int = 10,
        filter_items: Optional[Sequence[int]] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Items that go with context items (a cart, or the product on the
        page): ``score_j = sum_c weights[c] * s(itemids[c], j)``, best first.

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
        return model.recommend_for_items(
            items, _weights_array(weights, len(items)), _index(N, "N"), exclude
        )

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


def _catalog_pairs(catalog: Any) -> List[Tuple[str, str]]:
    pairs = []
    for entry in catalog:
        if not isinstance(entry, dict):
            raise TypeError(f"catalog entries must be dicts with 'id' and 'category', got {type(entry).__name__}")
        if "id" not in entry:
            raise InvalidInputError("catalog entry without 'id'")
        category = entry.get("category")
        pairs.append((str(entry["id"]), "" if category is None else str(category)))
    return pairs


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
    a segment has seen fewer distinct items). min_segment_weight: a back-off
    level answers only when its total decayed weight reaches this (the last
    level of a chain always answers). region_parent: region code → country
    code for the country level (None = the core's default map of the demo
    regions, e.g. ``uk-*`` → ``uk``, ``se``/``no``/``dk``/``fi`` → ``nordics``).

    catalog: optional list of dicts ``{"id": ..., "category": ...}`` (other
    keys ignored). Category segments (``category=`` queries) only receive
    events of items whose category the catalog gives; without a catalog a
    category query finds nothing.

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
            "min_segment_weight": min_segment_weight,
            "smoothing": smoothing,
            "half_life_by_kind": {} if half_life_by_kind is None else dict(half_life_by_kind),
            "weights": {} if weights is None else dict(weights),
            "region_parent": None if region_parent is None else dict(region_parent),
        }
        pairs = None if catalog is None else _catalog_pairs(catalog)
        self._store = _sightline._Trending(params, pairs)

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
        p = self.get_params()
        shown = ("half_life_hours", "window_hours", "baseline_hours", "max_items_per_segment",
                 "min_segment_weight", "smoothing")
        args = ", ".join(f"{k}={p[k]!r}" for k in shown)
        return f"{type(self).__name__}({args})"

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

    def _query(
        self, region: Any, channel: Any, category: Any, N: int, now: Any, trending: bool
    ) -> Tuple[List[Tuple[str, float]], str]:
        items, level, _weight = self._store.query(
            _opt_str(region), _opt_str(channel), _opt_str(category), _index(N, "N"), _now(now),
            trending,
        )
        return items, level

    def popular(
        self,
        region: Optional[str] = None,
        channel: Optional[str] = None,
        category: Optional[str] = None,
        N: int = 10,
        now: Optional[int] = None,
    ) -> Tuple[List[Tuple[str, float]], str]:
        """The ``N`` most popular items at ``now`` (Unix seconds; default the
        current time) at the first back-off level with enough weight.

        Returns ``(items, level)``: ``(item_id, score)`` pairs, best first
        (only positive scores), and the level that answered, e.g.
        ``"region:nl"``, ``"country:uk"``, ``"global"``. ``N=0`` or an
        unknown channel raise ``InvalidInputError``."""
        return self._query(region, channel, category, N, now, False)

    def trending_now(
        self,
        region: Optional[str] = None,
        channel: Optional[str] = None,
        category: Optional[str] = None,
        N: int = 10,
        now: Optional[int] = None,
    ) -> Tuple[List[Tuple[str, float]], str]:
        """The ``N`` items with the highest positive velocity (recent rate
        against the baseline rate) at the level ``popular`` would use; same
        arguments and return shape as ``popular``. Steadily popular items
        score about 0 and are left out; bursts score high."""
        return self._query(region, channel, category, N, now, True)

    # -- persistence --------------------------------------------------------

    def __getstate__(self) -> Dict[str, Any]:
        return {"store": self._store.to_bytes()}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._store = _sightline._Trending.from_bytes(state["store"])
