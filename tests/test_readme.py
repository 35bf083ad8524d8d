"""The documentation stays short, generated where it can be, and linked without dead ends.

- Each plugin README's settings table, between `<!-- settings:start -->` and
  `<!-- settings:end -->`, is what `scripts/plugin_settings.py <plugin> --format markdown`
  generates from the plugin's `--about` now.
- The root README stays under 300 lines (the rest lives in `docs/`).
- Every relative link in the READMEs and `docs/*.md` points at an existing file and, for an
  `#anchor` into a Markdown file, at one of its headings (GitHub's slugs).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest

from scripts import plugin_settings
from tests.harness import REPO_ROOT

PLUGINS = list(plugin_settings.PLUGINS)
START = "<!-- settings:start -->"
END = "<!-- settings:end -->"
ROOT_README_MAX_LINES = 300

#: The Markdown files whose links are checked.
DOCUMENTS = sorted(
    {
        REPO_ROOT / "README.md",
        *(REPO_ROOT / "docs").glob("*.md"),
        *(REPO_ROOT / folder / "README.md" for _, folder in plugin_settings.PLUGINS.values()),
        *(REPO_ROOT / "clients").glob("*/README.md"),
        REPO_ROOT / "support" / "README.md",
        REPO_ROOT / "sandbox" / "README.md",
    }
)
#: An inline link or image `[text](target)`: a target without spaces (a title is ignored).
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, spaces to '-', punctuation but '-', '_' dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()  # a link's text only
    kept = (
        c
        for c in text
        if c in " -_" or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc"
    )
    return "".join(kept).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown file, with GitHub's `-1`, `-2` suffixes for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in _prose_lines(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(path: Path) -> list[tuple[int, str]]:
    """The relative link targets of a Markdown file (outside code), with their line numbers."""
    found = []
    for number, line in _prose_lines(path.read_text()):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:, …
                continue
            found.append((number, target))
    return found


def generated_table(plugin: str) -> str:
    return plugin_settings.as_markdown(plugin_settings.about(plugin)).strip()


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_readme_settings_table_is_generated_from_about(plugin: str) -> None:
    folder = plugin_settings.PLUGINS[plugin][1]
    readme = REPO_ROOT / folder / "README.md"
    text = readme.read_text()
    regenerate = (
        f"regenerate it: .venv/bin/python -m scripts.plugin_settings {plugin} --format markdown, "
        f"and paste the output between {START} and {END} in {folder}/README.md"
    )
    for marker in (START, END):
        assert text.count(marker) == 1, (
            f"{plugin}: {folder}/README.md needs one {marker} line; {regenerate}"
        )
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == generated_table(plugin), (
        f"{plugin}: the settings table of {folder}/README.md differs from `{plugin} --about`; "
        f"{regenerate}"
    )


def test_settings_tables_live_only_in_the_plugin_readmes() -> None:
    header = "| setting | type | default | description |"
    elsewhere = [
        str(path.relative_to(REPO_ROOT))
        for path in DOCUMENTS
        if header in path.read_text() and path.parent.name not in plugin_settings.PLUGINS
    ]
    assert elsewhere == []


def test_root_readme_is_short() -> None:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert len(lines) < ROOT_README_MAX_LINES, (
        f"README.md has {len(lines)} lines; keep it under {ROOT_README_MAX_LINES}, "
        "move details into docs/"
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    assert document.exists(), document
    broken = []
    for number, target in links(document):
        file_part, _, anchor = target.partition("#")
        destination = (document.parent / file_part).resolve() if file_part else document
        where = f"{document.relative_to(REPO_ROOT)}:{number}: {target}"
        if not destination.exists():
            broken.append(f"{where}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{where}: no heading with that anchor in {destination.name}")
    assert broken == [], "\n".join(broken)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Mapping options (Adobe's switches)", "mapping-options-adobes-switches"),
        ("Enumerations (D365 choices → Campaign)", "enumerations-d365-choices--campaign"),
        ('"Apply updates" off: `create_only`', "apply-updates-off-create_only"),
        ("Replacements; technical values and labels", "replacements-technical-values-and-labels"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor
