"""`islr report`: markdown from a real (tiny) training run and a recorded benchmark, checked against the files; the
README's results section is exactly what the committed records render."""
import copy
import csv
import difflib
import json
import re
from pathlib import Path

import pytest
import torch

from islr import cli, report
from islr.config import get_config
from islr import runs
from islr.data import resolve_source
from islr.prepare import load_prepared, prepare
from islr.train.run import train_fold

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "docs" / "results"
REGENERATE = "python -m islr report --outputs docs/results --readme README.md"


def _table_rows(markdown: str, header_start: str) -> tuple[list[str], list[list[str]]]:
    """(header cells, body rows) of the first markdown table whose header line starts with ``header_start``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split("|")])
    return table[0], table[2:]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, sample_dir):
    """An outputs folder with real 2-epoch BERT runs on the bundled sample (fold 0, all data) and a benchmark."""
    root = tmp_path_factory.mktemp("outputs")
    mp = pytest.MonkeyPatch()
    mp.setenv("ISLR_OUTPUTS", str(root))
    torch.set_num_threads(1)
    prep = tmp_path_factory.mktemp("prep")
    prepare(sample_dir, prep, num_workers=1, show_progress=False)
    cfg = get_config("smoke", {"split.n_folds": 4, "transformer_train.epochs": 2,
                               "data.data_dir": str(sample_dir)}, run_name="report_test")
    _, result = train_fold(cfg, load_prepared(prep), "bert", kind="participant", fold=0, progress=False)
    assert result.out_dir == runs.run_folder(cfg, "bert", "participant", 0)
    runs.write_data_source(result.out_dir.parent, resolve_source(cfg))
    train_fold(cfg, load_prepared(prep), "bert", fold=-1, progress=False)  # all data: no validation
    report.record_benchmark("toy_bench", [{"method": "reader", "files_per_s": 123.45678, "n": 3},
                                          {"method": "pandas", "files_per_s": 45.0, "n": None},
                                          {"method": "tiny", "files_per_s": 0.00012345, "n": float("nan")}],
                            data="synthetic (test), 2 × 3 sequences", notes="two rows")
    mp.undo()
    return root


def test_run_table_equals_metrics_csv_and_best_checkpoint(outputs):
    text = report.render(outputs)
    header, body = _table_rows(text, "| run |")
    row = dict(zip(header, next(r for r in body if r[1] == "bert_participant_f0")))
    run_dir = outputs / "runs" / "report_test" / "bert_participant_f0"
    with (run_dir / "metrics.csv").open() as f:
        metrics = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    best = max(metrics, key=lambda r: r["top1"])
    assert (row["run"], row["family"], row["split"], row["fold"]) == ("report_test", "bert", "participant", "0")
    assert int(row["epochs"]) == len(metrics) == 2
    assert row["best top-1"] == f"{best['top1']:.4f}" and row["top-3 at best"] == f"{best['top3']:.4f}"
    assert int(row["best epoch"]) == int(best["epoch"]) + 1
    assert (row["last top-1"], row["last top-3"]) == (f"{metrics[-1]['top1']:.4f}", f"{metrics[-1]['top3']:.4f}")
    assert row["train min"] == f"{sum(r['seconds'] for r in metrics) / 60:.2f}"
    assert row["data"].startswith("bundled real sample (80 sequences)")
    ckpt = torch.load(run_dir / "best.pt", weights_only=True)  # the selection rule is the checkpoint's
    assert row["best top-1"] == f"{ckpt['top1']:.4f}" and int(row["best epoch"]) == ckpt["epoch"] + 1


def test_full_data_run_has_no_accuracy(outputs):
    header, body = _table_rows(report.render(outputs), "| run |")
    row = dict(zip(header, next(r for r in body if r[1] == "bert_all")))
    assert (row["family"], row["split"], row["fold"], row["epochs"]) == ("bert", "all data", "all", "2")
    assert {row[c] for c in ("best top-1", "best epoch", "top-3 at best", "last top-1", "last top-3")} == {"—"}
    with (outputs / "runs" / "report_test" / "bert_all" / "metrics.csv").open() as f:
        seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    assert row["train min"] == f"{sum(seconds) / 60:.2f}"


def test_benchmark_table_equals_json(outputs):
    bench = json.loads((outputs / "benchmarks" / "toy_bench.json").read_text(encoding="utf-8"))
    text = report.render(outputs)
    section = text[text.index("### toy_bench"):]
    assert f"- data: {bench['data']}" in section and f"- machine: {bench['machine']}" in section
    assert f"- measured: {bench['measured']}" in section and "- notes: two rows" in section
    header, body = _table_rows(section, "| method |")
    assert header == ["method", "files_per_s", "n"]
    assert body == [["reader", "123.4568", "3"], ["pandas", "45", "—"], ["tiny", "1.234e-04", "—"]]


def test_cli_writes_report_md_and_prints_it(outputs, capsys, tmp_path):
    out = tmp_path / "results.md"
    assert report.main(["--outputs", str(outputs), "--out", str(out)]) == 0
    assert out.read_text() == report.render(outputs)
    assert "| report_test | bert_participant_f0 |" in capsys.readouterr().out
    assert cli.main(["report", "--outputs", str(outputs)]) == 0  # `python -m islr report`, default --out
    assert (outputs / "report.md").read_text() == out.read_text()
    assert cli.main(["report", "--outputs", str(outputs / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("name, expected", [
    ("cnn_random_f0", ("cnn", "random", "0", "")),
    ("bert_all", ("bert", "all data", "all", "")),
    ("deberta_participant_f3_kd3l", ("deberta", "participant", "3", "kd3l")),
    ("sample_cnn_hello_thankyou_f0", ("?", "?", "?", "")),
])
def test_parse_run_folder(name, expected):
    from islr import runs
    from islr.config import get_config

    d = runs.parse_run_folder(name)
    assert (d["family"], d["split"], d["fold"], d["stage"]) == expected
    cfg = get_config("smoke")  # the names islr.runs writes are the names it reads back
    assert runs.parse_run_folder(runs.run_folder(cfg, "deberta", "participant", 3).name)["fold"] == "3"
    assert runs.parse_run_folder(runs.distill_folder(cfg, "bert", "random", 0, "student_small").name)["stage"] != ""


def test_unreadable_files_are_named(tmp_path):
    bad = tmp_path / "runs" / "r" / "cnn_random_f0"
    bad.mkdir(parents=True)
    (bad / "metrics.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="cnn_random_f0/metrics.csv"):
        report.render(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.render(tmp_path / "missing")


def test_readme_block_is_replaced_and_nothing_else(outputs, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# islr\n\nintro\n\n## Results\n\n{report.BLOCK_START}\nstale table\n{report.BLOCK_END}\n\n"
                      "## Data\n\nafter\n", encoding="utf-8")
    assert report.main(["--outputs", str(outputs), "--out", str(tmp_path / "r.md"), "--readme", str(readme)]) == 0
    doc = readme.read_text(encoding="utf-8")
    assert doc.startswith(f"# islr\n\nintro\n\n## Results\n\n{report.BLOCK_START}\nRendered by ")
    assert doc.endswith(f"{report.BLOCK_END}\n\n## Data\n\nafter\n")
    # the block nests under "## Results": the rendered title is left out, its sections become "###"
    assert "stale table" not in doc and "# Results" not in doc.replace("## Results", "")
    assert re.findall(r"^#+ .*$", doc, re.M) == ["# islr", "## Results", "### In short", "### Training runs",
                                                  "### Benchmarks", "#### toy_bench", "## Data"]
    assert "| report_test | bert_participant_f0 |" in doc
    (tmp_path / "plain.md").write_text("no markers\n")
    assert report.main(["--outputs", str(outputs), "--out", str(tmp_path / "r.md"),
                        "--readme", str(tmp_path / "plain.md")]) == 1


def test_block_nests_under_the_heading_above_it():
    text = "# Results\n\nintro\n\n## In short\n\n* a\n\n### bench\n"
    block = f"{report.BLOCK_START}\nold\n{report.BLOCK_END}"
    assert report.fill_block(f"# Top\n\n{block}\n", text) == (
        f"# Top\n\n{report.BLOCK_START}\nintro\n\n## In short\n\n* a\n\n### bench\n{report.BLOCK_END}\n")
    assert report.fill_block(f"### Deep\n{block}", text).count("#### In short") == 1
    assert report.fill_block(f"no heading\n{block}", text).startswith(f"no heading\n{report.BLOCK_START}\n# Results")
    with pytest.raises(ValueError, match="README.md: no"):
        report.fill_block(f"{report.BLOCK_END}\n{report.BLOCK_START}", text, "README.md")


# ------------------------------------------------------------------------------ the README and the committed records
def test_readme_results_are_what_the_records_render():
    """The README's results block is exactly what `islr report --outputs docs/results` renders: no number in it is
    typed by hand, and a changed record or summary shows up here until the README is regenerated."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    expected = report.fill_block(readme, report.render(RECORDS), "README.md")
    if readme != expected:
        diff = "".join(difflib.unified_diff(readme.splitlines(True), expected.splitlines(True), "README.md",
                                            "rendered from docs/results", n=1))
        pytest.fail(f"README.md's results section differs from what the records render; regenerate it with "
                    f"`{REGENERATE}`\n{diff[:4000]}")


