"""The README and the pages under docs/: links that resolve, a short README that leads to every page, and Python
examples that are valid, lint-clean Python.

A ``python`` block is written to a file of its own and checked with ruff (``E,F,W,I``, the project's line length)
and compiled. A block whose info string says ``python fragment`` (a piece of a larger program, with names defined
elsewhere) is only compiled; a doctest-style block (``>>>`` prompts) has each of its examples compiled.
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_LIMIT = 12_000
LINE_LENGTH = 120
FIRST_PARTY = sorted(path.name for path in REPO.iterdir() if (path / "__init__.py").is_file())

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
INLINE_CODE = re.compile(r"(`+).+?\1", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
HEADING = re.compile(r"^#{1,6}[ \t]+(?P<title>.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def without_code(markdown: str) -> str:
    """The text with fenced blocks and inline code blanked out (line numbers kept), where links are not links."""
    blanked = FENCE.sub(lambda match: "\n" * match.group(0).count("\n"), markdown)
    return INLINE_CODE.sub(lambda match: "\n" * match.group(0).count("\n"), blanked)


def slug(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.

    >>> slug("Calling the API from a browser (CORS)")
    'calling-the-api-from-a-browser-cors'
    >>> slug("The console's graph")
    'the-consoles-graph'
    """
    text = re.sub(r"[`*]|<[^>]+>", "", title).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(match.group("title")) for match in HEADING.finditer(without_code(page.read_text()))}


@dataclass(frozen=True)
class Link:
    page: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{relative(self.page)}:{self.line}: {self.target}"


def relative_links(page: Path) -> list[Link]:
    """Every link and image of the page that points into the repository (not a URL, not a bare anchor)."""
    text = without_code(page.read_text())
    links = []
    for match in LINK.finditer(text):
        target = match.group("target").strip("<>")
        if not SCHEME.match(target):
            links.append(Link(page, text.count("\n", 0, match.start()) + 1, target))
    return links


def broken(link: Link) -> str | None:
    """Why the link leads nowhere, or None when its file (and its heading, for an anchor) exists."""
    path_part, _, anchor = link.target.partition("#")
    destination = (link.page.parent / unquote(path_part)).resolve() if path_part else link.page
    if not destination.exists():
        return "no such file"
    if REPO not in destination.parents and destination != REPO:
        return "outside the repository"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"no heading #{anchor} in {relative(destination)}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_every_relative_link_leads_to_a_file_that_exists(page):
    broken_links = [f"{link} ({reason})" for link in relative_links(page) if (reason := broken(link))]

    assert broken_links == []


def test_the_readme_is_short():
    size = len(README.read_text())

    assert size < README_LIMIT, f"README.md has {size} characters; move some to a page under docs/"


def test_the_readme_links_every_page_under_docs():
    linked = {(README.parent / link.target.partition("#")[0]).resolve() for link in relative_links(README)}

    assert [relative(page) for page in DOCS if page.resolve() not in linked] == []


@dataclass(frozen=True)
class PythonBlock:
    page: Path
    line: int
    flags: frozenset[str]
    source: str

    @property
    def name(self) -> str:
        return f"{relative(self.page)}:{self.line}"

    @property
    def doctest_style(self) -> bool:
        return self.source.lstrip().startswith(">>>")


def python_blocks(page: Path) -> list[PythonBlock]:
    text = page.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        language, *flags = match.group("info").split() or [""]
        if language.lower() in {"python", "py"}:
            body = textwrap.dedent(match.group("body"))
            line = text.count("\n", 0, match.start("body")) + 1
            blocks.append(PythonBlock(page, line, frozenset(flags), body))
    return blocks


BLOCKS = [block for page in PAGES for block in python_blocks(page)]


def compile_block(block: PythonBlock) -> None:
    if block.doctest_style:
        for example in doctest.DocTestParser().get_examples(block.source, block.name):
            compile(example.source, f"{block.name}+{example.lineno}", "single")
    else:
        compile(block.source, block.name, "exec")


def ruff_findings(block: PythonBlock, directory: Path) -> str:
    """What ruff says about the block as a file of its own (the rules and line length of this repository)."""
    example = directory / (re.sub(r"\W", "_", block.name) + ".py")
    example.write_text(block.source)
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--isolated",
            "--select",
            "E,F,W,I",
            "--line-length",
            str(LINE_LENGTH),
            "--config",
            f"lint.isort.known-first-party = {FIRST_PARTY!r}",
            "--output-format",
            "concise",
            str(example),
        ],
        capture_output=True,
        text=True,
        cwd=directory,
        check=False,
    )
    return "" if checked.returncode == 0 else checked.stdout + checked.stderr


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_every_python_example_compiles_and_is_lint_clean(block, tmp_path):
    compile_block(block)

    if "fragment" not in block.flags and not block.doctest_style:
        assert ruff_findings(block, tmp_path) == "", f"ruff on the python block at {block.name}"


def test_the_docs_have_python_examples_to_check():
    """The block parser still finds the examples (an indented one in a list included): an empty BLOCKS passes all."""
    assert len(BLOCKS) >= 5
    assert any(block.page.name == "contributing.md" for block in BLOCKS)


@pytest.mark.parametrize(
    ("source", "flags", "finding"),
    [
        ("import os\n", frozenset(), "F401"),
        ("x = 1\nprint(y)\n", frozenset({"fragment"}), None),
        (">>> total = 1 +\n", frozenset(), SyntaxError),
        ("def f(:\n", frozenset({"fragment"}), SyntaxError),
    ],
    ids=["unused-import", "fragment-not-linted", "doctest-syntax", "fragment-syntax"],
)
def test_a_bad_example_is_caught(source, flags, finding, tmp_path):
    block = PythonBlock(README, 1, flags, source)

    if finding is SyntaxError:
        with pytest.raises(SyntaxError):
            compile_block(block)
    elif finding is None:
        compile_block(block)
        assert "fragment" in block.flags
    else:
        compile_block(block)
        assert finding in ruff_findings(block, tmp_path)


def test_a_link_to_a_missing_file_or_heading_is_caught():
    assert broken(Link(README, 1, "docs/no-such-page.md")) == "no such file"
    assert broken(Link(README, 1, "docs/testing.md#nowhere")) == "no heading #nowhere in docs/testing.md"
    assert broken(Link(README, 1, "docs/testing.md#fault-injection")) is None
