"""The documentation holds together: every relative link in the README and docs/ resolves (the
file exists, and a ``#anchor`` is a heading of the target by GitHub's rule), the README fits in
12 KB, it links every docs page, and its quick start is what CI runs."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
COMMANDS = DOCS / "commands.md"
README_LIMIT = 12288  # bytes: the README fits on a screen or two; the rest lives in docs/

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
MATH = re.compile(r"^\$\$$.*?^\$\$$", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`]*`")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text without code blocks, display math and code spans, where a [x](y) is no link.
    A code span inside a link's text goes too, which leaves the link itself."""
    return CODE_SPAN.sub("", MATH.sub("", FENCE.sub("", text)))


def _sources() -> list[Path]:
    pages = [README, *sorted(DOCS.glob("*.md"))]
    pages += [p for p in (ROOT / "data" / "README.md", ROOT / "benchmarks" / "README.md")]
    return [p for p in pages if p.exists()]


def _links() -> list[tuple[str, str]]:
    found = []
    for page in _sources():
        for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto: ...
                found.append((page.relative_to(ROOT).as_posix(), target))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text (no code ticks, emphasis or link
    targets), lower-cased, punctuation dropped, each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a page; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        if count:
            seen[f"{base}-{count}"] = 1
    return set(seen)


def test_slug_follows_github() -> None:
    assert slug("The course's cat pictures") == "the-courses-cat-pictures"
    assert slug("`dlcli --version`, `python -m dlcli`") == "dlcli---version-python--m-dlcli"
    assert slug("Scaling sweep: layers [n_x, 20, 7, 5, 1]") == "scaling-sweep-layers-n_x-20-7-5-1"
    assert slug("Noise: read the load average first") == "noise-read-the-load-average-first"


LINKS = _links()


def test_links_are_found() -> None:
    assert len(LINKS) > 50, LINKS


@pytest.mark.parametrize(("source", "link"), LINKS, ids=[f"{s}->{t}" for s, t in LINKS])
def test_relative_link_resolves(source: str, link: str) -> None:
    path, _, anchor = link.partition("#")
    page = ROOT / source
    target = (page.parent / path).resolve() if path else page
    assert target.exists(), f"{source}: link to {link}: no file {target}"
    if anchor and target.suffix == ".md":
        assert anchor in anchors(target), f"{source}: link to {link}: no such heading"


def test_readme_fits_in_12_kb() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail to docs/"


def test_readme_links_every_docs_page() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for s, t in LINKS if s == "README.md"}
    pages = set(DOCS.glob("*.md")) | {COMMANDS}
    assert not {p.name for p in pages if p.resolve() not in linked}


def test_quick_start_is_what_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the quick start has no ```bash block"
    lines = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 2, lines
    ci = {line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()}
    for line in lines:
        assert line in ci, f"the README's quick start runs {line!r}, which .ci/run does not"
