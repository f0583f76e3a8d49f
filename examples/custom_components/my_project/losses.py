"""A user's own loss: cross-entropy with logits shifted by tau * log(prior) (logit adjustment, Menon et al.
2021). balancelab passes class_counts (the training counts before balancing) when the factory takes them."""

import torch
import torch.nn.functional as F
from torch import nn


class PriorShiftedCrossEntropy(nn.Module):
    def __init__(self, *, class_counts, tau: float = 1.0):
        super().__init__()
        counts = torch.as_tensor(class_counts, dtype=torch.float32).clamp(min=1)
        self.register_buffer("log_prior", torch.log(counts / counts.sum()))
        self.tau = tau

    def forward(self, logits, target):
        return F.cross_entropy(logits.float() + self.tau * self.log_prior, target)

    def describe(self) -> dict:
        return {"type": "prior_shifted_cross_entropy", "tau": self.tau}
