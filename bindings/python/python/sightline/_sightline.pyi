# Type stub of the native module (see src/lib.rs). Private: use sightline.ALS,
# sightline.CoOccurrence, sightline.Trending, sightline.ContentIndex,
# sightline.SessionStore, sightline.SessionRecommender, sightline.Engine and
# sightline.demo_data.
from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
ERROR_CODES: List[str]

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
def split(
    shape: Tuple[int, int], indptr: _I, indices: _I, data: npt.NDArray[np.float32], seed: int,
    test_fraction: Optional[float] = None, k: Optional[int] = None,
    last_seen: Optional[npt.NDArray[np.int64]] = None,
) -> Tuple[Tuple[_I, npt.NDArray[np.int32], npt.NDArray[np.float32]], Tuple[_I, npt.NDArray[np.int32], npt.NDArray[np.float32]]]: ...
def lists_metrics(recs: npt.NDArray[np.int64], truth_indptr: _I, truth_indices: _I, k: int, n_items: int) -> Dict[str, float]: ...
def implicit_ranking_metrics(
    recs: npt.NDArray[np.int64], truth_indptr: _I, truth_indices: _I, k: int, n_items: int
) -> Dict[str, float]: ...
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
    space: Optional[Dict[str, Any]],
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
    user_factors: Optional[npt.NDArray[np.float32]] = None,
    item_factors: Optional[npt.NDArray[np.float32]] = None,
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
        self,
        user: int,
        n: int,
        filter_liked: bool,
        liked: Optional[_I],
        exclude: _I,
        allow_only: Optional[_I],
        filtered_last: bool = False,
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
        filtered_last: bool = False,
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
        filtered_last: bool = False,
    ) -> Tuple[_Ids1, _Scores1]: ...
    def partial_fit(
        self,
        side: str,
        indptr: _I,
        indices: _I,
        data: npt.NDArray[np.float32],
        n_cols: int,
        targets: Optional[_I] = None,
        ids: Optional[List[str]] = None,
    ) -> npt.NDArray[np.int64]: ...
    def explain(
        self,
        user: int,
        items: Optional[_I],
        weights: Optional[npt.NDArray[np.float32]],
        item: int,
        n: int,
        user_weights: Optional[npt.NDArray[np.float32]] = None,
    ) -> Tuple[float, List[Tuple[int, float]], npt.NDArray[np.float32]]: ...
    def fold_in(self, items: _I, weights: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
    @staticmethod
    def from_factors(
        params: Dict[str, Any],
        user_factors: npt.NDArray[np.float32],
        item_factors: npt.NDArray[np.float32],
        user_ids: Optional[List[str]] = None,
        item_ids: Optional[List[str]] = None,
    ) -> _Model: ...
    def similar(
        self,
        side: str,
        queries: _I,
        n: int,
        include_self: bool,
        exclude: _I,
        allow_only: Optional[_I],
        filtered_last: bool,
        vectors: Optional[npt.NDArray[np.float32]] = None,
    ) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]: ...
    def recalculate(
        self, side: str, indptr: _I, indices: _I, data: npt.NDArray[np.float32], n_cols: int
    ) -> npt.NDArray[np.float32]: ...
    def similar_items(self, item: int, n: int) -> Tuple[_Ids1, _Scores1]: ...
    def similar_users(self, user: int, n: int) -> Tuple[_Ids1, _Scores1]: ...
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
    def similar_items_batch(self, items: _I, n: int) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]: ...
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
    def __init__(self, params: Dict[str, Any], catalog: Optional[List[Dict[str, Any]]] = None) -> None: ...
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

# -- content (sightline.ContentIndex) ---------------------------------------

_Ids2 = npt.NDArray[np.int32]
_Scores2 = npt.NDArray[np.float32]

def content_check_params(params: Dict[str, Any]) -> None: ...
def content_build(
    params: Dict[str, Any],
    catalog: Optional[List[Dict[str, Any]]] = None,
    embedding_ids: Optional[List[str]] = None,
    embeddings: Optional[npt.NDArray[np.float32]] = None,
    als: Optional[_Model] = None,
) -> _Content: ...

class _Content:
    item_ids: List[str]
    dim: int
    is_hnsw: bool
    ef_search: int
    def params(self) -> Dict[str, Any]: ...
    def vectors(self) -> npt.NDArray[np.float32]: ...
    def similar_items(
        self, items: _I, n: int, categories: Optional[List[str]] = None, in_stock: bool = False,
        region: Optional[str] = None,
    ) -> Tuple[_Ids2, _Scores2]: ...
    def similar_items_one(
        self, item: int, n: int, categories: Optional[List[str]] = None, in_stock: bool = False,
        region: Optional[str] = None,
    ) -> Tuple[_Ids1, _Scores1]: ...
    def search(
        self, queries: npt.NDArray[np.float32], n: int, categories: Optional[List[str]] = None,
        in_stock: bool = False, region: Optional[str] = None,
    ) -> Tuple[_Ids2, _Scores2]: ...
    def search_one(
        self, query: npt.NDArray[np.float32], n: int, categories: Optional[List[str]] = None,
        in_stock: bool = False, region: Optional[str] = None,
    ) -> Tuple[_Ids1, _Scores1]: ...
    def similar_items_by_id(
        self, item_id: str, n: int, categories: Optional[List[str]] = None, in_stock: bool = False,
        region: Optional[str] = None,
    ) -> List[Tuple[str, float]]: ...
    def similar_to_item(
        self, item: Dict[str, Any], n: int, categories: Optional[List[str]] = None, in_stock: bool = False,
        region: Optional[str] = None,
    ) -> List[Tuple[str, float]]: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> _Content: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> _Content: ...

