"""SMOTE/ADASYN on real images: every synthetic image is a same-class pixel-space interpolation."""

import warnings

import numpy as np
import pytest

from balancelab.balancing import make_balancer
from balancelab.errors import BalancingError


def nearest_neighbours(X, rows, k):
    F = X[rows].reshape(len(rows), -1).astype(np.float64)
    d = ((F[:, None] - F[None]) ** 2).sum(-1)
    np.fill_diagonal(d, -1)
    return rows[np.argsort(d, axis=1, kind="stable")[:, 1:k + 1]]


def assert_on_a_same_class_segment(X, y, X_syn, y_syn, k):
    """Independent check: each synthetic image lies (up to rounding) on a segment from a real image
    of its class to one of that image's k nearest same-class neighbours."""
    for img, c in zip(X_syn.astype(np.float64), y_syn):
        rows = np.flatnonzero(y == c)
        nn = nearest_neighbours(X, rows, min(k, len(rows) - 1))
        best = np.inf
        for i, a in enumerate(rows):
            xa = X[a].astype(np.float64)
            for b in nn[i]:
                d = X[b].astype(np.float64) - xa
                t = np.clip(((img - xa) * d).sum() / max((d * d).sum(), 1e-12), 0, 1)
                best = min(best, np.abs(img - (xa + t * d)).max())
        # Rounding to uint8 moves a pixel by <= 0.5; a least-squares t can add a little more.
        assert best <= 1.0, f"synthetic image of class {c} is {best} grey levels off any segment"


@pytest.mark.parametrize("name,k_param", [("smote", "k_neighbors"), ("adasyn", "n_neighbors")])
def test_synthetic_images_are_same_class_interpolations(name, k_param, imbalanced_digits):
    X, y = imbalanced_digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        balancer = make_balancer(name, random_state=0, **{k_param: 3})
        X_res, y_res = balancer.fit_resample(X, y)
    synthetic = balancer.provenance_ < 0
    assert synthetic.sum() > 0 and X_res.dtype == np.uint8
    assert_on_a_same_class_segment(X, y, X_res[synthetic], y_res[synthetic], k=3)
    # The recorded parents reproduce each image exactly (after rounding).
    parents = balancer.report_["synthetic_parents"]
    a, b, t = (np.asarray(parents[key]) for key in ("a", "b", "t"))
    expected = X[a] + t[:, None, None, None] * (X[b].astype(float) - X[a])
    assert np.abs(X_res[synthetic] - expected).max() <= 0.5 + 1e-4
    assert (y[a] == y_res[synthetic]).all() and (y[b] == y_res[synthetic]).all()


def test_smote_neighbours_agree_with_sklearn(imbalanced_digits):
    from balancelab.balancing.neighbors import ImageNearestNeighbors, SharedFeatures

    X, y = imbalanced_digits
    rows = np.flatnonzero(y == 0)
    Z = np.column_stack([np.arange(len(y), dtype=float), np.zeros(len(y))])
    feats = SharedFeatures(X.reshape(len(X), -1))
    torch_nn = ImageNearestNeighbors(4, feats, "torch").fit(Z[rows]).kneighbors(Z[rows], return_distance=False)
    sk_nn = ImageNearestNeighbors(4, feats, "sklearn").fit(Z[rows]).kneighbors(Z[rows], return_distance=False)
    assert (torch_nn[:, 0] == np.arange(len(rows))).all()
    agreement = np.mean([len(set(a) & set(b)) / 4 for a, b in zip(torch_nn, sk_nn)])
    assert agreement > 0.95


@pytest.mark.parametrize("name", ["smote", "adasyn", "offline_augmentation", "random_oversampling",
                                  "resample_to_target", "random_undersampling"])
@pytest.mark.parametrize("tiny", [1, 2, 3])
def test_tiny_classes_do_not_crash(name, tiny, digit_images):
    X, y = digit_images
    index = np.concatenate([np.flatnonzero(y == 0)[:20], np.flatnonzero(y == 1)[:tiny]])
    params = {"target_per_class": 10} if name in ("resample_to_target", "random_undersampling") else {}
    if name == "resample_to_target":
        params["oversampler"] = "smote"
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        balancer = make_balancer(name, random_state=0, **params)
        X_res, y_res = balancer.fit_resample(X[index], y[index])
    counts = np.bincount(y_res, minlength=2)
    expected = {"random_undersampling": [10, tiny], "resample_to_target": [10, 10]}.get(name, [20, 20])
    assert counts.tolist() == expected


def test_reduced_k_is_warned_and_recorded(digit_images):
    X, y = digit_images
    index = np.concatenate([np.flatnonzero(y == 0)[:20], np.flatnonzero(y == 1)[:3], np.flatnonzero(y == 2)[:1]])
    balancer = make_balancer("smote", random_state=0, k_neighbors=5)
    with pytest.warns(UserWarning, match="class 1 has 3 samples"):
        balancer.fit_resample(X[index], y[index])
    assert balancer.report_["k_used"] == {"1": 2, "2": 0}
    assert any("single sample" in a for a in balancer.report_["adjustments"])
    assert any("class 2" in w for w in balancer.report_["warnings"])


