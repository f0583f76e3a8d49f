"""Each built-in option's schema and its ``_target_`` agree: every key is a parameter of the target, and a
default written on both sides is the same value, so the two cannot drift apart."""

import dataclasses
import inspect

import pytest

from balancelab.options.build import accepted_parameters, target_of
from balancelab.options.store import GROUPS


SCHEMAS = [(group, name, schema) for group, spec in GROUPS.items() for name, schema in spec.schemas.items()]


def _keys(group, schema):
    runner = GROUPS[group].runner_keys
    return {f.name: f for f in dataclasses.fields(schema) if not f.name.startswith("_") and f.name not in runner}


def _default(f):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return inspect.Parameter.empty


@pytest.mark.parametrize("group,name,schema", SCHEMAS, ids=[f"{g}={n}" for g, n, _ in SCHEMAS])
def test_every_key_of_a_schema_is_a_parameter_of_its_target(group, name, schema):
    target = target_of({"_target_": schema._target_}, group)
    names, takes_any = accepted_parameters(target)
    assert takes_any or set(_keys(group, schema)) <= names, (
        f"{group}={name}: {sorted(set(_keys(group, schema)) - names)} are not parameters of {schema._target_}")


@pytest.mark.parametrize("group,name,schema", [s for s in SCHEMAS if s[2]._target_.startswith("balancelab.")],
                         ids=[f"{g}={n}" for g, n, s in SCHEMAS if s._target_.startswith("balancelab.")])
def test_a_default_written_in_the_schema_and_the_signature_is_the_same(group, name, schema):
    """torch's own classes (optimizers) keep torch's defaults; balancelab's targets must agree with their schema."""
    target = target_of({"_target_": schema._target_}, group)
    signature = inspect.signature(target)
    differ = {}
    for key, f in _keys(group, schema).items():
        parameter = signature.parameters.get(key)
        ours = _default(f)
        if parameter is None or parameter.default is inspect.Parameter.empty or ours is inspect.Parameter.empty:
            continue
        if isinstance(ours, str) and ours.startswith("${"):  # an interpolation: the run decides it
            continue
        if ours == {} and parameter.default is None:  # Python cannot default to a mutable {}: None stands for it
            continue
        if ours != parameter.default:
            differ[key] = (ours, parameter.default)
    assert not differ, f"{group}={name}: schema default != {schema._target_} default for {differ}"


@pytest.mark.parametrize("group,name,schema", [s for s in SCHEMAS if s[2]._target_.startswith("balancelab.")],
                         ids=[f"{g}={n}" for g, n, s in SCHEMAS if s._target_.startswith("balancelab.")])
def test_every_parameter_of_a_target_is_a_key_of_its_schema(group, name, schema):
    """A parameter added to the callable alone could never be set from the command line (found by a review):
    every parameter is a schema key, or a run fact the group offers."""
    target = target_of({"_target_": schema._target_}, group)
    keys = set(_keys(group, schema)) | set(GROUPS[group].offered) | set(GROUPS[group].runner_keys)
    parameters = [p.name for p in inspect.signature(target).parameters.values()
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"]
    assert set(parameters) <= keys, f"{group}={name}: {sorted(set(parameters) - keys)} of {schema._target_} " \
                                    f"are not keys of its schema: add them to the schema (options/{group}...)"
