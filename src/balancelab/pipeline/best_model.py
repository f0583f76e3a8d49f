"""After training: the best-on-validation weights are scored once on test, under the run's decision rule.

Two-class runs choose their operating threshold on validation (never on test) and the checkpoint carries
it; validation is also reported under that rule, so that validation minus test compares like with like
(history.csv's val_macro_f1, which picked the epoch, is at the arg-max instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from balancelab.checkpoint import save_checkpoint
from balancelab.evaluation.binary import choose_threshold
from balancelab.evaluation.decision import DecisionRule
from balancelab.evaluation.derived import BY_POSTHOC_METHOD, CRT, predictions_table
from balancelab.evaluation.forward import final_linear, forward_pass
from balancelab.evaluation.metrics import headline_metrics, per_class_table, split_scores
from balancelab.evaluation.posthoc import posthoc_logit_adjustment, tau_normalisation
from balancelab.output import atomic
from balancelab.output.contract import CHECKPOINT_FILE
from balancelab.pipeline import artifacts
from balancelab.training.batch_prior import counts_prior
from balancelab.training.batches import DeviceImages
from balancelab.training.crt import IMAGES_PER_CLASS_VISIT, retrain_classifier
from balancelab.training.loop import predict


def evaluate_best_model(run_dir: Path, model, best_state: dict, splits, val_data: DeviceImages, normalization: dict,
                        metadata: dict, train_counts, evaluation: dict, batch_size: int, device,
                        images=None, prior: Optional[dict] = None) -> dict:
    """Writes best_model.pt and the test artifacts; returns the summary's ``test`` and validation blocks.

    ``images(X, y)``: the test split's batches, placed as the training set's were (on the device, or streamed);
    by default on ``device``. ``prior``: the class prior the checkpoint was trained under
    (training.batch_prior.trained_prior), for post-hoc logit adjustment; None: the training split's counts."""
    names = splits.class_names
    model.load_state_dict(best_state)
    scale = metadata.get("logit_scale", 1.0)
    # One pass per split gives the probabilities, the logits and (for tau-normalisation) the features: the
    # post-hoc corrections below reuse them instead of running the model again.
    with_corrections = len(names) > 2 and units_of(model, len(names)) == len(names)
    val = forward_pass(model, val_data, batch_size, scale, features=with_corrections, strict=False)
    val_probs, val_loss = val.probabilities, val.loss
    threshold = None
    if len(names) == 2:
        metric = evaluation["threshold_metric"]
        threshold = choose_threshold(splits.val.y, val_probs[:, 1], metric)
        metadata["threshold"] = {"value": threshold, "metric": metric, "chosen_on": "validation",
                                 "positive_class": names[1], "positive_index": 1}
    save_checkpoint(run_dir / CHECKPOINT_FILE, best_state, metadata)
    rule = DecisionRule(threshold)
    test_data = (images(splits.test.X, splits.test.y) if images is not None
                 else DeviceImages(splits.test.X, splits.test.y, device, normalization["mean"], normalization["std"]))
    test_pass = forward_pass(model, test_data, batch_size, scale, features=with_corrections, strict=False)
    probs, test_loss = test_pass.probabilities, test_pass.loss  # fp32: reproducible from the checkpoint
    test = artifacts.write_test(run_dir, splits.test.y, probs, splits.test.source_ids, names, train_counts,
                                evaluation, rule)
    if threshold is not None:
        test.update(artifacts.write_binary(run_dir, splits.val.y, val_probs[:, 1], splits.test.y, probs[:, 1],
                                           threshold, evaluation["threshold_metric"], names[1]))
    test["loss"] = test_loss
    val_pred, _ = rule.predict(val_probs)
    validation = {**split_scores(splits.val.y, val_pred), "loss": val_loss, "decision_rule": rule.describe(names)}
    out = {"test": test, "validation_at_best_epoch": validation}
    if units_of(model, len(names)) == len(names):
        out["posthoc"] = posthoc_corrections(run_dir, model, val_data, test_data, splits, train_counts, evaluation,
                                             batch_size, scale, prior=prior,
                                             outputs=(val, test_pass) if with_corrections else None)
    return out


def units_of(model, default: int) -> int:
    """Logits the model outputs (1 for a binary cross-entropy model)."""

    try:
        return final_linear(model).out_features
    except Exception:
        return default


