"""Test-set evaluation: metrics tables, calibration and plots, computed from probabilities."""
