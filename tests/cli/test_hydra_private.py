"""Each behaviour of Hydra's private API that balancelab relies on (balancelab.cli.hydra_private), tested here so
that a Hydra upgrade that changes one fails in this file, by name."""

from hydra.core.override_parser.overrides_parser import OverridesParser

from balancelab.cli.hydra_private import expand_multirun, parse_hydra_arguments


def test_the_command_line_parses_as_hydra_main_parses_it():
    args = parse_hydra_arguments(["-m", "seed=0,1", "loss=focal", "--cfg", "job"])
    assert args.multirun and args.cfg == "job" and args.overrides == ["seed=0,1", "loss=focal"]
    assert parse_hydra_arguments(["--help"]).help
    assert not parse_hydra_arguments(["seed=1"]).multirun


def test_a_command_line_hydra_cannot_parse_gives_none_and_prints_nothing(capsys):
    assert parse_hydra_arguments(["--cfg", "nonsense"]) is None
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_multirun_expands_as_the_basic_sweeper_expands_it():
    parsed = OverridesParser.create().parse_overrides(["seed=0,1", "loss=ce,focal", "trainer.epochs=2"])
    assert expand_multirun(parsed) == [["seed=0", "loss=ce", "trainer.epochs=2"],
                                       ["seed=0", "loss=focal", "trainer.epochs=2"],
                                       ["seed=1", "loss=ce", "trainer.epochs=2"],
                                       ["seed=1", "loss=focal", "trainer.epochs=2"]]


def test_sweep_functions_expand_too():
    parsed = OverridesParser.create().parse_overrides(["seed=range(0,3)", "loss=choice(ce,focal)"])
    jobs = expand_multirun(parsed)
    assert len(jobs) == 6 and jobs[0] == ["seed=0", "loss=ce"] and jobs[-1] == ["seed=2", "loss=focal"]


def test_an_overrides_value_is_written_back_as_hydra_writes_it():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from balancelab.cli.hydra_private import parsed_value, value_text

    (mapping, quoted) = OverridesParser.create().parse_overrides(["a={x: 1.5, y: 40}", "b='q r'"])
    assert parsed_value(mapping) == {"x": 1.5, "y": 40} and value_text(parsed_value(quoted)) == "'q r'"
    assert mapping.get_value_element_as_str() == value_text(parsed_value(mapping)) == "{x:1.5,y:40}"
    assert [value_text(v) for v in (1.5, 40, "a:b", None, True)] == ["1.5", "40", "a\\:b", "null", "True"]
