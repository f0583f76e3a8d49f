"""Contract checks for balancers, yours included (as imbalanced-learn's estimator checks are).

    from balancelab.testing import check_balancer

    def test_my_balancer():
        check_balancer(MyBalancer(random_state=0, strength=2))   # an instance
        check_balancer(lambda: make_balancer("smote"))            # or a factory of new instances

``check_balancer`` runs the balancer on a small generated imbalanced image set and raises an
AssertionError naming the broken rule at the first rule broken. The rules:

1. the constructor only stores: every parameter is keyword-only with a default (``random_state``
   and ``device`` among them) and is stored, as given, as an attribute of the same name, and
   nothing else is set;
2. ``fit_resample(X, y)`` returns uint8 images of the input's per-row shape and int64 labels, of
   the input's classes only (a balancer balances the classes it is given; it invents none);
3. ``provenance_`` has one entry per output row: the input row it copies, or -1 for a synthetic
   row; a copied row equals its source row (image and label) exactly;
4. ``report_`` is a plain JSON-serialisable dict whose per-class ``before``/``after``/``added``/
   ``removed`` counts match the input, the output and the provenance, and whose ``parameters``
   list the constructor's parameters (``device`` aside);
5. the same ``random_state`` gives the same output;
6. the input arrays are not modified.
"""

from __future__ import annotations

import inspect
import json
import warnings
from typing import Any, Callable, Optional, Union

import numpy as np

__all__ = ["check_balancer", "imbalanced_images"]

SEED = 0  # the random_state used for a balancer given without one


def imbalanced_images(seed: int = 0, counts=(30, 12, 6), side: int = 12, channels: int = 3):
    """Small uint8 (N, side, side, channels) images in overlapping classes, and int64 labels.

    Each class is a smooth pattern plus strong noise, so classes have near neighbours of their
    own and of other classes (ADASYN finds border rows; SMOTE finds real neighbours).
    """
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, np.pi, side)
    images, labels = [], []
    for c, n in enumerate(counts):
        pattern = 128 + 20 * np.sin((c + 1) * grid[:, None] + grid[None, :])[..., None]
        noise = rng.normal(0, 45, (n, side, side, channels))
        images.append(np.clip(np.rint(pattern[None] + noise), 0, 255).astype(np.uint8))
        labels.append(np.full(n, c, np.int64))
    return np.concatenate(images), np.concatenate(labels)


def check_balancer(balancer_or_factory: Union[Any, Callable[[], Any]], X: Optional[np.ndarray] = None,
                   y: Optional[np.ndarray] = None) -> None:
    """Assert the balancer contract (see the module docstring); AssertionError names the broken rule.

    ``balancer_or_factory`` is a balancer instance, or a callable with no arguments (a class, a
    lambda) that returns a new one. The checks run on new balancers built from its parameters
    (as sklearn's ``clone`` does), never on the instance given. A balancer without a
    ``random_state`` is checked with 0. ``X``, ``y``: uint8 images (N, H, W, C) and integer labels to check on instead of the
    generated set (:func:`imbalanced_images`).
    """
    is_factory = isinstance(balancer_or_factory, type) or not hasattr(balancer_or_factory, "fit_resample")
    prototype = balancer_or_factory() if is_factory else balancer_or_factory
    label = type(prototype).__name__
    names = _check_constructor(prototype, label)
    params = {name: getattr(prototype, name) for name in names}
    if params["random_state"] is None:
        params["random_state"] = SEED

    if X is None or y is None:
        X, y = imbalanced_images()
    X_before, y_before = X.copy(), y.copy()
    first = _run(type(prototype)(**params), X, y)
    _require(np.array_equal(X, X_before) and np.array_equal(y, y_before), label, "the input is not modified",
             "fit_resample changed the X or y it was given; work on copies")
    X_res, y_res, provenance, report = first
    _check_output(X, X_res, y_res, label)
    _check_classes(y, y_res, label)
    _check_provenance(X, y, X_res, y_res, provenance, label)
    _check_report(y, y_res, provenance, report, names, label)
    X_again, y_again, provenance_again, _ = _run(type(prototype)(**params), X, y)
    _require(np.array_equal(X_res, X_again) and np.array_equal(y_res, y_again)
             and np.array_equal(provenance, provenance_again), label, "the same random_state gives the same output",
             f"two balancers built with random_state={params['random_state']} returned different outputs; "
             f"draw every random number from a generator seeded by random_state")


def _require(ok: bool, label: str, rule: str, detail: str) -> None:
    if not ok:
        raise AssertionError(f"check_balancer({label}): rule '{rule}' is broken: {detail}.")


def _check_constructor(balancer, label: str) -> list:
    rule = "the constructor only stores"
    signature = inspect.signature(type(balancer).__init__)
    params = [p for p in signature.parameters.values() if p.name != "self"]
    for p in params:
        _require(p.kind is inspect.Parameter.KEYWORD_ONLY, label, rule,
                 f"parameter '{p.name}' is {p.kind.description}; declare every parameter keyword-only "
                 f"(after a bare *), none as *args or **kwargs")
        _require(p.default is not inspect.Parameter.empty, label, rule, f"parameter '{p.name}' has no default")
    names = [p.name for p in params]
    for required in ("random_state", "device"):
        _require(required in names, label, rule, f"the constructor has no '{required}' parameter")
    # Build one from distinct stand-in values: each must come back, as given, under its own name.
    values = {name: _Marker(name) for name in names}
    try:
        built = type(balancer)(**values)
    except Exception as exc:  # noqa: BLE001 - whatever it raised, the constructor did more than store
        _require(False, label, rule, f"constructing it with stand-in values raised {type(exc).__name__}: {exc}; "
                                     f"validate parameters in fit_resample, not in __init__")
    for name in names:
        _require(getattr(built, name, None) is values[name], label, rule,
                 f"parameter '{name}' is not stored unchanged as the attribute self.{name}")
    extra = sorted(set(vars(built)) - set(names))
    _require(not extra, label, rule,
             f"the constructor also sets {', '.join(extra)}; compute such things in fit_resample")
    return names


