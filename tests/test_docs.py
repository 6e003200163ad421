"""Every method citation in the code resolves inside the repository's docs/method.md."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METHOD = REPO / "docs" / "method.md"
CITED_IN = ("src", "notebooks", "tests", "benchmarks", "scripts")
#: §3, §3a, §10.5 — optionally followed by ` "Name"` (a labelled paragraph) or ` step N` (a table row).
CITATION = re.compile(r'§(?P<sec>\d+[a-z]?(?:\.\d+)?)(?: "(?P<name>[^"]+)"| step (?P<step>\d+))?')


def _sections() -> dict[str, str]:
    """{"3a": text of that section up to the next heading of the same or a higher level, …}."""
    text = METHOD.read_text()
    heads = list(re.finditer(r"^(#{2,3}) §(\d+[a-z]?(?:\.\d+)?) ", text, re.M))
    out = {}
    for i, h in enumerate(heads):
        level = len(h[1])
        end = next((g.start() for g in heads[i + 1:] if len(g[1]) <= level), len(text))
        out[h[2]] = text[h.start():end]
    return out


def _citations() -> list[tuple[str, str, str | None, str | None]]:
    found = []
    for folder in CITED_IN:
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix not in (".py", ".ipynb", ".md", ".sh") or not path.is_file():
                continue
            text = path.read_text(errors="ignore")
            if "method.md" not in text:
                continue  # a § in a file that cites no method document is not ours to check
            for m in CITATION.finditer(text):
                found.append((str(path.relative_to(REPO)), m["sec"], m["name"], m["step"]))
    return found


def test_method_page_has_sections_0_to_10_and_links_the_reference():
    sections = _sections()
    assert [s for s in map(str, range(11)) if s not in sections] == []
    text = METHOD.read_text()
    assert "https://github.com/ffs333/2nd_place_GISLR" in text
    assert "https://www.kaggle.com/competitions/asl-signs" in text


def _problem(sections: dict[str, str], sec: str, name: str | None, step: str | None) -> str | None:
    """Why a citation does not resolve, or None when it does."""
    if sec not in sections and "." in sec:  # §2.6 = item 6 of the numbered list in §2
        sec, item = sec.split(".")
        if not re.search(rf"^{item}\. ", sections.get(sec, ""), re.M):
            return f"§{sec} has no numbered item {item}"
    if sec not in sections:
        return f"no section §{sec}"
    body = sections[sec]
    if name and name.lower() not in body.lower():
        return f'"{name}" is not in §{sec}'
    if step and not (re.search(rf"^\| {step} \|", body, re.M) or re.search(rf"^{step}\. ", body, re.M)):
        return f"§{sec} does not number a step {step}"
    return None


def test_every_citation_resolves():
    sections, citations = _sections(), _citations()
    assert len(citations) > 50  # the scan found the code's citations
    problems = [f"{where}: §{sec} {name or step or ''} — {why}" for where, sec, name, step in citations
                if (why := _problem(sections, sec, name, step))]
    assert problems == []


def test_a_wrong_citation_is_caught():
    sections = _sections()
    assert _problem(sections, "11", None, None) and _problem(sections, "2.9", None, None)
    assert _problem(sections, "3a", "No such paragraph", None) and _problem(sections, "3a", None, "11")
    assert _problem(sections, "3a", "Replace", "10") is None and _problem(sections, "2.6", None, None) is None


def test_no_citation_points_outside_the_repository():
    """The method is cited as docs/method.md, never as a document users do not have."""
    outside = "METHOD" + "_FACTS"  # spelled in two parts so this file does not match itself
    hits = [str(p.relative_to(REPO)) for folder in (*CITED_IN, "docs") for p in sorted((REPO / folder).rglob("*"))
            if p.is_file() and p.suffix in (".py", ".ipynb", ".md", ".sh") and outside in p.read_text(errors="ignore")]
    hits += ["README.md"] * (outside in (REPO / "README.md").read_text())
    assert hits == []
