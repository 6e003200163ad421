"""The docs say what the code does, and every document the repository cites is in it.

* Every method citation (``docs/method.md §N``) resolves inside docs/method.md.
* Every ``.md`` file cited in src/, tests/, notebooks/, benchmarks/, scripts/, docs/ and README.md exists, and no
  file cites a document users do not have.
* docs/architecture.md: each ``pattern "Name"`` cited in the code is a pattern of the page, its layer table names
  every module of src/islr once, no module imports from a higher layer, and every ``islr.…`` name on the page exists.
"""
import ast
import json
import os
import re
from pathlib import Path

from test_imports import import_graph  # the same walk over src/islr (deferred imports included) as the cycle test

REPO = Path(__file__).resolve().parents[1]
METHOD = REPO / "docs" / "method.md"
ARCHITECTURE = REPO / "docs" / "architecture.md"
PACKAGE_DIR = REPO / "src" / "islr"
CITED_IN = ("src", "notebooks", "tests", "benchmarks", "scripts")
#: Every place whose citations of .md files are checked: the folders above, the docs and the README.
DOC_SOURCES = (*CITED_IN, "docs", "README.md")
TEXT_SUFFIXES = (".py", ".ipynb", ".md", ".sh")
#: Documents that are not in the repository (an outside style guide, an outside notes file), spelled in two parts so
#: that this file does not cite them itself.
OUTSIDE_DOCUMENTS = ("STYLE" + ".md", "METHOD" + "_FACTS")
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


# ------------------------------------------------------------------------------------------ cited .md documents
#: A cited markdown file: a path ending in ``.md`` that is not the tail of a longer path (``<outputs>/report.md``,
#: ``$ROOT/README.md``).
MD_CITATION = re.compile(r"(?<![\w./<>*{}$-])((?:[\w.-]+/)*[\w-]+\.md)(?![\w/-])")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)
SKIPPED_DIRS = {"__pycache__", "outputs", "node_modules"}


def _walk(root: Path):
    """Files under ``root``, skipping hidden folders (.git, .venv, …), caches and outputs."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        yield from (Path(folder) / f for f in sorted(files))


def _doc_files() -> list[Path]:
    """The text files of :data:`DOC_SOURCES` whose citations are checked."""
    out = []
    for source in DOC_SOURCES:
        path = REPO / source
        out += [path] if path.is_file() else [p for p in _walk(path) if p.suffix in TEXT_SUFFIXES]
    return out


def _text(path: Path) -> str:
    """What a reader sees: a notebook's cell sources (not its JSON), any other file as it is."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells)
    return path.read_text(errors="ignore")


def md_citations(text: str) -> list[str]:
    """The .md files ``text`` cites. URLs are not citations, nor is a file name that is a whole string literal by
    itself (``"report.md"``): that is a file the code reads or writes, not a document it points to."""
    text = URL.sub(" ", text)
    found = []
    for m in MD_CITATION.finditer(text):
        before, after = text[m.start() - 1:m.start()], text[m.end():m.end() + 1]
        if before and before in "\"'" and after == before:
            continue
        found.append(m[1])
    return found


def _markdown_files() -> set[str]:
    return {p.name for p in _walk(REPO) if p.suffix == ".md"}


def md_resolves(cited: str, where: Path, names: set[str]) -> bool:
    """A cited path exists relative to the citing file or the repository root; a bare file name (``its
    ATTRIBUTION.md``) may also name a .md file anywhere in the repository."""
    if any((base / cited).is_file() for base in (where.parent, REPO)):
        return True
    return "/" not in cited and cited in names


def test_every_cited_markdown_file_exists():
    names, files = _markdown_files(), _doc_files()
    cited = [(path, name) for path in files for name in md_citations(_text(path))]
    assert len(cited) > 50 and any(p.suffix == ".ipynb" for p, _ in cited)  # the scan found the citations
    missing = [f"{path.relative_to(REPO)}: {name}" for path, name in cited if not md_resolves(name, path, names)]
    assert missing == []


