"""The README is a front door and docs/ holds the reference: the README stays short, every relative link (and
heading anchor) resolves, every option of every config group is described in its docs page, and the generated
options tables of docs/configuration.md are current. Fast: reads files, imports no torch."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
GENERATOR = ROOT / "scripts" / "write_configuration_docs.py"
MAX_README_LINES = 200

# The page that must describe each config group's options by hand (outside the generated tables).
GROUP_PAGES = {
    "model": "configuration.md", "dataset": "datasets.md", "balancing": "balancing.md", "loss": "balancing.md",
    "experiment": "balancing.md", "augmentation": "configuration.md", "optimizer": "configuration.md",
    "scheduler": "configuration.md", "trainer": "configuration.md", "logger": "configuration.md",
    "recipe": "balancing.md", "launcher": "integrations.md",
}

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_files():
    return [README, *sorted(DOCS.glob("*.md"))]


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield number, line


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (letters, digits, _, - kept), each space a -."""
    text = re.sub(r"<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set:
    seen: dict = {}
    found = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def relative_links(path: Path):
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            yield number, target


def broken_links(paths, root: Path = ROOT) -> list:
    broken = []
    for path in paths:
        for number, target in relative_links(path):
            file_part, _, anchor = target.partition("#")
            destination = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}:{number}: {target}"
            if not destination.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                broken.append(f"{where} (no heading with anchor #{anchor} in {destination.relative_to(root)})")
    return broken


def config_options() -> dict:
    """{group: [options]} from the YAML files under configs/ (launchers: configs/hydra/launcher, as launcher=)."""
    configs = ROOT / "configs"
    groups = {folder.name: sorted(p.stem for p in folder.glob("*.yaml"))
              for folder in sorted(configs.iterdir()) if folder.is_dir() and folder.name not in ("hydra", "__pycache__")}
    groups["launcher"] = sorted(p.stem for p in (configs / "hydra" / "launcher").glob("*.yaml"))
    return {group: options for group, options in groups.items() if options}


def load_generator():
    spec = importlib.util.spec_from_file_location("write_configuration_docs", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hand_written(text: str, begin: str, end: str) -> str:
    """``text`` without its generated part."""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + rest.split(end, 1)[1]
    return text


# Components whose page describes each option in a table of its own (balancing techniques, losses, datasets):
# their option must begin a row there, a mention in passing is not its documentation.
TABLE_ROW_GROUPS = ("balancing", "loss", "dataset")


def documented(text: str, group: str, option: str) -> bool:
    """Whether ``text`` documents ``group=option``: a table row that begins with it (`option` or group=option in
    the first cell) for a TABLE_ROW_GROUPS component, a mention anywhere for the other groups."""
    name = rf"(`{re.escape(option)}`|\b{group}={re.escape(option)}\b)"
    if group in TABLE_ROW_GROUPS:
        return re.search(rf"^\|[^|\n]*{name}", text, re.M) is not None
    return re.search(name, text) is not None


def undocumented_options(pages: dict, begin: str, end: str) -> list:
    """'group=option (page)' for each option its group's page does not document by hand (see documented)."""
    missing = []
    for group, options in config_options().items():
        page = GROUP_PAGES.get(group)
        assert page is not None, f"config group '{group}' has no docs page in GROUP_PAGES (tests/test_docs.py)"
        text = hand_written(pages[page], begin, end)
        for option in options:
            if not documented(text, group, option):
                missing.append(f"{group}={option} (docs/{page})")
    return missing


def test_a_component_mentioned_only_in_passing_is_not_documented():
    """A balancing technique named in a sentence but given no row of the techniques' table fails the check."""
    assert not documented("Unlike `tomek_links`, SMOTE interpolates.\n\n| technique | what |\n|---|---|\n"
                          "| `smote` | interpolates |\n", "balancing", "tomek_links")
    assert documented("| `tomek_links` | removes Tomek links |\n", "balancing", "tomek_links")
    assert documented("| technique | what |\n| `smote` / `tomek_links` | ... |\n", "balancing", "tomek_links")
    assert documented("Set `adam` or `sgd`.", "optimizer", "adam")


def test_readme_is_a_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move reference to docs/"


def test_the_pages_exist_and_the_readme_links_them():
    text = README.read_text(encoding="utf-8")
    for page in ("configuration", "datasets", "balancing", "output", "statistics", "integrations", "troubleshooting",
                 "performance", "index"):
        assert (DOCS / f"{page}.md").is_file(), page
        assert f"(docs/{page}.md" in text, f"README.md does not link docs/{page}.md"


def test_the_readme_keeps_the_test_command_ci_runs():
    assert "make test" in README.read_text(encoding="utf-8")
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_relative_link_resolves():
    assert broken_links(markdown_files()) == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "target.md").write_text("# Title\n\n## A (`b`) & c\n\n```bash\n# not a heading\n```\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](target.md#a-b--c) [ok](#local) [bad](missing.md) [bad](target.md#not-a-heading)\n"
                    "[web](https://example.org/x.md)\n\n## Local\n")
    found = broken_links([page], root=tmp_path)
    assert len(found) == 2 and "missing.md" in found[0] and "#not-a-heading" in found[1]


def test_github_slugs():
    assert slug("Long-tail methods (loss-, sampler- and classifier-level)") == \
        "long-tail-methods-loss--sampler--and-classifier-level"
    assert slug("Weights & Biases") == "weights--biases"
    assert slug("One page per sweep and per run (`report.html`)") == "one-page-per-sweep-and-per-run-reporthtml"
    assert slug("Group-aware splits (`image_folder`)") == "group-aware-splits-image_folder"


def test_every_option_of_every_group_is_described():
    generator = load_generator()
    pages = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    assert undocumented_options(pages, generator.BEGIN, generator.END) == []


def test_the_generated_configuration_doc_is_current():
    generator = load_generator()
    current = generator.DOC.read_text(encoding="utf-8")
    assert generator.BEGIN in current and generator.END in current
    assert generator.render(current) == current, (
        "docs/configuration.md is stale: run python scripts/write_configuration_docs.py")


@pytest.mark.parametrize("group", ["model", "loss", "balancing", "dataset"])
def test_the_generated_tables_list_every_option(group):
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for option in config_options()[group]:
        assert f"#### {group}={option}" in text
