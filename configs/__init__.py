"""Hydra configs, shipped as package data of balancelab (mapped from the top-level configs/ folder)."""
