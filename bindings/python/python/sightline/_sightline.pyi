# Type stub of the native module (see src/lib.rs). Private: use sightline.ALS,
# sightline.CoOccurrence and sightline.Trending.
from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_I = npt.NDArray[np.int64]
_Ids1 = npt.NDArray[np.int32]
_Scores1 = npt.NDArray[np.float32]

def check_params(params: Dict[str, Any]) -> None: ...
def ranking_metrics(
    model: _Model,
    shape: Tuple[int, int],
    train_indptr: _I,
    train_indices: _I,
    train_data: npt.NDArray[np.float32],
    test_indptr: _I,
    test_indices: _I,
    test_data: npt.NDArray[np.float32],
    k: int,
) -> Dict[str, float]: ...
def lists_metrics(recs: npt.NDArray[np.int64], truth_indptr: _I, truth_indices: _I, k: int, n_items: int) -> Dict[str, float]: ...
def default_param_space() -> Dict[str, List[Any]]: ...
def tune(
    params: Dict[str, Any],
    shape: Tuple[int, int],
    train_indptr: _I,
    train_indices: _I,
    train_data: npt.NDArray[np.float32],
    valid_indptr: _I,
    valid_indices: _I,
    valid_data: npt.NDArray[np.float32],
    space: Optional[Dict[str, List[Any]]],
    search: str,
    n_trials: Optional[int],
    search_seed: int,
    metric: str,
    k: int,
    progress: Optional[Callable[[Dict[str, Any]], Any]] = None,
) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]: ...
def fit(
    params: Dict[str, Any],
    n_rows: int,
    n_cols: int,
    indptr: _I,
    indices: _I,
    data: npt.NDArray[np.float32],
    user_ids: Optional[List[str]] = None,
    item_ids: Optional[List[str]] = None,
    progress: Optional[Callable[[int, int, Optional[float], float], Any]] = None,
) -> _Model: ...

class _Model:
    n_users: int
    n_items: int
    factors: int
    has_user_items: bool
    user_factors: npt.NDArray[np.float32]
    item_factors: npt.NDArray[np.float32]
    user_ids: List[str]
    item_ids: List[str]
    def params(self) -> Dict[str, Any]: ...
    def recommend(
        self, user: int, n: int, filter_liked: bool, liked: Optional[_I], exclude: _I, allow_only: Optional[_I]
    ) -> Tuple[_Ids1, _Scores1]: ...
    def recommend_batch(
        self,
        users: _I,
        n: int,
        filter_liked: bool,
        exclude: _I,
        allow_only: Optional[_I],
        rows_indptr: Optional[_I] = None,
        rows_indices: Optional[_I] = None,
        rows_n_cols: int = 0,
        rows_by_user: bool = False,
    ) -> Tuple[_Ids1, _Scores1]: ...
    def recommend_recalculated(
        self,
        indptr: _I,
        indices: _I,
        data: npt.NDArray[np.float32],
        n: int,
        filter_liked: bool,
        exclude: _I,
        allow_only: Optional[_I],
    ) -> Tuple[_Ids1, _Scores1]: ...
    def fold_in(self, items: _I, weights: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
    def similar_items(self, item: int, n: int) -> Tuple[_Ids1, _Scores1]: ...
    def similar_items_batch(self, items: _I, n: int) -> Tuple[_Ids1, _Scores1]: ...
    def recommend_by_id(self, user_id: str, n: int, filter_liked: bool) -> List[Tuple[str, float]]: ...
    def similar_items_by_id(self, item_id: str, n: int) -> List[Tuple[str, float]]: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> _Model: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> _Model: ...

# -- co-occurrence (sightline.CoOccurrence) --------------------------------

def cooccur_check_params(params: Dict[str, Any]) -> None: ...
def cooccur_fit(
    params: Dict[str, Any],
    n_rows: int,
    n_cols: int,
    indptr: _I,
    indices: _I,
    data: npt.NDArray[np.float32],
    item_ids: Optional[List[str]] = None,
) -> _Cooccur: ...

class _Cooccur:
    n_items: int
    nnz: int
    item_ids: List[str]
    def params(self) -> Dict[str, Any]: ...
    def similar_items(self, item: int, n: int) -> Tuple[_Ids1, _Scores1]: ...
    def recommend_for_items(
        self, items: _I, weights: npt.NDArray[np.float32], n: int, exclude: _I
    ) -> Tuple[_Ids1, _Scores1]: ...
    def similar_items_by_id(self, item_id: str, n: int) -> List[Tuple[str, float]]: ...
    def recommend_for_items_by_id(
        self, item_ids: List[str], weights: npt.NDArray[np.float32], n: int, exclude: List[str]
    ) -> List[Tuple[str, float]]: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> _Cooccur: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> _Cooccur: ...

# -- trending (sightline.Trending) -----------------------------------------

class _Trending:
    item_ids: List[str]
    segments: List[str]
    def __init__(self, params: Dict[str, Any], catalog_items: Optional[List[Tuple[str, str]]] = None) -> None: ...
    @staticmethod
    def check_params(params: Dict[str, Any]) -> None: ...
    def params(self) -> Dict[str, Any]: ...
    def ingest(
        self,
        user: str,
        item: str,
        kind: str,
        timestamp: int,
        region: Optional[str] = None,
        channel: Optional[str] = None,
        session: Optional[str] = None,
    ) -> None: ...
    def ingest_batch(
        self,
        users: List[str],
        items: List[str],
        kinds: List[str],
        timestamps: _I,
        regions: Optional[List[Optional[str]]] = None,
        channels: Optional[List[Optional[str]]] = None,
        sessions: Optional[List[Optional[str]]] = None,
    ) -> int: ...
    def query(
        self,
        region: Optional[str],
        channel: Optional[str],
        category: Optional[str],
        n: int,
        now: int,
        trending: bool,
    ) -> Tuple[List[Tuple[str, float]], str, float]: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> _Trending: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> _Trending: ...