def test_a_missing_markdown_file_is_caught():
    names, here = _markdown_files(), REPO / "src" / "islr" / "paths.py"
    assert md_citations("see [the method](../docs/method" + ".md#3) and `README.md`") == ["../docs/method.md",
                                                                                           "README.md"]
    assert md_citations('out = root / "report.md"; https://example.org/a' + ".md; <outputs>/r" + ".md") == []
    assert md_citations("cp $ROOT/README" + ".md .") == []
    assert md_resolves("docs/method.md", here, names) and md_resolves("../../docs/architecture.md", here, names)
    assert md_resolves("ATTRIBUTION.md", here, names)  # a bare name found elsewhere in the repository
    assert not md_resolves("docs/no_such_page.md", here, names)
    assert not md_resolves(OUTSIDE_DOCUMENTS[0], here, names)


def test_no_file_cites_a_document_users_do_not_have():
    """The method is cited as docs/method.md and the patterns as docs/architecture.md, never as a document users do
    not have."""
    hits = [f"{path.relative_to(REPO)}: {name}" for path in _doc_files() for name in OUTSIDE_DOCUMENTS
            if name in _text(path)]
    assert hits == []


# -------------------------------------------------------------------------------------- docs/architecture.md
PATTERN_CITATION = re.compile(r'docs/architecture\.md,\s+pattern\s+"([^"]+)"')


def _page_section(title: str) -> str:
    text = ARCHITECTURE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def _patterns() -> list[str]:
    """The names of the numbered patterns of docs/architecture.md ("Thin notebooks", …)."""
    return re.findall(r"^\d+\.\s+\*\*([^*]+?)\.?\*\*", _page_section("Patterns"), re.M)


def test_every_cited_pattern_is_on_the_architecture_page():
    patterns = _patterns()
    assert len(patterns) >= 9 and "Thin notebooks" in patterns
    cited = [(path, " ".join(name.split())) for path in _doc_files() for name in PATTERN_CITATION.findall(_text(path))]
    assert len(cited) >= 9  # the code's citations were found
    assert [f"{path.relative_to(REPO)}: {name}" for path, name in cited if name not in patterns] == []


def layer_table() -> dict[str, int]:
    """``{module or package name: layer}`` from the table of "Import direction" in docs/architecture.md."""
    table: dict[str, int] = {}
    for layer, modules in re.findall(r"^\| (\d+) \| [^|]+ \| ([^|]+) \|$", _page_section("Import direction"), re.M):
        for name in re.findall(r"`([\w.]+)`", modules):
            assert name not in table, f"{name} is in two layers"
            table[name] = int(layer)
    return table


def layer_of(module: str, table: dict[str, int]) -> int | None:
    """The layer of ``module``: its own row, else that of the nearest package above it (``islr`` alone is only the
    package's ``__init__``); None when the table does not place it."""
    names = [n for n in table if module == n or (n != "islr" and module.startswith(n + "."))]
    return table[max(names, key=len)] if names else None


def layer_violations(graph: dict[str, set[str]], table: dict[str, int]) -> list[str]:
    """Every import of a module from a higher layer, as ``"a (layer 2) imports b (layer 5)"``."""
    return [f"{a} (layer {layer_of(a, table)}) imports {b} (layer {layer_of(b, table)})"
            for a in sorted(graph) for b in sorted(graph[a])
            if layer_of(a, table) is not None and layer_of(b, table) is not None
            and layer_of(b, table) > layer_of(a, table)]


def test_layer_table_places_every_module_and_only_existing_ones():
    table, modules = layer_table(), set(import_graph())
    assert len(set(table.values())) >= 5 and {"islr.paths", "islr.runs", "islr.train"} <= set(table)
    assert sorted(m for m in modules if layer_of(m, table) is None) == []  # every module of src/islr has a layer
    stale = [n for n in table if not any(m == n or m.startswith(n + ".") for m in modules)]
    assert stale == []  # and the table names no module that is gone


def test_no_module_imports_from_a_higher_layer():
    graph = import_graph()
    assert "islr.runs" in graph["islr.train.run"]  # the graph holds the edges the page talks about
    assert layer_violations(graph, layer_table()) == []


def test_a_layer_violation_is_caught():
    table = {"islr": 0, "islr.a": 0, "islr.b": 1, "islr.pkg": 1}
    assert layer_of("islr.pkg.c", table) == 1 and layer_of("islr.other", table) is None
    graph = {"islr.a": {"islr.b"}, "islr.b": {"islr.a", "islr.pkg.c"}, "islr.pkg.c": {"islr.a"}}
    assert layer_violations(graph, table) == ["islr.a (layer 0) imports islr.b (layer 1)"]


