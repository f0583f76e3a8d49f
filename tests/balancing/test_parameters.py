"""Constructor parameters are the contract: declared, keyword-only, stored as given; others refused."""

import inspect
import warnings

import numpy as np
import pytest

from balancelab.balancing import available_balancers, balancer_class, make_balancer
from balancelab.errors import BalancingError

TECHNIQUES = available_balancers()


def constructor(name):
    return inspect.signature(balancer_class(name).__init__)


@pytest.mark.parametrize("name", TECHNIQUES)
def test_every_parameter_is_declared_keyword_only_with_a_default(name):
    params = [p for p in constructor(name).parameters.values() if p.name != "self"]
    assert {"random_state", "device"} <= {p.name for p in params}
    for p in params:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: parameter '{p.name}' is {p.kind.description}"
        assert p.default is not inspect.Parameter.empty, f"{name}: parameter '{p.name}' has no default"


@pytest.mark.parametrize("name", TECHNIQUES)
def test_parameters_are_stored_under_their_own_names(name):
    balancer = make_balancer(name)
    for p in constructor(name).parameters.values():
        if p.name != "self":
            assert getattr(balancer, p.name) is p.default or getattr(balancer, p.name) == p.default


def test_misspelt_parameter_names_the_closest_valid_one():
    with pytest.raises(BalancingError) as caught:
        make_balancer("smote", k_neighbours=3)
    message = str(caught.value)
    assert "k_neighbours" in message and "did you mean 'k_neighbors'" in message
    for valid in ("sampling_strategy", "k_neighbors", "feature_size", "knn_backend", "random_state", "device"):
        assert valid in message


@pytest.mark.parametrize("name", TECHNIQUES)
def test_parameter_of_another_technique_is_refused(name):
    with pytest.raises(BalancingError, match="not_a_parameter"):
        make_balancer(name, not_a_parameter=1)


def test_positional_arguments_are_refused():
    with pytest.raises(TypeError):
        balancer_class("smote")(0)


@pytest.mark.parametrize("name", TECHNIQUES)
def test_report_lists_every_parameter(name, imbalanced_digits):
    X, y = imbalanced_digits
    params = {"target_per_class": 12} if name in ("random_undersampling", "resample_to_target") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ADASYN's fallback warning on these digits is tested elsewhere
        balancer = make_balancer(name, random_state=3, **params)
        balancer.fit_resample(X, y)
    declared = {p for p in constructor(name).parameters if p not in ("self", "device")}
    assert set(balancer.report_["parameters"]) == declared
    assert balancer.report_["parameters"]["random_state"] == 3
    for key, value in params.items():
        assert balancer.report_["parameters"][key] == value


def test_smote_parameters_reach_the_technique(imbalanced_digits):
    X, y = imbalanced_digits
    balancer = make_balancer("smote", random_state=0, k_neighbors=2, knn_backend="sklearn", feature_size=8,
                             sampling_strategy={2: 20})
    _, y_res = balancer.fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [40, 12, 20]
    report = balancer.report_
    assert report["k_requested"] == 2 and report["knn_backend"] == "sklearn" and report["feature_size"] == 8



def test_resample_to_target_offers_exactly_its_oversamplers_and_passes_them_its_shared_parameters(imbalanced_digits):
    from dataclasses import fields

    from balancelab.balancing.undersampling import OVERSAMPLERS
    from balancelab.options.balancing import ResampleToTarget

    (choices,) = [f.metadata["choices"] for f in fields(ResampleToTarget) if f.name == "oversampler"]
    assert set(choices) == set(OVERSAMPLERS)
    X, y = imbalanced_digits
    for oversampler in OVERSAMPLERS:
        balancer = make_balancer("resample_to_target", random_state=0, target_per_class=20, oversampler=oversampler,
                                 k_neighbors=2)
        _, y_res = balancer.fit_resample(X, y)
        assert np.bincount(y_res).tolist() == [20, 20, 20]
        assert balancer.report_["oversampler"] == OVERSAMPLERS[oversampler].name
    assert set(balancer.report_["k_used"].values()) == {2}  # smote ran with resample_to_target's k_neighbors
