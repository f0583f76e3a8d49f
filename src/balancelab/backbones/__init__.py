"""Backbones of the literature, built by factory functions with keyword-only arguments."""