def _records() -> list[dict]:
    return report.read_benchmarks(RECORDS)


def test_every_committed_record_has_its_own_summary():
    records = _records()
    assert len(records) >= 10
    for record in records:
        assert Path(record["script"]).stem in report.SUMMARIES, record["name"]
        assert (REPO / record["script"]).is_file(), record["script"]
        text = report.summarize(record)  # raises if the rows lack what the summary reads
        assert text.startswith("**") and "No summary" not in text
        assert text.endswith(f"Data: {record['data']}. Machine: {record['machine']}.")
    # one summary per record, in the order of SUMMARIES (accuracy on real signers first), and nothing else
    _, short = report.render(RECORDS).split("## In short\n\n")
    bullets = short.split("\n\n## ")[0].split("\n* ")
    assert len(bullets) == len(records)
    assert [Path(r["script"]).stem for r in records] == sorted((Path(r["script"]).stem for r in records),
                                                               key=list(report.SUMMARIES).index)


def test_summaries_quote_the_records_own_numbers():
    by = {r["name"]: r for r in _records()}
    holdout = by["real_holdout"]
    ens = next(r for r in holdout["rows"] if r["fold"] == "all" and r["model"] == "ensemble")
    text = report.summarize(holdout)
    assert f"**{ens['hello_vs_thankyou']:.3f} hello-vs-thankyou** ({round(ens['hello_vs_thankyou'] * ens['n_pair'])} " \
           f"of {ens['n_pair']})" in text
    assert f"**{ens['top1']:.3f} 250-way top-1** ({round(ens['top1'] * ens['n'])} of {ens['n']})" in text
    latency = {r["graph"]: r for r in by["export_latency"]["rows"]}
    ours, ref = latency["+ our preprocessing (ours fp32)"], latency["reference-style"]
    text = report.summarize(by["export_latency"])
    assert f"**{ours['median_ms']:.1f} ms**" in text and f"**{ref['median_ms']:.1f} ms**" in text
    assert f"**{ours['ratio_median']:.2f}×**" in text
    chain = by["default_chain"]
    whole = next(r["seconds"] for r in chain["rows"] if r["what"] == "whole chain")
    assert f"**{whole:,} s ({whole / 60:.1f} min)**" in report.summarize(chain)


