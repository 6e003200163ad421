"""Which data a run uses, made ready for training: resolve → (generate) → prepare → load.

* ``cfg.data.data_dir`` set: that asl-signs-layout folder (e.g. ``/kaggle/input/asl-signs``).
* profile ``full`` without a folder: ``$ISLR_DATA`` or ``/kaggle/input/asl-signs`` (error if neither exists).
* otherwise the **embedded default**: ``cfg.data.synth_per_sign`` synthetic sequences per sign (:mod:`islr.synth`)
  plus the bundled real sample (``islr/resources/sample``), generated once under ``outputs/data/``.

Every figure and table names its data with :func:`describe_source`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from islr import paths
from islr.config import Config


@dataclass(frozen=True)
class DataSource:
    """A resolved data folder and how to name it in figures."""

    path: Path
    kind: str  # "embedded" | "sample" | "kaggle" | "folder"
    label: str


def resolve_source(cfg: Config, fit_participants=None) -> DataSource:
    """Pick the data folder of ``cfg`` (see module docstring); generates the embedded default if needed.

    Args:
        cfg: run config.
        fit_participants: with ``data.synth_fit_real``, fit the synthetic signs to these participants' real
            recordings only (e.g. a fold's training participants); None = every bundled participant.
    """
    if cfg.data.data_dir:
        path = Path(cfg.data.data_dir).expanduser().resolve()
        if not (path / "train.csv").exists():
            raise FileNotFoundError(f"data_dir {path} has no train.csv (expected the asl-signs layout)")
        return describe_source(path)
    if cfg.profile == "full":
        found = paths.find_kaggle_data()
        if found is None:
            raise FileNotFoundError("profile 'full' needs the real data: set data.data_dir, $ISLR_DATA, or attach "
                                    "the competition data at /kaggle/input/asl-signs")
        return describe_source(found)
    if cfg.data.synth_per_sign == 0:
        return DataSource(paths.SAMPLE_DIR, "sample", f"bundled real sample ({_count(paths.SAMPLE_DIR)} sequences)")
    return _embedded(cfg, fit_participants)


def _count(folder: Path) -> int:
    return len(pd.read_csv(folder / "train.csv"))


_EMBEDDED_NAME = re.compile(r"embedded_k(\d+)_s(\d+)(_sample)?(_fit[0-9a-f]{8})?")


def describe_source(path: str | Path) -> DataSource:
    """Name an asl-signs-layout folder for figures and run records: the Kaggle set, the bundled sample, an
    embedded default folder written by :func:`resolve_source`, or any other folder (with its sequence count)."""
    path = Path(path).expanduser().resolve()
    embedded = _EMBEDDED_NAME.fullmatch(path.name)
    if embedded and path.parent == paths.generated_data_dir().resolve():
        n_fit = None
        if embedded[4]:  # fitted signs: how many participants, from the generator's record
            from islr.synth import INFO_NAME

            n_fit = len(json.loads((path / INFO_NAME).read_text())["fit_participants"])
        return DataSource(path, "embedded", _embedded_label(int(embedded[1]), int(embedded[2]), bool(embedded[3]),
                                                            n_fit))
    n = _count(path)
    if path == paths.KAGGLE_DATA or n > 90_000:
        return DataSource(path, "kaggle", f"full Kaggle asl-signs set ({n:,} sequences)")
    if path == paths.SAMPLE_DIR:
        return DataSource(path, "sample", f"bundled real sample ({n} sequences)")
    return DataSource(path, "folder", f"asl-signs-layout folder {path.name} ({n:,} sequences)")


def _embedded_label(per_sign: int, seed: int, include_sample: bool, n_fit: int | None = None) -> str:
    real = f" + bundled real sample ({_count(paths.SAMPLE_DIR)} sequences)" if include_sample else ""
    fitted = f", real-fitted signs from {n_fit} participants" if n_fit is not None else ""
    return f"synthetic ({per_sign} per sign, seed {seed}{fitted}){real}"


def _embedded(cfg: Config, fit_participants=None) -> DataSource:
    from islr.synth import GENERATOR_VERSION, synthesize

    d = cfg.data
    fit = None
    if d.synth_fit_real:
        fit = sorted(int(p) for p in (pd.read_csv(paths.SAMPLE_DIR / "train.csv")["participant_id"].unique()
                                      if fit_participants is None else fit_participants))
    # The folder is rebuilt when the bundled sample, the generator or the fitted participants change.
    key = hashlib.sha1((paths.SAMPLE_DIR / "train.csv").read_bytes()
                       + f"|{GENERATOR_VERSION}|{fit}".encode()).hexdigest()[:10]
    name = (f"embedded_k{d.synth_per_sign}_s{d.synth_seed}" + ("_sample" if d.include_sample else "")
            + (f"_fit{hashlib.sha1(str(fit).encode()).hexdigest()[:8]}" if fit is not None else ""))
    out = paths.generated_data_dir() / name
    done = out / ".complete"
    if not done.exists() or done.read_text().strip() != key:
        synthesize(out, per_sign=d.synth_per_sign, seed=d.synth_seed, include_sample=d.include_sample,
                   fit_participants=fit)
        done.write_text(key + "\n")
    return DataSource(out, "embedded", _embedded_label(d.synth_per_sign, d.synth_seed, d.include_sample,
                                                       None if fit is None else len(fit)))


def prepared_dir(source: DataSource, points: str = "all") -> Path:
    """Where the packed copy of ``source`` lives (one folder per source path and point set)."""
    key = hashlib.sha1(f"{source.path}|{points}".encode()).hexdigest()[:10]
    return paths.generated_data_dir() / "prepared" / f"{source.path.name}_{points}_{key}"


def load_dataset(cfg: Config, points: str | None = None, fit_participants=None):
    """Resolve, prepare (a no-op when unchanged) and load the data of ``cfg``.

    ``fit_participants`` is passed to :func:`resolve_source`.

    Returns:
        (prepared, source): an :class:`islr.prepare.Prepared` and the :class:`DataSource` it came from.
    """
    from islr.prepare import load_prepared, prepare

    source = resolve_source(cfg, fit_participants)
    # The full profile prepares only the model points of its data folder, as on the real set, whatever its size
    # (the bundled sample, used for the figures and the real-sample check, keeps all points).
    points = points or ("model" if source.kind == "kaggle" or (cfg.profile == "full" and source.kind == "folder")
                        else "all")
    out = prepared_dir(source, points)
    prepare(source.path, out, num_workers=cfg.data.num_workers, points=points)
    return load_prepared(out), source


def real_sample_ids() -> set[int]:
    """Sequence ids of the bundled real sample (to tell real from synthetic rows of the embedded default)."""
    return set(pd.read_csv(paths.SAMPLE_DIR / "train.csv")["sequence_id"].astype(int))


def real_ids_of(source: DataSource) -> set[int] | None:
    """Sequence ids that are real recordings within ``source`` (None = every sequence is real)."""
    return real_sample_ids() if source.kind == "embedded" else None


def is_real(sequence_ids) -> np.ndarray:
    """(N,) bool: which sequence ids are real recordings (synthetic ids start at
    :data:`islr.synth.SYNTH_SEQUENCE_ID_BASE`; real asl-signs ids are below 2**32)."""
    from islr.synth import SYNTH_SEQUENCE_ID_BASE

    return np.asarray(sequence_ids, dtype=np.int64) < SYNTH_SEQUENCE_ID_BASE


class SourceBalancedSampler:
    """Training order that gives the real sequences a fixed share of every epoch, however few they are.

    With 1,000+ synthetic sequences and ~70 real ones, a plain shuffle shows the real signers 5 % of the time and
    the model learns the synthetic signers. This sampler keeps the epoch length (``len(source)`` draws,
    so the training time does not change) and makes exactly ``round(real_share · n)`` of the draws real:

    * real draws walk through fresh seeded permutations of the real rows, back to back, so every real row is drawn
      ``floor(k)`` or ``ceil(k)`` times per epoch (``k`` = real draws / real rows) — oversampling without the
      clumps of drawing with replacement;
    * the other draws are synthetic rows without replacement (a seeded permutation, cut to length; repeated
      permutations if there are fewer synthetic rows than draws);
    * the two lists are shuffled together. The order depends only on ``(seed, epoch)`` (:meth:`set_epoch`, called
      by :func:`islr.train.loop.train_one_epoch`); under DDP each rank takes every ``num_replicas``-th draw.

    With no real or no synthetic rows there is nothing to balance: it is then a plain seeded shuffle.

    Args:
        real: (N,) bool per dataset item (see :func:`is_real`).
        real_share: share of draws that are real, in [0, 1].
        seed: base seed.
        num_replicas: DDP world size. rank: this process's rank.
    """

    def __init__(self, real, real_share: float, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        if not 0.0 <= real_share <= 1.0:
            raise ValueError(f"data.real_share must be in [0, 1], got {real_share}")
        self.real_rows = np.flatnonzero(np.asarray(real, dtype=bool))
        self.synth_rows = np.flatnonzero(~np.asarray(real, dtype=bool))
        self.n = len(self.real_rows) + len(self.synth_rows)
        self.real_share, self.seed, self.epoch = float(real_share), int(seed), 0
        self.num_replicas, self.rank = int(num_replicas), int(rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def n_real_draws(self) -> int:
        """Real draws per epoch (all ranks together)."""
        if not len(self.real_rows) or not len(self.synth_rows):
            return len(self.real_rows)
        return int(round(self.real_share * self.n))

    def draws(self) -> np.ndarray:
        """(n,) item indices of this epoch, all ranks together."""
        rng = np.random.default_rng([self.seed, self.epoch])
        n_real = self.n_real_draws
        picks = [_cycled(rng, self.real_rows, n_real), _cycled(rng, self.synth_rows, self.n - n_real)]
        return rng.permutation(np.concatenate(picks))

    def __iter__(self):
        order = self.draws()
        per_rank = -(-len(order) // self.num_replicas)
        order = np.resize(order, per_rank * self.num_replicas)  # pad by wrapping, as DistributedSampler does
        return iter(order[self.rank::self.num_replicas].tolist())

    def __len__(self) -> int:
        return -(-self.n // self.num_replicas)


def _cycled(rng: np.random.Generator, rows: np.ndarray, n: int) -> np.ndarray:
    """``n`` items of ``rows``: back-to-back fresh permutations, the last one cut."""
    if n <= 0 or not len(rows):
        return np.zeros(0, dtype=np.int64)
    reps = -(-n // len(rows))
    return np.concatenate([rng.permutation(rows) for _ in range(reps)])[:n]


class LengthGroupedSampler:
    """A training order whose batches hold sequences of similar length: fewer padded frames per batch.

    The transformers pay for every frame of a batch, padded or not, and a batch is as long as its longest sequence:
    in a plain shuffle of asl-signs-like lengths (median 16–18 frames, a long tail to 96+) almost every batch of 32
    holds one long sequence, so about 96 % of a fully padded batch's frames are computed. This sampler takes the
    order of ``base`` (a seeded shuffle or :class:`SourceBalancedSampler`, so the epoch's draws and proportions are
    unchanged), cuts it into windows of ``group · batch_size`` draws, sorts each window by length (longest first),
    cuts it into batches and shuffles the batches of the whole epoch. Which sequences an epoch sees does not change,
    only who shares a batch with whom; :class:`islr.pipeline.TransformerPipeline` trims every batch to its longest
    sequence, which the models compute exactly (masked attention, masked conv position encoding).

    Args:
        base: the underlying sampler (``__iter__``, ``__len__``, ``set_epoch``), indices into the dataset.
        lengths: (N,) frames per dataset item.
        batch_size: the loader's batch size.
        group: batches per sorted window (≥ 1).
        seed: seed of the batch shuffle (with the epoch).
    """

    def __init__(self, base, lengths, batch_size: int, group: int, seed: int = 0):
        if group < 1 or batch_size < 1:
            raise ValueError(f"length grouping needs group >= 1 and batch_size >= 1, got {group}, {batch_size}")
        self.base, self.lengths = base, np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.group, self.seed, self.epoch = int(batch_size), int(group), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def batches(self) -> list[np.ndarray]:
        """This epoch's batches (the last one may be short), in the order the loader will see them."""
        order = np.fromiter(iter(self.base), dtype=np.int64)
        window = self.batch_size * self.group
        batches = []
        for start in range(0, len(order), window):
            chunk = order[start:start + window]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        full = [b for b in batches if len(b) == self.batch_size]
        short = [b for b in batches if len(b) < self.batch_size]  # at most one per window: kept at the end
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        return [full[i] for i in rng.permutation(len(full))] + short

    def __iter__(self):
        return iter(np.concatenate(self.batches() or [np.zeros(0, np.int64)]).tolist())

    def __len__(self) -> int:
        return len(self.base)


def training_sampler(cfg: Config, prepared, train_idx, seed: int, num_replicas: int = 1, rank: int = 0, *,
                     batch_size: int = 0, length_grouping: int = 0):
    """The sampler :func:`islr.train.run.train_fold` trains with: :class:`SourceBalancedSampler` when
    ``cfg.data.real_share > 0`` and the training rows mix real and synthetic sequences, else a plain seeded shuffle
    (None: the loader's own); wrapped in a :class:`LengthGroupedSampler` when ``length_grouping > 0``.

    Args:
        cfg: run config (``cfg.data.real_share``).
        prepared: :class:`islr.prepare.Prepared`.
        train_idx: the training rows (indices into ``prepared``), in the dataset's order.
        seed: shuffle seed (the family's ``TrainConfig.seed``).
        num_replicas: DDP world size. rank: this process's rank.
        batch_size: the loader's batch size (needed for length grouping).
        length_grouping: batches per length-sorted window (the family's ``TrainConfig.length_grouping``; 0 = off).
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    real = is_real(np.asarray(prepared.sequence_ids)[train_idx])
    base = None
    if cfg.data.real_share > 0 and real.any() and not real.all():
        base = SourceBalancedSampler(real, cfg.data.real_share, seed, num_replicas, rank)
    if length_grouping <= 0:
        return base
    if base is None:  # the shuffle make_loader would have built
        from torch.utils.data import DistributedSampler

        base = DistributedSampler(range(len(train_idx)), num_replicas=num_replicas, rank=rank, shuffle=True,
                                  seed=seed)
    lengths = np.asarray(prepared.lengths)[train_idx]
    return LengthGroupedSampler(base, lengths, batch_size, length_grouping, seed + rank)


# ---------------------------------------------------------------------------------------------------------------
# Torch datasets: raw sequences in, everything else (augmentation, preprocessing) batched on the device.
# ---------------------------------------------------------------------------------------------------------------
class SequenceDataset:
    """Raw landmark sequences of a prepared dataset, restricted to a point set (a map-style torch Dataset).

    Items are dicts ``{"seq": (T, P, 3) float32 with NaNs, "label": int, "index": int}``; with ``donors=True`` also
    ``"donor"``: a random sequence of the same class (possibly the sample itself, as in the reference, docs/method.md
    §3a "Replace") for the replace augmentation. Augmentation and preprocessing are *not* done here: they run batched
    in the training loop's ``batch_transform`` (on the GPU when there is one), so workers only read the memmap.

    Args:
        prepared: an :class:`islr.prepare.Prepared`.
        indices: the sequences of this split (indices into ``prepared``).
        points: frame-row ids to return (e.g. :data:`islr.landmarks.CNN_AUG_POINTS`).
        donors: also return a same-class donor per item.
    """

    def __init__(self, prepared, indices, points, donors: bool = False):
        self.prepared = prepared
        self.indices = np.asarray(indices, dtype=np.int64)
        self.points = np.asarray(points)
        self.donors = donors
        labels = np.asarray(prepared.labels)[self.indices]
        self._same_class = {int(c): self.indices[labels == c] for c in np.unique(labels)}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict:
        import torch

        i = int(self.indices[k])
        label = int(self.prepared.labels[i])
        item = {"seq": self.prepared.sequence(i, points=self.points), "label": label, "index": i}
        if self.donors:
            pool = self._same_class[label]
            # torch's RNG: seeded per epoch by the loop and per worker by the DataLoader, so donors are reproducible.
            j = int(pool[int(torch.randint(len(pool), ()))])
            item["donor"] = self.prepared.sequence(j, points=self.points)
        return item


def pad_sequences(seqs) -> tuple:
    """Stack (T_i, P, 3) arrays into a NaN-padded (B, T_max, P, 3) tensor + lengths (B,) (at least one frame)."""
    import torch

    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    out = np.full((len(seqs), max(int(lengths.max()), 1), *seqs[0].shape[1:]), np.nan, np.float32)
    for b, s in enumerate(seqs):
        out[b, :len(s)] = s
    return torch.from_numpy(out), lengths


def collate_sequences(items: list[dict]) -> dict:
    """Collate :class:`SequenceDataset` items: ``seq``/``lengths``, ``y``, ``index`` (+ ``donor``/``donor_lengths``)."""
    import torch

    seq, lengths = pad_sequences([it["seq"] for it in items])
    batch = {"seq": seq, "lengths": lengths, "y": torch.tensor([it["label"] for it in items]),
             "index": torch.tensor([it["index"] for it in items])}
    if "donor" in items[0]:
        batch["donor"], batch["donor_lengths"] = pad_sequences([it["donor"] for it in items])
    return batch
