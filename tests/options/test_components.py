"""An option's name is written once (its schema's ``name`` default): the group tables are collected from the
schema modules, so a new schema needs no table entry, and two schemas cannot claim one name."""

import dataclasses
from typing import ClassVar

import pytest

from balancelab.options.fields import components, option
from balancelab.options.store import GROUPS


@dataclasses.dataclass
class _Base:
    name: str = "???"


def _namespace(*classes):
    space = {"__name__": __name__}
    space.update({c.__name__: c for c in classes})
    return space


def test_a_schema_with_a_name_is_an_option_and_a_base_is_not():
    @dataclasses.dataclass
    class Mine(_Base):
        name: str = "mine"
        strength: float = option(1.0, "how strong", ge=0.0)

    assert components(_namespace(_Base, Mine), _Base) == {"mine": Mine}


def test_a_shared_schema_names_itself():
    @dataclasses.dataclass
    class Shared(_Base):
        schema_name: ClassVar[str] = "shared"

    assert components(_namespace(Shared), _Base) == {"shared": Shared}


def test_two_schemas_cannot_declare_one_option():
    @dataclasses.dataclass
    class One(_Base):
        name: str = "same"

    @dataclasses.dataclass
    class Two(_Base):
        name: str = "same"

    with pytest.raises(TypeError, match="Two schemas .* declare the option 'same'"):
        components(_namespace(One, Two), _Base)


def test_an_imported_schema_is_not_declared_twice():
    @dataclasses.dataclass
    class Elsewhere(_Base):
        name: str = "elsewhere"

    Elsewhere.__module__ = "some.other.module"
    assert components(_namespace(Elsewhere), _Base) == {}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_table_key_is_the_name_its_schema_declares(group):
    for key, schema in GROUPS[group].schemas.items():
        declared = getattr(schema, "schema_name", None) or next(
            f.default for f in dataclasses.fields(schema) if f.name == "name")
        assert declared == key
