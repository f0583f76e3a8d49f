import subprocess
import sys

from tests.conftest import run_cli


def test_help_lists_groups_and_options(tmp_path):
    result = run_cli(["--help"], cwd=tmp_path)
    assert result.returncode == 0
    for text in ("model", "shufflenet_v2*", "balancing", "random_oversampling", "loss", "focal", "trainer"):
        assert text in result.stdout


def test_help_does_not_import_torch():
    code = ("import sys; sys.argv=['balance-run','--help']; from balancelab.cli import run; run(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
