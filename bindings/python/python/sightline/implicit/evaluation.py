"""``implicit.evaluation`` on sightline: implicit 0.7.3's splits (the same
numpy random streams, so the same seed gives the same split) and its ranking
metrics with its formulas, computed by the core (``AUC_at_k`` included).
Every metric takes any model with implicit's batch ``recommend(userids,
user_items, N=K)``: a ``sightline.implicit.als.AlternatingLeastSquares``, an
implicit model or a baseline."""

from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np
import scipy.sparse as sp

from .. import _sightline
from .utils import check_random_state

__all__ = [
    "train_test_split",
    "leave_k_out_split",
    "precision_at_k",
    "mean_average_precision_at_k",
    "ndcg_at_k",
    "AUC_at_k",
    "ranking_metrics_at_k",
]


def train_test_split(ratings: Any, train_percentage: float = 0.8,
                     random_state: Any = None) -> Tuple["sp.csr_matrix", "sp.csr_matrix"]:
    """implicit's ``train_test_split``: every stored entry goes to train with
    probability ``train_percentage`` (one ``random`` draw per entry in COO
    order); negative test values become 0 and are dropped. Returns ``(train,
    test)`` CSR matrices of the input's shape and dtype."""
    ratings = ratings.tocoo()
    random_state = check_random_state(random_state)
    random_index = random_state.random(len(ratings.data))
    train_index = random_index < train_percentage
    test_index = random_index >= train_percentage
    train = sp.csr_matrix((ratings.data[train_index],
                           (ratings.row[train_index], ratings.col[train_index])),
                          shape=ratings.shape, dtype=ratings.dtype)
    test = sp.csr_matrix((ratings.data[test_index],
                          (ratings.row[test_index], ratings.col[test_index])),
                         shape=ratings.shape, dtype=ratings.dtype)
    test.data[test.data < 0] = 0
    test.eliminate_zeros()
    return train, test