def posthoc_corrections(run_dir: Path, model, val_data: DeviceImages, test_data: DeviceImages, splits, train_counts,
                        evaluation: dict, batch_size: int, logit_scale: float = 1.0,
                        prior: Optional[dict] = None, outputs: Optional[tuple] = None) -> dict:
    """Free corrections of the trained model (no retraining), tau chosen on validation, reported on test:
    post-hoc logit adjustment (Menon et al. 2021) and tau-normalisation of the classifier (Kang et al. 2020).

    Logit adjustment divides out ``prior``, the class prior of the batches the checkpoint was trained under
    (training.batch_prior; None: ``train_counts``), which its block records. Where that prior is uniform the
    adjustment is skipped, with a note: every tau would give the model's own predictions, a derived row
    identical to its source.

    Two-class runs are left out: their decision threshold, chosen on validation, already is the one free
    parameter such a correction would move.
    """

    names = splits.class_names
    prior = prior or counts_prior(train_counts, "the training split's counts")
    prior_facts = {"source": prior["source"], "epoch": prior.get("epoch"), "shares": prior["shares"],
                   **({"note": prior["note"]} if prior.get("note") else {})}
    if len(names) <= 2:
        return {"skipped": "two-class run: the validation-chosen threshold is its post-hoc correction"}
    # ``outputs``: the (validation, test) passes evaluate_best_model made; else one pass per split here
    val, test = outputs or tuple(forward_pass(model, data, batch_size, features=True, strict=False)
                                 for data in (val_data, test_data))
    val_logits, test_logits = val.logits, test.logits
    val_features, test_features = val.features, test.features
    layer, tau_norm_skipped = (final_linear(model), "") if val_features is not None else (None, val.features_problem)
    # Logit adjustment compares logits with log-priors: it needs the logits the loss saw (scaled).
    val_logits, test_logits = val_logits * logit_scale, test_logits * logit_scale
    results, block = {}, {}
    if prior["uniform"]:
        block["logit_adjustment"] = {"skipped": f"the class prior the model was trained under is uniform "
                                                f"({prior['source']}): log pi is the same for every class, so every "
                                                f"tau gives predictions identical to the model's", "prior": prior_facts}
    else:
        results["logit_adjustment"] = posthoc_logit_adjustment(
            val_logits=val_logits, val_labels=splits.val.y, test_logits=test_logits, test_labels=splits.test.y,
            class_counts=prior["counts"])
    if layer is not None:
        results["tau_normalisation"] = tau_normalisation(
            weight=layer.weight, val_features=val_features, val_labels=splits.val.y,
            test_features=test_features, test_labels=splits.test.y)
    else:
        block["tau_normalisation"] = {"skipped": tau_norm_skipped}
    for method, result in results.items():
        files = BY_POSTHOC_METHOD[method]
        atomic.write_csv(run_dir / files.metrics_file, per_class_table(splits.test.y, result.test_predictions, names))
        # the predictions too: a sweep's paired bootstrap over test samples needs them (one seed gets intervals)
        atomic.write_csv(run_dir / files.predictions_file, predictions_table(
            splits.test.y, result.test_predictions, splits.test.source_ids, names))
        block[method] = {**result.summary(), "test": headline_metrics(
            splits.test.y, result.test_predictions, names, train_counts, evaluation["many_shot_min"],
            evaluation["few_shot_max"])}
        if method == "logit_adjustment":
            block[method]["prior"] = prior_facts
    return block


def classifier_retraining(run_dir: Path, model, train_data: DeviceImages, val_data: DeviceImages,
                          test_data: DeviceImages, splits, train_counts, evaluation: dict, epochs: int, batch_size: int,
                          seed: int, augment=None, stop_requested=lambda: None) -> dict:
    """cRT (Kang et al. 2020, as their code runs it: training/crt.py): the best model's classifier re-initialised
    and trained alone on class-aware, augmented batches of the original training split, the backbone frozen in
    train mode; the epoch best on validation is scored once on test, as its own result."""
    import copy
    from dataclasses import asdict

    result = retrain_classifier(copy.deepcopy(model), train_data, val_data, epochs=epochs, batch_size=batch_size,
                                seed=seed, augment=augment, stop_requested=stop_requested)
    probs, _ = predict(result.model, test_data, batch_size)
    pred = probs.argmax(1)
    atomic.write_csv(run_dir / CRT.metrics_file, per_class_table(splits.test.y, pred, splits.class_names))
    atomic.write_csv(run_dir / CRT.predictions_file,
                     predictions_table(splits.test.y, pred, splits.test.source_ids, splits.class_names, probs))
    return {"epochs": epochs, "best_epoch": result.best_epoch, "chosen_on": "validation",
            "selection_metric": "macro_f1", "val_macro_f1": result.val_macro_f1,
            "sampling": f"class-aware ({IMAGES_PER_CLASS_VISIT} images a class visit), original training split, "
                        f"{result.steps_per_epoch} batches an epoch",
            "backbone": "weights frozen at the best epoch; batch norm in train mode (statistics follow the batches)",
            "online_augmentation": asdict(augment) if augment is not None else None,
            "lr_per_epoch": result.lrs,
            "test": headline_metrics(splits.test.y, pred, splits.class_names, train_counts,
                                     evaluation["many_shot_min"], evaluation["few_shot_max"])}
