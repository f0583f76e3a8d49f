"""``balance-sweep hydra.sweep.dir=...``: Hydra puts the jobs there, so the sweep's comparison is made there too.

It used to be accepted, the jobs ran in the folder given, and the report then looked for them in the folder
balance-sweep would have named itself (outputs/sweeps/grid_...): a traceback after the whole grid had trained."""

import pytest

from tests.conftest import TINY, run_cli

pytestmark = pytest.mark.slow


def test_a_sweep_into_a_folder_of_your_choice_ends_in_its_comparison(tmp_path):
    chosen = tmp_path / "my sweeps" / "first"
    result = run_cli(["experiments=[baseline,focal_loss]", "seeds=[0]", *TINY, "dataset=digits_lt", "trainer.epochs=1",
                      f"output_root={tmp_path / 'out'}", f"hydra.sweep.dir={chosen}"], cwd=tmp_path,
                     script="balance-sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (chosen / "comparison.md").exists()
    assert len([p for p in chosen.iterdir() if (p / "experiment_summary.json").exists()]) == 2
    assert not (tmp_path / "out" / "sweeps").exists()   # nothing in the folder it would have named itself
