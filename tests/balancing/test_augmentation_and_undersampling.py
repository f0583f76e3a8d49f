import numpy as np

from balancelab.balancing import make_balancer
from balancelab.balancing.augmentation import augment_image

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
