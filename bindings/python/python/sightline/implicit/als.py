"""``implicit.als.AlternatingLeastSquares`` on sightline's core.

Same constructor, defaults, methods, arguments, shapes, dtypes, padding,
warnings and exception types as implicit 0.7.3's CPU model, and the same
answers: the core solves implicit's system (confidence ``c = alpha * w``,
``A = YᵀY + λI + Σ (c − 1)·yyᵀ``, plain ``regularization``, 3 CG steps
warm-started from the previous factors, users then items), starts from
implicit's initial factors (``default_rng(random_state).random(...) * 0.01``)
and ranks like implicit's ``topk`` (filtered items last with score
``-FLT_MAX``, then id 0 / score 0 padding). Differences are listed in
``docs/implicit-parity.md``.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import scipy.sparse as sp

from .. import _sightline
from .recommender_base import ModelFitError
from .utils import ParameterWarning, check_csr, check_random_state

__all__ = ["AlternatingLeastSquares"]

log = logging.getLogger("sightline.implicit")

_INDEX = np.int64
_EMPTY = np.empty(0, dtype=_INDEX)
_FLT_MAX = np.finfo(np.float32).max


def _indices(values: Any) -> np.ndarray:
    """Item or user indices for the core (int64)."""
    if values is None:
        return _EMPTY
    arr = np.asarray(values)
    if arr.size == 0:
        return _EMPTY
    return np.ascontiguousarray(arr.ravel(), dtype=_INDEX)


def _positions(ids: Any, n: int) -> np.ndarray:
    """Indices into an ``n``-row factor matrix with numpy's rules (negative
    ones count from the end, others raise ``IndexError``), as implicit's
    ``factors[ids]``."""
    return np.arange(n, dtype=_INDEX)[np.atleast_1d(np.asarray(ids))]


def _csr_parts(m: "sp.csr_matrix") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    return (np.ascontiguousarray(m.indptr, dtype=_INDEX),
            np.ascontiguousarray(m.indices, dtype=_INDEX),
            np.ascontiguousarray(m.data, dtype=np.float32))


def _implicit_layout(ids: np.ndarray, scores: np.ndarray, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """The core's 2-D results (padded with -1 / -inf) in implicit's topk
    layout: ``width`` columns, padding id 0 and score 0."""
    out_ids = np.zeros((ids.shape[0], width), dtype=np.int32)
    out_scores = np.zeros((ids.shape[0], width), dtype=np.float32)
    w = min(width, ids.shape[1])
    keep = ids[:, :w] >= 0
    out_ids[:, :w] = np.where(keep, ids[:, :w], 0)
    out_scores[:, :w] = np.where(keep, scores[:, :w], 0.0)
    return out_ids, out_scores


def _widened(rows: "sp.csr_matrix", n_other: int) -> "sp.csr_matrix":
    """Rows with fewer columns than the other side has (e.g. an item_users
    matrix from before partial_fit_users grew the users), widened with empty
    columns: implicit only reads the columns' factors."""
    if rows.shape[1] < n_other:
        return sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(rows.shape[0], n_other))
    return rows


