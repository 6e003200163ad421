"""One configuration object for the whole project (docs/architecture.md, pattern "One strict configuration").

Nested dataclasses; :func:`get_config` builds a profile and applies overrides:

* ``smoke``   — the whole notebook chain in minutes on a 2-core CPU (tests run it).
* ``default`` — the offline demo: synthetic data + the bundled real sample, whole chain ≤ 30 min on CPU.
* ``full``    — the real asl-signs data on a GPU with the reference's hyperparameters (docs/method.md §3, §5).

Overrides are a nested dict or dotted keys (``{"train.epochs": 3}``); unknown keys and wrong types are errors.
The resolved config is saved as ``config.json`` in every run folder (:meth:`Config.save`) and reloaded by
downstream stages (:meth:`Config.load`).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

PROFILES = ("smoke", "default", "full")
#: Keys renamed to say what they do; the old names (the reference's) live on as Optuna parameter names in
#: :mod:`islr.tune`. An override or a saved config that uses an old key is an error naming the new one.
RENAMED_KEYS = {
    "cnn_aug.aug_prob": "cnn_aug.affine_prob",
    "cnn_aug.invert_prob": "cnn_aug.flip_prob",
    "cnn_aug.interp_nearest_random": "cnn_aug.random_frame_pick_prob",
    "cnn_aug.freq_m": "cnn_aug.frame_mask_max",
    "cnn_aug.time_m": "cnn_aug.point_mask_max",
    **{f"{block}.{old}": f"{block}.{new}" for block in ("cnn_train", "transformer_train")
       for old, new in (("pw_bad", "class_weight_power_poor"), ("pw_com", "class_weight_power_similar"))},
}


@dataclass
class DataConfig:
    """Where the landmarks come from and how they are packed."""

    #: asl-signs layout directory. "" = auto: $ISLR_DATA, /kaggle/input/asl-signs, else the embedded default
    #: (synthetic + bundled sample, generated under outputs/data/).
    data_dir: str = ""
    #: Synthetic sequences per sign for the embedded default (0 = bundled real sample only).
    synth_per_sign: int = 6
    synth_seed: int = 0
    #: Include the bundled real sample (islr/resources/sample) in the embedded default.
    include_sample: bool = True
    #: Share of each training epoch drawn from the REAL sequences when a run mixes real and synthetic ones
    #: (islr.data.SourceBalancedSampler: real rows oversampled evenly, epoch length unchanged); 0 = plain shuffle.
    real_share: float = 0.0
    #: Fit the synthetic definitions of the signs the bundled sample has (hello, thankyou, cloud, fall) to its real
    #: recordings (islr.synth.fit_sign_specs) instead of random definitions.
    synth_fit_real: bool = False
    #: Keep at most this many sequences (0 = all); a stratified subset, for quick runs on real data.
    max_sequences: int = 0
    #: Worker processes for `islr prepare` (0 = all cores).
    num_workers: int = 0


@dataclass
class SplitConfig:
    """Cross-validation splits (docs/method.md §5)."""

    n_folds: int = 8
    seed: int = 42
    fold: int = 0
    #: "random": StratifiedKFold on sign (the reference); "participant": folds grouped by participant. The kind of
    #: the fold-0 runs the later stages use: distillation (04), export (05), ensemble weights and submission (06).
    kind: str = "random"
    #: Notebooks 02/03 also train fold 0 of the other kind (random <-> participant), to show the gap between signers
    #: seen in training and unseen ones. Off in default (time); there ``kind`` is "participant", so the shipped
    #: models and the ensemble weights still have real rows of held-out participants.
    compare: bool = True
    #: Also train BERT and DeBERTa on all sequences (fold -1, run folders ``<family>_all``) and put those in the
    #: export and the submission, as the reference did (docs/method.md §0); the CNN and the ensemble weights stay on
    #: fold 0. On in the full profile (off in default: two more trainings would not fit its 30-minute budget).
    full_data_transformers: bool = False


@dataclass
class CNNAugConfig:
    """CNN augmentation probabilities and ranges; defaults are the reference's best_CFG (docs/method.md §3a)."""

    #: Probability of the global affine (scale and shift of the whole sequence); the other augmentations have their
    #: own probabilities. Optuna / reference name: aug_prob.
    affine_prob: float = 0.2419
    affine_scale: tuple[float, float] = (0.8, 1.3)
    affine_shift: float = 0.1
    interpol_prob: float = 0.3738
    interpol_factor: tuple[float, float] = (0.8, 1.5)
    interpol_offset: float = 0.5
    #: Mirror left/right (reference name: invert_prob).
    flip_prob: float = 0.2248
    shift_prob: float = 0.2049
    scale_prob: float = 0.3140
    scale_range: tuple[float, float] = (0.88, 1.14)
    rotate_prob: float = 0.1652
    rotate_deg: float = 10.0
    tree_rot_prob: float = 0.3738
    tree_rot_tree_prob: float = 0.5
    tree_rot_deg: float = 5.0
    #: Resizing a sequence longer than 160 frames: probability of picking 160 random frames (kept in order) instead
    #: of the nearest resize (reference name: interp_nearest_random).
    random_frame_pick_prob: float = 0.3761
    mixup_prob: float = 0.4875
    mixup_alpha: float = 1.2592
    replace_prob: float = 0.2390
    #: Probability of the masking step, which zeroes a run of frames and a run of point columns of the image.
    masking_prob: float = 0.98
    #: Masked frames per sample: fewer than this (reference name: freq_m, torchaudio's FrequencyMasking).
    frame_mask_max: int = 80
    #: Masked point columns per sample: fewer than this (reference name: time_m, torchaudio's TimeMasking).
    point_mask_max: int = 18


