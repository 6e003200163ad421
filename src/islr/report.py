"""Benchmark and run results as files, so that results are rendered from measurements, never typed by hand.

Every benchmark script ends with :func:`record_benchmark`, which writes ``outputs/benchmarks/<name>.json``: the rows
it printed, the data they were measured on, the machine (:func:`machine_description`) and the script that wrote it.

:func:`render` (``python -m islr report``) turns what is on disk into markdown: a summary of every benchmark record
in words (:func:`summarize`: one function per benchmark script turns that record's own numbers into sentences), one
table of training runs, read from every ``outputs/runs/**/metrics.csv`` (the per-epoch log of
:mod:`islr.train.loop`), and one table per benchmark JSON. It reads files only, so it also renders outputs copied
from another machine. ``--readme`` fills the README's results section with it (:func:`fill_block`).
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

from islr import paths


def machine_description(device: str = "cpu") -> str:
    """One line naming the machine: CPU model, cores, memory and, for ``device="cuda"``, the GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        flags = next((set(line.split(":", 1)[1].split()) for line in info if line.startswith("flags")), set())
        # CPUs of one model name differ in their vector units, which set the speed of every kernel measured here
        vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
        cpu += f" ({vector})" if vector else ""
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
                     notes: str = "", script: str | Path | None = None) -> Path:
    """Write one benchmark's result table to ``outputs/benchmarks/<name>.json`` and return the path.

    Args:
        name: file stem, e.g. ``"export_latency"``.
        rows: the table, one dict per row (JSON-serialisable values).
        data: which data it was measured on: "synthetic", "bundled real sample (86 sequences)", "full Kaggle set", ….
        device: "cpu" or "cuda" (names the GPU in the machine line).
        notes: anything a reader needs to interpret the numbers (threads, repeats, ratio definitions).
        script: the benchmark script that measured it (default: the file that calls this function). It is stored
            as ``<folder>/<file>`` (``benchmarks/real_holdout.py``) and picks the summary of :func:`summarize`.
    """
    if script is None:
        script = inspect.stack(0)[1].filename  # the benchmark script calling this
    script = Path(script)
    out = benchmarks_dir() / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"name": name, "script": f"{script.parent.name}/{script.name}", "data": data,
               "machine": machine_description(device), "notes": notes,
               "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "rows": rows}
    out.write_text(json.dumps(payload, indent=1, default=float, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


# ------------------------------------------------------------------------------------------------- rendering
#: A run folder's name: ``<family>_<kind>_f<fold>`` or ``<family>_all``, plus an optional stage suffix such as
#: ``_kd`` / ``_kd3l`` (distillation students); see :func:`islr.runs.run_folder`.
def _describe(name: str) -> dict[str, str]:
    from islr import runs

    return runs.parse_run_folder(name)


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


# ------------------------------------------------------------------------------------------------- summaries
# One function per benchmark script (SUMMARIES) turns a record's own numbers into a few sentences; apart from the one
# sentence of render_intro that compares the same graph's time across records, nothing else puts numbers into words.
# Each reads only the record (rows, data, notes), so it summarises a record measured today and one measured a year
# ago alike, and the README's results section is rendered from the records with no number typed by hand.

#: Signs of the competition: top-1 chance is 1 / N_SIGNS.
N_SIGNS = 250
#: Wall-time goal of a whole ``./run_all.sh`` per profile, minutes (the default profile: the CPU demo, docs in
#: :mod:`islr.config`).
CHAIN_GOAL_MINUTES = {"default": 30.0}
#: The submission's latency goal: our graph's time over the reference-style graph's, same models, same sequences.
LATENCY_GOAL_RATIO = 0.25
#: How summaries name the model families.
MODEL_NAMES = {"cnn": "CNN", "bert": "BERT", "deberta": "DeBERTa", "ensemble": "ensemble"}


def _acc(x: float) -> str:
    """An accuracy to 3 decimals without trailing zeros (0.9625 → 0.963, 0.96 → 0.96, 1 → 1.0, 0 → 0)."""
    text = f"{x:.3f}".rstrip("0")
    return "0" if x == 0 else text + "0" if text.endswith(".") else text


def _delta(x: float) -> str:
    """A signed difference of accuracies: ``+0.013`` / ``−0.154``."""
    return f"{x:+.3f}".replace("-", "−")


def _of(acc: float, n: int) -> str:
    """``"77 of 78"``: the count behind an accuracy over ``n`` rows."""
    return f"{round(acc * n)} of {n}"


def _ms(x: float) -> str:
    """Milliseconds: 2 decimals below 1 ms, else 1."""
    return f"{x:.2f} ms" if x < 1 else f"{x:,.1f} ms"


def _x(ratio: float) -> str:
    return f"{ratio:.2f}×"


def _pct(share: float, decimals: int = 0) -> str:
    """A share as a percentage with ``decimals`` (trailing zeros dropped), one more where rounding would show 0 or
    100 % for a share that is neither (0.957 → 96 %, 0.0026 → 0.3 %, 0.9987 → 99.9 %)."""
    text = f"{100 * share:.{decimals}f}"
    if 0 < share < 1 and float(text) in (0, 100):
        text = f"{100 * share:.{decimals + 1}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"


def _model(name: str) -> str:
    return MODEL_NAMES.get(name, name)


def _profile(notes: str) -> str:
    """The profile a note names (``"default profile + …"`` → ``"default"``), "" if none."""
    m = re.search(r"\b(\w+) profile\b", notes)
    return m[1] if m else ""


def _overrides(notes: str) -> dict[str, Any]:
    """The JSON overrides a note names (``"… + overrides {…}; …"``), {} if none or unreadable."""
    m = re.search(r"overrides (\{[^{}]*\})", notes)
    try:
        return json.loads(m[1]) if m else {}
    except json.JSONDecodeError:
        return {}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _change(change: dict[str, Any]) -> str:
    """``{"a": 0.0, "b": 0.0, "c": False}`` → ``"`a`, `b` = 0 and `c` = false"``."""
    by_value: dict[str, list[str]] = {}
    for key, value in change.items():
        by_value.setdefault(_value(value), []).append(f"`{key}`")
    return " and ".join(f"{', '.join(keys)} = {value}" for value, keys in by_value.items())


def _span(values: list[float], fmt=_acc) -> str:
    """``"0–0.018"`` for a range, one value when all are equal."""
    lo, hi = fmt(min(values)), fmt(max(values))
    return lo if lo == hi else f"{lo}–{hi}"


def _list(parts: list[str]) -> str:
    """``"a, b and c"``."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _summary_real_holdout(rec: dict) -> tuple[str, str]:
    rows, notes = rec["rows"], rec.get("notes", "")
    overall = {r["model"]: r for r in rows if r.get("fold") == "all"}
    folds = [r for r in rows if r.get("fold") != "all"]
    held = sorted({len(r["participants"]) for r in folds if r.get("participants")})
    m = re.search(r"(\d+) participant-grouped folds over (\d+) real sequences of (\d+) participants", notes)
    if m:
        n_folds, n_real, n_people = (int(g) for g in m.groups())
    else:  # read from the rows: each fold's participants and held-out sequences, once per fold
        first = {r["fold"]: r for r in reversed(folds)}
        n_folds, n_real = len(first), sum(r["n"] for r in first.values())
        n_people = len({p for r in folds for p in r.get("participants") or ()})
    per_fold = "–".join(map(str, (held[0], held[-1]) if held[0] != held[-1] else held[:1])) if held else "some"
    profile = _profile(notes)
    text = (f"The {profile + ' ' if profile else ''}recipe — its data mix, its models and their ensemble — trained "
            f"{n_folds} times, each time without the real recordings of {per_fold} of the {n_people} participants, "
            f"and scored on those people's real sequences ({n_real} in all, each held out once")
    text += "; ensemble weights cross-fitted on the other folds). " if any(r["model"] == "ensemble" for r in rows) \
        else "). "
    if overall:
        head = overall.get("ensemble") or next(iter(overall.values()))
        name = _model(head["model"])
        text += (f"{name[:1].upper() + name[1:]}: **{_acc(head['hello_vs_thankyou'])} hello-vs-thankyou** "
                 f"({_of(head['hello_vs_thankyou'], head['n_pair'])}) and **{_acc(head['top1'])} {N_SIGNS}-way "
                 f"top-1** ({_of(head['top1'], head['n'])})")
        alone = [f"{_model(k)} {_acc(r['hello_vs_thankyou'])} / {_acc(r['top1'])}" for k, r in overall.items()
                 if r is not head]
        text += f"; alone (hello-vs-thankyou / top-1): {_list(alone)}." if alone else "."
        if head.get("worst_participant_top1") is not None:
            text += f" The participant it scores worst still gets top-1 {_acc(head['worst_participant_top1'])}."
    else:
        done = sorted({r["fold"] for r in folds})
        text += f"Partial run: {len(done)} of {n_folds} folds finished ({', '.join(f'fold {f}' for f in done)}). On "
        models = list(dict.fromkeys(r["model"] for r in folds))
        n = sum(r["n"] for r in folds if r["model"] == models[0])
        parts = []
        for model in models:
            mine = [r for r in folds if r["model"] == model]
            pair = sum(r["hello_vs_thankyou"] * r["n_pair"] for r in mine) / sum(r["n_pair"] for r in mine)
            top1 = sum(r["top1"] * r["n"] for r in mine) / sum(r["n"] for r in mine)
            parts.append(f"{_model(model)} {_acc(pair)} / {_acc(top1)}")
        text += f"their {n} held-out real sequences, hello-vs-thankyou / top-1: {_list(parts)}."
    keys = list(_overrides(notes))
    if keys and all(k.startswith("sample_check.") or k == "split.full_data_transformers" for k in keys):
        text += (f" Its overrides ({', '.join(f'`{k}`' for k in keys)}) change only the chain's sample check and "
                 "full-data models, which the held-out trainings do not use.")
    return "Real signers the models never saw", text


def _summary_cnn_real(rec: dict) -> tuple[str, str]:
    rows = rec["rows"]
    m = re.search(r"(\d+) participant-grouped folds", rec.get("notes", ""))
    base = next((r for r in rows if not r["change"]), None)
    others = [r for r in rows if r["change"]]
    text = (f"The CNN trained on the real hello/thankyou sequences alone and scored on participants it never saw "
            f"({m[1] + ' participant-grouped folds, ' if m else ''}{rows[0]['n']} sequences). "
            f"Hello-vs-thankyou accuracy: ")
    parts = [f"**{_acc(base['hello_vs_thankyou'])}** as configured"] if base else []
    for r in others:
        delta = f" ({_delta(r['hello_vs_thankyou'] - base['hello_vs_thankyou'])})" if base else ""
        parts.append(f"{_acc(r['hello_vs_thankyou'])} with {_change(r['change'])}{delta}")
    text += "; ".join(parts) + "."
    if base and others and all(r["hello_vs_thankyou"] < base["hello_vs_thankyou"] for r in others):
        text += " Every change tried scores below the recipe as configured."
    if base and base.get("worst_participant") is not None:
        text += f" The participant scored worst gets {_acc(base['worst_participant'])} as configured."
    return "The CNN on real signers, one change at a time", text


def _summary_synth_transfer(rec: dict) -> tuple[str, str]:
    row = rec["rows"][0]
    how = ("fitted to real recordings of other participants, cross-fitted" if row["synthetic"] == "fitted"
           else "random sign definitions, not fitted to real recordings")
    acc = row["hello_vs_thankyou"]
    text = (f"{_model(row['family'])} trained only on synthetic hello and thankyou ({row['per_sign']} per sign; {how}) "
            f"and scored on {row['n_pair']} real hello/thankyou sequences: hello-vs-thankyou **{_acc(acc)}** "
            f"({_of(acc, row['n_pair'])}), {'above' if acc > 0.5 else 'below'} the 0.5 of a coin toss.")
    return f"Synthetic data alone, scored on real signers ({row['synthetic']} synthetic signs)", text


def _summary_chain(rec: dict) -> tuple[str, str]:
    rows, profile = rec["rows"], _profile(rec.get("notes", ""))
    members = [r for r in rows if r.get("synthetic_top1") is not None or r.get("real_top1") is not None]
    text = f"One `./run_all.sh` of the {profile or 'chain'}{' profile' if profile else ''}. "
    kinds = dict.fromkeys(re.search(r", (\w+) split", r["what"])[1] for r in members)
    chance = 1 / N_SIGNS
    for kind in kinds:
        mine = [r for r in members if f", {kind} split" in r["what"]]
        names = _list([_model(r["what"].split(",")[0]) for r in mine])
        syn = [r["synthetic_top1"] for r in mine if r.get("synthetic_top1") is not None]
        real = [r["real_top1"] for r in mine if r.get("real_top1") is not None]
        who = "people the models never saw" if kind == "participant" else "people also in training"
        parts = []
        if syn:
            parts.append(f"{_span(syn)} on its {mine[0]['synthetic_n']} synthetic rows (chance {chance:.3f})")
        if real:
            parts.append(f"{_span(real)} on its {mine[0]['real_n']} real rows ({who})")
        text += f"Fold-0 validation top-1 of {names} ({kind} split): {' against '.join(parts)}."
        if syn and real and max(syn) < 5 * chance and min(real) > 0.9:
            text += " The models get the signs with real recordings right and stay near chance on the synthetic ones."
        text += " "
    notebooks = [(r["what"].removeprefix("notebook "), r["seconds"]) for r in rows
                 if r["what"].startswith("notebook ") and r.get("seconds") is not None]
    whole = next((r["seconds"] for r in rows if r["what"] == "whole chain"), None)
    if whole is not None:
        text += f"The whole chain took **{whole:,.0f} s ({whole / 60:.1f} min)**"
        goal = CHAIN_GOAL_MINUTES.get(profile)
        if goal is not None:
            text += f", {'within' if whole <= goal * 60 else 'over'} the {profile} profile's {goal:.0f}-minute goal"
        slowest = sorted(notebooks, key=lambda nb: -nb[1])[:3]
        text += "; the longest notebooks: " + _list([f"{name} {s:,.0f} s" for name, s in slowest]) + "."
    return f"The {profile + ' ' if profile else ''}chain: synthetic rows, real rows and its time", text.strip()


def _summary_export_latency(rec: dict) -> tuple[str, str]:
    by = {r["graph"]: r for r in rec["rows"]}
    ref, ours, stock = by["reference-style"], by.get("+ our preprocessing (ours fp32)"), by.get("+ stock depthwise")
    floor = next((r for g, r in by.items() if "alone" in g), None)
    text = ("Whole ensembles (CNN + BERT + DeBERTa as one TFLite graph), called as the Kaggle harness calls them, "
            "1 thread, side by side over the same real sequences. ")
    if ours:
        text += (f"Our fp32 submission graph takes **{_ms(ours['median_ms'])}** per sequence against "
                 f"**{_ms(ref['median_ms'])}** for the reference-style graph built from the same models: a median "
                 f"per-sequence ratio of **{_x(ours['ratio_median'])}** ({ours['ratio_min']:.2f}–"
                 f"{ours['ratio_max']:.2f}).")
    if stock:
        text += (f" The stock depthwise convolution alone, with the reference's preprocessing, gives "
                 f"{_x(stock['ratio_median'])}.")
    rest = [r for r in rec["rows"] if r not in (ref, ours, stock, floor)]
    if rest:
        text += " Other graphs: " + _list([f"{r['graph'].removeprefix('ours ')} {_x(r['ratio_median'])}"
                                          for r in rest]) + "."
    if floor:
        text += (f" Our CNN branch alone, without the transformers, already takes {_x(floor['ratio_median'])} "
                 f"({floor['ratio_min']:.2f}–{floor['ratio_max']:.2f}): no ensemble holding this CNN gets below "
                 "that.")
        ensembles = [r for r in rec["rows"] if r not in (ref, floor)]
        best = min(ensembles, key=lambda r: r["ratio_median"]) if ensembles else None
        if best and best["ratio_median"] > LATENCY_GOAL_RATIO:
            text += (f" So the goal of ≤ {LATENCY_GOAL_RATIO}× is not reached at these model sizes: the fastest "
                     f"whole ensemble here is {best['graph'].removeprefix('ours ')} at {_x(best['ratio_median'])}.")
    return "Inference speed against the reference-style graph", text


def _summary_export_stages(rec: dict) -> tuple[str, str]:
    rows = rec["rows"]
    staged = [r for r in rows if r.get("stage_ms") is not None]
    parts = []
    for model in dict.fromkeys(r["model"] for r in staged):
        mine = [r for r in staged if r["model"] == model]
        total = mine[-1]["cumulative_ms"]
        layers = [r["stage_ms"] for r in mine if re.fullmatch(r"layer \d+", r["stage"])]
        if layers:
            parts.append(f"{_model(model)} {_ms(total)}, {_span(layers, lambda v: f'{v:.1f}')} ms per full layer")
        else:
            top = sorted(mine, key=lambda r: -r["share"])[:3]
            parts.append(f"{_model(model)} {_ms(total)}, of which "
                         + _list([f"{r['stage']} {_pct(r['share'])}" for r in top]))
    text = "Inside each fp32 graph, timed on cumulative cuts (1 thread, XNNPACK): " + "; ".join(parts) + "."
    cache = {r["stage"]: r["cumulative_ms"] for r in rows if r.get("stage_ms") is None}
    alone, mixed = cache.get("whole CNN, back to back"), cache.get("whole CNN, right after a BERT call")
    if alone and mixed:
        text += (f" The whole CNN took {_ms(alone)} called back to back and {_ms(mixed)} right after a BERT call"
                 + (", so interleaved timing does not inflate it." if abs(mixed - alone) <= 0.05 * alone else "."))
    return "Where the inference time goes", text


def _summary_export_branches(rec: dict) -> tuple[str, str]:
    table: dict[str, dict[str, float]] = {}
    for r in rec["rows"]:
        table.setdefault(r["branch"], {})[r["call"]] = r["median_ms"]
    parts = [f"{branch.replace('_', ' ')} {calls['new shape']:.2f} / {calls['same shape again']:.2f} ms"
             if {"new shape", "same shape again"} <= set(calls) else f"{branch} {_span(list(calls.values()), _ms)}"
             for branch, calls in table.items()]
    text = ("1 thread, median per call with a new sequence length (as the harness calls) / with the same length "
            "again: " + "; ".join(parts) + ".")
    prep = [calls["new shape"] for branch, calls in table.items() if "preprocessing" in branch and "new shape" in calls]
    if len(prep) > 1:
        text += f" Both preprocessings together: {_ms(sum(prep))} per new-length call."
    return "Each part of the submission alone", text


def _summary_quantisation(rec: dict) -> tuple[str, str]:
    by = {r["precision"]: r for r in rec["rows"]}
    base = by["fp32"]
    text = (f"Each held-out fold's models as one submission graph in fp32 ({base['size_mb']:.1f} MB): top-1 "
            f"{_acc(base['real_top1'])} on {base['real_n']} held-out real sequences and {_acc(base['synthetic_top1'])}"
            f" on {base['synthetic_n']} fresh synthetic ones (chance {1 / N_SIGNS:.3f}).")
    others = [r for p, r in by.items() if p != "fp32"]
    parts = []
    for r in others:
        same = r["real_top1_delta"] == 0 and r["synthetic_top1_delta"] == 0
        parts.append(f"{r['precision'].replace('_', ' ')} ({r['size_mb']:.1f} MB) gives "
                     f"{_pct(r['real_same_top1_as_fp32'], 1)} of the real and "
                     f"{_pct(r['synthetic_same_top1_as_fp32'], 1)} of the synthetic top-1 predictions of fp32, "
                     + ("top-1 unchanged" if same else f"top-1 {_delta(r['real_top1_delta'])} real, "
                                                       f"{_delta(r['synthetic_top1_delta'])} synthetic")
                     + f", at {_x(r['latency_ratio_to_fp32'])} the fp32 time")
    if parts:
        text += " Against it, " + "; ".join(parts) + "."
    if others and all(r["latency_ratio_to_fp32"] >= 1 for r in others):
        text += " None is faster than fp32 here: quantising saves size, not time."
    return "Quantised submission graphs", text


def _summary_cnn_quantisation(rec: dict) -> tuple[str, str]:
    by = {r["variant"]: r for r in rec["rows"]}
    base = by["fp32"]
    text = (f"The CNN branch alone, 1 thread, XNNPACK: fp32 {_ms(base['median_ms'])} median per image "
            f"({base['size_mb']:.1f} MB); " + "; ".join(
                f"{name.replace('_', ' ')} {_x(r['ratio_to_fp32'])} the fp32 time ({r['size_mb']:.1f} MB"
                + (f", {_pct(r['same_top1_as_fp32'], 1)} same top-1" if r.get("same_top1_as_fp32") is not None
                   else "")
                + ")" for name, r in by.items() if name != "fp32") + ".")
    return "The CNN branch under integer quantisation", text


def _summary_live(rec: dict) -> tuple[str, str]:
    rows = rec["rows"]
    main = next(r for r in rows if r["default"])
    c = main["model_complexity"]
    others = [r for r in rows if r["variant"] == "pipelined" and r["cores"] == 2 and r is not main]
    one = next((r for r in rows if r["variant"] == "pipelined" and r["cores"] == 1), None)
    before = next((r for r in rows if r["variant"] == "sequential"), None)
    text = (f"`islr live` reading a video as a camera, pipelined on {main['cores']} cores: **{main['fps']:.1f} "
            f"frames/s** end to end with MediaPipe model complexity {c} (the live default)")
    if before:
        text += (f", {_x(main['fps'] / before['fps'])} the sequential loop's {before['fps']:.1f} frames/s on the same "
                 "cores")
    variants = [f"complexity {r['model_complexity']} {r['fps']:.1f} frames/s" for r in others]
    variants += [f"on one core {one['fps']:.1f} frames/s"] if one else []
    if variants:
        text += "; " + _list(variants)
    every = re.search(r"every (\d+)", rec["notes"])[1]
    text += (f". Per frame (complexity {c}): extraction {_ms(main['extraction_ms'])} (MediaPipe "
             f"{_ms(main['worker_ms'])}, the pipe {_ms(main['pipe_ms'])}), busy {_pct(main['extraction_busy'])} of "
             f"the time; recognition {_ms(main['recognition_ms'])}, capture {_ms(main['capture_ms'])}, drawing and "
             f"writing {_ms(main['output_ms'])}, beside it. Recognition calls the model every "
             f"{every} frames: {_ms(main['call_median_ms'])} median per call, "
             f"{_ms(main['call_max_ms'])} at most, against {_ms(main['extraction_ms_between_calls'])} of extraction "
             f"between two calls, so recognition "
             f"{'is not' if main['call_median_ms'] < main['extraction_ms_between_calls'] else 'is'} the bottleneck.")
    return "`islr live` frame rate", text


def _summary_trim(rec: dict) -> tuple[str, str]:
    clips = {r["group"]: r for r in rec["rows"] if r["what"] == "clips"}
    every = clips["all"]
    text = (f"Real asl-signs clips made into recordings like a user's (real rest frames before and after, median "
            f"{every['padded_frames_median']:.0f} frames), top-1 scored whole → on the span `islr.span.sign_span` "
            "finds, with the hands out of view at rest / found at rest: " + "; ".join(
                f"{name} ({g['n']}) {_acc(g['top1_padded_untrimmed'])} → **{_acc(g['top1_padded_trimmed'])}** / "
                f"{_acc(g['top1_hands_at_rest_untrimmed'])} → **{_acc(g['top1_hands_at_rest_trimmed'])}** (the clip "
                f"alone {_acc(g['top1_original'])})" for name, g in clips.items()) + ". "
            f"The span ends at most {max(every['span_error_max'], every['span_error_max_hands_at_rest'])} frames "
            f"from the clip's own ends; on the clips themselves it cuts {every['frames_cut']} of "
            f"{every['frames']:,} frames.")
    recordings = [r for r in rec["rows"] if r["what"] == "recording"]
    if recordings:
        text += " Real recordings: " + "; ".join(
            f"{r['group']} {r['frames']} frames → [{r['span'][0]}, {r['span'][1]}), {r['top1_untrimmed']} → "
            f"{r['top1_trimmed']}" for r in recordings) + "."
    return "Scoring the sign's span only", text


def _summary_web(rec: dict) -> tuple[str, str]:
    parts = [f"pose model {r['model_complexity']}: **{r['holistic_fps']:.1f} frames/s** of MediaPipe Holistic in "
             f"the page, {r['received_fps']:.1f} frames/s of landmarks reaching the server and "
             f"{r['answers_per_s']:.1f} answers/s" for r in rec["rows"]]
    return "`islr live --web` frame rate", ("The browser page in headless Chromium (Holistic on the CPU, WebGL "
                                            "emulated), a video as its camera: " + "; ".join(parts) + ".")


def _summary_open_set(rec: dict) -> tuple[str, str]:
    loso = [r for r in rec["rows"] if "false_accept" in r]
    text = ("Leave-one-sign-out (the default recipe trained without any real recording of one sign, then shown "
            "every real recording of it): " + "; ".join(
                f"without real {r['left_out']}, **{_pct(r['false_accept'])} of its {r['n_left_out']} recordings "
                f"answered with a sign** (false accept; the rest \"not a sign this model knows\"), while "
                f"{_pct(r['false_reject'])} of {r['n_known_held_out']} real recordings of the known signs by "
                f"unseen participants were refused (false reject) and the answered ones were "
                f"{_acc(r['answered_top1'])} right" for r in loso) + ".")
    cal = next((r for r in rec["rows"] if r["left_out"] == "shipped model: calibration"), None)
    if cal and cal.get("ece_raw") is not None:
        text += (f" The shipped model's probabilities on {cal['held_out_rows']} real sequences of "
                 f"{cal['held_out_participants']} unseen participants: expected calibration error "
                 f"{cal['ece_raw']:.3f} for the raw softmax → **{cal['ece_calibrated']:.3f}** calibrated "
                 f"(temperature {cal['temperature']:.2f}, fitted on the other participants for each row).")
    outside = [r for r in rec["rows"] if r["left_out"] == "shipped model: outside its real data"]
    if outside:
        refused = sum(r["state"] != "sign" for r in outside)
        text += (f" On the {len(outside)} real recordings in the repository of signs it has no real data for, it "
                 f"answers \"not a sign this model knows\" or \"no hands\" on {refused}: " + ", ".join(
                     f"{Path(r['file']).name} {r['state']}" for r in outside) + ".")
    return "\"Not a sign this model knows\" and calibrated probabilities", text


def _summary_augment(rec: dict) -> tuple[str, str]:
    parts = []
    for r in rec["rows"]:
        key = next(k for k in r if re.fullmatch(r"batched_b\d+_per_s", k))
        parts.append(f"{_model(r['pipeline'])} {r['per_sample_per_s']:,.0f} samples/s one at a time, "
                     f"{r[key]:,.0f} in batches of {key.split('_')[1][1:]} ({r['batched_gain']:.1f}×)")
    where = "GPU" if "GPU" in rec.get("machine", "") else "CPU"
    return "Augmentation throughput", (f"The training pipelines (augmentation + preprocessing) on the {where}: "
                                       + "; ".join(parts) + ".")


def _summary_prepare(rec: dict) -> tuple[str, str]:
    rows = rec["rows"]
    best = max((r for r in rows if r["method"].startswith("prepare")), key=lambda r: r["files_per_s"])
    pivot = next((r for r in rows if "pivot" in r["method"]), None)
    text = f"`islr prepare` ({best['method'].removeprefix('prepare, ')}) packs {best['files_per_s']:,.0f} files/s"
    if pivot:
        text += f", {best['vs_pivot']:.1f}× a pandas read + pivot ({pivot['files_per_s']:,.0f} files/s)"
    if best.get("projected_full_set_min") is not None:
        text += f"; projected for the full Kaggle set: {best['projected_full_set_min']:,.1f} min"
    return "Reading and packing landmark files", text + "."


def _summary_train(rec: dict) -> tuple[str, str]:
    r = rec["rows"][0]
    text = (f"The real training step of {r['model']} (batch {r['batch']}, {r['device']}; amp {r['amp']}, "
            f"channels-last {_value(r['channels_last'])}, compile {r['compile']}): {r['samples_per_s']:,.1f} "
            f"samples/s. At that rate the reference's {r['run']} would take {r['projected_min'] / 60:,.1f} h "
            f"(goal on one GPU: {r['goal_min']:.0f} min).")
    return "The real training step", text


def _summary_gpu_check(rec: dict) -> tuple[str, str]:
    rows = rec["rows"]
    if rec.get("notes", "").startswith("DRY RUN"):
        return "GPU check (dry run)", ("A dry run on the CPU with the smoke profile's tiny models: it checks the "
                                       "command and the training step; its numbers say nothing about a GPU.")
    parts = []
    for family in dict.fromkeys(r["family"] for r in rows):
        best = max((r for r in rows if r["family"] == family), key=lambda r: r["samples_per_s"])
        parts.append(f"{best['run']}: best {best['samples_per_s']:,.0f} samples/s at batch {best['batch']}, "
                     f"{best['projected_min']:,.1f} min projected against a goal of {best['goal_min']:.0f} min "
                     f"({'met' if best['meets_goal'] else 'missed'})")
    return "GPU check", "The real training step on the GPU: " + "; ".join(parts) + "."


def _summary_depthwise(rec: dict) -> tuple[str, str]:
    timed = [r for r in rec["rows"] if r.get("xnnpack_harness_ms") is not None]
    failed = [r["variant"] for r in rec["rows"] if r.get("error")]
    text = ("One depthwise layer in each form, converted alone to TFLite, median per harness call with XNNPACK: "
            + "; ".join(f"{r['variant']} {_ms(r['xnnpack_harness_ms'])}" for r in timed) + ".")
    if timed:
        text += f" Fastest: {min(timed, key=lambda r: r['xnnpack_harness_ms'])['variant']}."
    if failed:
        text += f" Not converted: {_list(failed)}."
    return "Depthwise convolution variants", text


def _summary_kd_sweep(rec: dict) -> tuple[str, str]:
    rows = rec["rows"]
    by = {r["run"]: r for r in rows}
    kd = [r for r in rows if r["run"] not in ("teacher", "no KD") and r.get("top1") is not None]
    parts = [f"{name} {_acc(by[name]['top1'])}" for name in ("teacher", "no KD") if by.get(name, {}).get("top1")
             is not None]
    if kd:
        best = max(kd, key=lambda r: r["top1"])
        parts.append(f"the best KD student ({best['run']}) {_acc(best['top1'])}")
    n = rows[0].get("n_valid")
    return "Distillation temperature and weight", (f"Validation top-1{f' on {n} sequences' if n else ''}: "
                                                   + _list(parts) + ".")


#: Benchmark script (file stem) → its summary. The order is the order of the summaries and tables: accuracy on real
#: signers first, then the chain, inference, and the throughput of the data and training steps.
SUMMARIES = {
    "real_holdout": _summary_real_holdout,
    "cnn_real": _summary_cnn_real,
    "synth_transfer": _summary_synth_transfer,
    "chain_summary": _summary_chain,
    "bench_export_latency": _summary_export_latency,
    "bench_export_stages": _summary_export_stages,
    "bench_export_branches": _summary_export_branches,
    "bench_quantisation": _summary_quantisation,
    "bench_cnn_quantisation": _summary_cnn_quantisation,
    "open_set": _summary_open_set,
    "bench_live": _summary_live,
    "bench_web": _summary_web,
    "bench_trim": _summary_trim,
    "bench_augment": _summary_augment,
    "bench_prepare": _summary_prepare,
    "bench_train": _summary_train,
    "gpu_check": _summary_gpu_check,
    "bench_depthwise": _summary_depthwise,
    "sweep_kd": _summary_kd_sweep,
}


def _script_stem(record: dict) -> str:
    return Path(record.get("script") or "").stem


def summarize(record: dict) -> str:
    """A benchmark record in a few plain sentences: its headline numbers, its data and its machine.

    The words come from the summary function of the script that wrote the record (:data:`SUMMARIES`, picked by the
    record's ``script``); a record of another script gets one line pointing at its table.

    Returns:
        ``**Title** (record `name`, `benchmarks/script.py`): sentences. Data: …. Machine: ….``

    Raises:
        KeyError, TypeError, ValueError, IndexError, ZeroDivisionError: the rows lack what the summary reads.
    """
    fn = SUMMARIES.get(_script_stem(record))
    name, script = record.get("name", "?"), record.get("script")
    if fn is None:
        title, text = name, "No summary for this benchmark; see its table."
    else:
        title, text = fn(record)
    where = f"record `{name}`" + (f", `{script}`" if script else "")
    return f"**{title}** ({where}): {text} Data: {record.get('data', '?')}. Machine: {record.get('machine', '?')}."


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


def read_benchmarks(outputs: Path) -> list[dict[str, Any]]:
    """Every ``outputs/benchmarks/*.json`` record, in the order of :data:`SUMMARIES` (then by name).

    Raises:
        ValueError: a file is not a record of :func:`record_benchmark` (names the file).
    """
    folder = outputs / "benchmarks"
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record["rows"], list):
                raise TypeError("rows is not a list")
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a benchmark record of islr.report.record_benchmark ({err})") from err
        record.setdefault("name", path.stem)
        records.append(record)
    order = {stem: i for i, stem in enumerate(SUMMARIES)}
    return sorted(records, key=lambda r: (order.get(_script_stem(r), len(order)), r["name"]))


def _wrap(text: str, bullet: bool = False) -> str:
    """``text`` wrapped at :data:`WIDTH` characters (a bullet's continuation lines indented by two spaces)."""
    import textwrap

    return textwrap.fill(text, WIDTH, initial_indent="* " if bullet else "", subsequent_indent="  " if bullet else "",
                         break_long_words=False, break_on_hyphens=False)


#: Line width of the rendered prose (tables are never wrapped).
WIDTH = 118


def render_summaries(records: list[dict[str, Any]]) -> str:
    """``## In short``: one :func:`summarize` bullet per record (empty string when there is none)."""
    if not records:
        return ""
    bullets = []
    for record in records:
        try:
            bullets.append(_wrap(summarize(record), bullet=True))
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError) as err:
            bullets.append(_wrap(f"**{record['name']}**: no summary ({type(err).__name__}: {err}); see its table. "
                                 f"Data: {record.get('data', '?')}. Machine: {record.get('machine', '?')}.",
                                 bullet=True))
    return "## In short\n\n" + "\n".join(bullets) + "\n"


def render_benchmarks(records: list[dict[str, Any]]) -> str:
    """``## Benchmarks``: one table per record with its data, machine, date and notes (empty string when none)."""
    parts = []
    for record in records:
        head = [f"### {record['name']}", ""]
        if record.get("script"):
            head.append(f"- script: `{record['script']}`")
        head += [f"- data: {record.get('data', '?')}", f"- machine: {record.get('machine', '?')}",
                 f"- measured: {record.get('measured', '?')}"]
        if record.get("notes"):
            head.append(f"- notes: {record['notes']}")
        rows = record["rows"]
        parts.append("\n".join(head) + "\n\n" + (markdown_table(rows) if rows else "(no rows)") + "\n")
    return "## Benchmarks\n\n" + "\n".join(parts) if parts else ""


def _effnet_fp32_ms(record: dict[str, Any]) -> float | None:
    """The EfficientNet-B0 fp32 graph timed alone in ``record`` (ms), if it has such a row."""
    stem, rows = _script_stem(record), record["rows"]
    found = []
    if stem == "bench_export_branches":
        found = [r["median_ms"] for r in rows if r.get("branch") == "effnet_b0 model fp32"
                 and r.get("call") == "same shape again"]
    elif stem == "bench_export_stages":
        found = [r["cumulative_ms"] for r in rows if r.get("stage") == "whole CNN, back to back"]
    elif stem == "bench_cnn_quantisation" and "effnet_b0" in record.get("data", ""):
        found = [r["median_ms"] for r in rows if r.get("variant") == "fp32"]
    return found[0] if found else None


def render_intro(records: list[dict[str, Any]], has_runs: bool) -> str:
    """What the results are rendered from, the machines, how noisy their times are and whether any is a GPU."""
    paragraphs = ["Rendered by `python -m islr report` from an outputs folder's benchmark records "
                  "(`benchmarks/*.json`) and training runs (`runs/**/metrics.csv`); not edited by hand."
                  + (" Each summary under *In short* is written from its own record's numbers and names the data and "
                     "the machine; the full tables follow under *Benchmarks*." if records else "")]
    if records:
        machines = list(dict.fromkeys(r.get("machine", "?") for r in records))
        text = (f"All {len(records)} records were measured on one machine: {machines[0]}." if len(machines) == 1
                else f"The records were measured on {len(machines)} machines, named in each.")
        timings = [(r["name"], ms) for r in records if (ms := _effnet_fp32_ms(r)) is not None]
        if len(timings) > 1:
            text += (" Absolute times vary from run to run: the same EfficientNet-B0 fp32 graph, timed alone, took "
                     + _list([f"{_ms(ms)} in `{name}`" for name, ms in timings])
                     + ". Ratios measured side by side, interleaved in one run, are the numbers to read.")
        paragraphs.append(text)
        if not any("GPU" in m for m in machines):
            paragraphs.append("No record was measured on a GPU, so no GPU number is given. "
                              "`python benchmarks/gpu_check.py` measures the training step on one against the run-time "
                              "goals of `islr.train.throughput.GOAL_MINUTES`.")
    if not has_runs:
        paragraphs.append("No training run is rendered here: on an outputs folder that holds runs (`./run_all.sh` "
                          "writes them) the report adds a table of every run.")
    return "\n\n".join(_wrap(text) for text in paragraphs) + "\n"


def render(outputs_dir: str | Path | None = None) -> str:
    """Markdown results of everything under ``outputs_dir`` (default :func:`islr.paths.outputs_dir`): an
    introduction, a summary of each benchmark record (:func:`summarize`), the training runs and one table per record.

    Args:
        outputs_dir: an outputs folder holding ``runs/`` and/or ``benchmarks/``.

    Raises:
        FileNotFoundError: ``outputs_dir`` does not exist.
        ValueError: a metrics.csv or benchmark JSON cannot be read (names the file).
    """
    outputs = Path(outputs_dir) if outputs_dir is not None else paths.outputs_dir()
    if not outputs.is_dir():
        raise FileNotFoundError(f"outputs folder {outputs} does not exist (train or run a benchmark first)")
    records, runs_section = read_benchmarks(outputs), render_runs(outputs)
    sections = [s for s in (render_summaries(records), runs_section, render_benchmarks(records)) if s]
    if not sections:
        return "# Results\n\nNo runs or benchmarks found.\n"
    return "# Results\n\n" + render_intro(records, bool(runs_section)) + "\n" + "\n".join(sections)


#: Markers of the block that :func:`fill_block` replaces in a markdown file (the README's results section).
BLOCK_START, BLOCK_END = "<!-- islr report: start -->", "<!-- islr report: end -->"
HEADING = re.compile(r"^(#{1,6}) ")


def fill_block(doc: str, text: str, where: str = "the document") -> str:
    """``doc`` with what stands between :data:`BLOCK_START` and :data:`BLOCK_END` replaced by ``text``.

    The block nests under the document's last heading above it: that heading stands for the rendered ``# Results``
    title, which is left out, and the rendered sections become its subsections (``##`` under a ``##`` heading
    becomes ``###``). Without a heading above, ``text`` goes in as it is.

    Raises:
        ValueError: ``doc`` lacks the two markers, in that order (names ``where``).
    """
    start, end = doc.find(BLOCK_START), doc.find(BLOCK_END)
    if start < 0 or end < start:
        raise ValueError(f"{where}: no '{BLOCK_START}' … '{BLOCK_END}' block to fill")
    above = [m for line in doc[:start].splitlines() if (m := HEADING.match(line))]
    lines = text.strip().splitlines()
    if above:
        if lines and lines[0].startswith("# "):
            lines = lines[1:]
            while lines and not lines[0].strip():
                lines = lines[1:]
        shift = "#" * (len(above[-1][1]) - 1)
        lines = [shift + line if HEADING.match(line) else line for line in lines]
    return doc[:start + len(BLOCK_START)] + "\n" + "\n".join(lines) + "\n" + doc[end:]


def update_block(markdown_file: str | Path, text: str) -> Path:
    """Fill the :data:`BLOCK_START` … :data:`BLOCK_END` block of ``markdown_file`` with ``text`` (:func:`fill_block`)
    and return the path.

    Raises:
        ValueError: the file lacks the two markers, in that order (names the file).
    """
    path = Path(markdown_file)
    path.write_text(fill_block(path.read_text(encoding="utf-8"), text, str(path)), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m islr report [--outputs DIR] [--out FILE] [--readme FILE]``: print the markdown and write it to
    ``--out`` (default ``<outputs>/report.md``; with ``--readme`` only where ``--out`` says) and into the block of
    ``--readme``."""
    parser = argparse.ArgumentParser(prog="islr report",
                                     description="results in markdown: summaries and tables of benchmarks and runs")
    parser.add_argument("--outputs", type=Path, default=None, help="outputs folder (default: islr.paths.outputs_dir)")
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown file (default: <outputs>/report.md, none with --readme)")
    parser.add_argument("--readme", type=Path, default=None,
                        help=f"also fill the {BLOCK_START} … {BLOCK_END} block of this markdown file")
    args = parser.parse_args(argv)
    outputs = args.outputs or paths.outputs_dir()
    try:
        text = render(outputs)
    except (FileNotFoundError, ValueError) as err:
        print(f"islr report: {err}", file=sys.stderr)
        return 1
    print(text)
    out = args.out or (None if args.readme else outputs / "report.md")  # the README is the copy kept
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
    if args.readme is not None:
        try:
            print(f"updated {update_block(args.readme, text)}")
        except (OSError, ValueError) as err:
            print(f"islr report: {err}", file=sys.stderr)
            return 1
    return 0
