import numpy as np
import pytest

from balancelab.balancing import make_balancer
from balancelab.balancing.augmentation import augment_image
from balancelab.errors import BalancingError

PRESET = {"hflip": {"p": 0.0}, "vflip": {"p": 0.0}, "rotate": {"p": 1.0, "max_degrees": 15.0},
          "shift_scale": {"p": 1.0, "max_shift": 0.1, "scale_range": 0.1},
          "brightness_contrast": {"p": 0.5, "brightness": 0.1, "contrast": 0.1},
          "hue_saturation": {"p": 0.0, "hue": 0.0, "saturation": 0.0}, "blur": {"p": 0.0, "max_kernel": 3},
          "noise": {"p": 0.0, "std": 0.0}}


def test_offline_augmentation_makes_new_images_from_sources(imbalanced_digits):
    X, y = imbalanced_digits
    X0 = X.copy()
    balancer = make_balancer("offline_augmentation", random_state=0, augmentation=PRESET)
    X_res, y_res = balancer.fit_resample(X, y)
    assert np.array_equal(X, X0)  # sources untouched
    new = balancer.provenance_ < 0
    assert np.bincount(y_res).tolist() == [40, 40, 40]
    sources = np.asarray(balancer.report_["synthetic_sources"])
    assert (y[sources] == y_res[new]).all()
    # Each new image differs from its source but stays close to it (a plausible variation).
    diff = np.abs(X_res[new].astype(int) - X[sources].astype(int)).mean(axis=(1, 2, 3))
    assert (diff > 0).all() and diff.mean() < 60
    assert balancer.report_["transform_usage"]["rotate"] == new.sum()


def test_augment_image_keeps_shape_and_colour_transforms_rgb():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (16, 16, 3)).astype(np.uint8)
    preset = {**PRESET, "hue_saturation": {"p": 1.0, "hue": 10.0, "saturation": 0.2},
              "blur": {"p": 1.0, "max_kernel": 3}, "noise": {"p": 1.0, "std": 5.0}, "hflip": {"p": 1.0}}
    out, applied = augment_image(img, preset, rng)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert {"hflip", "hue_saturation", "blur", "noise"} <= set(applied)


def test_undersampling_to_target_with_override():
    y = np.array([0] * 50 + [1] * 30 + [2] * 5)
    X = np.zeros((len(y), 2, 2, 1), np.uint8)
    balancer = make_balancer("random_undersampling", random_state=0, target_per_class=10, overrides={0: 1.5})
    _, y_res = balancer.fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [15, 10, 5]  # class 2 keeps all it has, no duplication
    assert len(np.unique(balancer.provenance_)) == len(y_res)
    assert balancer.report_["per_class"]["0"]["removed"] == 35


def test_resample_to_target_reduces_and_fills():
    y = np.array([0] * 50 + [1] * 4)
    X = np.arange(len(y) * 4, dtype=np.uint8).reshape(len(y), 2, 2, 1)
    balancer = make_balancer("resample_to_target", random_state=0, target_per_class=12)
    _, y_res = balancer.fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [12, 12]


def test_brightness_contrast_clips_instead_of_folding_back():
    from balancelab.balancing.augmentation import brightness_contrast

    black = np.zeros((8, 8, 3), np.uint8)
    white = np.full((8, 8, 1), 255, np.uint8)
    assert (brightness_contrast(black, 1.0, -40.0) == 0).all()  # darker than black is black, not grey
    assert (brightness_contrast(black, 0.8, -1.0) == 0).all()
    assert (brightness_contrast(white, 1.2, 40.0) == 255).all()
    img = np.random.default_rng(0).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    for alpha, beta in [(1.0, -60.0), (0.8, 25.5), (1.2, -30.2), (1.15, 41.0)]:
        out = brightness_contrast(img, alpha, beta)
        assert out.dtype == np.uint8 and out.shape == img.shape
        expected = np.clip(np.rint(alpha * img.astype(np.float64) + beta), 0, 255)
        assert np.abs(out.astype(int) - expected).max() == 0


def test_darkening_augmentation_keeps_black_images_black():
    # Brightness only: half the draws darken; a black image must come out black from every one of them.
    preset = {"brightness_contrast": {"p": 1.0, "brightness": 0.2, "contrast": 0.0}}
    black = np.zeros((8, 8, 1), np.uint8)
    outputs = [augment_image(black, preset, np.random.default_rng(seed))[0] for seed in range(20)]
    assert all(len(np.unique(out)) == 1 for out in outputs)  # a uniform shift of a uniform image
    assert sum((out == 0).all() for out in outputs) >= 5


def test_resample_to_target_refuses_an_unknown_oversampler():
    y = np.array([0] * 20 + [1] * 4)
    X = np.arange(len(y) * 4, dtype=np.uint8).reshape(len(y), 2, 2, 1)
    with pytest.raises(BalancingError, match="'balancing.oversampler' must be one of random, smote; got 'adasyn'"):
        make_balancer("resample_to_target", random_state=0, target_per_class=10, oversampler="adasyn").fit_resample(X, y)


def test_offline_augmentation_refuses_flat_rows_with_a_balancing_error():
    y = np.array([0] * 6 + [1] * 2)
    with pytest.raises(BalancingError, match=r"\(N, H, W, C\).*\(8, 16\)"):
        make_balancer("offline_augmentation", random_state=0).fit_resample(np.zeros((8, 16), np.uint8), y)


def test_resample_to_target_on_images_on_disk_copies_no_image_and_matches_the_array_result(tmp_path):
    import tracemalloc

    from balancelab.data.rows import DiskImages

    rng = np.random.default_rng(0)
    y = np.array([0] * 600 + [1] * 60 + [2] * 20)
    X = rng.integers(0, 256, (len(y), 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", X)
    disk = DiskImages(tmp_path / "x.npy")
    tracemalloc.start()
    lazy_X, lazy_y = make_balancer("resample_to_target", random_state=0, target_per_class=300,
                                   oversampler="random").fit_resample_rows(disk, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.1 * X.nbytes, f"peak {peak / 1e6:.1f} MB for {X.nbytes / 1e6:.1f} MB of images"
    X_res, y_res = make_balancer("resample_to_target", random_state=0, target_per_class=300,
                                 oversampler="random").fit_resample(X, y)
    assert np.array_equal(np.asarray(lazy_X), X_res) and np.array_equal(lazy_y, y_res)