def _take_tails(arr: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Positions of ``n`` randomly chosen occurrences of every value of
    ``arr`` and of the rest (implicit's ``_take_tails(shuffled=True)``,
    which shuffles with numpy's global random state)."""
    idx = arr.argsort()
    sorted_arr = arr[idx]
    end = np.bincount(sorted_arr).cumsum() - 1
    start = end - n
    ranges = np.linspace(start, end, num=n + 1, dtype=int)[1:]
    shuffled_idx = (sorted_arr + np.random.random(arr.shape)).argsort()
    tails = shuffled_idx[np.ravel(ranges, order="f")]
    heads = np.setdiff1d(idx, tails)
    return idx[tails], idx[heads]


def leave_k_out_split(ratings: Any, K: int = 1, train_only_size: float = 0.0,
                      random_state: Any = None) -> Tuple["sp.csr_matrix", "sp.csr_matrix"]:
    """implicit's ``leave_k_out_split``: every user with more than ``K + 1``
    entries gets ``K`` of them, chosen at random, in test; a fraction
    ``train_only_size`` of users stays train-only. As in implicit, the
    choice of test entries draws from numpy's global random state
    (``numpy.random.seed`` makes it repeatable). ``K < 1`` or
    ``train_only_size`` outside ``[0, 1)`` raise ``ValueError``."""
    if K < 1:
        raise ValueError("The 'K' must be >= 1.")
    if not 0.0 <= train_only_size < 1.0:
        raise ValueError("The 'train_only_size' must be in the range (0.0 <= x < 1.0).")
    ratings = ratings.tocoo()
    random_state = check_random_state(random_state)
    users, items, data = ratings.row, ratings.col, ratings.data
    unique_users, counts = np.unique(users, return_counts=True)
    candidate_mask = counts > K + 1
    if train_only_size > 0.0:
        size = max(1, int(len(unique_users) * np.float32(train_only_size)))
        chosen = random_state.choice(len(unique_users), size=size, replace=False)
        candidate_mask = ~np.isin(unique_users, chosen) & candidate_mask
    unique_candidate_users = unique_users[candidate_mask]
    full_candidate_mask = np.isin(users, unique_candidate_users)
    candidate_users = users[full_candidate_mask]
    candidate_items = items[full_candidate_mask]
    candidate_data = data[full_candidate_mask]
    test_idx, _ = _take_tails(candidate_users, K)
    train_idx = np.setdiff1d(np.arange(len(candidate_users), dtype=int), test_idx)
    test = sp.csr_matrix(
        (candidate_data[test_idx], (candidate_users[test_idx], candidate_items[test_idx])),
        shape=ratings.shape, dtype=ratings.dtype,
    )
    train = sp.csr_matrix(
        (np.r_[data[~full_candidate_mask], candidate_data[train_idx]],
         (np.r_[users[~full_candidate_mask], candidate_users[train_idx]],
          np.r_[items[~full_candidate_mask], candidate_items[train_idx]])),
        shape=ratings.shape, dtype=ratings.dtype,
    )
    return train, test


def ranking_metrics_at_k(model: Any, train_user_items: Any, test_user_items: Any, K: int = 10,
                         show_progress: bool = True, num_threads: int = 1) -> Dict[str, float]:
    """implicit's ``ranking_metrics_at_k``: ``{"precision", "map", "ndcg",
    "auc"}`` at ``K`` over the users with test items, each ranked by
    ``model.recommend(users, train_user_items[users], N=K)`` in batches of
    1000 (so training items are left out). Formulas (the core's
    ``eval::implicit_metrics``): precision pools hits over ``Σ min(K,
    |test|)``; map, ndcg and auc are means over users; auc is implicit's AUC
    limited to the top ``K``. ``show_progress`` shows a tqdm bar when tqdm
    is installed; ``num_threads`` is accepted (the model's own threads
    apply). No user with test items raises ``ZeroDivisionError``, as in
    implicit."""
    del num_threads
    if not isinstance(train_user_items, sp.csr_matrix):
        train_user_items = train_user_items.tocsr()
    if not isinstance(test_user_items, sp.csr_matrix):
        test_user_items = test_user_items.tocsr()
    users, items = test_user_items.shape
    to_generate = np.arange(users, dtype="int32")[np.ediff1d(test_user_items.indptr) > 0]
    if to_generate.size == 0:
        raise ZeroDivisionError("no user has test items: nothing to evaluate")
    bar = None
    if show_progress:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-not-found]

            bar = tqdm(total=len(to_generate))
        except ImportError:
            bar = None
    lists = []
    try:
        for start in range(0, len(to_generate), 1000):
            batch = to_generate[start:start + 1000]
            ids, _ = model.recommend(batch, train_user_items[batch], N=K)
            lists.append(np.asarray(ids, dtype=np.int64).reshape(len(batch), -1))
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    truth = test_user_items[to_generate]
    metrics = _sightline.implicit_ranking_metrics(
        np.ascontiguousarray(np.vstack(lists)),
        np.ascontiguousarray(truth.indptr, dtype=np.int64),
        np.ascontiguousarray(truth.indices, dtype=np.int64),
        int(K), int(items),
    )
    return {key: metrics[key] for key in ("precision", "map", "ndcg", "auc")}


def precision_at_k(model: Any, train_user_items: Any, test_user_items: Any, K: int = 10,
                   show_progress: bool = True, num_threads: int = 1) -> float:
    """implicit's P@K: ``ranking_metrics_at_k(...)["precision"]``."""
    return ranking_metrics_at_k(model, train_user_items, test_user_items, K, show_progress,
                                num_threads)["precision"]


def mean_average_precision_at_k(model: Any, train_user_items: Any, test_user_items: Any,
                                K: int = 10, show_progress: bool = True,
                                num_threads: int = 1) -> float:
    """implicit's MAP@K: ``ranking_metrics_at_k(...)["map"]``."""
    return ranking_metrics_at_k(model, train_user_items, test_user_items, K, show_progress,
                                num_threads)["map"]


def ndcg_at_k(model: Any, train_user_items: Any, test_user_items: Any, K: int = 10,
              show_progress: bool = True, num_threads: int = 1) -> float:
    """implicit's nDCG@K: ``ranking_metrics_at_k(...)["ndcg"]``."""
    return ranking_metrics_at_k(model, train_user_items, test_user_items, K, show_progress,
                                num_threads)["ndcg"]


def AUC_at_k(model: Any, train_user_items: Any, test_user_items: Any, K: int = 10,  # noqa: N802
             show_progress: bool = True, num_threads: int = 1) -> float:
    """implicit's AUC limited to the top K: ``ranking_metrics_at_k(...)["auc"]``."""
    return ranking_metrics_at_k(model, train_user_items, test_user_items, K, show_progress,
                                num_threads)["auc"]
