"""The folders of hydra.searchpath, as the command line and as a multirun's expanded jobs write them."""

from balancelab.options.searchpath import option_file, options_in, search_folders


def test_search_folders_reads_plain_quoted_relative_and_escaped_entries(tmp_path, monkeypatch):
    for name in ("a", "b", "c"):
        (tmp_path / name / "model").mkdir(parents=True)
    (tmp_path / "b" / "model" / "mine.yaml").write_text("name: mine\n")
    monkeypatch.chdir(tmp_path)
    overrides = [f"hydra.searchpath=[file://{tmp_path / 'a'},'file://b']", "model=mine",
                 "+hydra.searchpath=[file\\://c]", "hydra.searchpath=[file://nowhere,pkg://my_pkg.configs]"]
    assert search_folders(overrides) == [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    assert options_in(tmp_path / "b", "model") == ["mine"] and options_in(tmp_path / "a", "loss") == []
    assert option_file(search_folders(overrides), "model", "mine") == tmp_path / "b" / "model" / "mine.yaml"


def test_without_overrides_there_is_no_folder_whatever_the_process_was_given(monkeypatch, tmp_path):
    """Only balancelab.cli reads the command line; it passes its overrides down."""
    monkeypatch.setattr("sys.argv", ["balance-run", f"hydra.searchpath=[file://{tmp_path}]", "--help"])
    assert search_folders() == []
    assert search_folders([f"hydra.searchpath=[file://{tmp_path}]"]) == [tmp_path]