def test_a_partial_holdout_record_says_so():
    record = copy.deepcopy(next(r for r in _records() if r["name"] == "real_holdout"))
    record["rows"] = [r for r in record["rows"] if r["fold"] == 0 and r["model"] != "ensemble"]
    text = report.summarize(record)
    cnn = next(r for r in record["rows"] if r["model"] == "cnn")
    assert "Partial run: 1 of 3 folds finished (fold 0)" in text
    assert f"CNN {cnn['hello_vs_thankyou']:.3f} / {cnn['top1']:.3f}" in text


def test_no_gpu_number_without_a_gpu_record():
    text = report.render(RECORDS)
    assert all("GPU" not in r["machine"] for r in _records())
    assert "No record was measured on a GPU, so no GPU number is given." in text
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index(report.BLOCK_START):readme.index(report.BLOCK_END)]
    assert "No record was measured on a GPU" in block
    gpu = [dict(r, machine="NVIDIA H100 GPU; host AMD EPYC, 8 cores") if r["name"] == "augment_cpu" else r
           for r in _records()]
    assert "No record was measured on a GPU" not in report.render_intro(gpu, has_runs=False)


def _fake(script: str, rows: list[dict], notes: str = "", data: str = "bundled real sample (80 sequences)") -> dict:
    return {"name": Path(script).stem, "script": f"benchmarks/{script}", "data": data, "machine": "a CPU, 2 cores",
            "notes": notes, "measured": "now", "rows": rows}


