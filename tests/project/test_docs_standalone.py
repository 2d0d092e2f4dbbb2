"""The repository stands on its own: no pointers to files outside it or to one machine's
paths, and every `docs/….md` (and `§section`) that code or docs cite exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".py", ".md", ".html", ".txt", ".toml", ".yml", ".yaml", ".cfg", ".ini",
                 ".json", ".js", ".css", ".po", ".sh"}
TEXT_NAMES = {"Makefile", "Dockerfile", ".gitignore", ".dockerignore"}

# Outside the repository: the sibling folder, a reference file kept elsewhere (cited by
# section number), and absolute paths of one machine. A URL's path (`https://x/home/`)
# is not a machine path: the character before the slash must not belong to a host.
FORBIDDEN = [
    ("a link to the sibling shared folder", re.compile(r"\.\./shared\b")),
    ("a citation of a reference file kept outside the repo", re.compile(r"\bref(erence|\.) §")),
    ("an absolute machine path", re.compile(r"(?<![\w.:/~-])/(work|home|root)/")),
    # The design notes the project grew from are not in the repo: docs/ holds what counts.
    ("a citation of a design note kept outside the repo",
     re.compile(r"(?<![\w/-])(DESIGN|STYLE|SPEC)\.md\b")),
]
DOC_CITATION = re.compile(r"(?<![\w/.-])(docs/[\w./-]+?\.md)(?: §([^\n]+))?")


@cache
def tracked_text_files() -> tuple[str, ...]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                         check=True).stdout.decode()
    names = [n for n in out.split("\0") if n]
    return tuple(n for n in names
                 if (Path(n).suffix in TEXT_SUFFIXES or Path(n).name in TEXT_NAMES)
                 and (ROOT / n).is_file())


def _read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8", errors="replace")


def test_no_file_points_outside_the_repository() -> None:
    problems = []
    for name in tracked_text_files():
        for lineno, line in enumerate(_read(name).splitlines(), 1):
            for what, pattern in FORBIDDEN:
                if pattern.search(line):
                    problems.append(f"{name}:{lineno}: {what}: {line.strip()}")
    assert not problems, "\n".join(problems)


def _sections(doc: str) -> tuple[set[str], set[str]]:
    """Heading titles of a doc, and the numbers of numbered headings (`## 4. Reaction …`)."""
    titles, numbers = set(), set()
    for line in _read(doc).splitlines():
        heading = re.match(r"#{1,6}\s+(.+?)\s*$", line)
        if heading:
            title = heading.group(1)
            titles.add(title)
            number = re.match(r"(\d+)\.\s", title)
            if number:
                numbers.add(number.group(1))
    return titles, numbers


def _section_exists(doc: str, cited: str) -> bool:
    titles, numbers = _sections(doc)
    number = re.match(r"\d+", cited)
    if number:
        return number.group(0) in numbers
    return any(cited.startswith(title) for title in titles)


def test_cited_docs_and_sections_exist() -> None:
    problems = []
    for name in tracked_text_files():
        for lineno, line in enumerate(_read(name).splitlines(), 1):
            for match in DOC_CITATION.finditer(line):
                doc, section = match.group(1), match.group(2)
                where = f"{name}:{lineno}"
                if not (ROOT / doc).is_file():
                    problems.append(f"{where}: {doc} does not exist")
                elif section and not _section_exists(doc, section):
                    problems.append(f"{where}: {doc} has no section §{section}")
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_should() -> None:
    def flagged(line: str) -> bool:
        return any(pattern.search(line) for _, pattern in FORBIDDEN)

    # Spelled in pieces, so that this file passes its own check.
    for line in ("see ../" + "shared" + "/DESIGN.md", "(refer" + "ence §5)", "(ref" + ". §11)",
                 "follow /" + "work/x.md", "at /" + "home/me/x", "HOME=/" + "root/",
                 "(STYLE" + ".md #5)", "DESIGN" + ".md: views → services"):
        assert flagged(line), line
    for line in ("https://example.com/home/x", "docs/crm-solution.md §4",
                 "`/var/lib/mailworx`", "~/home/x"):
        assert not flagged(line), line
