import numpy as np
import pytest
import scipy.sparse as sp

import sightline


def random_interactions(n_users=300, n_items=120, density=0.06, seed=0, fmt="csr"):
    """Seeded implicit-feedback matrix: integer weights 1..5; every user has
    at least one item."""
    rng = np.random.default_rng(seed)
    m = sp.random(n_users, n_items, density=density, random_state=rng, format="lil", dtype=np.float32)
    for u in range(n_users):
        if m.rows[u] == []:
            m[u, int(rng.integers(n_items))] = 1.0
    m = m.tocsr()
    m.data = rng.integers(1, 6, m.nnz).astype(np.float32)
    return m.asformat(fmt)


@pytest.fixture(scope="session")
def user_items():
    return random_interactions()


@pytest.fixture(scope="session")
def model(user_items):
    return sightline.ALS(factors=16, iterations=10, random_state=42).fit(user_items)


def row_items(matrix, u):
    return set(matrix.indices[matrix.indptr[u]:matrix.indptr[u + 1]].tolist())


def events_matrix(events, item_ids):
    """The users × items count matrix of demo-data event columns (users in
    sorted order, columns in `item_ids` order) and the user ids."""
    col = {i: k for k, i in enumerate(item_ids)}
    users = sorted(set(events["user"]))
    row = {u: k for k, u in enumerate(users)}
    m = sp.csr_matrix((np.ones(len(events["user"]), np.float32),
                       ([row[u] for u in events["user"]], [col[i] for i in events["item"]])),
                      shape=(len(users), len(item_ids)))
    return m, users