@dataclass
class TransformerAugConfig:
    """Transformer augmentations (docs/method.md §3b)."""

    affine_prob: float = 0.8
    affine_scale: tuple[float, float] = (0.8, 1.5)
    affine_shift: float = 0.1
    affine_rotate_deg: float = 15.0
    interpol_prob: float = 0.3
    interpol_factor: tuple[float, float] = (0.8, 1.5)
    interpol_offset: float = 0.5
    tree_rot_hand_prob: float = 0.9
    tree_rot_tree_prob: float = 0.4
    tree_rot_deg: float = 4.0
    flip_prob: float = 0.5


@dataclass
class CNNConfig:
    """EfficientNet-B0 on the 160×80×3 landmark image (docs/method.md §1, §4)."""

    model: str = "effnet_b0"
    #: Frames of the image (its height; the method's 160). Recorded in the model's input settings
    #: (islr.preprocess.settings.CNNInput), which every export and evaluation builds the image from.
    n_frames: int = 160
    drop_rate: float = 0.1055
    drop_path_rate: float = 0.2
    #: Hypercolumn auxiliary head (training only): number of stage outputs it reads (code: 4, README: 5); 0 = off.
    hypercolumn_blocks: int = 4
    hypercolumn_weight: float = 0.4
    #: BatchNorm momentum: the reference's 0.01 fits ~1,300 steps/epoch; the short CPU profiles use 0.1.
    bn_momentum: float = 0.01
    #: Local file with ImageNet weights for the backbone ("" = random init; nothing is fetched from a hub).
    pretrained_path: str = ""
    #: Mirror each sequence so that its more-present hand is in the left-hand columns before the image is built
    #: (islr.preprocess.cnn.left_dominant), as the transformers pick their hand. False (the reference's CNN) is for
    #: measurements (benchmarks/cnn_real.py); the model records it in its input settings (with n_frames), and its
    #: exports leave the mirror out.
    dominant_hand: bool = True


@dataclass
class TransformerConfig:
    """BERT / DeBERTa-v2 on 972 features per frame (docs/method.md §2, §4)."""

    #: Frames kept at most (the method's 96); the model's positional table and its input settings
    #: (islr.preprocess.settings.TransformerInput), which every export and evaluation subsamples with.
    max_len: int = 96
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    intermediate: int = 512
    dropout: float = 0.1


