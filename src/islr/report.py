"""Benchmark and run results as files, so that tables are rendered from measurements, never typed by hand.

Every benchmark script ends with :func:`record_benchmark`, which writes ``outputs/benchmarks/<name>.json``: the rows
it printed, the data they were measured on and the machine (:func:`machine_description`).

:func:`render` (``python -m islr report``) turns what is on disk into markdown: one table of training runs, read from
every ``outputs/runs/**/metrics.csv`` (the per-epoch log of :mod:`islr.train.loop`), and one table per benchmark
JSON. It reads files only, so it also renders outputs copied from another machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from islr import paths


def machine_description(device: str = "cpu") -> str:
    """One line naming the machine: CPU model, cores, memory and, for ``device="cuda"``, the GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages * size / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    text = f"{cpu}, {os.cpu_count()} cores{mem} ({platform.machine()})"
    if device.startswith("cuda"):
        import torch

        text = f"{torch.cuda.get_device_name(0)} GPU; host {text}"
    return text


def benchmarks_dir() -> Path:
    """``outputs/benchmarks``: one JSON file per benchmark."""
    return paths.outputs_dir() / "benchmarks"


def record_benchmark(name: str, rows: list[dict[str, Any]], *, data: str, device: str = "cpu",
                     notes: str = "") -> Path:
    """Write one benchmark's result table to ``outputs/benchmarks/<name>.json`` and return the path.

    Args:
        name: file stem, e.g. ``"export_latency"``.
        rows: the table, one dict per row (JSON-serialisable values).
        data: which data it was measured on: "synthetic", "bundled real sample (86 sequences)", "full Kaggle set", ….
        device: "cpu" or "cuda" (names the GPU in the machine line).
        notes: anything a reader needs to interpret the numbers (threads, repeats, ratio definitions).
    """
    out = benchmarks_dir() / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"name": name, "data": data, "machine": machine_description(device), "notes": notes,
               "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "rows": rows}
    out.write_text(json.dumps(payload, indent=1, default=float, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


# ------------------------------------------------------------------------------------------------- rendering
#: A run folder's name: ``<family>_<kind>_f<fold>`` or ``<family>_all``, plus an optional stage suffix such as
#: ``_kd`` / ``_kd3l`` (distillation students); see :func:`islr.runs.run_folder`.
def _describe(name: str) -> dict[str, str]:
    from islr import runs

    return runs.describe_folder(name)


def _number(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def read_metrics(path: str | Path) -> list[dict[str, float | None]]:
    """The rows of one ``metrics.csv`` as floats (empty cells, e.g. top-1 without validation, become None).

    Raises:
        ValueError: the file lacks one of the columns epoch, top1, top3, seconds (names the file).
    """
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"epoch", "top1", "top3", "seconds"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: not a training metrics.csv (missing columns {sorted(missing)})")
        return [{k: _number(v) for k, v in row.items()} for row in reader]


def summarize_run(metrics_csv: str | Path, runs_root: str | Path) -> dict[str, Any]:
    """One results row for the run folder holding ``metrics_csv``.

    Returns:
        dict: run (run name), folder (path below the run), family, split, fold, stage, epochs (rows in the file),
        best_top1 and best_epoch (1-based; the first epoch with the highest top-1, the one ``best.pt`` keeps),
        top3_at_best, last_top1, last_top3, train_minutes (sum of the per-epoch seconds) and data (the label of a
        ``data_source.json`` in the folder or its run folder, "" if there is none).
    """
    metrics_csv, runs_root = Path(metrics_csv), Path(runs_root)
    rel = metrics_csv.parent.relative_to(runs_root)
    run, folder = rel.parts[0], "/".join(rel.parts[1:])
    rows = read_metrics(metrics_csv)
    scored = [r for r in rows if r["top1"] is not None]
    best = max(scored, key=lambda r: r["top1"]) if scored else None  # max keeps the first of equal values
    last = rows[-1] if rows else {}
    return {"run": run, "folder": folder or ".", **_describe(rel.name if folder else ""),
            "epochs": len(rows), "best_top1": best and best["top1"], "best_epoch": best and int(best["epoch"]) + 1,
            "top3_at_best": best and best["top3"], "last_top1": last.get("top1"), "last_top3": last.get("top3"),
            "train_minutes": sum(r["seconds"] or 0.0 for r in rows) / 60, "data": _data_label(metrics_csv.parent,
                                                                                              runs_root / run)}


def _data_label(*folders: Path) -> str:
    """The ``label`` (else ``path``) of the first data-source record (:func:`islr.runs.data_source`) among
    ``folders``."""
    from islr import runs

    for folder in folders:
        try:
            source = runs.data_source(folder)
        except FileNotFoundError:
            continue
        return str(source.get("label") or source.get("path") or "")
    return ""


def _cell(value: Any) -> str:
    """Markdown cell text: floats rounded to 4 decimals (3 significant digits below 0.001), None/NaN as an em dash."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3e}" if value and abs(value) < 1e-3 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A GitHub markdown table of ``rows``; columns default to every key, in first-seen order."""
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


#: Columns of the runs table: (key of :func:`summarize_run`, header).
RUN_COLUMNS = (("run", "run"), ("folder", "folder"), ("family", "family"), ("split", "split"), ("fold", "fold"),
               ("stage", "stage"), ("epochs", "epochs"), ("best_top1", "best top-1"), ("best_epoch", "best epoch"),
               ("top3_at_best", "top-3 at best"), ("last_top1", "last top-1"), ("last_top3", "last top-3"),
               ("train_minutes", "train min"), ("data", "data"))


def render_runs(outputs: Path) -> str:
    """Markdown section of every training run below ``outputs/runs`` (empty string when there is none)."""
    root = outputs / "runs"
    files = sorted(root.rglob("metrics.csv")) if root.is_dir() else []
    if not files:
        return ""
    rows = [summarize_run(f, root) for f in files]
    fixed = {"best_top1": "{:.4f}", "top3_at_best": "{:.4f}", "last_top1": "{:.4f}", "last_top3": "{:.4f}",
             "train_minutes": "{:.2f}"}  # accuracies to 4 decimals, minutes to 2, in every row alike
    table = [{header: fixed[key].format(row[key]) if key in fixed and row[key] is not None else row[key]
              for key, header in RUN_COLUMNS} for row in rows]
    return ("## Training runs\n\nOne row per run folder (`outputs/runs/<run>/<folder>/metrics.csv`). Accuracies are "
            "on the run's validation fold; *best* is the first epoch with the highest top-1 (the weights in "
            "`best.pt`); full-data runs have no validation (—). Train time sums the per-epoch seconds, validation "
            "included.\n\n" + markdown_table(table) + "\n")


def render_benchmarks(outputs: Path) -> str:
    """Markdown section with one table per ``outputs/benchmarks/*.json`` (empty string when there is none)."""
    files = sorted((outputs / "benchmarks").glob("*.json")) if (outputs / "benchmarks").is_dir() else []
    parts = []
    for path in files:
        try:
            bench = json.loads(path.read_text(encoding="utf-8"))
            rows = bench["rows"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a benchmark record of islr.report.record_benchmark ({err})") from err
        head = [f"### {bench.get('name', path.stem)}", "", f"- data: {bench.get('data', '?')}",
                f"- machine: {bench.get('machine', '?')}", f"- measured: {bench.get('measured', '?')}"]
        if bench.get("notes"):
            head.append(f"- notes: {bench['notes']}")
        parts.append("\n".join(head) + "\n\n" + (markdown_table(rows) if rows else "(no rows)") + "\n")
    return "## Benchmarks\n\n" + "\n".join(parts) if parts else ""


def render(outputs_dir: str | Path | None = None) -> str:
    """Markdown results of everything under ``outputs_dir`` (default :func:`islr.paths.outputs_dir`).

    Args:
        outputs_dir: an outputs folder holding ``runs/`` and/or ``benchmarks/``.

    Raises:
        FileNotFoundError: ``outputs_dir`` does not exist.
        ValueError: a metrics.csv or benchmark JSON cannot be read (names the file).
    """
    outputs = Path(outputs_dir) if outputs_dir is not None else paths.outputs_dir()
    if not outputs.is_dir():
        raise FileNotFoundError(f"outputs folder {outputs} does not exist (train or run a benchmark first)")
    sections = [s for s in (render_runs(outputs), render_benchmarks(outputs)) if s]
    body = "\n".join(sections) if sections else "No runs or benchmarks found.\n"
    return ("# Results\n\nRendered by `python -m islr report` from `runs/**/metrics.csv` and `benchmarks/*.json` of "
            "an outputs folder; not edited by hand.\n\n" + body)


#: Markers of the block that :func:`update_block` replaces in a markdown file (the README's results section).
BLOCK_START, BLOCK_END = "<!-- islr report: start -->", "<!-- islr report: end -->"


def update_block(markdown_file: str | Path, text: str) -> Path:
    """Replace what stands between :data:`BLOCK_START` and :data:`BLOCK_END` in ``markdown_file`` with ``text``.

    The rendered ``# Results`` heading becomes a third-level one so the block nests under the file's own section.

    Raises:
        ValueError: the file lacks the two markers, in that order (names the file).
    """
    path = Path(markdown_file)
    doc = path.read_text(encoding="utf-8")
    start, end = doc.find(BLOCK_START), doc.find(BLOCK_END)
    if start < 0 or end < start:
        raise ValueError(f"{path}: no '{BLOCK_START}' … '{BLOCK_END}' block to fill")
    body = "\n".join(("##" + line if line.startswith("#") else line) for line in text.strip().splitlines())
    path.write_text(doc[:start + len(BLOCK_START)] + "\n" + body + "\n" + doc[end:], encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m islr report [--outputs DIR] [--out FILE] [--readme FILE]``: write the markdown and print it."""
    parser = argparse.ArgumentParser(prog="islr report", description="markdown tables of runs and benchmarks")
    parser.add_argument("--outputs", type=Path, default=None, help="outputs folder (default: islr.paths.outputs_dir)")
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: <outputs>/report.md)")
    parser.add_argument("--readme", type=Path, default=None,
                        help=f"also fill the {BLOCK_START} … {BLOCK_END} block of this markdown file")
    args = parser.parse_args(argv)
    outputs = args.outputs or paths.outputs_dir()
    try:
        text = render(outputs)
    except (FileNotFoundError, ValueError) as err:
        print(f"islr report: {err}", file=sys.stderr)
        return 1
    out = args.out or outputs / "report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out}")
    if args.readme is not None:
        try:
            print(f"updated {update_block(args.readme, text)}")
        except (OSError, ValueError) as err:
            print(f"islr report: {err}", file=sys.stderr)
            return 1
    return 0