def test_adasyn_without_border_rows_says_use_smote():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.integers(0, 20, (30, 4, 4, 1)), rng.integers(230, 255, (8, 4, 4, 1))]).astype(np.uint8)
    y = np.array([0] * 30 + [1] * 8)
    balancer = make_balancer("adasyn", random_state=0)
    with pytest.warns(UserWarning, match="balancing=smote"):
        _, y_res = balancer.fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [30, 30]
    assert any("balancing=smote" in a for a in balancer.report_["adjustments"])


def test_feature_size_searches_small_interpolates_full(imbalanced_digits):
    X, y = imbalanced_digits
    balancer = make_balancer("smote", random_state=0, feature_size=8, k_neighbors=3)
    X_res, y_res = balancer.fit_resample(X, y)
    assert X_res.shape[1:] == X.shape[1:] and balancer.report_["feature_size"] == 8
    parents = balancer.report_["synthetic_parents"]
    a, b, t = (np.asarray(parents[key]) for key in ("a", "b", "t"))
    expected = X[a] + t[:, None, None, None] * (X[b].astype(float) - X[a])
    assert np.abs(X_res[balancer.provenance_ < 0] - expected).max() <= 0.5 + 1e-4


def with_exact_duplicates(digit_images, copies):
    """40 images of class 0; class 1 is 4 images, each present ``copies`` times."""
    X, y = digit_images
    minority = np.repeat(X[y == 1][:4], copies, axis=0)
    return np.concatenate([X[y == 0][:40], minority]), np.array([0] * 40 + [1] * len(minority))


@pytest.mark.parametrize("backend", ["sklearn", "torch"])
@pytest.mark.parametrize("copies", [3, 6])  # 6 copies: more rows at distance 0 than the k+1 = 4 asked for
def test_neighbour_search_puts_each_query_first_among_exact_duplicates(backend, copies, digit_images):
    from balancelab.balancing.neighbors import ImageNearestNeighbors, SharedFeatures

    X, y = with_exact_duplicates(digit_images, copies)
    Z = np.column_stack([np.arange(len(y), dtype=float), np.zeros(len(y))])
    feats = SharedFeatures(X.reshape(len(X), -1))
    minority = np.flatnonzero(y == 1)
    # As SMOTE asks: the class against itself.
    nn = ImageNearestNeighbors(4, feats, backend).fit(Z[minority]).kneighbors(Z[minority], return_distance=False)
    assert (nn[:, 0] == np.arange(len(minority))).all()
    # As ADASYN asks: the class against the whole set.
    nn = ImageNearestNeighbors(4, feats, backend).fit(Z).kneighbors(Z[minority], return_distance=False)
    assert (nn[:, 0] == minority).all()
    assert all(len(set(row)) == 4 for row in nn)


@pytest.mark.parametrize("name,k_param", [("smote", "k_neighbors"), ("adasyn", "n_neighbors")])
@pytest.mark.parametrize("backend", ["sklearn", "torch"])
@pytest.mark.parametrize("copies", [3, 6])
def test_exact_duplicates_still_give_distinct_parents(name, k_param, backend, copies, digit_images):
    X, y = with_exact_duplicates(digit_images, copies)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        balancer = make_balancer(name, random_state=0, knn_backend=backend, **{k_param: 3})
        X_res, y_res = balancer.fit_resample(X, y)
    parents = balancer.report_["synthetic_parents"]
    a, b, t = (np.asarray(parents[key]) for key in ("a", "b", "t"))
    assert len(a) == 40 - len(np.flatnonzero(y == 1))
    assert (a != b).all(), "a synthetic row was traced to a row paired with itself"
    assert np.isfinite(t).all() and (t >= 0).all() and (t <= 1).all()
    synthetic = X_res[balancer.provenance_ < 0].reshape(len(a), -1)
    assert len(np.unique(synthetic, axis=0)) > 1, "every synthetic image of the class is the same image"
    expected = X[a] + t[:, None, None, None] * (X[b].astype(float) - X[a])
    assert np.abs(X_res[balancer.provenance_ < 0] - expected).max() <= 0.5 + 1e-4


def test_decoding_never_uses_a_row_paired_with_itself():
    from balancelab.balancing.synthetic import decode

    Z = np.array([[0.0, 0.25], [1.0, 0.75], [2.0, 0.5]])
    # The only candidate pair is row 0 with itself: nothing can be traced, and that must be said.
    with pytest.raises(BalancingError, match=r"smote.*class 4"):
        decode(Z[[0]], Z, np.array([0]), np.array([0]), technique="smote", class_index=4)
    # With a real pair present, the self pair is not chosen even though it fits Z[0] exactly.
    a, b, t = decode(Z[[0]], Z, np.array([0, 0]), np.array([0, 1]), technique="smote", class_index=4)
    assert (a.tolist(), b.tolist(), t.tolist()) == ([0], [1], [0.0])


def test_decoding_a_row_off_every_segment_fails_loudly():
    from balancelab.balancing.synthetic import decode

    Z = np.array([[0.0, 0.25], [1.0, 0.75], [2.0, 0.5]])
    off = np.array([[0.5, 0.9]])  # on no segment: the tag does not match step 0.5 between rows 0 and 1
    with pytest.raises(BalancingError, match=r"adasyn.*class 2"):
        decode(off, Z, np.array([0, 1]), np.array([1, 2]), technique="adasyn", class_index=2)
    nan = np.array([[np.nan, 0.5]])
    with pytest.raises(BalancingError, match=r"adasyn.*class 2"):
        decode(nan, Z, np.array([0, 1]), np.array([1, 2]), technique="adasyn", class_index=2)
