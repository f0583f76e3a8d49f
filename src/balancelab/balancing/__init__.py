"""Balancing techniques behind one contract; see :mod:`balancelab.balancing.base`."""

from balancelab.balancing.registry import available_balancers, balancer_class, make_balancer

__all__ = ["make_balancer", "available_balancers", "balancer_class"]