@dataclass
class TrainConfig:
    """Optimisation (docs/method.md §5). One block per model family."""

    epochs: int = 182
    batch_size: int = 64
    eval_batch_size: int = 256
    lr: float = 0.0027055
    weight_decay: float = 0.01
    optimizer: str = "radam"  # radam | lookahead_radam | ranger
    #: Lookahead sync period and slow step (lookahead_radam / ranger); tuned by Optuna (§6), which the reference
    #: suggested but never applied (§10.6).
    lookahead_k: int = 5
    lookahead_alpha: float = 0.5
    schedule: str = "onecycle"  # onecycle | flat_cosine
    pct_start: float = 0.1
    flat_fraction: float = 0.6
    label_smoothing: float = 0.5127
    #: Per-class loss weights ``poor_c ** class_weight_power_poor + similar_c ** class_weight_power_similar`` from
    #: resources/class_weights.csv: poorly predicted classes and classes of semantically similar pairs weigh more
    #: (reference names: pw_bad, pw_com).
    class_weights: bool = True
    class_weight_power_poor: float = 0.82197
    class_weight_power_similar: float = 1.39792
    grad_clip: float = 0.0
    early_stop: int = 40
    seed: int = 1223
    num_workers: int = 0
    #: Length-grouped batches (islr.data.LengthGroupedSampler): windows of this many batches of the epoch's shuffled
    #: order are sorted by sequence length before they are cut into batches; 0 = off (the reference). Only the
    #: transformers gain: their batches are trimmed to the longest sequence, the CNN's image is always 160 frames.
    length_grouping: int = 0
    #: Stop each epoch after this many steps (0 = full epoch); smoke runs only.
    max_steps_per_epoch: int = 0
    # Speed settings of the training step (islr.train.device.DeviceSettings). "auto" = the GPU choice when training
    # on CUDA, plain float32 eager on the CPU. They change speed and float rounding, not the method.
    #: Autocast: "auto" (bf16 on a CUDA GPU that has it, else fp16 with a GradScaler; off on CPU) | "bf16" |
    #: "fp16" | "off". ``true``/``false`` (configs saved before this key took a string) read as "auto"/"off".
    amp: str | bool = "auto"
    #: NHWC memory format for the model and its 4-D inputs (the CNN): "auto" (on with CUDA) | "on" | "off".
    channels_last: str = "auto"
    #: torch.compile of the training forward/backward: "auto" ("default" mode with CUDA, else off) | "off" | a
    #: torch.compile mode ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"; a mode is an
    #: inductor option, other backends compile in their own way).
    compile: str = "auto"
    #: torch.compile backend ("inductor"; "eager" / "aot_eager" to check the wiring without a compiler).
    compile_backend: str = "inductor"
    #: Optimiser kernels: "auto" (fused where the optimiser has one and the device supports it, else torch's
    #: default: foreach on CUDA) | "fused" (an error where there is none) | "foreach" | "for_loop".
    optimizer_impl: str = "auto"
    #: Page-locked loader memory for non-blocking host→GPU copies: "auto" (on with CUDA) | "on" | "off".
    pin_memory: str = "auto"

    def __post_init__(self):
        if isinstance(self.amp, bool):  # configs saved when amp was a switch meaning "on CUDA"
            self.amp = "auto" if self.amp else "off"
        for key, allowed in (("amp", AMP_MODES), ("channels_last", SWITCHES), ("compile", COMPILE_MODES),
                             ("optimizer_impl", OPTIMIZER_IMPLS), ("pin_memory", SWITCHES)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"config train.{key} = {getattr(self, key)!r}; choose one of {allowed}")


