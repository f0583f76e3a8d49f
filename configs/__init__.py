"""Hydra configs, shipped as package data of balancelab (mapped from the top-level configs/ folder).

Hydra imports this package to read the configs, so the resolvers and the option schemas
(``schema/<group>/<name>`` in the ConfigStore) they use are registered here.
"""

from balancelab.options.resolvers import register_resolvers
from balancelab.options.store import register_schemas

register_resolvers()
register_schemas()
