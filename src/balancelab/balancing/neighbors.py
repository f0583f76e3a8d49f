"""Nearest neighbours over image rows, pluggable into imbalanced-learn's ``k_neighbors`` hook.

imbalanced-learn is given a tiny (N, 2) matrix of row *indices* (see :mod:`.synthetic`); this
estimator maps those indices back to the image features and searches there. Features stay
uint8 and are cast to float32 one chunk at a time, so no float copy of the dataset is made.
Backends: ``torch`` (batched matrix products, on CUDA when available) and ``sklearn``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from sklearn.base import BaseEstimator


class SharedFeatures:
    """Holds the uint8 feature rows; copying it (as sklearn's ``clone`` does) returns itself."""

    def __init__(self, rows: np.ndarray):
        self.rows = rows  # (N, D) uint8
        self.log: list = []  # every (query rows, neighbour rows) table computed, for tracing parents
        self._whole = None  # (device, rows on it, squared norms) for the full set

    def on_device(self, fitted: np.ndarray, device: torch.device, chunk: int):
        """The fitted rows on ``device`` and their squared norms.

        ADASYN searches the whole training set once per class: that set is taken without a gather
        (on the CPU the tensor shares the array's memory) and kept with its norms, instead of being
        copied, uploaded and normed again for every class. Class subsets are used once; not kept.
        """
        whole = len(fitted) == len(self.rows) and np.array_equal(fitted, np.arange(len(self.rows)))
        if whole and self._whole is not None and self._whole[0] == str(device):
            return self._whole[1], self._whole[2]
        F_ = torch.from_numpy(self.rows if whole else self.rows[fitted]).to(device)
        norms = torch.cat([F_[i:i + chunk].float().pow(2).sum(1) for i in range(0, len(F_), chunk)])
        if whole:
            self._whole = (str(device), F_, norms)
        return F_, norms

    def __deepcopy__(self, memo):
        return self

    def take(self, index: np.ndarray) -> np.ndarray:
        return self.rows[index].astype(np.float32)


def rows_of(Z: np.ndarray) -> np.ndarray:
    """Global row numbers from the index matrix's first column."""
    return np.rint(np.asarray(Z)[:, 0]).astype(np.int64)


def _knn_torch(features: SharedFeatures, query: np.ndarray, fitted: np.ndarray, k: int, device: str,
               chunk: int = 2048):
    """Exact k-NN by chunked ||q||^2 + ||f||^2 - 2 q.f on ``device``; a query's own row ranks first."""
    dev = torch.device(device)
    F_, f_norm = features.on_device(fitted, dev, chunk)
    fitted_t = torch.from_numpy(fitted).to(dev)
    out_d, out_i = [], []
    for start in range(0, len(query), chunk):
        q_rows = torch.from_numpy(query[start:start + chunk]).to(dev)
        Q = torch.from_numpy(features.rows[query[start:start + chunk]]).to(dev).float()
        q_norm = Q.pow(2).sum(1, keepdim=True)
        best_d = torch.full((len(Q), 0), float("inf"), device=dev)
        best_i = torch.zeros((len(Q), 0), dtype=torch.long, device=dev)
        for f_start in range(0, len(F_), chunk):
            block = F_[f_start:f_start + chunk].float()
            d = (q_norm + f_norm[f_start:f_start + chunk][None] - 2.0 * Q @ block.T).clamp_min_(0)
            # The same row is at distance exactly 0 and must come first, as sklearn returns it.
            same = q_rows[:, None] == fitted_t[f_start:f_start + chunk][None]
            d = d.masked_fill(same, -1.0)
            idx = torch.arange(f_start, f_start + len(block), device=dev).expand(len(Q), -1)
            # Earlier blocks hold smaller indices, so a stable sort breaks distance ties by index.
            d_all, i_all = torch.cat([best_d, d], 1), torch.cat([best_i, idx], 1)
            top = torch.argsort(d_all, dim=1, stable=True)[:, :k]
            best_d, best_i = d_all.gather(1, top), i_all.gather(1, top)
        out_d.append(best_d.clamp_min(0).sqrt().cpu().numpy())
        out_i.append(best_i.cpu().numpy())
    return np.concatenate(out_d), np.concatenate(out_i)


def own_row_first(query: np.ndarray, fitted: np.ndarray, dist: np.ndarray, ind: np.ndarray):
    """Put each query's own row in column 0, as imbalanced-learn assumes (it drops column 0).

    scikit-learn breaks ties at distance 0 in no particular order, so among exact duplicates a
    query's own row may come later, or, with more than k duplicates, not at all; SMOTE would then
    pair the row with itself. Its own row is put first and the other neighbours shift right (the
    last drops out if the row was missing); at distance 0 the order stays sorted. Queries that
    are not among the fitted rows are left as they are.
    """
    sorter = np.argsort(fitted, kind="stable")
    slot = np.minimum(np.searchsorted(fitted, query, sorter=sorter), len(fitted) - 1)
    own = sorter[slot]
    in_fit = fitted[own] == query
    ind_ext = np.column_stack([own, ind])
    dist_ext = np.column_stack([np.zeros(len(ind), dist.dtype), dist])
    drop = ind_ext == own[:, None]
    drop[:, 0] = False
    drop[~drop.any(1), -1] = True  # own row was not among the k: the farthest gives way
    n, k = ind.shape
    new_ind, new_dist = ind_ext[~drop].reshape(n, k), dist_ext[~drop].reshape(n, k)
    return np.where(in_fit[:, None], new_dist, dist), np.where(in_fit[:, None], new_ind, ind)


class ImageNearestNeighbors(BaseEstimator):
    """sklearn-style neighbour search (fit / kneighbors / kneighbors_graph) over image rows."""

    def __init__(self, n_neighbors: int = 5, features: SharedFeatures = None, backend: str = "torch",
                 device: str = "cpu"):
        self.n_neighbors = n_neighbors
        self.features = features
        self.backend = backend
        self.device = device

    def fit(self, X, y=None):
        self.fitted_rows_ = rows_of(X)
        self.n_samples_fit_ = len(self.fitted_rows_)
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        k = int(n_neighbors or self.n_neighbors)
        query = self.fitted_rows_ if X is None else rows_of(X)
        if self.backend == "sklearn":
            from sklearn.neighbors import NearestNeighbors

            nn = NearestNeighbors(n_neighbors=k).fit(self.features.take(self.fitted_rows_))
            dist, ind = own_row_first(query, self.fitted_rows_, *nn.kneighbors(self.features.take(query)))
        else:
            dist, ind = _knn_torch(self.features, query, self.fitted_rows_, k, self.device)
        self.features.log.append((query, self.fitted_rows_[ind]))
        return (dist, ind) if return_distance else ind

    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        dist, ind = self.kneighbors(X, n_neighbors, return_distance=True)
        n_query, k = ind.shape
        data = dist.ravel() if mode == "distance" else np.ones(n_query * k)
        return sparse.csr_matrix((data, ind.ravel(), np.arange(0, n_query * k + 1, k)),
                                 shape=(n_query, self.n_samples_fit_))