AMP_MODES = ("auto", "bf16", "fp16", "off")
SWITCHES = ("auto", "on", "off")
COMPILE_MODES = ("auto", "off", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
OPTIMIZER_IMPLS = ("auto", "fused", "foreach", "for_loop")


def _transformer_train() -> TrainConfig:
    return TrainConfig(epochs=70, batch_size=128, lr=2e-4, weight_decay=0.0, optimizer="ranger",
                       schedule="flat_cosine", label_smoothing=0.5, class_weights=False, grad_clip=10.0,
                       early_stop=0, seed=42)


@dataclass
class DistillConfig:
    """Knowledge distillation for the transformers (docs/method.md §4 "Distillation")."""

    #: T = 2, w = 0.5 measured best of T ∈ {1, 2, 4} × w ∈ {0.5, 0.9} (benchmarks/sweep_kd.py, README); w = 0.9
    #: lost 10-12 points of top-1 at every T, the w = 0.5 points sit within noise of training without KD.
    temperature: float = 2.0
    #: loss = (1 - kd_weight)·CE + kd_weight·T²·KL(teacher_T || student_T)
    kd_weight: float = 0.5
    student_layers: int = 3


@dataclass
class SampleCheckConfig:
    """The held-out-participant check on the bundled REAL sample in notebooks 02/03
    (:func:`islr.train.run.held_out_participants`): a small experiment of its own (78 sequences of two signs), so
    its length is set here, not by the family's training block."""

    epochs: int = 60
    batch_size: int = 8
    #: Learning rate of the check; None = the family's own ``lr``.
    lr: float | None = 1e-3
    #: Stop each epoch after this many steps (0 = full epoch).
    max_steps_per_epoch: int = 0
    #: Participant-grouped folds: every participant is held out once.
    n_folds: int = 4
    #: torch.compile of the check's step ("off": on 22 sequences compiling would take longer than it saves).
    compile: str = "off"


@dataclass
class Config:
    """The resolved configuration of one run."""

    profile: str = "default"
    run_name: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    cnn: CNNConfig = field(default_factory=CNNConfig)
    cnn_aug: CNNAugConfig = field(default_factory=CNNAugConfig)
    cnn_train: TrainConfig = field(default_factory=TrainConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    transformer_aug: TransformerAugConfig = field(default_factory=TransformerAugConfig)
    transformer_train: TrainConfig = field(default_factory=_transformer_train)
    distill: DistillConfig = field(default_factory=DistillConfig)
    sample_check: SampleCheckConfig = field(default_factory=SampleCheckConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def override(self, overrides: dict[str, Any] | None) -> "Config":
        """Return a copy with ``overrides`` applied (nested dicts or dotted keys).

        Raises:
            KeyError: an unknown key (the message names it and lists the valid ones).
            TypeError: a value of the wrong type.
        """
        return _apply(self, _nest(overrides or {}), prefix="")

    def save(self, path: str | Path) -> Path:
        """Write the config as JSON (``path`` may be a run folder: then ``path/config.json``)."""
        path = Path(path)
        if path.suffix != ".json":
            path = path / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        """Read a config saved by :meth:`save` (a JSON file or a run folder holding config.json)."""
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        try:
            return cls().override(json.loads(path.read_text()))
        except KeyError as e:
            raise KeyError(f"{path}: {e.args[0]}") from None


def _nest(overrides: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise KeyError(f"config override {key!r} conflicts with another override")
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = value
    return out


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    hint = annotation
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"config {name}: expected a pair, got {value!r}")
        args = typing.get_args(hint)
        return tuple(_coerce(v, a, name) for v, a in zip(value, args))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            try:
                return _coerce(value, arg, name)
            except TypeError:
                continue
        raise TypeError(f"config {name}: {value!r} does not match {hint}")
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise TypeError(f"config {name}: expected int, got bool {value!r}")
    if hint in (int, str, bool) and not isinstance(value, hint):
        raise TypeError(f"config {name}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _apply(obj: Any, overrides: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(type(obj))
    known = {f.name for f in fields(obj)}
    changes = {}
    for key, value in overrides.items():
        name = f"{prefix}{key}"
        if name in RENAMED_KEYS:
            raise KeyError(f"config key {name!r} was renamed to {RENAMED_KEYS[name]!r}")
        if key not in known:
            raise KeyError(f"unknown config key {name!r}; valid keys here: {sorted(known)}")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise TypeError(f"config {name} is a section; give a dict, not {value!r}")
            changes[key] = _apply(current, value, prefix=f"{name}.")
        else:
            changes[key] = _coerce(value, hints[key], name)
    return dataclasses.replace(obj, **changes)


#: The CPU profiles' step: float32, eager, default memory format, even where a GPU is present (as before the speed
#: keys existed); the full profile leaves every speed key at "auto".
CPU_STEP = {"amp": "off", "channels_last": "off", "compile": "off"}


def _profile_overrides(profile: str) -> dict[str, Any]:
    if profile == "full":
        return {"data": {"synth_per_sign": 0, "include_sample": False}, "split": {"full_data_transformers": True}}
    if profile == "default":
        return {
            # Real data first: 4 synthetic per sign + the bundled real sample, 30 % of every epoch real,
            # synthetic hello/thankyou/cloud/fall fitted to the real recordings (benchmarks/synth_transfer.py).
            "data": {"synth_per_sign": 4, "real_share": 0.3, "synth_fit_real": True},
            # One split trained, the participant one: its held-out real participants choose the ensemble weights.
            "split": {"kind": "participant", "compare": False},
            # 3 participant-grouped folds (every participant held out once) of 15 epochs on ~52 real training
            # sequences: the display check of notebooks 02/03, sized to keep the chain within 30 minutes.
            "sample_check": {"epochs": 15, "n_folds": 3},
            # CPU-sized models (README "Profiles"): half-width/half-depth B0, a 128-wide transformer.
            "cnn": {"model": "effnet_b0_half", "drop_path_rate": 0.1, "bn_momentum": 0.1},
            # NHWC: the CNN's training step is ~1.3x faster on the CPU too (measured on the 2-core machine).
            "cnn_train": {"epochs": 10, "batch_size": 32, "lr": 2e-3, "early_stop": 0, **CPU_STEP,
                          "channels_last": "on"},
            "transformer": {"hidden": 128, "intermediate": 256},
            # Length-grouped batches (windows of 8 batches): ~3x fewer transformer frames per epoch, same draws.
            "transformer_train": {"epochs": 10, "batch_size": 32, "lr": 1e-3, "length_grouping": 8, **CPU_STEP},
        }
    if profile == "smoke":
        return {
            "data": {"synth_per_sign": 1, "num_workers": 2, "real_share": 0.3},
            "split": {"kind": "participant", "compare": False},  # as default (the full profile compares the kinds)
            "cnn": {"model": "effnet_test", "hypercolumn_blocks": 2, "bn_momentum": 0.1},
            "cnn_train": {"epochs": 1, "batch_size": 16, "eval_batch_size": 32, "early_stop": 0,
                          "max_steps_per_epoch": 4, **CPU_STEP, "channels_last": "on"},
            "transformer": {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64},
            "transformer_train": {"epochs": 1, "batch_size": 16, "eval_batch_size": 32,
                                  "max_steps_per_epoch": 4, "length_grouping": 4, **CPU_STEP},
            "distill": {"student_layers": 1},
            "sample_check": {"epochs": 2, "lr": None, "max_steps_per_epoch": 2},
        }
    raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")


def get_config(profile: str = "default", overrides: dict[str, Any] | None = None, run_name: str | None = None
               ) -> Config:
    """Build the config of ``profile`` and apply ``overrides`` on top.

    Args:
        profile: one of :data:`PROFILES`.
        overrides: nested dict or dotted keys, e.g. ``{"cnn_train.epochs": 3}``.
        run_name: name of the run folder under outputs/runs (default: the profile name).
    """
    cfg = Config(profile=profile, run_name=run_name or profile).override(_profile_overrides(profile))
    return cfg.override(overrides)


def stage_config(stage: str, profile: str, data_dir: str = "", run_name: str = "",
                 overrides: dict[str, Any] | None = None) -> Config:
    """The config of one notebook stage, built from its ``parameters`` cell and saved in the run folder.

    The run folder (``outputs/runs/<run_name>``) receives ``config.json`` (the latest stage's resolved config) and
    ``config_<stage>.json``, so every stage's exact settings are on disk next to its results.

    Args:
        stage: notebook stage name, e.g. "00_eda".
        profile: "smoke" | "default" | "full".
        data_dir: asl-signs-layout folder ("" = automatic, see :mod:`islr.data`).
        run_name: run folder name ("" = the profile name).
        overrides: nested or dotted config overrides.
    """
    from islr import paths

    merged = dict(overrides or {})
    if data_dir:
        merged["data.data_dir"] = str(data_dir)
    cfg = get_config(profile, merged, run_name=run_name or profile)
    out = paths.run_dir(cfg.run_name)
    cfg.save(out / f"config_{stage}.json")
    cfg.save(out / "config.json")
    return cfg
