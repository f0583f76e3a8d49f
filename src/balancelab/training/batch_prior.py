"""The class prior a checkpoint was trained under: the class shares of the batches of its epoch.

Post-hoc logit adjustment (Menon et al. 2021) subtracts tau * log pi from the logits, pi the prior the model
was trained under, which is not always the dataset's:
- shuffled batches of the training set: its counts (after balancing: the resampled set's counts);
- class-balanced draws (``balancing=weighted_sampler``): uniform over the classes present;
- deferred re-sampling: the training split's counts up to ``start_epoch``, its re-balanced draws after it,
  as at the checkpoint's epoch (balancing/deferred_sampling.py).

Re-weighting losses (weighted CE, DRW, class-balanced focal) leave the batches as they are: the prior is the
batches'. Losses that add the log-prior to the logits in training (``logit_adjusted``, ``balanced_softmax``)
already make the logits estimate the class-balanced posterior; the post-hoc adjustment then acts on top of
theirs, which the prior's ``note`` says. Mixed batches (mixup, Remix) are counted by the images drawn.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def _shares(counts: Sequence[float]) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    return counts / counts.sum()


def counts_prior(counts: Sequence[float], source: str, epoch: Optional[int] = None) -> dict:
    """The prior of shuffled batches of a set with these class ``counts`` (see ``trained_prior``)."""
    counts = np.asarray(counts, dtype=np.float64)
    return _prior(_shares(counts), counts.sum(), source, epoch)


def _prior(shares: np.ndarray, size: float, source: str, epoch: Optional[int]) -> dict:
    present = shares[shares > 0]
    uniform = bool(len(present) == len(shares) and np.allclose(present, present[0], rtol=1e-9, atol=0))
    return {"shares": shares.tolist(), "counts": (shares * size).tolist(), "source": source, "epoch": epoch,
            "uniform": uniform}


def trained_prior(settings, criterion, counts_before: Sequence[int], counts_after: Sequence[int],
                  epoch: Optional[int]) -> dict:
    """``{"shares", "counts", "source", "epoch", "uniform"[, "note"]}`` of the batches of the 1-based ``epoch``.

    ``counts``: the expected draws per class in one pass over the training set (fractional under weighted
    draws), what post-hoc logit adjustment takes; ``uniform``: every class equally likely, so the adjustment
    would change no prediction.
    """
    after = np.asarray(counts_after, dtype=np.float64)
    order = settings.batch_order
    if order is not None and callable(getattr(order, "class_shares", None)):
        shares = np.asarray(order.class_shares(after, epoch or 1), dtype=np.float64)
        describe = order.describe() if callable(getattr(order, "describe", None)) else {}
        if not callable(getattr(order, "balanced", None)):  # a user's batch order that states its shares
            source = f"the batch order's class shares in epoch {epoch}"
        elif order.balanced(epoch or 1):
            source = f"re-balanced draws of epoch {epoch}: {describe.get('draws', 'weighted')}"
        else:
            source = f"shuffled batches of epoch {epoch}, before the deferred re-sampling"
    elif order is not None:
        shares = _shares(after)
        source = "the training set's counts (the batch order does not say its class shares)"
    elif settings.weighted_sampling:
        shares = _shares(after > 0)
        source = "class-balanced draws (every class present equally likely)"
    else:
        shares = _shares(after)
        changed = not np.array_equal(after, np.asarray(counts_before, dtype=np.float64))
        source = ("shuffled batches of the training set after balancing" if changed
                  else "shuffled batches of the training split as it is")
    prior = _prior(shares, after.sum(), source, epoch)
    note = prior_correction_note(criterion)
    if note:
        prior["note"] = note
    return prior


def prior_correction_note(criterion) -> Optional[str]:
    """What post-hoc logit adjustment must know of a loss that corrects for the prior itself (balanced softmax,
    logit-adjusted): the note, or None for a loss that does not."""
    correction = getattr(criterion, "prior_correction", None)
    said = correction() if callable(correction) else None
    if not said:
        return None
    return (f"{said} in training, so its logits already estimate the class-balanced posterior: this "
            f"adjustment acts on top of it (tau = 0, always a candidate, declines it)")
