"""Hydra's override errors rewritten (cli/messages.py): the hint names the key meant, not the nearest spelling."""

from tests.conftest import run_cli


def test_timms_drop_rate_points_to_dropout_not_to_drop_path_rate(tmp_path):
    """difflib sent model.drop_rate to model.drop_path_rate (stochastic depth), another thing (found by a
    review): timm's drop_rate is model.dropout here."""
    # under model=timm timm's spelling is taken (cli.compose.as_meant); given with model.dropout, or for another
    # model, it is refused, pointing to model.dropout
    taken = run_cli(["model=timm", "model.drop_rate=0.1", "--cfg", "job"], cwd=tmp_path)
    assert taken.returncode == 0 and "dropout: 0.1" in taken.stdout, taken.stderr
    for argv in (["model=timm", "model.drop_rate=0.1", "model.dropout=0.2"], ["model=small_cnn", "model.drop_rate=0.1"]):
        result = run_cli([*argv, "--cfg", "job"], cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "model.dropout=<value>" in result.stderr and "Did you mean 'model.drop_path_rate'" not in result.stderr
    assert not (tmp_path / "outputs").exists()
