"""dataset.group is checked before any image is decoded, is part of the run's identity and is in --help."""

import pytest

from balancelab.options.validate import validate
from balancelab.errors import ConfigError
from tests.conftest import assert_refused_without_heavy_imports, compose
from tests.data.video_frames import CLIP_RULE, write_clips


@pytest.fixture
def clips(tmp_path):
    root = tmp_path / "clips"
    write_clips(root, {"cat": 3, "dog": 3}, frames=2, size=4)
    return root


def overrides(root, rule):
    return ["dataset=image_folder", f"dataset.root={root}", f"dataset.group={rule}"]


@pytest.mark.parametrize("rule,says", [
    ("'(clip'", "not a valid regular expression"),
    (r"'clip\d+_frame'", "no capture group"),
    (r"'(clip)(\d+)'", "2 capture groups"),
    ("folder:0", "folder:<N> needs a whole number N >= 1"),
])
def test_a_bad_rule_is_refused_naming_the_key_what_was_received_and_a_fix(clips, rule, says):
    with pytest.raises(ConfigError) as info:
        validate(compose(overrides(clips, rule)))
    message = str(info.value)
    assert "'dataset.group'" in message and says in message and "got" in message and "Fix it with" in message


def test_a_file_the_rule_does_not_match_is_refused_before_anything_is_decoded(clips):
    (clips / "dog" / "cover.png").write_bytes((clips / "dog" / "clip003_frame00.png").read_bytes())
    with pytest.raises(ConfigError, match=r"does not match 1 of .*dog/cover\.png"):
        validate(compose(overrides(clips, f"'{CLIP_RULE}'")))


def test_a_class_in_too_few_groups_is_refused_before_anything_is_decoded(tmp_path):
    root = tmp_path / "clips"
    write_clips(root, {"cat": 3, "rare": 2}, frames=2, size=4)
    with pytest.raises(ConfigError, match=r"'rare'.*2 group\(s\)"):
        validate(compose(overrides(root, f"'{CLIP_RULE}'")))
    # A split the user gives needs no groups per class: it is kept as given.
    manifest = tmp_path / "split.csv"
    manifest.write_text("source_id,split\n")
    validate(compose([*overrides(root, f"'{CLIP_RULE}'"), f"dataset.split_manifest={manifest}"]))


def test_good_rules_pass(clips):
    for rule in (f"'{CLIP_RULE}'", "null", r"'^[^/]+/([^_]+)_'", r"'(?P<video>[^/]+)_frame\d+'"):
        validate(compose(overrides(clips, rule)))


def test_the_rule_is_part_of_the_run_identity(clips):
    from balancelab.identity import identity_hash

    hashes = {identity_hash(validate(compose(overrides(clips, rule)))) for rule in ("null", f"'{CLIP_RULE}'",
                                                                                     r"'^[^/]+/([^_]+)_'")}
    assert len(hashes) == 3


def test_help_shows_the_key():
    from balancelab.cli.help import render_group_help

    text = render_group_help("dataset", overrides=[])
    line = next(l for l in text.splitlines() if "dataset.group=" in l)
    assert "dataset.group=null" in line and "folder:" in line and "capture group" in line


def test_a_rule_that_misses_a_file_is_refused_without_importing_the_loaders_libraries(clips):
    """Applying the rule to the listing is part of the quick check (about a second), like the listing itself."""
    (clips / "dog" / "cover.png").write_bytes(b"")
    argv = ["dataset=image_folder", f"dataset.root={clips}", f"dataset.group='{CLIP_RULE}'"]
    assert_refused_without_heavy_imports(argv, "does not match 1 of")