@pytest.mark.parametrize("record, expected", [
    (_fake("bench_prepare.py", [
        {"method": "pandas read_parquet + pivot (baseline)", "files_per_s": 100.0, "vs_pivot": 1.0,
         "cpu_ms_per_file": 9.0, "projected_full_set_min": 16.0},
        {"method": "prepare, 1 worker", "files_per_s": 600.0, "vs_pivot": 6.0, "cpu_ms_per_file": 1.0,
         "projected_full_set_min": 3.0},
        {"method": "prepare, 2 workers", "files_per_s": 1100.0, "vs_pivot": 11.0, "cpu_ms_per_file": None,
         "projected_full_set_min": 1.5}]), ["(2 workers) packs 1,100 files/s", "11.0× a pandas", "1.5 min"]),
    (_fake("bench_train.py", [
        {"family": "bert", "model": "bert 32×2", "batch": 2, "steps": 2, "device": "cpu", "amp": "off",
         "channels_last": False, "compile": "off", "samples_per_s": 50.0, "run": "full-data BERT",
         "projected_min": 600.0, "goal_min": 10.0, "meets_goal": False, "data": "bundled real sample"}]),
     ["50.0 samples/s", "10.0 h", "goal on one GPU: 10 min"]),
    (_fake("gpu_check.py", [{"family": "cnn", "batch": 2, "samples_per_s": 9.0}], notes="DRY RUN on CPU, …"),
     ["A dry run on the CPU"]),
    (_fake("gpu_check.py", [
        {"family": "cnn", "batch": 64, "samples_per_s": 9000.0, "run": "CNN fold 0", "projected_min": 27.9,
         "goal_min": 30.0, "meets_goal": True},
        {"family": "cnn", "batch": 256, "samples_per_s": 8000.0, "run": "CNN fold 0", "projected_min": 31.3,
         "goal_min": 30.0, "meets_goal": False}]), ["CNN fold 0: best 9,000 samples/s at batch 64", "(met)"]),
    (_fake("bench_depthwise.py", [
        {"variant": "custom shift-add", "xnnpack_harness_ms": 1.5, "writeup_ms": 1.24},
        {"variant": "DepthwiseConv2D", "xnnpack_harness_ms": 0.9, "writeup_ms": 3.7},
        {"variant": "grouped Conv2D", "error": "ValueError: no"}], data="random input"),
     ["Fastest: DepthwiseConv2D", "Not converted: grouped Conv2D"]),
    (_fake("sweep_kd.py", [
        {"run": "teacher", "top1": 0.5, "n_valid": 40}, {"run": "no KD", "top1": 0.4, "n_valid": 40},
        {"run": "T=2 w=0.5", "top1": 0.45, "n_valid": 40}, {"run": "T=4 w=0.9", "top1": 0.425, "n_valid": 40}],
        data="synthetic, 20 signs × 6 sequences"), ["on 40 sequences", "teacher 0.5", "(T=2 w=0.5) 0.45"]),
])
def test_summaries_of_benchmarks_without_a_committed_record(record, expected):
    text = report.summarize(record)
    assert [e for e in expected if e not in text] == []
    assert text.endswith(f"Data: {record['data']}. Machine: a CPU, 2 cores.")


def test_record_names_the_script_that_wrote_it(outputs):
    saved = json.loads((outputs / "benchmarks" / "toy_bench.json").read_text(encoding="utf-8"))
    assert saved["script"] == "tests/test_report.py"  # the caller of record_benchmark
    text = report.summarize(saved)  # a script without a summary function: one line pointing at the table
    assert text.startswith("**toy_bench** (record `toy_bench`, `tests/test_report.py`): No summary")
    assert text.endswith(f"Data: {saved['data']}. Machine: {saved['machine']}.")


def test_readme_mode_writes_no_report_md_beside_the_records(outputs, tmp_path):
    """`--readme` without `--out` fills the README and leaves the outputs folder (docs/results) as it was."""
    readme = tmp_path / "README.md"
    readme.write_text(f"## Results\n\n{report.BLOCK_START}\n{report.BLOCK_END}\n", encoding="utf-8")
    (outputs / "report.md").unlink(missing_ok=True)
    assert report.main(["--outputs", str(outputs), "--readme", str(readme)]) == 0
    assert not (outputs / "report.md").exists() and "#### toy_bench" in readme.read_text(encoding="utf-8")
