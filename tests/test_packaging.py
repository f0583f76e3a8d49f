"""Every sub-package of the source tree is shipped: a package missing from pyproject's list is missing from
every non-editable install, which an editable development install never shows."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    source = {".".join(p.parent.relative_to(ROOT / "src").parts) for p in (ROOT / "src").rglob("__init__.py")}
    assert source - listed == set(), f"add these to [tool.setuptools] packages in pyproject.toml: {source - listed}"
