import subprocess
from pathlib import Path
import sys

from tests.conftest import run_cli


def test_help_lists_groups_and_options(tmp_path):
    result = run_cli(["--help"], cwd=tmp_path)
    assert result.returncode == 0
    for text in ("model", "shufflenet_v2*", "balancing", "random_oversampling", "loss", "focal", "trainer"):
        assert text in result.stdout


def test_help_does_not_import_torch():
    code = ("import sys; sys.argv=['balance-run','--help']; from balancelab.cli.run_command import run; run(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_components"


def test_help_lists_the_options_of_the_search_path_on_the_command_line(tmp_path):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    result = run_cli(["hydra.searchpath=[file://my_configs]", "--help"], cwd=project)
    assert result.returncode == 0 and "tiny_net" in result.stdout and "every_other_copy" in result.stdout
    model = run_cli(["hydra.searchpath=[file://my_configs]", "--help", "model"], cwd=project)
    assert model.returncode == 0 and "model=tiny_net" in model.stdout and "model.hidden=16" in model.stdout
    assert "my_project.nets.TinyNet" in model.stdout and "model=shufflenet_v2 (default)" in model.stdout
    experiment = run_cli(["hydra.searchpath=[file://my_configs]", "--help", "experiment"], cwd=project)
    assert "experiment=mine" in experiment.stdout
    plain = run_cli(["--help", "model"], cwd=project)  # without the search path: only the packaged options
    assert "tiny_net" not in plain.stdout


def test_help_with_a_search_path_does_not_import_torch():
    code = (f"import sys; sys.argv=['balance-run','hydra.searchpath=[file://{EXAMPLE / 'my_configs'}]','--help',"
            f"'model']; from balancelab.cli.run_command import run; run(); assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and "tiny_net" in result.stdout, result.stderr


def test_help_says_which_dataset_brings_its_own_training_recipe():
    """The default data trains with its recipe, not the optimizer/scheduler/trainer defaults --help lists: the
    overview says so, from the dataset's YAML."""
    from balancelab.cli.help import render_help
    from balancelab.options.catalog import recipes_brought_by_datasets

    assert recipes_brought_by_datasets() == {"mnist_lt": "mnist_lt"}
    assert "dataset=mnist_lt brings recipe=mnist_lt" in render_help()


def test_a_recipes_help_lists_the_settings_it_makes_as_they_are_typed():
    """A recipe is a global config: `recipe.optimizer` is not a key anyone can type, `optimizer.lr` is."""
    from balancelab.cli.help import render_group_help

    text = render_group_help("recipe")
    assert "recipe.optimizer" not in text and "recipe.trainer" not in text
    mnist_lt = text.split("recipe=mnist_lt", 1)[1]
    for setting in ("scheduler=cosine", "optimizer.lr=0.002", "trainer.epochs=15", "trainer.budget=steps"):
        assert f"    {setting}" in mnist_lt, setting
