"""Train one model family on one fold of a prepared dataset: the function behind notebooks 02, 03 and 04.

One table (:data:`islr.models.families.FAMILIES`) says, per family, which config blocks, points and pipeline it
uses, so the CNN, BERT and DeBERTa runs (and the distillation students) share a single code path into
:func:`islr.train.loop.fit`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from islr import paths, runs
from islr.config import Config
from islr.data import SequenceDataset, collate_sequences, training_sampler
from islr.models import create_model, model_inputs
from islr.models.families import FAMILIES
from islr.splits import FULL_DATA, fold_indices, make_folds
from islr.train.device import DeviceSettings, dist_info
from islr.train.loop import FitResult, fit, make_loader
from islr.train.losses import build_loss


def build_model(cfg: Config, family: str, seed: int | None = None) -> torch.nn.Module:
    """The model of ``family`` sized by ``cfg``, built by :func:`islr.models.create_model` (so it carries its spec,
    with the input settings of ``cfg``: ``cnn.n_frames`` and ``cnn.dominant_hand``, ``transformer.max_len``).

    The initial weights depend only on ``seed`` (default: the family's training seed), not on the global RNG: two
    runs of one config start from the same weights, and a run with another seed from other ones. The global torch
    RNG is left as it was.
    """
    seed = getattr(cfg, FAMILIES[family].train_block).seed if seed is None else seed
    inputs = FAMILIES[family].pipeline.input_type.from_config(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "cnn":
            c = cfg.cnn
            return create_model(c.model, input_config=inputs, drop_rate=c.drop_rate, drop_path_rate=c.drop_path_rate,
                                hypercolumn_blocks=c.hypercolumn_blocks, hypercolumn_weight=c.hypercolumn_weight,
                                pretrained_path=c.pretrained_path, bn_momentum=c.bn_momentum)
        t = cfg.transformer
        return create_model(family, input_config=inputs, hidden=t.hidden, layers=t.layers, heads=t.heads,
                            intermediate=t.intermediate, dropout=t.dropout, max_len=t.max_len)


def split(cfg: Config, prepared, kind: str | None = None, fold: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) sequence indices of ``fold`` under split ``kind`` (defaults from ``cfg.split``)."""
    s = cfg.split
    folds = make_folds(kind or s.kind, prepared.labels, prepared.participant_ids, s.n_folds, s.seed)
    return fold_indices(folds, s.fold if fold is None else fold)


def train_fold(cfg: Config, prepared, family: str, out_dir: str | Path | None = None, *, kind: str | None = None,
               fold: int | None = None, indices: tuple[np.ndarray, np.ndarray] | None = None,
               model: torch.nn.Module | None = None, teacher: torch.nn.Module | None = None,
               progress: bool = True, on_epoch=None) -> tuple[torch.nn.Module, FitResult]:
    """Train ``family`` on one fold (``fold = -1``: all data); its model folder (:mod:`islr.runs`) receives the
    checkpoints (with the model spec), metrics, OOF logits and ``data_source.json``.

    Args:
        cfg: resolved run config; saved in every checkpoint.
        prepared: :class:`islr.prepare.Prepared`.
        family: "cnn" | "bert" | "deberta".
        out_dir: model folder (default :func:`islr.runs.run_folder`:
            ``outputs/runs/<run_name>/<family>_<kind>_f<fold>``);
            resumes from it.
        kind: split kind ("random" | "participant"; default ``cfg.split.kind``).
        fold: fold number (default ``cfg.split.fold``).
        indices: explicit (train, valid) sequence indices instead of a fold (``kind``/``fold`` then only name
            the default run folder).
        model: a ready model (e.g. a distillation student initialised from a teacher); default :func:`build_model`.
            Its input settings (:func:`islr.models.model_inputs`) shape the training and validation inputs.
        teacher: frozen teacher for knowledge distillation (``cfg.distill`` sets the KD loss).
        progress: tqdm bars.
        on_epoch: ``f(epoch, top1)`` after each epoch (Optuna pruning).

    Returns:
        (model with the best weights, :class:`FitResult`).
    """
    spec = FAMILIES[family]
    tcfg = getattr(cfg, spec.train_block)
    kind = kind or cfg.split.kind
    fold = cfg.split.fold if fold is None else fold
    out_dir = Path(out_dir or runs.run_folder(cfg, family, kind, fold))
    train_idx, valid_idx = indices if indices is not None else split(cfg, prepared, kind, fold)
    points = spec.pipeline.points
    train_ds = SequenceDataset(prepared, train_idx, points, donors=spec.donors and cfg.cnn_aug.replace_prob > 0)
    valid_ds = SequenceDataset(prepared, valid_idx, points)
    # Never more per batch than the data has (tiny smoke/sample runs); drop_last would otherwise train on nothing.
    bs = max(1, min(tcfg.batch_size, len(train_ds)))
    pin = DeviceSettings.from_config(tcfg).pin_memory
    info = dist_info()
    # data.real_share (source balance) and the family's length_grouping
    sampler = training_sampler(cfg, prepared, train_idx, tcfg.seed, info.world_size, info.rank, batch_size=bs,
                               length_grouping=tcfg.length_grouping)
    train_loader = make_loader(train_ds, bs, train=True, seed=tcfg.seed, num_workers=tcfg.num_workers,
                               collate_fn=collate_sequences, pin_memory=pin, sampler=sampler)
    valid_loader = make_loader(valid_ds, tcfg.eval_batch_size, train=False, num_workers=tcfg.num_workers,
                               collate_fn=collate_sequences, pin_memory=pin)
    model = model or build_model(cfg, family)
    aux = cfg.cnn.hypercolumn_weight if family == "cnn" else 0.0
    loss = build_loss(tcfg, aux_weight=aux, distill_cfg=cfg.distill if teacher is not None else None)
    inputs = model_inputs(model)  # the sizes and mirror the model carries in its spec (cfg's, for build_model)
    result = fit(model, train_loader, valid_loader, tcfg, out_dir, loss, teacher=teacher,
                 batch_transform=spec.pipeline(cfg, train=True, inputs=inputs),
                 eval_transform=spec.pipeline(cfg, train=False, inputs=inputs),
                 run_config=cfg, valid_index=valid_idx, progress=progress, on_epoch=on_epoch)
    runs.record_data(out_dir, prepared, train_idx, valid_idx)
    return model, result


# ------------------------------------------------------------------------------------------ real-sample check
def sample_check_overrides(cfg: Config, family: str) -> dict:
    """``cfg.sample_check`` as dotted overrides of ``family``'s training block (``lr`` None: the block's own).

    Example: the default profile's CNN check is ``{"cnn_train.epochs": 60, "cnn_train.batch_size": 8,
    "cnn_train.max_steps_per_epoch": 0, "cnn_train.compile": "off", "cnn_train.lr": 0.001}``.
    """
    check, block = cfg.sample_check, FAMILIES[family].train_block
    keys = {"epochs": check.epochs, "batch_size": check.batch_size, "max_steps_per_epoch": check.max_steps_per_epoch,
            "compile": check.compile}
    if check.lr is not None:
        keys["lr"] = check.lr
    return {f"{block}.{k}": v for k, v in keys.items()}


def held_out_participants(cfg: Config, signs: tuple[str, ...] = ("hello", "thankyou"), family: str = "cnn",
                          n_folds: int | None = None, overrides: dict | None = None, progress: bool = False):
    """Train on the bundled REAL sample's ``signs`` and score held-out participants (participant-grouped folds).

    Every participant is held out once; accuracy is the argmax among the logits of ``signs`` only (a
    ``len(signs)``-way decision), so it measures whether real signs separate across people, not the 250-way head.

    Args:
        cfg: base config (model size, augmentation); ``overrides`` are applied on top for this small-data run.
        signs: the signs to separate (the sample has hello/thankyou from all 21 participants).
        family: model family.
        n_folds: participant-grouped folds (default ``cfg.sample_check.n_folds``).
        overrides: config overrides for this experiment (default: ``cfg.sample_check``'s epochs, batch size, lr and
            step cap, applied to the family's training block).
        progress: tqdm bars.

    Returns:
        DataFrame, one row per held-out sequence: fold, participant_id, sign, predicted, correct.
    """
    import pandas as pd

    from islr.data import load_dataset

    if overrides is None:
        overrides = sample_check_overrides(cfg, family)
    n_folds = n_folds or cfg.sample_check.n_folds
    cfg = cfg.override({**overrides, "data.data_dir": str(paths.SAMPLE_DIR)})
    prepared, _ = load_dataset(cfg)
    sign_map = prepared.sign_map
    keep = np.nonzero(np.isin(np.asarray(prepared.signs), signs))[0]
    folds = make_folds("participant", np.asarray(prepared.labels)[keep], np.asarray(prepared.participant_ids)[keep],
                       n_folds, cfg.split.seed)
    cols = np.array([sign_map[s] for s in signs])
    rows = []
    for f in range(n_folds):
        tr, va = keep[folds != f], keep[folds == f]
        out = runs.sample_folder(cfg, family, signs, f)
        model, _ = train_fold(cfg, prepared, family, out_dir=out, indices=(tr, va), progress=progress)
        logits = runs.load_oof(out)[0][:, cols]
        pred = np.asarray(signs)[logits.argmax(1)]
        truth = np.asarray(prepared.signs)[va]
        rows += [{"fold": f, "participant_id": int(prepared.participant_ids[i]), "sign": t, "predicted": p,
                  "correct": bool(t == p)} for i, t, p in zip(va, truth, pred)]
    return pd.DataFrame(rows)