class _Marker:
    """A stand-in parameter value only the constructor can have stored."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<value of {self.name}>"


def _run(balancer, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a technique's warnings are its own business, not the contract's
        out = balancer.fit_resample(X, y)
    label = type(balancer).__name__
    _require(isinstance(out, tuple) and len(out) == 2, label, "fit_resample returns (X, y)",
             f"it returned {type(out).__name__}")
    return out[0], out[1], getattr(balancer, "provenance_", None), getattr(balancer, "report_", None)


def _check_output(X, X_res, y_res, label: str) -> None:
    rule = "fit_resample returns uint8 images of the same shape per row and int64 labels"
    _require(isinstance(X_res, np.ndarray) and isinstance(y_res, np.ndarray), label, rule,
             f"got {type(X_res).__name__} and {type(y_res).__name__}, not numpy arrays")
    _require(X_res.dtype == np.uint8, label, rule, f"the images are {X_res.dtype}")
    _require(X_res.shape[1:] == X.shape[1:], label, rule, f"rows are shaped {X_res.shape[1:]}, not {X.shape[1:]}")
    _require(y_res.dtype == np.int64 and y_res.ndim == 1, label, rule,
             f"the labels are {y_res.dtype} shaped {y_res.shape}")
    _require(len(X_res) == len(y_res), label, rule, f"{len(X_res)} images but {len(y_res)} labels")


def _check_classes(y, y_res, label: str) -> None:
    invented = sorted(set(np.unique(y_res).tolist()) - set(np.unique(y).tolist()))
    _require(not invented, label, "the output's classes are the input's",
             f"the output has rows of class{'es' if len(invented) > 1 else ''} {', '.join(map(str, invented))}, "
             f"which the input does not have; add rows only to classes that fit_resample was given")


def _check_provenance(X, y, X_res, y_res, provenance, label: str) -> None:
    rule = "provenance_ has one entry per output row: its input row, or -1 if synthetic"
    _require(isinstance(provenance, np.ndarray) and provenance.ndim == 1 and len(provenance) == len(y_res), label,
             rule, f"provenance_ is {_describe(provenance)} for {len(y_res)} output rows")
    _require(np.issubdtype(provenance.dtype, np.integer), label, rule, f"provenance_ is {provenance.dtype}")
    _require(bool(((provenance >= -1) & (provenance < len(y))).all()), label, rule,
             f"entries must be -1 or an input row in 0..{len(y) - 1}; got {provenance.min()}..{provenance.max()}")
    copies = provenance >= 0
    differ = np.flatnonzero(copies)[
        ~(X_res[copies] == X[provenance[copies]]).reshape(int(copies.sum()), -1).all(1)
        | (y_res[copies] != y[provenance[copies]])]
    _require(len(differ) == 0, label, "copied rows equal their source rows",
             f"{len(differ)} output rows (first: {differ[:5].tolist()}) differ from the input row their "
             f"provenance_ names")


def _check_report(y, y_res, provenance, report, names, label: str) -> None:
    rule = "report_ is a plain JSON-serialisable dict"
    _require(isinstance(report, dict), label, rule, f"report_ is {type(report).__name__}")
    try:
        json.dumps(report, allow_nan=False)
    except (TypeError, ValueError) as exc:
        _require(False, label, rule, f"json.dumps fails: {exc}")
    rule = "report_ lists the parameters"
    listed = report.get("parameters")
    _require(isinstance(listed, dict), label, rule, "report_ has no 'parameters' dict")
    missing = sorted(set(names) - {"device"} - set(listed))
    _require(not missing, label, rule, f"report_['parameters'] lacks {', '.join(missing)}")

    rule = "report_ per-class counts match the output"
    per_class = report.get("per_class")
    _require(isinstance(per_class, dict), label, rule, "report_ has no 'per_class' dict")
    num_classes = int(y.max()) + 1  # the output's classes are the input's (checked before)
    before = np.bincount(y, minlength=num_classes)
    after = np.bincount(y_res, minlength=num_classes)
    copies = provenance >= 0
    for c in range(num_classes):
        kept = len(np.unique(provenance[copies & (y_res == c)]))
        expected = {"before": before[c], "after": after[c], "added": max(after[c] - before[c], 0),
                    "removed": before[c] - kept}
        row = per_class.get(str(c))
        _require(isinstance(row, dict), label, rule, f"per_class has no entry '{c}'")
        for key, value in expected.items():
            _require(row.get(key) == int(value), label, rule,
                     f"class {c}: '{key}' is {row.get(key)!r}, but the input and output give {int(value)}")


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array shaped {value.shape}"
    return type(value).__name__
