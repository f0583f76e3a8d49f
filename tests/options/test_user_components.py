"""Users' own components (examples/custom_components, and small ones written here) get the same checks as the
built-in options, before anything runs: keys against the target's signature, values against its annotations,
typos with the closest key, and option names that are their file names."""

import shutil
import sys
from pathlib import Path

import pytest

from balancelab.cli.preflight import preflight
from balancelab.options.validate import validate
from balancelab.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_components"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The example copied into an unrelated folder, importable as the console scripts make it."""
    root = tmp_path / "project"
    shutil.copytree(EXAMPLE, root)
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m == "my_project" or m.startswith("my_project.")]:
        sys.modules.pop(name)


def searchpath(project):
    return f"hydra.searchpath=[file://{project / 'my_configs'}]"


def compose(project, overrides):
    from hydra import compose as hydra_compose, initialize_config_module

    with initialize_config_module(config_module="balancelab.configs", version_base="1.3"):
        return hydra_compose("config", overrides=[searchpath(project), *overrides])


def add_option(project, group, name, text):
    path = project / "my_configs" / group / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- typos and foreign keys on the command line ---------------------------------------------------------------

def test_a_typo_in_a_user_components_key_suggests_the_targets_parameter(project):
    message = preflight([searchpath(project), "model=tiny_net", "model.hiden=8"])
    assert message is not None and "Did you mean 'model.hidden'?" in message
    assert "hidden" in message.split("Did you mean")[1] and "add model=" not in message
    assert "Traceback" not in message


def test_the_suggestion_for_a_parameter_the_yaml_does_not_set_is_the_command_that_works(project):
    """The closest key is a parameter of the target but not a key of the YAML: `model.hidden=8` would fail
    again (asking for a plus), so the suggestion is `+model.hidden=8`; and that command then passes."""
    text = (project / "my_configs" / "model" / "tiny_net.yaml").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("hidden:")]
    add_option(project, "model", "tiny_nohidden", "\n".join(lines).replace("tiny_net", "tiny_nohidden") + "\n")
    message = preflight([searchpath(project), "model=tiny_nohidden", "model.hiden=8"])
    assert message is not None and "Did you mean +model.hidden=8?" in message, message
    assert preflight([searchpath(project), "model=tiny_nohidden", "+model.hidden=8"]) is None


def test_a_key_a_user_component_does_not_take_is_not_sent_to_a_built_in_option(project):
    message = preflight([searchpath(project), "model=tiny_net", "model.dropout=0.1"])
    assert message is not None and "add model=" not in message and "resnet18" not in message
    assert "model=tiny_net" in message and "my_project.nets.TinyNet" in message and "hidden" in message


def test_a_parameter_the_option_does_not_set_is_added_with_a_plus(project):
    add_option(project, "model", "tiny_net_bare", "_target_: my_project.nets.TinyNet\nname: tiny_net_bare\n"
                                                  "input_size: 16\n")
    message = preflight([searchpath(project), "model=tiny_net_bare", "model.hidden=8"])
    assert message is not None and "+model.hidden=8" in message


def test_the_unknown_key_message_of_a_built_in_group_lists_its_keys():
    message = preflight(["trainer.epohcs=3"])
    assert "Did you mean 'trainer.epochs'?" in message
    assert "Keys of trainer:" in message and "batch_size" in message and "early_stopping_patience" in message


# -- a user option that extends a built-in schema with its own target -------------------------------------------

def test_a_user_target_under_a_built_in_schema_is_checked_against_the_schemas_keys(project):
    add_option(project, "model", "tiny_cnn", "defaults:\n  - /schema/model/small_cnn@_here_\n  - _self_\n"
                                             "_target_: my_project.nets.TinyNet\nname: tiny_cnn\n")
    with pytest.raises(ConfigError, match=r"model\.dropout, model\.normed_classifier, model\.width are not "
                                          r"parameters of my_project\.nets\.TinyNet"):
        validate(compose(project, ["model=tiny_cnn"]))
    message = preflight([searchpath(project), "model=tiny_cnn"])
    assert message is not None and "model.width" in message and "/schema/model/small_cnn" in message


def test_a_built_in_option_keeps_its_own_target_unchecked_by_import():
    """A built-in option's keys are its target's parameters (tests/options/test_schemas_match_targets.py):
    validating it imports no component, so the check stays fast and torch-free."""
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        import sys
        from hydra import compose, initialize_config_module
        from balancelab.options.validate import validate

        with initialize_config_module(config_module="balancelab.configs", version_base="1.3"):
            cfg = compose("config", overrides=["balancing=smote", "loss=focal", "model=resnet18"])
        validate(cfg)
        assert "torch" not in sys.modules, "validation imported torch"
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- values against the target's annotations -------------------------------------------------------------------

TYPED = '''
from typing import List, Literal, Optional

import numpy as np
from balancelab.balancing.base import Balancer, Resampled


class Typed(Balancer):
    name = "typed"

    def __init__(self, *, copies: int = 1, rate: float = 0.5, flag: bool = False, label: str = "a",
                 cap: Optional[int] = None, sizes: Optional[List[int]] = None, mode: Literal["x", "y"] = "x",
                 random_state=None, device="cpu"):
        super().__init__(random_state=random_state, device=device)
        self.copies, self.rate, self.flag, self.label = copies, rate, flag, label
        self.cap, self.sizes, self.mode = cap, sizes, mode

    def _resample(self, X, y):
        return Resampled(kept=np.arange(len(y)))
'''