# -- session (sightline.SessionStore / SessionRecommender) -------------------

class _Session:
    item_ids: List[str]
    def __init__(
        self, params: Dict[str, Any], item_ids: List[str], weights: Optional[Dict[str, float]] = None
    ) -> None: ...
    @staticmethod
    def check_params(params: Dict[str, Any]) -> None: ...
    def params(self) -> Dict[str, Any]: ...
    def weights(self) -> Dict[str, float]: ...
    def __len__(self) -> int: ...
    def ingest(
        self, user: str, item: str, kind: str, timestamp: int, region: Optional[str] = None,
        channel: Optional[str] = None, session: Optional[str] = None,
    ) -> bool: ...
    def ingest_batch(self, users: List[str], items: List[str], kinds: List[str], timestamps: _I) -> int: ...
    def recent(self, key: str, now: int) -> List[Tuple[str, str, int]]: ...
    def export(self, key: str) -> List[Tuple[str, str, int]]: ...
    def context(self, key: str, now: int) -> List[Tuple[str, float]]: ...
    def merge(self, anonymous: str, user: str, now: int) -> int: ...
    def forget(self, key: str) -> bool: ...
    def expire(self, now: int) -> int: ...
    def stats(self) -> Dict[str, int]: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> _Session: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> _Session: ...

class _SessionRecommender:
    def __init__(
        self, store: _Session, als: Optional[_Model] = None, als_weight: float = 1.0,
        cooccur: Optional[_Cooccur] = None, cooccur_weight: float = 1.0,
        content: Optional[_Content] = None, content_weight: float = 1.0,
    ) -> None: ...
    def recommend(
        self, key: str, n: int, now: int, exclude: Optional[List[str]] = None
    ) -> List[Tuple[str, float, Optional[str]]]: ...

# -- demo data (sightline.demo_data) ----------------------------------------

def demo_data(customers: int, products: int, events: int, seed: int) -> Dict[str, Any]: ...
def demo_engine_config() -> str: ...
def interactions_build(
    users: List[str],
    items: List[str],
    kinds: Optional[List[str]],
    quantities: Optional[npt.NDArray[np.float32]],
    timestamps: Optional[npt.NDArray[np.int64]],
    kind_weights: Dict[str, float],
    item_ids: Optional[List[str]],
) -> Dict[str, Any]: ...
def kind_weights(overrides: Dict[str, float]) -> Dict[str, float]: ...

# -- engine (sightline.Engine) ------------------------------------------------

# A config: None (defaults), a dict, JSON or TOML text, or a .json/.toml path.
_Config = Union[None, Dict[str, Any], str, PathLike[str]]

class _Engine:
    def __init__(
        self, config: _Config, catalog: List[Dict[str, Any]], als: Optional[_Model] = None,
        cooccur: Optional[_Cooccur] = None, content: Optional[_Content] = None,
    ) -> None: ...
    @staticmethod
    def check_config(config: _Config = None) -> None: ...
    def config(self) -> Dict[str, Any]: ...
    def recommend(self, request: Dict[str, Any]) -> Dict[str, Any]: ...
    def ingest(
        self, user: str, item: str, kind: str, timestamp: int, region: Optional[str] = None,
        channel: Optional[str] = None, session: Optional[str] = None, consent: bool = True,
    ) -> None: ...
    def ingest_batch(
        self, users: List[str], items: List[str], kinds: List[str], timestamps: _I,
        regions: Optional[List[Optional[str]]] = None, channels: Optional[List[Optional[str]]] = None,
        sessions: Optional[List[Optional[str]]] = None, consent: bool = True,
    ) -> int: ...
    def track_impression(self, recommendation_id: str, timestamp: int) -> bool: ...
    def track_click(self, recommendation_id: str, item: str, timestamp: int) -> bool: ...
    def track_conversion(self, user: str, item: str, revenue: float, timestamp: int) -> bool: ...
    def refresh_popular(self, now: int) -> None: ...
    def stats(self) -> Dict[str, Any]: ...
    def metrics_prometheus(self) -> str: ...
    def forget_user(self, user: str) -> Dict[str, Any]: ...
    def export_user(self, user: str) -> Dict[str, Any]: ...
    def swap_models(
        self, catalog: List[Dict[str, Any]], als: Optional[_Model] = None, cooccur: Optional[_Cooccur] = None,
        content: Optional[_Content] = None,
    ) -> None: ...
    def export_slice(self, placement: str, items: List[str]) -> bytes: ...
    def reload_models(self, path: Union[str, PathLike[str]]) -> None: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes, config: _Config = None) -> _Engine: ...
    @staticmethod
    def load(path: Union[str, PathLike[str]], config: _Config = None) -> _Engine: ...
