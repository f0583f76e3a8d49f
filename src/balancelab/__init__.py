"""balancelab: config-driven experiments on class imbalance in image classification."""

__version__ = "0.1.0"