@pytest.fixture
def typed_option(project):
    (project / "my_project" / "typed.py").write_text(TYPED)
    add_option(project, "balancing", "typed", "_target_: my_project.typed.Typed\nname: typed\ncopies: 1\nrate: 0.5\n"
                                              "flag: false\nlabel: a\ncap: null\nsizes: null\nmode: x\n")
    return project


@pytest.mark.parametrize("override", ["balancing.copies=3", "balancing.rate=1", "balancing.rate=0.25",
                                      "balancing.flag=true", "balancing.label=b", "balancing.cap=4",
                                      "balancing.cap=null", "balancing.sizes=[1,2]", "balancing.mode=y"])
def test_values_of_the_annotated_types_pass(typed_option, override):
    validate(compose(typed_option, ["balancing=typed", override]))


@pytest.mark.parametrize("override,expected", [
    ("balancing.copies=abc", "an integer"), ("balancing.copies=2.5", "an integer"),
    ("balancing.copies=true", "an integer"), ("balancing.rate=abc", "a number"), ("balancing.flag=3", "true or false"),
    ("balancing.label=3", "a string"), ("balancing.cap=x", "an integer or null"),
    ("balancing.sizes=[1,a]", "a list (each an integer)"), ("balancing.mode=z", "one of 'x', 'y'"),
    ("balancing.copies=null", "an integer"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_the_annotation(typed_option, override, expected):
    key, value = override.split("=", 1)
    with pytest.raises(ConfigError) as info:
        validate(compose(typed_option, ["balancing=typed", override]))
    message = str(info.value)
    assert f"'{key}' must be {expected}" in message and "my_project.typed.Typed" in message and "got" in message


def test_the_examples_balancer_refuses_a_word_for_its_count(project):
    message = preflight([searchpath(project), "balancing=every_other_copy", "balancing.copies=abc"])
    assert message is not None and "'balancing.copies' must be an integer" in message and "'abc'" in message


# -- an option's name is its file name --------------------------------------------------------------------------

def _with_key(text: str, key: str, value) -> str:
    """A copied YAML edited as a user edits it: the key's line changed (every shipped YAML shows every key)."""
    lines = [f"{key}: {value}" if line.startswith(f"{key}:") else line for line in text.splitlines()]
    return "\n".join(lines) + "\n" + ("" if any(line.startswith(f"{key}:") for line in text.splitlines())
                                      else f"{key}: {value}\n")


def test_a_copied_option_that_keeps_the_originals_name_is_refused(project):
    builtin = Path(__file__).resolve().parents[2] / "configs" / "balancing" / "smote.yaml"
    add_option(project, "balancing", "smote_k3", _with_key(builtin.read_text(), "k_neighbors", 3))
    message = preflight([searchpath(project), "balancing=smote_k3"])
    assert message is not None and "balancing=smote_k3" in message and "'smote'" in message
    assert "name: smote_k3" in message
    add_option(project, "balancing", "smote_k3",
               _with_key(_with_key(builtin.read_text(), "k_neighbors", 3), "name", "smote_k3"))
    assert preflight([searchpath(project), "balancing=smote_k3"]) is None


def test_a_copied_experiment_that_keeps_the_originals_experiment_name_is_refused(project):
    builtin = Path(__file__).resolve().parents[2] / "configs" / "experiment" / "smote.yaml"
    add_option(project, "experiment", "smote_k3", builtin.read_text() + "balancing:\n  k_neighbors: 3\n")
    message = preflight([searchpath(project), "experiment=smote_k3"])
    assert message is not None and "experiment=smote_k3" in message and "experiment_name: smote_k3" in message


def test_every_shipped_option_is_named_by_its_file_name():
    from balancelab.options.catalog import config_groups

    for group, options in config_groups().items():
        if group in ("model", "dataset", "balancing", "loss", "optimizer", "scheduler", "logger", "experiment"):
            for option in options:
                companions = {"image_folder": ["dataset.root=."], "bce": ["dataset=digits_binary"]}
                argv = [f"{group}={option}", *companions.get(option, [])]
                message = preflight(argv)
                assert message is None or "file name" not in message, message


def test_a_user_models_input_size_follows_the_models_rule(tmp_path, monkeypatch):
    """input_size is read by balancelab itself (images are resized to it): a user's model must have one >= 8."""
    import shutil

    from balancelab.cli.preflight import preflight

    example = Path(__file__).resolve().parents[2] / "examples" / "custom_components"
    shutil.copytree(example, tmp_path / "ex")
    monkeypatch.chdir(tmp_path / "ex")
    monkeypatch.syspath_prepend(str(tmp_path / "ex"))  # as balance-run makes the working directory importable
    base = ["hydra.searchpath=[file://my_configs]", "model=tiny_net"]
    assert preflight(base) is None
    assert "integer >= 8" in preflight([*base, "model.input_size=-3"])
    config = tmp_path / "ex" / "my_configs" / "model" / "tiny_net.yaml"
    config.write_text("\n".join(line for line in config.read_text().splitlines() if "input_size" not in line))
    assert "has no input_size" in preflight(base)
