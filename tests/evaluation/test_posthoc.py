import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from balancelab.errors import ConfigError
from balancelab.evaluation.metrics import split_scores
from balancelab.evaluation.forward import final_linear
from balancelab.evaluation.posthoc import (DEFAULT_TAUS, TAU_NORM_TAUS, adjusted_logits,
                                           model_outputs, posthoc_logit_adjustment, tau_normalisation,
                                           tau_normalised_logits, tau_normalised_weight)
from balancelab.training.batches import DeviceImages

COUNTS = [900, 100]


def _logits(rng, n, classes=2):
    return rng.normal(size=(n, classes)) * 2


# --- tau = 0 is the identity -------------------------------------------------------------------------

def test_logit_adjustment_with_tau_zero_is_the_identity():
    z = _logits(np.random.default_rng(0), 50, 3)
    assert np.array_equal(adjusted_logits(z, [50, 5, 1], 0.0), z)
    y = np.random.default_rng(1).integers(0, 3, 50)
    result = posthoc_logit_adjustment(val_logits=z, val_labels=y, test_logits=z, test_labels=y,
                                      class_counts=[50, 5, 1], taus=[0.0])
    assert result.tau == 0.0 and np.array_equal(result.test_predictions, z.argmax(1))


def test_tau_normalisation_with_tau_zero_is_the_layer_without_its_bias():
    """Kang et al.'s tau_norm.py scores feat @ (w / ||w||^tau).T: the trained bias is dropped at every tau."""
    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(4, 6, generator=g) * 3, torch.randn(20, 6, generator=g)
    assert torch.equal(tau_normalised_weight(w, 0.0), w)
    assert torch.allclose(tau_normalised_logits(x, w, 0.0), x @ w.T)
    y = torch.randint(0, 4, (20,), generator=g).numpy()
    result = tau_normalisation(weight=w, val_features=x, val_labels=y, test_features=x, test_labels=y, taus=[0.0])
    assert np.array_equal(result.test_predictions, (x @ w.T).argmax(1).numpy())