def _top_level_names(path: Path) -> set[str]:
    """Names a module defines or imports at module level (inside ``if`` / ``try`` blocks too)."""
    names: set[str] = set()
    body = list(ast.parse(path.read_text()).body)
    while body:
        node = body.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            body += [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", []),
                     *(s for h in getattr(node, "handlers", []) for s in h.body)]
    return names


def _modules() -> dict[str, Path]:
    """``{"islr.train.run": its file, …, "islr": islr/__init__.py}``."""
    return {".".join(p.relative_to(PACKAGE_DIR.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def missing_islr_names(text: str, modules: dict[str, Path]) -> list[str]:
    """Every ``islr.…`` name in ``text`` that names no module, or no module-level name of its module
    (``islr.train.run.train_fold``: islr.train.run exists and defines train_fold)."""
    problems = []
    for name in sorted(set(re.findall(r"(?<![\w.])islr(?:\.[A-Za-z_]\w*)+", text))):
        module = max((m for m in modules if name == m or name.startswith(m + ".")), key=len)
        rest = name[len(module) + 1:].split(".")[0]
        if rest and rest not in _top_level_names(modules[module]):
            problems.append(f"{name}: {module} has no {rest}")
    return problems


def test_every_islr_name_in_the_docs_exists():
    modules = _modules()
    assert len(set(re.findall(r"`islr\.[\w.]+`", ARCHITECTURE.read_text()))) > 40  # the page names the modules
    problems = [f"{page}: {problem}" for page in ("docs/architecture.md", "docs/method.md", "README.md")
                for problem in missing_islr_names((REPO / page).read_text(), modules)]
    assert problems == []


def test_a_missing_islr_name_is_caught():
    modules = _modules()
    named = "`islr.runs.submission_folds`, `islr.export.stage`, islr.models.create_model"
    assert missing_islr_names(named, modules) == []
    assert missing_islr_names("`islr.train.run.submission_folds` and `islr.gone`", modules) == [
        "islr.gone: islr has no gone", "islr.train.run.submission_folds: islr.train.run has no submission_folds"]


def test_every_file_the_architecture_page_names_exists():
    """The test files, benchmarks and scripts that the page names (the tables of owners and tests) exist."""
    named = re.findall(r"`((?:tests|benchmarks|scripts|notebooks|src)/[\w./-]+)`", ARCHITECTURE.read_text())
    assert len(named) > 25
    assert [n for n in named if not (REPO / n).exists()] == []


#: Where docs/architecture.md says each heavy library is imported: TensorFlow and Keras only through
#: islr.export._tf, MediaPipe only in the extraction worker.
HEAVY_IMPORTS = {"tensorflow": "islr.export._tf", "keras": "islr.export._tf", "mediapipe": "islr._extract_worker"}


def misplaced_heavy_imports(package_dir: Path) -> list[str]:
    """Every import of a :data:`HEAVY_IMPORTS` library outside its one module, as ``"islr.x imports keras"``."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        module = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            found += [f"{module} imports {r}" for r in roots if r in HEAVY_IMPORTS and HEAVY_IMPORTS[r] != module]
    return found


def test_heavy_libraries_are_imported_where_the_page_says():
    assert misplaced_heavy_imports(PACKAGE_DIR) == []
    assert import_graph()["islr._extract_worker"] == set()  # the worker imports no islr module


def test_a_misplaced_heavy_import_is_caught(tmp_path):
    (tmp_path / "islr" / "export").mkdir(parents=True)
    (tmp_path / "islr" / "export" / "_tf.py").write_text("import tensorflow as tf\nimport keras\n")
    (tmp_path / "islr" / "viz.py").write_text("def f():\n    from keras import layers\n")
    assert misplaced_heavy_imports(tmp_path / "islr") == ["islr.viz imports keras"]


def test_no_machine_paths_in_the_docs_and_records():
    """The README, the docs and the committed benchmark records name files relative to the project, never where a
    machine happened to keep them."""
    pattern = re.compile(r"(?<![\w.])/(?:work|root|home|tmp|Users)/|[A-Z]:\\\\")
    files = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").rglob("*.md")),
             *sorted((REPO / "docs" / "results").rglob("*.json"))]
    found = [f"{f.relative_to(REPO)}: {m.group(0)}" for f in files for m in pattern.finditer(f.read_text())]
    assert found == []