def _read_only(arr: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if arr is not None:
        arr.flags.writeable = False
    return arr


class AlternatingLeastSquares:
    """Alternating Least Squares with implicit's API and answers.

    Parameters (implicit 0.7.3's, same defaults): factors, regularization
    (plain L2, not sightline's activity-scaled one), alpha (confidence
    ``c = alpha * w``), dtype (factors are computed in float32; another dtype
    warns), use_native (accepted), use_cg (3 conjugate-gradient steps per
    half-iteration, else an exact Cholesky solve; ``cg_steps`` is settable),
    use_gpu (``True`` raises ``ValueError``: sightline runs on the CPU),
    iterations (0 allowed: ``fit`` then only initialises), calculate_training_loss
    (logged to the ``sightline.implicit`` logger and passed to ``callback``),
    num_threads (0 = all cores), random_state (None, int, numpy Generator or
    RandomState).

    Attributes ``user_factors`` / ``item_factors`` (float32, read-only
    arrays; assign new arrays to change them, e.g. factors trained by
    implicit) start as None; ``fit`` continues from factors already set.
    """

    def __init__(
        self,
        factors: int = 100,
        regularization: float = 0.01,
        alpha: float = 1.0,
        dtype: Any = np.float32,
        use_native: bool = True,
        use_cg: bool = True,
        use_gpu: bool = False,
        iterations: int = 15,
        calculate_training_loss: bool = False,
        num_threads: int = 0,
        random_state: Any = None,
    ) -> None:
        if use_gpu:
            raise ValueError("sightline runs on the CPU only: use_gpu=True is not supported")
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.dtype = np.dtype(dtype)
        if self.dtype != np.float32:
            warnings.warn(
                f"sightline computes factors in float32; dtype={self.dtype} is not used",
                ParameterWarning,
                stacklevel=2,
            )
        self.use_native = use_native
        self.use_cg = use_cg
        self.iterations = iterations
        self.calculate_training_loss = calculate_training_loss
        self.num_threads = num_threads
        self.random_state = random_state
        self.fit_callback: Optional[Callable[..., Any]] = None
        self.cg_steps = 3
        self._user_factors: Optional[np.ndarray] = None
        self._item_factors: Optional[np.ndarray] = None
        self._model: Optional[_sightline._Model] = None
        _sightline.check_params(self._params(self.factors, max(int(iterations), 1)))

    # -- factors ------------------------------------------------------------

    @property
    def user_factors(self) -> Optional[np.ndarray]:
        """``(n_users, factors)`` float32 (read-only), None before ``fit``;
        assignable."""
        return self._user_factors

    @user_factors.setter
    def user_factors(self, value: Optional[np.ndarray]) -> None:
        self._user_factors = self._own(value)
        self._model = None

    @property
    def item_factors(self) -> Optional[np.ndarray]:
        """``(n_items, factors)`` float32 (read-only), None before ``fit``;
        assignable."""
        return self._item_factors

    @item_factors.setter
    def item_factors(self, value: Optional[np.ndarray]) -> None:
        self._item_factors = self._own(value)
        self._model = None

    @staticmethod
    def _own(value: Optional[np.ndarray]) -> Optional[np.ndarray]:
        if value is None:
            return None
        arr = np.array(value, dtype=np.float32, order="C", copy=True)
        if arr.ndim != 2:
            raise ValueError(f"factors must be a 2-D array, got {arr.ndim}-D")
        return _read_only(arr)

    @property
    def user_norms(self) -> np.ndarray:
        """L2 norm of every user's factors (0 replaced by 1e-10, as implicit)."""
        return self._norms(self._need("user_factors"))

    @property
    def item_norms(self) -> np.ndarray:
        """L2 norm of every item's factors (0 replaced by 1e-10, as implicit)."""
        return self._norms(self._need("item_factors"))

    @staticmethod
    def _norms(f: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(f, axis=-1)
        norms[norms == 0] = 1e-10
        return norms

    @property
    def YtY(self) -> np.ndarray:  # noqa: N802 - implicit's name
        """``item_factorsᵀ · item_factors``."""
        y = self._need("item_factors")
        return y.T.dot(y)

    @property
    def XtX(self) -> np.ndarray:  # noqa: N802 - implicit's name
        """``user_factorsᵀ · user_factors``."""
        x = self._need("user_factors")
        return x.T.dot(x)

    def _need(self, name: str) -> np.ndarray:
        value = getattr(self, name)
        if value is None:
            raise TypeError(
                f"{name} is None: call fit() or set user_factors and item_factors first"
            )
        return value

    def _params(self, k: int, iterations: int) -> dict:
        """implicit's hyper-parameters in the core's ``AlsConfig`` schema."""
        params = {
            "factors": int(k),
            "regularization": float(self.regularization),
            "alpha": float(self.alpha),
            "unobserved_weight": 1.0,
            "regularization_exponent": 0.0,
            "iterations": int(iterations),
            "num_threads": int(self.num_threads),
            "calculate_training_loss": bool(self.calculate_training_loss),
            "confidence": "scaled",
            "store_interactions": False,
            # implicit gathers f32 rows; so does the drop-in, whose factors
            # follow implicit's from the same start.
            "bf16_gathers": False,
            "solver": {"type": "cg", "steps": int(self.cg_steps)} if self.use_cg
            else {"type": "cholesky"},
        }
        return params

    def _native(self) -> "_sightline._Model":
        """The core model serving the current factors (built on first use
        after they change)."""
        if self._model is None:
            users, items = self._need("user_factors"), self._need("item_factors")
            self._model = _sightline._Model.from_factors(
                self._params(users.shape[1], max(int(self.iterations), 1)), users, items
            )
        return self._model

    # -- training -----------------------------------------------------------

    def fit(self, user_items: Any, show_progress: bool = True,
            callback: Optional[Callable[[int, float, Optional[float]], Any]] = None) -> None:
        """Factorizes ``user_items`` (users x items, CSR; other formats are
        converted with a ``ParameterWarning``): the confidence of a stored
        weight ``w`` is ``alpha * w``. Factors not yet set start as
        implicit's (``random_state``'s ``random(...) * 0.01``, users first);
        set ones are trained further. ``callback(iteration, seconds, loss)``
        (0-based iteration, that iteration's seconds) is called after each
        iteration, as is ``fit_callback`` when ``callback`` is None.
        ``show_progress`` shows a tqdm bar when tqdm is installed. Negative
        weights (implicit's "disliked") raise ``ValueError``. The GIL is
        released while fitting."""
        random_state = check_random_state(self.random_state)
        cui = check_csr(user_items)
        if cui.nnz and np.min(cui.data) < 0:
            raise ValueError(
                "negative weights (implicit's 'disliked' items) are not supported by sightline"
            )
        n_users, n_items = cui.shape
        draw = self.dtype if self.dtype in (np.float32, np.float64) else np.float32
        users = self._user_factors
        if users is None:
            users = random_state.random((n_users, self.factors), dtype=draw) * 0.01
        items = self._item_factors
        if items is None:
            items = random_state.random((n_items, self.factors), dtype=draw) * 0.01
        users = np.ascontiguousarray(users, dtype=np.float32)
        items = np.ascontiguousarray(items, dtype=np.float32)
        if users.shape[0] != n_users or items.shape[0] != n_items:
            raise ValueError(
                f"user_items is {n_users} x {n_items} but the model's factors are for "
                f"{users.shape[0]} users and {items.shape[0]} items"
            )
        callback = callback or self.fit_callback
        bar = None
        if show_progress:
            try:
                from tqdm.auto import tqdm  # type: ignore[import-not-found]

                bar = tqdm(total=self.iterations)
            except ImportError:
                bar = None
        last = [0.0]

        def progress(iteration: int, iterations: int, loss: Optional[float], seconds: float) -> None:
            if bar is not None:
                bar.update(1)
                if loss is not None:
                    bar.set_postfix({"loss": loss})
            if loss is not None and not show_progress:
                log.info("loss %.4f", loss)
            if callback is not None:
                callback(iteration - 1, seconds - last[0], loss)
            last[0] = seconds

        indptr, indices, data = _csr_parts(cui)
        try:
            model = _sightline.fit(
                self._params(users.shape[1], int(self.iterations)), n_users, n_items,
                indptr, indices, data, None, None,
                progress if (bar is not None or callback is not None or self.calculate_training_loss)
                else None,
                users, items,
            )
        finally:
            if bar is not None:
                bar.close()
        self._user_factors = _read_only(model.user_factors)
        self._item_factors = _read_only(model.item_factors)
        self._model = None
        if np.isnan(self._user_factors).any() or np.isnan(self._item_factors).any():
            raise ModelFitError("NaN encountered in factors")

    # -- recommendations ----------------------------------------------------

    def recommend(
        self,
        userid: Any,
        user_items: Any,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: Any = None,
        recalculate_user: bool = False,
        items: Any = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """implicit's ``recommend``: ``(ids int32, scores float32)``, 1-D
        for one user and 2-D for an array of users, ``N`` wide (``min(N,
        len(items))`` with ``items``): the eligible items best first, then
        the filtered ones (already liked, ``filter_items``) with score
        ``-FLT_MAX``, then id 0 / score 0 padding. ``user_items`` holds one
        CSR row per user (needed when filtering liked items or
        recalculating). ``items`` ranks exactly those items (then ids are
        their values); ``recalculate_user`` solves the users' factors from
        ``user_items``."""
        if filter_already_liked_items or recalculate_user:
            if not isinstance(user_items, sp.csr_matrix):
                raise ValueError("user_items needs to be a CSR sparse matrix")
            user_count = 1 if np.isscalar(userid) else len(userid)
            if user_items.shape[0] != user_count:
                raise ValueError("user_items must contain 1 row for every user in userids")
        model = self._native()
        n_items = model.n_items
        width = int(N)
        allow = None
        if items is not None:
            width = min(width, len(items))
            if filter_items:
                raise ValueError("Can't set both items and filter_items in recommend call")
            items = np.array(items)
            items.sort()
            if items.max() >= n_items or items.min() < 0:
                raise IndexError("Some itemids in the items parameter in are not in the model")
            allow = _indices(items)
        exclude = _indices(filter_items)
        n = max(width, 1)
        if recalculate_user:
            indptr, indices, data = _csr_parts(user_items)
            ids, scores = model.recommend_recalculated(
                indptr, indices, data, n, filter_already_liked_items, exclude, allow, True
            )
        elif np.isscalar(userid):
            user = int(_positions(userid, model.n_users)[0])
            liked = None
            if filter_already_liked_items:
                liked = np.ascontiguousarray(user_items.indices, dtype=_INDEX)
            ids, scores = model.recommend(user, n, filter_already_liked_items, liked, exclude, allow,
                                          True)
            ids, scores = ids[None, :], scores[None, :]
        else:
            users = _positions(userid, model.n_users)
            rows_indptr = rows_indices = None
            if filter_already_liked_items:
                rows_indptr, rows_indices, _ = _csr_parts(user_items)
            ids, scores = model.recommend_batch(
                users, n, filter_already_liked_items, exclude, allow,
                rows_indptr, rows_indices, n_items, False, True,
            )
        ids, scores = _implicit_layout(ids, scores, width)
        if items is not None:
            ids = ids.astype(items.dtype)
        if np.isscalar(userid):
            return ids[0], scores[0]
        return ids, scores

    def recommend_all(self, user_items: Any, N: int = 10, recalculate_user: bool = False,
                      filter_already_liked_items: bool = True, filter_items: Any = None,
                      users_items_offset: int = 0) -> np.ndarray:
        """Deprecated in implicit (``recommend`` with an array of userids):
        the ids for every row of ``user_items``."""
        warnings.warn(
            "recommend_all is deprecated. Use recommend with an array of userids instead",
            DeprecationWarning,
            stacklevel=2,
        )
        userids = np.arange(user_items.shape[0]) + users_items_offset
        if users_items_offset:
            adjusted = sp.lil_matrix(
                (user_items.shape[0] + users_items_offset, user_items.shape[1]),
                dtype=user_items.dtype,
            )
            adjusted[users_items_offset:] = user_items
            user_items = adjusted.tocsr()
        ids, _ = self.recommend(
            userids, user_items, N=N, filter_already_liked_items=filter_already_liked_items,
            filter_items=filter_items, recalculate_user=recalculate_user,
        )
        return ids

    def rank_items(self, userid: Any, user_items: Any, selected_items: Any,
                   recalculate_user: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """Deprecated in implicit (``recommend`` with ``items``)."""
        warnings.warn(
            "rank_items is deprecated. Use recommend with the 'items' parameter instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.recommend(userid, user_items, recalculate_user=recalculate_user,
                              items=selected_items, filter_already_liked_items=False)

    def _similar(self, side: str, queryid: Any, N: int, filtered: Any, allowed: Any,
                 vectors: Optional[np.ndarray], what: str) -> Tuple[np.ndarray, np.ndarray]:
        model = self._native()
        count = model.n_users if side == "user" else model.n_items
        if allowed is not None:
            if filtered:
                raise ValueError(f"Can't set both {what}s and filter_{what}s in similar_{what}s call")
            allowed = np.array(allowed)
            if allowed.max() >= count or allowed.min() < 0:
                raise IndexError(
                    f"Some {what}ids in the {what}s parameter are not in the model"
                    if side == "user" else "Some itemids in the items parameter are not in the model"
                )
        if vectors is None:
            queries = _positions(queryid, count)
        else:
            # Recomputed vectors replace the queries' factors; the indices
            # are not looked up (they may be new).
            vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
            queries = np.zeros(vectors.shape[0], dtype=_INDEX)
        width = int(N)
        raw_ids, raw_scores = model.similar(side, queries, max(width, 1), True, _indices(filtered),
                                            None if allowed is None else _indices(allowed), True,
                                            vectors)
        ids, scores = _implicit_layout(raw_ids, raw_scores, width)
        if allowed is not None:
            # implicit maps positions in `items` back to ids: its padding
            # (position 0) becomes items[0].
            pad = np.ones(ids.shape, dtype=bool)
            w = min(width, raw_ids.shape[1])
            pad[:, :w] = raw_ids[:, :w] < 0
            ids = np.where(pad, allowed[0], ids).astype(allowed.dtype)
        if np.isscalar(queryid):
            return ids[0], scores[0]
        return ids, scores

    def similar_items(self, itemid: Any, N: int = 10, recalculate_item: bool = False,
                      item_users: Any = None, filter_items: Any = None,
                      items: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        """implicit's ``similar_items``: the ``N`` items with the highest
        cosine similarity to ``itemid`` (an int or an array), the item itself
        included (first, score 1). Layout as in ``recommend``.
        ``recalculate_item`` solves the query items' factors from
        ``item_users`` (one row per item, one column per user)."""
        vectors = self.recalculate_item(itemid, item_users) if recalculate_item else None
        return self._similar("item", itemid, N, filter_items, items, vectors, "item")

    def similar_users(self, userid: Any, N: int = 10, filter_users: Any = None,
                      users: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        """implicit's ``similar_users``: the ``N`` users with the highest
        cosine similarity to ``userid`` (an int or an array), the user itself
        included. ``filter_users`` are left out; ``users`` ranks only those."""
        return self._similar("user", userid, N, filter_users, users, None, "user")

    # -- fold-in and partial fits ---------------------------------------------

    def recalculate_user(self, userid: Any, user_items: Any) -> np.ndarray:
        """Factors of users solved from ``user_items`` (one CSR row per user)
        against the item factors, not stored: 1-D for one user, 2-D for an
        array."""
        user_items = check_csr(user_items)
        users = 1 if np.isscalar(userid) else len(userid)
        if user_items.shape[0] != users:
            raise ValueError("user_items should have one row for every item in user")
        model = self._native()
        rows = _widened(user_items, model.n_items)
        solved = model.recalculate("user", *_csr_parts(rows), rows.shape[1])
        return solved[0] if np.isscalar(userid) else solved

    def recalculate_item(self, itemid: Any, item_users: Any) -> np.ndarray:
        """Factors of items solved from ``item_users`` (one CSR row per item,
        one column per user) against the user factors, not stored."""
        item_users = check_csr(item_users)
        model = self._native()
        rows = _widened(item_users, model.n_users)
        solved = model.recalculate("item", *_csr_parts(rows), rows.shape[1])
        return solved[0] if np.isscalar(itemid) else solved

    def partial_fit_users(self, userids: Any, user_items: Any) -> None:
        """implicit's ``partial_fit_users``: re-solves (or adds) the factors
        of ``userids`` from ``user_items`` (one row per userid); ids past
        the end grow ``user_factors`` with zero rows up to ``max(userids)``."""
        if len(userids) != user_items.shape[0]:
            raise ValueError("user_items must contain 1 row for every user in userids")
        solved = self.recalculate_user(userids, user_items)
        self.user_factors = self._grown(self._need("user_factors"), userids, solved)

    def partial_fit_items(self, itemids: Any, item_users: Any) -> None:
        """implicit's ``partial_fit_items``: re-solves (or adds) the factors
        of ``itemids`` from ``item_users`` (one row per itemid, one column per
        user), growing ``item_factors`` like ``partial_fit_users``."""
        if len(itemids) != item_users.shape[0]:
            raise ValueError("item_users must contain 1 row for every user in itemids")
        solved = self.recalculate_item(itemids, item_users)
        self.item_factors = self._grown(self._need("item_factors"), itemids, solved)

    @staticmethod
    def _grown(factors: np.ndarray, ids: Any, solved: np.ndarray) -> np.ndarray:
        rows, k = factors.shape
        top = max(ids)
        if top >= rows:
            factors = np.concatenate([factors, np.zeros((top - rows + 1, k), dtype=factors.dtype)])
        else:
            factors = factors.copy()
        factors[ids] = solved
        return factors

    def explain(self, userid: int, user_items: Any, itemid: int, user_weights: Any = None,
                N: int = 10) -> Tuple[float, List[Tuple[int, float]], Tuple[np.ndarray, bool]]:
        """implicit's ``explain`` (Hu, Koren & Volinsky §5): why user
        ``userid`` (their row of ``user_items``) gets ``itemid``: ``(score,
        top_contributions, user_weights)`` with the ``N`` largest ``(itemid,
        contribution)`` pairs and the user's Cholesky factor as scipy's
        ``cho_factor`` tuple ``(c, lower)``, to pass back for the same user."""
        user_items = check_csr(user_items)
        row = user_items[userid]
        factor = None
        if user_weights is not None:
            c, lower = user_weights if isinstance(user_weights, tuple) else (user_weights, True)
            c = np.asarray(c, dtype=np.float32)
            factor = np.ascontiguousarray(np.tril(c) if lower else np.triu(c).T)
        score, contributions, lower_factor = self._native().explain(
            int(userid), np.ascontiguousarray(row.indices, dtype=_INDEX),
            np.ascontiguousarray(row.data, dtype=np.float32), int(itemid), int(N), factor,
        )
        return float(score), [(int(i), float(s)) for i, s in contributions], \
            (np.ascontiguousarray(lower_factor.T), False)

    # -- persistence --------------------------------------------------------

    def save(self, fileobj_or_path: Any) -> None:
        """Writes implicit's ``.npz`` file (the same keys; ``numpy.savez``
        appends ``.npz`` to a path without it); an unfitted model saves its
        parameters. implicit's ``load`` reads it, and this class's ``load``
        reads implicit's files."""
        args = {
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "regularization": self.regularization,
            "factors": self.factors,
            "num_threads": self.num_threads,
            "iterations": self.iterations,
            "use_native": self.use_native,
            "use_cg": self.use_cg,
            "cg_steps": self.cg_steps,
            "calculate_training_loss": self.calculate_training_loss,
            "dtype": self.dtype.name,
            "random_state": self.random_state,
            "alpha": self.alpha,
        }
        np.savez(fileobj_or_path, **{k: v for k, v in args.items() if v is not None})

    @classmethod
    def load(cls, fileobj_or_path: Any) -> "AlternatingLeastSquares":
        """Reads a model written by ``save`` or by implicit's ``save``."""
        if isinstance(fileobj_or_path, str) and not fileobj_or_path.endswith(".npz"):
            fileobj_or_path = fileobj_or_path + ".npz"
        with np.load(fileobj_or_path, allow_pickle=False) as data:
            ret = cls()
            for k, v in data.items():
                if k == "dtype":
                    v = np.dtype(str(v))
                elif v.shape == ():
                    v = v.item()
                setattr(ret, k, v)
            return ret

    def to_gpu(self) -> Any:
        """Not available: sightline runs on the CPU (raises ``ValueError``,
        as implicit does without CUDA)."""
        raise ValueError("sightline runs on the CPU only: there is no GPU model (to_gpu)")

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
