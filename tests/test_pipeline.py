"""Batched input pipelines on real sample sequences (islr.pipeline)."""
import numpy as np
import pytest
import torch

from islr import landmarks
from islr.config import get_config
from islr.data import SequenceDataset, collate_sequences
from islr.pipeline import CNNPipeline, TransformerPipeline
from islr.preprocess.cnn import cnn_input_single
from islr.preprocess.transformer import transformer_input_single


def _batch(prepared, points, donors=False, n=6):
    ds = SequenceDataset(prepared, np.arange(n), points, donors=donors)
    return collate_sequences([ds[i] for i in range(n)])


def test_cnn_eval_equals_single_sample_preprocessing(prepared):
    cfg = get_config("smoke")
    batch = _batch(prepared, CNNPipeline.points)
    out = CNNPipeline(cfg, train=False)(batch)["x"]
    for b in range(len(out)):
        ref = cnn_input_single(prepared.sequence(int(batch["index"][b])))  # the full 543-row frame
        torch.testing.assert_close(out[b], ref, atol=1e-5, rtol=1e-5)


def test_transformer_eval_equals_single_sample_preprocessing(prepared):
    cfg = get_config("smoke")
    batch = _batch(prepared, TransformerPipeline.points)
    out = TransformerPipeline(cfg, train=False)(batch)["x"]
    n = out["x"].shape[1]
    assert n == int(out["mask"].sum(1).max()) <= 96  # trimmed to the batch's longest sequence
    for b in range(len(out["x"])):
        raw = prepared.sequence(int(batch["index"][b]))
        feats, mask = transformer_input_single(raw[:, landmarks.TRANSFORMER_POINTS])
        torch.testing.assert_close(out["x"][b], feats[:n], atol=1e-5, rtol=1e-4)
        assert torch.equal(out["mask"][b], mask[:n]) and not mask[n:].any()


@pytest.mark.parametrize("arch", ["bert", "deberta"])
def test_trimmed_batches_give_the_logits_of_fully_padded_ones(prepared, arch):
    from islr.models import create_model

    cfg = get_config("smoke")
    batch = _batch(prepared, TransformerPipeline.points)
    trimmed = TransformerPipeline(cfg, train=False)(batch)["x"]
    full = {"x": torch.nn.functional.pad(trimmed["x"], (0, 0, 0, 96 - trimmed["x"].shape[1])),
            "mask": torch.nn.functional.pad(trimmed["mask"], (0, 96 - trimmed["mask"].shape[1]))}
    torch.manual_seed(0)
    model = create_model(arch, hidden=32, layers=2, heads=2, intermediate=64).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(**trimmed), model(**full), atol=1e-5, rtol=1e-5)


def test_cnn_training_pipeline_is_seeded_finite_and_soft_labelled(prepared):
    cfg = get_config("default", {"cnn_aug.mixup_prob": 0.5, "cnn_aug.replace_prob": 0.9})
    batch = _batch(prepared, CNNPipeline.points, donors=True)
    run = [CNNPipeline(cfg, train=True)(batch, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(run[0]["x"], run[1]["x"]) and torch.equal(run[0]["target"], run[1]["target"])
    x, target = run[0]["x"], run[0]["target"]
    assert x.shape == (6, 3, 160, 80) and torch.isfinite(x).all()
    torch.testing.assert_close(target.sum(1), torch.ones(6))
    other = CNNPipeline(cfg, train=True)(batch, torch.Generator().manual_seed(8))["x"]
    assert not torch.equal(x, other)