def test_tau_normalisation_ignores_a_bias_that_would_decide_every_prediction():
    """A model whose bias alone picks class 0 everywhere: the tau-normalised scores never see it."""
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
        layer.bias.copy_(torch.tensor([100.0, 0.0]))
    x = torch.tensor([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5)
    y = np.array([0] * 5 + [1] * 5)
    assert (layer(x).argmax(1) == 0).all()  # the layer itself, bias included
    result = tau_normalisation(weight=layer.weight, val_features=x, val_labels=y, test_features=x, test_labels=y)
    assert np.array_equal(result.test_predictions, y)
    with pytest.raises(TypeError):  # no bias argument to be silently dropped
        tau_normalisation(weight=layer.weight, bias=layer.bias, val_features=x, val_labels=y, test_features=x,
                          test_labels=y)


def test_tau_normalisation_searches_the_references_grid():
    """tau_norm.py: for p in np.linspace(0, 2, 21), i.e. 0, 0.1, ..., 2.0, all tried on validation."""
    assert np.allclose(TAU_NORM_TAUS, np.linspace(0, 2, 21)) and len(TAU_NORM_TAUS) == 21
    g = torch.Generator().manual_seed(1)
    w, x = torch.randn(3, 4, generator=g), torch.randn(12, 4, generator=g)
    y = np.arange(12) % 3
    result = tau_normalisation(weight=w, val_features=x, val_labels=y, test_features=x, test_labels=y)
    assert np.allclose(sorted(result.val_scores), np.linspace(0, 2, 21))


def test_tau_one_gives_unit_norm_rows():
    w = torch.tensor([[3.0, 4.0], [0.0, 0.5], [0.0, 0.0]])
    normed = tau_normalised_weight(w, 1.0)
    assert torch.allclose(normed.norm(dim=1), torch.tensor([1.0, 1.0, 0.0]))  # a zero row stays 0, not NaN


# --- tau is chosen on validation, never on test --------------------------------------------------------

def _split(margins_major, margins_minor):
    """Logits (0, m): class 1 wins when m > 0. Adjustment by tau adds tau*log(9) to the minority's logit."""
    m = np.concatenate([margins_major, margins_minor])
    logits = np.stack([np.zeros_like(m), m], 1)
    labels = np.array([0] * len(margins_major) + [1] * len(margins_minor))
    return logits, labels


def test_logit_adjustment_tau_comes_from_validation_not_test():
    # validation: minority samples just below the boundary -> it wants a correction;
    # test: majority samples just below it on the minority side -> a correction only hurts.
    val_logits, val_labels = _split(np.full(20, -5.0), np.full(5, -1.0))
    test_logits, test_labels = _split(np.full(20, -1.0), np.full(5, 2.0))
    result = posthoc_logit_adjustment(val_logits=val_logits, val_labels=val_labels, test_logits=test_logits,
                                      test_labels=test_labels, class_counts=COUNTS)
    assert result.tau == 0.5  # the smallest tau with tau*log 9 > 1 (ties go to the milder correction)
    test_at = {t: split_scores(test_labels, adjusted_logits(test_logits, COUNTS, t).argmax(1))["macro_f1"]
               for t in DEFAULT_TAUS}
    assert test_at[0.0] > test_at[0.5]  # test would have chosen 0: the choice is not test's
    assert result.test_metrics == split_scores(test_labels, adjusted_logits(test_logits, COUNTS, 0.5).argmax(1))
    # ... and whatever the test labels, the choice is the same
    flipped = posthoc_logit_adjustment(val_logits=val_logits, val_labels=val_labels, test_logits=test_logits,
                                       test_labels=1 - test_labels, class_counts=COUNTS)
    assert flipped.tau == result.tau
    # the reverse: validation prefers no correction, test would want one
    reverse = posthoc_logit_adjustment(val_logits=test_logits, val_labels=test_labels, test_logits=val_logits,
                                       test_labels=val_labels, class_counts=COUNTS)
    assert reverse.tau == 0.0
    json.dumps(result.summary(), allow_nan=False)


def test_tau_normalisation_tau_comes_from_validation_not_test():
    # class 0's weight row has norm 4, class 1's norm 1: tau-normalisation lifts class 1.
    w = torch.tensor([[4.0, 0.0], [0.0, 1.0]])
    # minority samples at logits (4^(1-tau), 1.5): class 1 wins once tau > 0.71; majority at (4^(1-tau), 0)
    val_y = np.array([1] * 5 + [0] * 20)
    val_x = torch.tensor([[1.0, 1.5]] * 5 + [[1.0, 0.0]] * 20)
    test_x = torch.tensor([[1.0, 1.5]] * 5 + [[1.0, 0.2]] * 20)
    test_y = np.array([0] * 5 + [0] * 20)  # here the same points are majority: test prefers tau = 0
    result = tau_normalisation(weight=w, val_features=val_x, val_labels=val_y, test_features=test_x,
                               test_labels=test_y)
    assert result.tau == pytest.approx(0.8) and result.val_scores[result.tau] > result.val_scores[0.0]
    reverse = tau_normalisation(weight=w, val_features=test_x, val_labels=test_y, test_features=val_x,
                                test_labels=val_y)
    assert reverse.tau == 0.0


def test_logit_adjustment_recovers_the_balanced_rule():
    """Logits = log of the training posterior (prior 9:1): tau = 1 is the balanced-error optimum."""
    rng = np.random.default_rng(0)

    def sample(n0, n1):
        x = np.concatenate([rng.normal(0, 1, n0), rng.normal(2, 1, n1)])
        log_lik = np.stack([-0.5 * x ** 2, -0.5 * (x - 2) ** 2], 1)
        return log_lik + np.log([0.9, 0.1]), np.array([0] * n0 + [1] * n1)

    val, val_y = sample(2000, 2000)
    test, test_y = sample(2000, 2000)
    result = posthoc_logit_adjustment(val_logits=val, val_labels=val_y, test_logits=test, test_labels=test_y,
                                      class_counts=COUNTS, metric="balanced_accuracy")
    assert 0.75 <= result.tau <= 1.25
    assert result.test_metrics["balanced_accuracy"] > split_scores(test_y, test.argmax(1))["balanced_accuracy"] + 0.1


def test_single_logit_is_read_as_binary():
    z = np.array([[-1.0], [0.5], [-0.2]])
    assert np.array_equal(adjusted_logits(z, [9, 1], 0.0).argmax(1), (z[:, 0] > 0).astype(int))
    assert adjusted_logits(z, [9, 1], 1.0).argmax(1).tolist() == [1, 1, 1]  # + log 9 to the positive logit


@pytest.mark.parametrize("taus, message", [([], "non-empty"), ([0.5, 1.0], "must include 0"),
                                           ([0.0, float("nan")], "finite")])
def test_bad_grids_are_config_errors(taus, message):
    z = np.zeros((3, 2))
    with pytest.raises(ConfigError, match=message):
        posthoc_logit_adjustment(val_logits=z, val_labels=[0, 1, 0], test_logits=z, test_labels=[0, 1, 0],
                                 class_counts=COUNTS, taus=taus)


def test_unknown_metric_is_a_config_error():
    z = np.zeros((3, 2))
    with pytest.raises(ConfigError, match="metric must be one of"):
        posthoc_logit_adjustment(val_logits=z, val_labels=[0, 1, 0], test_logits=z, test_labels=[0, 1, 0],
                                 class_counts=COUNTS, metric="auc")


# --- outputs of a model ---------------------------------------------------------------------------------

def _images(n=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 255, (n, 4, 4, 1)).astype(np.uint8)
    return DeviceImages(X, rng.integers(0, 3, n), torch.device("cpu"), [0.5], [0.3])


def test_model_outputs_are_logits_and_the_final_layers_inputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    data = _images()
    logits, features = model_outputs(model, data, batch_size=4)
    assert logits.shape == (10, 3) and features.shape == (10, 8)
    layer = final_linear(model)
    assert layer is model[-1]
    recomputed = F.linear(torch.from_numpy(features), layer.weight, layer.bias).detach().numpy()
    assert np.allclose(recomputed, logits, atol=1e-6)
    x, _ = next(data.ordered_batches(10))
    assert np.allclose(model(x).detach().numpy(), logits, atol=1e-6)  # eval mode: no dropout
    result = tau_normalisation(weight=layer.weight, val_features=features, val_labels=data.y,
                               test_features=features, test_labels=data.y, taus=[0.0])
    without_bias = (torch.from_numpy(features) @ layer.weight.T).argmax(1).numpy()
    assert np.array_equal(result.test_predictions, without_bias)


def test_a_model_whose_last_linear_is_not_the_output_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), nn.Tanh())
    with pytest.raises(ConfigError, match="does not produce the model's output"):
        model_outputs(model, _images(), batch_size=4)


