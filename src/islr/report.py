"""Benchmark and run results as files, so that tables are rendered from measurements, never typed by hand.

Every benchmark script ends with :func:`record_benchmark`, which writes ``outputs/benchmarks/<name>.json``: the rows
it printed, the data they were measured on and the machine (:func:`machine_description`).
"""

from __future__ import annotations

import json
import os
import platform
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
    out.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    return out
