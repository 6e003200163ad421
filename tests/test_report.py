"""`islr report`: markdown from a real (tiny) training run and a recorded benchmark, checked against the files."""
import csv
import json

import pytest
import torch

from islr import cli, report
from islr.config import get_config
from islr import runs
from islr.data import resolve_source
from islr.prepare import load_prepared, prepare
from islr.train.run import train_fold


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
def test_describe_folder(name, expected):
    from islr import runs
    from islr.config import get_config

    d = runs.describe_folder(name)
    assert (d["family"], d["split"], d["fold"], d["stage"]) == expected
    cfg = get_config("smoke")  # the names islr.runs writes are the names it reads back
    assert runs.describe_folder(runs.run_folder(cfg, "deberta", "participant", 3).name)["fold"] == "3"
    assert runs.describe_folder(runs.distill_folder(cfg, "bert", "random", 0, "student_small").name)["stage"] != ""


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
    assert doc.startswith("# islr\n\nintro\n\n## Results\n\n") and doc.endswith("## Data\n\nafter\n")
    assert "stale table" not in doc and "### Results" in doc and "#### toy_bench" in doc
    assert "| report_test | bert_participant_f0 |" in doc
    (tmp_path / "plain.md").write_text("no markers\n")
    assert report.main(["--outputs", str(outputs), "--out", str(tmp_path / "r.md"),
                        "--readme", str(tmp_path / "plain.md")]) == 1
