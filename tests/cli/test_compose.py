"""Composing the jobs of a command (balancelab.cli.compose): one place for every job of balance-run, -m, --cfg
and balance-sweep, and a mapping setting typed as a mapping."""

from balancelab.cli.compose import compose_jobs, mapping_settings, with_mappings_replaced
from tests.conftest import run_cli


def test_every_job_of_a_multirun_is_composed_once_in_hydras_order():
    jobs = compose_jobs(["-m", "seed=0,1", "loss=ce,focal", "trainer.epochs=1"])
    assert [j.overrides for j in jobs] == [["seed=0", "loss=ce", "trainer.epochs=1"],
                                           ["seed=0", "loss=focal", "trainer.epochs=1"],
                                           ["seed=1", "loss=ce", "trainer.epochs=1"],
                                           ["seed=1", "loss=focal", "trainer.epochs=1"]]
    assert [j.cfg.loss.name for j in jobs] == ["ce", "focal", "ce", "focal"]
    assert all(j.error is None and j.choices["loss"] == j.cfg.loss.name for j in jobs)


def test_a_job_that_does_not_compose_carries_its_error_for_the_caller_to_explain():
    (job,) = compose_jobs(["loss=focla"])
    assert job.cfg is None and "focla" in str(job.error)


def test_mapping_settings_are_found_in_the_schemas():
    assert "balancing.overrides" in mapping_settings()


def test_only_a_mapping_typed_as_a_mapping_is_rewritten():
    argv = ["balancing=random_undersampling", "balancing.overrides={NormalVideos: 1.5}", "seed=1",
            "+balancing.overrides.Stealing=2", "dataset.name={x: 1}"]
    assert with_mappings_replaced(argv) == ["balancing=random_undersampling",
                                            "++balancing.overrides={NormalVideos: 1.5}", "seed=1",
                                            "+balancing.overrides.Stealing=2", "dataset.name={x: 1}"]


def test_the_readmes_undersampling_overrides_work_as_a_user_types_them(tmp_path):
    """`'balancing.overrides={NormalVideos: 1.5}'` used to fail with Hydra's struct error; it now composes the
    same job as `+balancing.overrides.NormalVideos=1.5`."""
    common = ["balancing=random_undersampling", "balancing.target_per_class=20"]
    typed = run_cli([*common, "balancing.overrides={NormalVideos: 1.5, Stealing: 40}", "--cfg", "job"], cwd=tmp_path)
    plus = run_cli([*common, "+balancing.overrides.NormalVideos=1.5", "+balancing.overrides.Stealing=40", "--cfg",
                    "job"], cwd=tmp_path)
    assert typed.returncode == 0, typed.stderr
    assert plus.returncode == 0, plus.stderr
    assert "NormalVideos: 1.5" in typed.stdout and "Stealing: 40" in typed.stdout
    assert typed.stdout == plus.stdout


def test_a_timm_model_typed_as_model_name_is_read_as_the_architecture():
    """Issue 21 spells the timm model `model=timm model.name=<any timm model>`: it names the architecture (the run
    keeps its label `timm`), in a run and in a multirun's list, and only under model=timm."""
    from balancelab.cli.compose import as_meant

    assert as_meant(["model=timm", "model.name=convnext_atto", "seed=1"]) == [
        "model=timm", "model.architecture=convnext_atto", "seed=1"]
    assert as_meant(["-m", "model.name=test_resnet,test_vit", "model=timm"]) == [
        "-m", "model.architecture=test_resnet,test_vit", "model=timm"]
    # the option's own label, another model, or an explicit architecture: passed on (the checks explain a clash)
    assert as_meant(["model=timm", "model.name=timm"]) == ["model=timm", "model.name=timm"]
    assert as_meant(["model=small_cnn", "model.name=x"]) == ["model=small_cnn", "model.name=x"]
    assert as_meant(["model=timm", "model.name=a", "model.architecture=b"]) == [
        "model=timm", "model.name=a", "model.architecture=b"]
    (job,) = compose_jobs(as_meant(["model=timm", "model.name=test_vit"]))
    assert job.cfg.model.architecture == "test_vit" and job.cfg.model.name == "timm"


def test_timms_own_spelling_of_dropout_is_read_as_model_dropout_under_model_timm():
    """Issue 21 names timm's keys `drop_rate` and `drop_path_rate`; balancelab's key for the first is
    model.dropout (every model's). Under model=timm the command line takes timm's spelling too."""
    from balancelab.cli.compose import as_meant

    assert as_meant(["model=timm", "model.drop_rate=0.2"]) == ["model=timm", "model.dropout=0.2"]
    assert as_meant(["model=small_cnn", "model.drop_rate=0.2"]) == ["model=small_cnn", "model.drop_rate=0.2"]
    assert as_meant(["model=timm", "model.drop_rate=0.2", "model.dropout=0.1"]) == [
        "model=timm", "model.drop_rate=0.2", "model.dropout=0.1"]
    (job,) = compose_jobs(as_meant(["model=timm", "model.drop_rate=0.2"]))
    assert job.cfg.model.dropout == 0.2
