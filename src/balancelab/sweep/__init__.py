"""Sweeps over the experiment grid and their comparison report."""
