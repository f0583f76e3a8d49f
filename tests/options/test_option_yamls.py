"""Each option's YAML shows every key with its default (scripts/write_option_yamls.py keeps it so), every schema
has its YAML, and every built-in loss describes itself in the run summary."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("write_option_yamls", ROOT / "scripts" / "write_option_yamls.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_option_yaml_shows_every_key_at_the_value_it_composes_to():
    script = _script()
    stale = [str(path.relative_to(ROOT)) for group, path in script.option_files()
             if path.read_text() != script.expected(path, group)]
    assert stale == [], f"run python scripts/write_option_yamls.py: {stale}"


def test_the_generated_keys_change_no_composed_value():
    """A YAML that lost a key is found, and the keys written back compose to what the schema alone gives."""
    script = _script()
    path = ROOT / "configs" / "model" / "resnet32.yaml"
    text = path.read_text()
    cut = "\n".join(line for line in text.splitlines() if not line.startswith("dropout:")) + "\n"
    assert cut != text
    assert script.own_part(cut) + script.generated_part(cut, script.composed_node("model", "resnet32")) == text


def test_a_changed_schema_default_makes_the_yaml_stale(monkeypatch):
    """The schema is the one place a default is written: the YAML's generated value follows it (found by a
    review: the generator composed the YAML with its own generated part, so a written value never changed)."""
    import dataclasses

    from balancelab.options import losses

    script = _script()
    path = ROOT / "configs" / "loss" / "weighted_ce.yaml"
    field = {f.name: f for f in dataclasses.fields(losses.WeightedCrossEntropy)}["beta"]
    assert "beta: 0.999\n" in path.read_text()
    monkeypatch.setattr(field, "default", 0.99)
    monkeypatch.setattr(losses.WeightedCrossEntropy, "beta", 0.99)
    assert "beta: 0.99\n" in script.expected(path, "loss")


@pytest.mark.parametrize("group", ["model", "dataset", "balancing", "loss", "optimizer", "scheduler", "logger"])
def test_every_schema_has_its_yaml(group):
    from balancelab.options.store import GROUPS

    texts = "\n".join(p.read_text() for p in (ROOT / "configs" / group).glob("*.yaml"))
    missing = [name for name in GROUPS[group].schemas if f"/schema/{group}/{name}@" not in texts]
    assert missing == [], f"schemas of {group} without a YAML in configs/{group}/: {missing}"


def test_every_built_in_loss_describes_itself():
    """The run summary's loss_details name the loss; a criterion that does not describe itself would be named
    by its Python class only."""
    from omegaconf import OmegaConf

    from balancelab.losses import describe_loss
    from balancelab.options.build import build

    script = _script()
    for path in sorted((ROOT / "configs" / "loss").glob("*.yaml")):
        node = script.composed_node("loss", path.stem)
        classes = 2 if path.stem == "bce" else 3
        counts = [50, 10] if classes == 2 else [50, 10, 5]
        criterion = build(OmegaConf.create(node), "loss", num_classes=classes, class_counts=counts,
                          trained_counts=counts, balanced_batches=False)
        kind = describe_loss(criterion)["type"]
        assert "." not in kind, f"loss={path.stem}: its criterion {type(criterion).__name__} does not describe itself"


@pytest.mark.parametrize("group", ["model", "dataset", "balancing", "loss", "optimizer", "scheduler", "logger"])
def test_a_components_name_is_the_same_in_its_schema_its_table_and_its_yaml(group):
    """The option name appears as the schema's `name` default, its key in the group's SCHEMAS and its YAML
    file name: a component renamed in one of them and not the others is a test failure, not a silent mismatch."""
    import dataclasses

    from balancelab.options.store import GROUPS

    for key, schema in GROUPS[group].schemas.items():
        fields = {f.name: f for f in dataclasses.fields(schema)}
        default = fields["name"].default if "name" in fields else None
        if isinstance(default, str) and not default.startswith("$") and default != "???":
            assert default == key, f"{group}: SCHEMAS key {key!r} but the schema's name is {default!r}"
        yamls = [p.stem for p in (ROOT / "configs" / group).glob("*.yaml") if f"/schema/{group}/{key}@" in p.read_text()]
        assert key in yamls or group == "dataset" and key == "torchvision", (group, key, yamls)
