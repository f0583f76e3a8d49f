"""The configuration's single source of truth: typed option schemas, their registration, checks and building.

Nothing here imports torch: ``--help`` and the validation pass run before any heavy import.
"""
