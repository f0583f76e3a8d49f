"""dataset.group on image folders: frames of one clip never straddle splits, with the cache, copies and a
split the user gives."""

import json

import numpy as np
import pandas as pd
import pytest

from balancelab.data.image_folder import load_image_folder
from balancelab.errors import DataError
from tests.data.test_image_folder import cfg
from tests.data.video_frames import CLIP_RULE, clip_of, write_clips

CLIPS = {"cat": 6, "dog": 5, "owl": 4}


@pytest.fixture
def clips(tmp_path):
    root = tmp_path / "clips"
    write_clips(root, CLIPS)
    return root


def clips_by_split(manifest):
    per_clip = manifest.assign(clip=manifest["source_id"].map(clip_of)).groupby("clip")["split"].nunique()
    return per_clip


def load(root, tmp_path=None, **kw):
    return load_image_folder(**cfg(root, **kw), input_size=8, cache_dir=str(tmp_path / "cache") if tmp_path else None)


def test_without_groups_frames_of_a_clip_straddle_splits(clips):
    """The leak this key closes: near-duplicate frames are not byte-identical, so the plain split scatters them."""
    assert (clips_by_split(load(clips).notes["manifest"]) > 1).any()


def test_with_groups_no_clip_crosses_splits_and_the_groups_are_recorded(clips):
    splits = load(clips, group=CLIP_RULE)
    manifest = splits.notes["manifest"]
    assert (clips_by_split(manifest) == 1).all()
    assert (manifest["group"] == manifest["source_id"].map(clip_of)).all()
    assert set(manifest["split"]) == {"train", "val", "test"}
    groups = splits.notes["groups"]
    assert groups["rule"] == CLIP_RULE and groups["count"] == sum(CLIPS.values())
    assert sum(groups["per_split"].values()) == groups["count"]
    assert {c: sum(v.values()) for c, v in groups["per_class"].items()} == CLIPS
    assert all(min(v.values()) >= 1 for v in groups["per_class"].values())
    assert groups["requested_fractions"] == {"train": 0.5, "val": 0.25, "test": 0.25}
    achieved = groups["achieved_fractions"]
    assert abs(sum(achieved.values()) - 1) < 1e-9
    assert groups["largest_gap"]["gap"] >= max(abs(achieved[s] - groups["requested_fractions"][s]) for s in achieved)
    assert groups["merged_for_identical_files"] == [] and groups["several_classes"] == 0
    json.dumps({k: v for k, v in splits.notes.items() if k != "manifest"})  # goes into dataset_statistics.json


def test_folder_level_groups(tmp_path):
    root = tmp_path / "nested"
    write_clips(root, CLIPS, sub_folders=True)
    manifest = load(root, group="folder:1").notes["manifest"]
    per_clip = manifest.assign(clip=manifest["source_id"].map(lambda p: p.split("/")[-2])).groupby("clip")["split"]
    assert (per_clip.nunique() == 1).all() and per_clip.ngroups == sum(CLIPS.values())


def test_a_file_the_rule_does_not_match_is_an_error_with_an_example(clips):
    (clips / "cat" / "poster.png").write_bytes((clips / "cat" / "clip000_frame00.png").read_bytes())
    with pytest.raises(DataError, match=r"does not match 1 of .*cat/poster\.png"):
        load(clips, group=CLIP_RULE)


def test_a_class_in_too_few_groups_is_an_error_naming_it(tmp_path):
    root = tmp_path / "clips"
    write_clips(root, {"cat": 4, "rare": 2})
    with pytest.raises(DataError, match=r"'rare'.*2 group\(s\)"):
        load(root, group=CLIP_RULE)


