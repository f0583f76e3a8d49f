"""``dataset.group``: which group (video, plant, patient) each image file belongs to.

A rule is ``folder:<N>`` (the first N folders below the class folder) or a regular expression with exactly
one capture group, searched (``re.search``) in the file's path *as the rule sees it*: below ``dataset.root``
(below ``train/``, ``val/``, ``test/`` when the root is pre-split), with ``/`` separators, starting with the
class folder: ``cat/clip007_frame03.png``. A rule that names the same group in two class folders makes one
group (a video whose frames carry several labels stays in one split).

Every file must get a group: a file the rule does not match is an error, not a group of its own, because
a rule that misses some frames of a video would let them leak into another split unnoticed.

Only ``re`` and ``pathlib``: the config check applies the rule to the folder's listing before a run starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

FOLDER_PREFIX = "folder:"
# One group in each of train, val and test.
MIN_GROUPS_PER_CLASS = 3
SYNTAX = ("null (no groups), folder:<N> (the first N folders below each class folder) or a regular expression "
          "with exactly one capture group, searched in each file's path below dataset.root as "
          "<class>/<sub folders>/<file>")
EXAMPLES = "dataset.group='^[^/]+/([^_]+)_' (the file name up to its first _) or dataset.group=folder:1"
LISTED = 3


def quoted(text: str) -> str:
    """The rule as it is typed on the command line (repr would double every backslash of a regex)."""
    return f"'{text}'"


@dataclass(frozen=True)
class GroupRule:
    text: str
    folders: Optional[int] = None
    pattern: Optional["re.Pattern[str]"] = None

    def key(self, path: str) -> Optional[str]:
        """The group of the file at ``path`` (as the rule sees it), or None when the rule does not match it."""
        if self.folders is not None:
            parts = path.split("/")
            # parts: class, folders..., file name. The class is left out: see the module's docstring.
            return "/".join(parts[1:1 + self.folders]) if len(parts) - 2 >= self.folders else None
        match = self.pattern.search(path)
        # An empty capture would make one group of unrelated files: treated as no match, so it is reported.
        return (match.group(1) or None) if match else None


def _parse(text: str) -> GroupRule:
    """The rule written ``text``; ValueError with the reason in words."""
    rule = text.strip()
    if not rule:
        raise ValueError("it is empty")
    if rule.startswith(FOLDER_PREFIX):
        level = rule[len(FOLDER_PREFIX):].strip()
        if not level.isdigit() or int(level) < 1:
            raise ValueError(f"folder:<N> needs a whole number N >= 1 (folder:1 is the first folder below the "
                             f"class folder), not {level!r}")
        return GroupRule(text, folders=int(level))
    try:
        pattern = re.compile(rule)
    except re.error as exc:
        raise ValueError(f"it is not a valid regular expression ({exc})") from None
    if pattern.groups == 0:
        raise ValueError("it has no capture group: put the part of the path that names the group in ( )")
    if pattern.groups > 1:
        raise ValueError(f"it has {pattern.groups} capture groups, the group must be exactly one: make the others "
                         f"non-capturing, (?:...)")
    return GroupRule(text, pattern=pattern)


def group_rule_problem(text: Optional[str]) -> Optional[str]:
    """What is wrong with the rule ``text`` (None: nothing, or no rule), naming the key, the rule and a fix."""
    if text is None:
        return None
    try:
        _parse(str(text))
    except ValueError as exc:
        return f"'dataset.group' must be {SYNTAX}; got {quoted(str(text))}: {exc}. Fix it with {EXAMPLES}."
    return None


def parse_group_rule(text: str) -> GroupRule:
    """The rule ``text``; ValueError with :func:`group_rule_problem`'s message when it is not one."""
    problem = group_rule_problem(text)
    if problem:
        raise ValueError(problem)
    return _parse(str(text))


def rule_paths(paths: Sequence[str], root, presplit: bool) -> List[str]:
    """Each listed file's path as the rule sees it: below the root, and below train/ val/ test/ when pre-split."""
    root = Path(root)
    skip = 1 if presplit else 0
    return ["/".join(Path(p).relative_to(root).parts[skip:]) for p in paths]


def group_keys(rule: GroupRule, paths: Sequence[str]) -> List[Optional[str]]:
    """The group of each path (as the rule sees it); None where the rule does not match."""
    return [rule.key(p) for p in paths]


def unmatched_message(rule: GroupRule, paths: Sequence[str], keys: Sequence[Optional[str]]) -> Optional[str]:
    """The error for files without a group (None when every file has one), with examples and the fix."""
    missing = [p for p, k in zip(paths, keys) if k is None]
    if not missing:
        return None
    shown = ", ".join(missing[:LISTED]) + (", ..." if len(missing) > LISTED else "")
    how = (f"folder:{rule.folders} needs {rule.folders} folder(s) between the class folder and the file"
           if rule.folders is not None else "the regular expression is searched in each path, and its capture "
           "group must take part in the match and capture at least one character")
    return (f"dataset.group={quoted(rule.text)} does not match {len(missing)} of {len(paths)} file(s), e.g. {shown} "
            f"(paths below dataset.root, as the rule sees them; {how}). Every file needs a group, or its "
            f"near-duplicates could land in another split. Fix the rule so that it matches these paths (try it: "
            f"python -c \"import re; print(re.search(r'{rule.text}', '{missing[0]}'))\"), move those files out of "
            f"dataset.root, or split without groups (dataset.group=null).")


def groups_per_class(keys: Sequence[str], classes: Sequence[str]) -> Dict[str, List[str]]:
    """{class: its groups, sorted}: the groups holding at least one file of the class."""
    out: Dict[str, set] = {}
    for key, cls in zip(keys, classes):
        out.setdefault(cls, set()).add(key)
    return {cls: sorted(out[cls]) for cls in sorted(out)}


def too_few_groups_message(rule_text: str, per_class: Dict[str, List[str]]) -> Optional[str]:
    """The error for classes in fewer groups than train, val and test need (None when there is none)."""
    short = {cls: groups for cls, groups in per_class.items() if len(groups) < MIN_GROUPS_PER_CLASS}
    if not short:
        return None
    listing = "; ".join(f"{cls!r} in {len(groups)} group(s) ({', '.join(groups[:LISTED])})"
                        for cls, groups in short.items())
    return (f"dataset.group={quoted(rule_text)} puts {len(short)} class(es) in fewer than {MIN_GROUPS_PER_CLASS} groups: "
            f"{listing}. A group-aware split keeps each group in one split, so a class needs at least one group "
            f"for each of train, val and test. Fix: add images of the class from more groups (more videos, "
            f"plants, patients), use a finer rule, remove the class folder, give the split yourself "
            f"(dataset.split_manifest=file.csv, or train/ val/ test/ folders; kept as given), or split without "
            f"groups (dataset.group=null, which lets near-duplicate images of one group straddle splits).")
