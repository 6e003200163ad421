"""Scoring the sign's span only (:func:`islr.span.sign_span`), before/after, on real recordings and the shipped model.

Real users' recordings start and end with the hands at rest; the competition's clips do not. This script measures:

* **the asl-signs clips** (the bundled sample + ``shared/data/asl_signs_sample`` beside the checkout when present, 86
  real sequences): the frames :func:`sign_span` cuts from the clips as they are (it should cut none), and the
  model's top-1 on three versions of each clip: the original; *padded*: real rest frames added before and after
  (30–70 a side, so a 20-frame hello becomes ~100 frames, like a user's recording), scored whole; and that padded
  recording scored on its span only. The rest frames are real quiet frames of two real MediaPipe Holistic
  recordings (:data:`REST`: lead-in and lead-out with the hands down), moved onto the clip's body
  (:func:`islr.span.pad_with_rest`); whether the span found on the padded recording lies within a few frames of
  the original clip is counted too. The rest frames' hands are out of view, as in those recordings; a second
  padding also hangs the clip's own hands, found but at rest, from the pose wrists (no real recording here shows
  hands found at rest, the user's case that prompted the span). Accuracy is reported per group: the participants
  the submitted model never saw (participant-split fold 0's held-out signers,
  :func:`islr.evaluate.held_out_real_ids`), the sequences it trained on, and sequences outside its training data;
* **real recordings** (the ``.pose`` files in tests/fixtures, the videos in data/videos): frames, the span found,
  and the model's answer on the whole recording and on the span.

The model is ``--model`` (default: the submission's model.tflite, :func:`islr.predict.default_model`). It also
writes outputs/figures/span/heights.png: each hand's height per frame and the span, for the real recordings and a
few padded clips. Video landmarks are extracted once (MediaPipe, :func:`islr.extract.extract_video`) and cached
under outputs/span/.

Run: ``python benchmarks/bench_trim.py [--model outputs/submission/model.tflite] [--seed 0]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from islr import paths, span
from islr.export.checks import shared_real_sample
from islr.io import read_landmarks, read_pose, read_train_index, sign_names
from islr.landmarks import hand_frames
from islr.predict import default_model, load_sign_model
from islr.report import record_benchmark

REPO = Path(__file__).resolve().parents[1]
#: Real quiet frames, (recording, [start, stop) before the sign, [start, stop) after it), read off the per-frame
#: hand heights: example.pose (4:3, 25 fps) has no hand in view and the pose wrists still below the hips in frames
#: 0–10 (they start rising at 12) and 66–96 (back down from 66); pose_test_video.mp4 (3:4) in frames 0–9 and 48–57.
REST = (("tests/fixtures/example.pose", (0, 11), (66, 97)),
        ("data/videos/pose_test_video.mp4", (0, 10), (48, 58)))
#: Rest frames added on each side of a clip: drawn uniformly from this range (inclusive).
PAD_RANGE = (30, 70)
#: The signs with real training recordings in the default chain (the bundled sample).
REAL_SIGNS = ("hello", "thankyou", "cloud", "fall")


def load_recording(path: Path) -> np.ndarray:
    """(T, 543, 3) landmarks of a .pose file or a video (extracted once, cached as outputs/span/<stem>.npy)."""
    if path.suffix == ".pose":
        return read_pose(path)
    cache = paths.outputs_dir() / "span" / f"{path.stem}.npy"
    if not cache.is_file():
        from islr.extract import extract_video

        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, extract_video(path))
    return np.load(cache)


def asl_signs_clips() -> pd.DataFrame:
    """The real asl-signs clips, one row each: sequence_id, participant_id, sign, landmarks, bundled (in the
    package's sample, so in the default chain's training data)."""
    folders = [(paths.SAMPLE_DIR, True)]
    shared = shared_real_sample(REPO)
    if shared is not None:
        folders.append((shared, False))
    rows = {}
    for folder, bundled in folders:
        index = read_train_index(folder)
        for r in index.itertuples():
            if r.sequence_id not in rows:
                rows[r.sequence_id] = {"sequence_id": r.sequence_id, "participant_id": r.participant_id,
                                       "sign": r.sign, "x": read_landmarks(folder / r.path), "bundled": bundled}
    return pd.DataFrame(list(rows.values()))


def held_out_ids(run: str) -> tuple[set[int], str]:
    """Sequence ids of the real signers the submitted model never saw, and how that was found (empty when the
    run's config or data are not there)."""
    try:
        from islr.config import Config
        from islr.data import is_real, load_dataset
        from islr.evaluate import held_out_real_ids, submitted_saw

        cfg = Config.load(paths.run_dir(run))
        if submitted_saw(cfg):
            return set(), f"none: the submitted models of run {run} trained on every participant"
        prepared, _ = load_dataset(cfg)
        ids = held_out_real_ids(cfg, prepared, is_real(prepared.sequence_ids))
        return {int(i) for i in ids}, f"participant-split fold 0 of run {run}"
    except Exception as err:  # the run's config or data missing: report per bundled/not bundled only
        return set(), f"unknown ({type(err).__name__}: {err})"


def top1(model, x: np.ndarray, names: list[str]) -> str:
    return names[int(np.argmax(model(x)))]


def measure_clips(clips: pd.DataFrame, rest: list[tuple[np.ndarray, np.ndarray]], model, names: list[str],
                  seed: int) -> pd.DataFrame:
    """One row per clip: span on the clip, and for the clip padded with rest (hands out of view; ``_hands``: hands
    found at rest, :func:`islr.span.pad_with_rest`) how far the span is from the clip's ends and the model's top-1
    on the padded recording whole and on its span (plus on the clip alone)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, c in enumerate(clips.itertuples()):
        x = c.x
        before, after = (int(v) for v in rng.integers(PAD_RANGE[0], PAD_RANGE[1] + 1, 2))
        a0, b0 = span.sign_span(x)
        row = {"sequence_id": c.sequence_id, "sign": c.sign, "frames": len(x), "cut_original": a0 + len(x) - b0,
               "top1_original": top1(model, x, names)}
        for tag, hands in (("", False), ("_hands", True)):
            padded = span.pad_with_rest(x, *rest[i % len(rest)], before, after, hands_at_rest=hands)
            a, b = span.sign_span(padded)
            row.update({f"padded_frames{tag}": len(padded), f"span_error{tag}": max(abs(a - before),
                                                                                      abs(b - before - len(x))),
                        f"top1_untrimmed{tag}": top1(model, padded, names),
                        f"top1_trimmed{tag}": top1(model, padded[a:b], names)})
        out.append(row)
    return pd.DataFrame(out)


def group_rows(per_clip: pd.DataFrame, groups: dict[str, np.ndarray]) -> list[dict]:
    """Accuracy and span numbers per group of clips."""
    rows = []
    for name, mask in groups.items():
        g = per_clip[mask]
        if not len(g):
            continue
        rows.append({"what": "clips", "group": name, "n": len(g),
                     "top1_original": float((g.top1_original == g.sign).mean()),
                     "top1_padded_untrimmed": float((g.top1_untrimmed == g.sign).mean()),
                     "top1_padded_trimmed": float((g.top1_trimmed == g.sign).mean()),
                     "top1_hands_at_rest_untrimmed": float((g.top1_untrimmed_hands == g.sign).mean()),
                     "top1_hands_at_rest_trimmed": float((g.top1_trimmed_hands == g.sign).mean()),
                     "clips_cut": int((g.cut_original > 0).sum()), "frames_cut": int(g.cut_original.sum()),
                     "frames": int(g.frames.sum()), "padded_frames_median": float(g.padded_frames.median()),
                     "span_within_2_frames": int((g.span_error <= 2).sum()),
                     "span_error_max": int(g.span_error.max()), "span_error_max_hands_at_rest":
                     int(g.span_error_hands.max())})
    return rows


def recording_rows(recordings: dict[str, np.ndarray], model, names: list[str]) -> list[dict]:
    rows = []
    for name, x in recordings.items():
        a, b = span.sign_span(x)
        rows.append({"what": "recording", "group": name, "n": 1, "frames": len(x),
                     "hand_frames": int(hand_frames(x).sum()), "span": [a, b], "kept": b - a,
                     "top1_untrimmed": top1(model, x, names), "top1_trimmed": top1(model, x[a:b], names)})
    return rows


def plot(series: dict[str, np.ndarray], out: Path) -> None:
    """Each hand's height (torso units, smaller is higher; dots where only the pose wrist is known) per frame, the
    rest line and the span, one panel per sequence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(10, 2.2 * len(series)), squeeze=False)
    for ax, (name, x) in zip(axes[:, 0], series.items()):
        height, detected = span.hand_heights(x)
        a, b = span.sign_span(x)
        t = np.arange(len(x))
        for side, colour in ((0, "tab:blue"), (1, "tab:red")):
            ax.plot(t, np.where(detected[:, side], height[:, side], np.nan), "-", color=colour, label=f"{'LR'[side]}")
            ax.plot(t, np.where(detected[:, side], np.nan, height[:, side]), ".", color=colour, ms=3)
        ax.axhline(span.REST_LINE, color="k", ls="--", lw=0.8)
        ax.axvspan(a - 0.5, b - 0.5, color="tab:green", alpha=0.15)
        ax.set_ylim(1.6, -1.2)
        ax.set_ylabel("height")
        ax.set_title(f"{name}: {len(x)} frames, span [{a}, {b})", fontsize=9)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help=f"TFLite file or ONNX folder (default: {default_model()})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rest lengths")
    parser.add_argument("--run", default="default", help="the run whose held-out signers to report")
    args = parser.parse_args()
    model = load_sign_model(args.model or None, threads=1)
    names = sign_names()
    recordings = {Path(p).name: load_recording(REPO / p)
                  for p in [*sorted(str(f.relative_to(REPO)) for f in (REPO / "tests" / "fixtures").glob("*.pose")),
                            *sorted(str(f.relative_to(REPO)) for f in (REPO / "data" / "videos").glob("*.mp4"))]}
    rest = [(recordings[Path(p).name][slice(*before)], recordings[Path(p).name][slice(*after)])
            for p, before, after in REST]
    clips = asl_signs_clips()
    per_clip = measure_clips(clips, rest, model, names, args.seed)
    held, how = held_out_ids(args.run)
    is_held = clips.sequence_id.isin(held).to_numpy()
    groups = {"all": np.ones(len(clips), bool), "held-out signers": is_held,
              "trained on": clips.bundled.to_numpy() & ~is_held, "not in the training data": ~clips.bundled.to_numpy()}
    rows = group_rows(per_clip, groups) + recording_rows(recordings, model, names)
    examples = {f"clip {r.sequence_id} ({r.sign}) padded": span.pad_with_rest(r.x, *rest[i % len(rest)], 40, 40)
                for i, r in enumerate(clips.head(3).itertuples())}
    plot({**recordings, **examples}, paths.figures_dir("span") / "heights.png")
    pd.set_option("display.width", 200)
    cut = per_clip[per_clip.cut_original > 0]
    print(cut.to_string(index=False) if len(cut) else "sign_span cut no frame of the original clips")
    print(pd.DataFrame(rows).drop(columns="what").to_string(index=False))
    which = Path(args.model).name if args.model else f"the chain's submission ({default_model().name})"
    record_benchmark("trim", rows, data=f"{len(clips)} real asl-signs clips padded with real rest frames of "
                     f"{len(REST)} real recordings; {len(recordings)} real recordings (.pose, video)",
                     notes=f"model {which}; rest {PAD_RANGE[0]}–"
                           f"{PAD_RANGE[1]} frames a side (seed {args.seed}); held-out signers: {how}; "
                           f"span margin {span.MARGIN} frames; top-1 over 250 signs")


if __name__ == "__main__":
    main()