def test_logits_alone_need_no_final_linear_layer():
    from balancelab.backbones.cifar_resnet import resnet32

    model = resnet32(num_classes=3, in_channels=1, input_size=8, normed_classifier=True)
    data = DeviceImages(np.random.default_rng(0).integers(0, 255, (5, 8, 8, 1)).astype(np.uint8),
                        np.array([0, 1, 2, 0, 1]), torch.device("cpu"), [0.5], [0.3])
    logits, features = model_outputs(model, data, batch_size=2, features=False)
    assert features is None and logits.shape == (5, 3)
    x, _ = next(data.ordered_batches(5))
    assert np.allclose(model(x).detach().numpy(), logits, atol=1e-6)
    with pytest.raises(ConfigError, match="has no linear layer"):
        model_outputs(model, data, batch_size=2)


def test_a_tau_at_the_end_of_the_grid_is_flagged():
    from balancelab.evaluation.posthoc import PosthocResult

    at_edge = PosthocResult("logit_adjustment", 2.0, "macro_f1", {0.0: 0.5, 1.0: 0.6, 2.0: 0.7}, np.zeros(1), {})
    inside = PosthocResult("logit_adjustment", 1.0, "macro_f1", {0.0: 0.5, 1.0: 0.7, 2.0: 0.6}, np.zeros(1), {})
    assert "largest of the grid" in at_edge.summary()["note"] and "note" not in inside.summary()


# --- the prior the model was trained under ---------------------------------------------------------------

def test_logit_adjustment_takes_expected_counts_of_a_re_balanced_sampler():
    """Draw weights give fractional expected counts per class (deferred re-sampling's effective-number draws)."""
    z = _logits(np.random.default_rng(3), 10, 2)
    assert np.allclose(adjusted_logits(z, [2.5, 7.5], 1.0), z - np.log([0.25, 0.75]))
    with pytest.raises(ConfigError, match=r"class_counts must be non-negative finite numbers.*got \[-1"):
        adjusted_logits(z, [-1, 2], 1.0)
