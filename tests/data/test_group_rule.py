"""dataset.group: the rule's syntax, the path it sees, and what a file it does not match does."""

from pathlib import Path

import pytest

from balancelab.data.group_rule import (group_keys, group_rule_problem, groups_per_class, parse_group_rule,
                                        rule_paths, too_few_groups_message, unmatched_message)


@pytest.mark.parametrize("rule,path,key", [
    (r"(clip\d+)_frame", "cat/clip007_frame03.png", "clip007"),
    (r"(?P<video>[^/]+)_frame\d+", "cat/v12_frame3.jpg", "v12"),
    (r"^[^/]+/([^_]+)_", "dog/plant4_leaf2.png", "plant4"),
    ("folder:1", "cat/clip007/frame03.png", "clip007"),
    ("folder:2", "cat/patient3/visit1/img.png", "patient3/visit1"),  # a prefix: visit1 of two patients differ
    (" folder:1 ", "cat/p/img.png", "p"),
])
def test_a_rule_names_each_files_group(rule, path, key):
    assert parse_group_rule(rule).key(path) == key


@pytest.mark.parametrize("rule,path", [
    (r"(clip\d+)_frame", "cat/photo.png"),      # no match
    (r"(clip\d*)_frame|frame", "cat/frame.png"),  # the capture group takes no part in the match
    (r"(x*)_frame", "cat/_frame.png"),           # it captures nothing
    ("folder:1", "cat/img.png"),                 # no folder below the class folder
    ("folder:2", "cat/p/img.png"),
])
def test_a_file_the_rule_does_not_match_has_no_group(rule, path):
    assert parse_group_rule(rule).key(path) is None


def test_the_class_folder_is_not_part_of_a_folder_group():
    """A clip filed under two classes (frames with several labels) is one group, so it stays in one split."""
    rule = parse_group_rule("folder:1")
    assert rule.key("cat/clip1/f0.png") == rule.key("dog/clip1/f5.png") == "clip1"


def test_the_rule_sees_the_path_below_the_root_and_below_train_val_test(tmp_path):
    flat = [str(tmp_path / "cat" / "a" / "1.png"), str(tmp_path / "dog" / "2.png")]
    assert rule_paths(flat, tmp_path, presplit=False) == ["cat/a/1.png", "dog/2.png"]
    pre = [str(tmp_path / "train" / "cat" / "v1_frame1.png"), str(tmp_path / "Test" / "cat" / "v1_frame2.png")]
    assert rule_paths(pre, tmp_path, presplit=True) == ["cat/v1_frame1.png", "cat/v1_frame2.png"]


@pytest.mark.parametrize("rule,says", [
    ("(clip", "not a valid regular expression"),
    (r"clip\d+_frame", "no capture group"),
    (r"(clip)(\d+)", "2 capture groups"),
    ("folder:0", "folder:<N> needs a whole number N >= 1"),
    ("folder:x", "folder:<N> needs a whole number N >= 1"),
    ("", "empty"),
])
def test_a_bad_rule_is_named_with_what_was_received_and_a_fix(rule, says):
    problem = group_rule_problem(rule)
    assert problem.startswith("'dataset.group'") and says in problem
    assert f"got '{rule}'" in problem and "Fix it with dataset.group=" in problem
    with pytest.raises(ValueError, match="dataset.group"):
        parse_group_rule(rule)


def test_good_rules_and_null_have_no_problem():
    for rule in (None, "folder:1", r"(clip\d+)_frame", r"(?P<video>[^/]+)_frame\d+", r"^(?:[^/]+)/([^_]+)_"):
        assert group_rule_problem(rule) is None


def test_unmatched_files_are_counted_with_an_example_and_the_fix():
    paths = ["cat/clip1_frame1.png", "cat/README.png", "dog/clip2_frame1.png", "dog/cover.png"]
    rule = parse_group_rule(r"(clip\d+)_frame")
    keys = group_keys(rule, paths)
    assert keys == ["clip1", None, "clip2", None]
    message = unmatched_message(rule, paths, keys)
    assert r"dataset.group='(clip\d+)_frame'" in message
    assert "2 of 4" in message and "cat/README.png" in message and "dataset.group=null" in message
    assert unmatched_message(rule, paths[:1], keys[:1]) is None


def test_a_class_in_fewer_groups_than_splits_is_named_with_its_count_and_the_fixes():
    keys = ["a", "a", "b", "c", "d", "d", "e", "e"]
    classes = ["cat", "cat", "cat", "cat", "dog", "dog", "dog", "dog"]
    per_class = groups_per_class(keys, classes)
    assert per_class == {"cat": ["a", "b", "c"], "dog": ["d", "e"]}
    message = too_few_groups_message("folder:1", per_class)
    assert "'dog'" in message and "2 group(s)" in message and "'cat'" not in message
    for fix in ("dataset.split_manifest", "dataset.group=null", "more"):
        assert fix in message
    assert too_few_groups_message("folder:1", {"cat": ["a", "b", "c"]}) is None