def test_identical_files_in_two_clips_merge_the_clips(clips, caplog):
    # The same frame filed in two clips (a re-encoded or re-cut video) would otherwise join train and test.
    (clips / "cat" / "clip001_frame09.png").write_bytes((clips / "cat" / "clip000_frame00.png").read_bytes())
    with caplog.at_level("WARNING", logger="balancelab"):
        splits = load(clips, group=CLIP_RULE)
    manifest = splits.notes["manifest"]
    assert manifest.loc[manifest["group"].isin(["clip000", "clip001"]), "split"].nunique() == 1
    assert splits.notes["groups"]["merged_for_identical_files"] == [["clip000", "clip001"]]
    assert set(manifest.loc[manifest["group"] == "clip000", "split_group"]) == {"clip000 + clip001"}
    assert "clip000" in caplog.text and "merged" in caplog.text


def test_the_cached_split_is_keyed_by_the_rule_and_reused(clips, tmp_path):
    plain = load(clips, tmp_path)
    grouped = load(clips, tmp_path, group=CLIP_RULE)
    assert len(list((tmp_path / "cache" / "splits").glob("*.csv"))) == 2
    assert (clips_by_split(grouped.notes["manifest"]) == 1).all()
    assert (clips_by_split(plain.notes["manifest"]) > 1).any()
    again = load(clips, tmp_path, group=CLIP_RULE)
    pd.testing.assert_frame_equal(again.notes["manifest"], grouped.notes["manifest"])
    assert again.notes["groups"] == grouped.notes["groups"]
    other_seed = load(clips, tmp_path, group=CLIP_RULE, split_seed=1)
    assert (clips_by_split(other_seed.notes["manifest"]) == 1).all()
    assert not other_seed.notes["manifest"]["split"].equals(grouped.notes["manifest"]["split"])


def test_a_given_manifest_is_kept_and_its_straddling_groups_are_listed(clips, tmp_path, caplog):
    given = tmp_path / "given.csv"
    load(clips).notes["manifest"].to_csv(given, index=False)  # a plain split: clips straddle
    with caplog.at_level("WARNING", logger="balancelab"):
        splits = load(clips, group=CLIP_RULE, split_manifest=str(given))
    manifest = splits.notes["manifest"]
    pd.testing.assert_series_equal(manifest["split"], pd.read_csv(given)["split"])  # kept as given
    crossing = splits.notes["cross_split_groups"]
    expected = clips_by_split(manifest)
    assert sorted(crossing) == sorted(expected[expected > 1].index)
    first = next(iter(crossing.values()))
    assert set(first) <= {"train", "val", "test"} and len(first) > 1 and all(n > 0 for n in first.values())
    assert splits.notes["groups"]["requested_fractions"] is None  # the split was given, not made
    warning = [r.getMessage() for r in caplog.records if "group(s)" in r.getMessage() and "straddle" in r.getMessage()]
    assert len(warning) == 1 and "cross_split_groups" in warning[0]


def test_presplit_folders_with_a_clip_in_train_and_test_are_warned_about(tmp_path, caplog):
    root = tmp_path / "pre"
    for split, seed in (("train", 0), ("val", 1), ("test", 2)):
        write_clips(root / split, {"cat": 2, "dog": 2}, seed=seed)  # the same clip names in every split
    with caplog.at_level("WARNING", logger="balancelab"):
        splits = load(root, group=CLIP_RULE)
    assert set(splits.notes["cross_split_groups"]) == {"clip000", "clip001", "clip002", "clip003"}
    assert splits.notes["cross_split_groups"]["clip000"] == {"train": 5, "val": 5, "test": 5}
    assert "straddle" in caplog.text


def test_without_a_rule_nothing_about_groups_is_added(clips):
    notes = load(clips).notes
    assert "groups" not in notes and "group" not in notes["manifest"].columns


def test_group_names_that_look_like_numbers_survive_the_cached_split(clips, tmp_path):
    rule = r"clip(\d+)_frame"  # groups '000', '001', ...: read back from the cached CSV as text, not as 0, 1
    first = load(clips, tmp_path, group=rule)
    again = load(clips, tmp_path, group=rule)
    assert "000" in set(first.notes["manifest"]["split_group"])
    pd.testing.assert_frame_equal(again.notes["manifest"], first.notes["manifest"])
