"""Plots shared by the notebooks. Every figure carries a footer naming its data (synthetic / bundled real sample /
full Kaggle set) via :func:`finish`, and is saved under ``outputs/figures/<stage>/``.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from islr import landmarks as L
from islr import paths

PART_COLORS = {"face": "0.65", "lips": "tab:red", "left_hand": "tab:blue", "pose": "tab:green",
               "right_hand": "tab:orange"}

#: MediaPipe pose connections drawn for the upper body (pose-local ids).
POSE_EDGES = ((0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13), (13, 15),
              (12, 14), (14, 16), (15, 17), (15, 19), (15, 21), (17, 19), (16, 18), (16, 20), (16, 22), (18, 20),
              (11, 23), (12, 24), (23, 24))
#: Hand connections: the five finger routes plus the palm (hand-local ids).
HAND_EDGES = tuple(map(tuple, L.HAND_BONES)) + ((5, 9), (9, 13), (13, 17))


def draw_skeleton(ax, frame: np.ndarray, title: str | None = None, alpha: float = 1.0,
                  colors: dict[str, str] | None = None, face: bool = True) -> None:
    """Draw one 543-point frame (x right, y down as in the image); NaN points are simply absent.

    Args:
        ax: matplotlib axes.
        frame: (543, 3) landmarks of one frame.
        title: axes title.
        alpha: opacity (draw two frames on one axes to compare).
        colors: per-part colour overrides (keys of :data:`PART_COLORS`).
        face: draw the 468 face-mesh points (lips are always drawn).
    """
    colors = {**PART_COLORS, **(colors or {})}
    xy = frame[:, :2]
    if face:
        ax.scatter(*xy[L.FACE].T, s=0.5, c=colors["face"], alpha=alpha)
    ax.scatter(*xy[L.LIP].T, s=3, c=colors["lips"], alpha=alpha)
    for a, b in POSE_EDGES:
        p, q = xy[L.pose_id(a)], xy[L.pose_id(b)]
        ax.plot([p[0], q[0]], [p[1], q[1]], c=colors["pose"], lw=1.5, alpha=alpha)
    for part in ("left_hand", "right_hand"):
        base = L.PART_OFFSET[part]
        for a, b in HAND_EDGES:
            p, q = xy[base + a], xy[base + b]
            ax.plot([p[0], q[0]], [p[1], q[1]], c=colors[part], lw=1.2, alpha=alpha)
        ax.scatter(*xy[base:base + 21].T, s=4, c=colors[part], alpha=alpha)
    ax.set_aspect("equal")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def frame_strip(seq: np.ndarray, n: int = 8, title: str = "", face: bool = True):
    """Skeletons of ``n`` frames spread evenly over a (T, 543, 3) sequence, on shared axes limits."""
    t_idx = np.unique(np.linspace(0, len(seq) - 1, min(n, len(seq))).round().astype(int))
    fig, axes = plt.subplots(1, len(t_idx), figsize=(1.9 * len(t_idx), 3.2), squeeze=False)
    finite = seq[..., :2][np.isfinite(seq[..., :2]).all(-1)]
    lo, hi = (finite.min(0), finite.max(0)) if len(finite) else (np.zeros(2), np.ones(2))
    pad = 0.05 * (hi - lo).max()
    for ax, t in zip(axes[0], t_idx):
        draw_skeleton(ax, seq[t], title=f"frame {t}", face=face)
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(hi[1] + pad, lo[1] - pad)
    fig.suptitle(title, fontsize=10)
    return fig


def finish(fig, source_label: str, stage: str | None = None, name: str | None = None) -> Path | None:
    """Add the data footer, tighten the layout and save to ``outputs/figures/<stage>/<name>.png`` if named.

    A suptitle wider than the figure is wrapped onto more lines (a long model or data name would otherwise run off
    both edges), and the axes are laid out below it.
    """
    # The footer wrapped to the figure's width (8-pt characters are about 0.55 of their size wide).
    footer = textwrap.wrap(f"data: {source_label}", max(40, int(fig.get_figwidth() * 72 / (8 * 0.55))))
    fig.text(0.5, 0.005, "\n".join(footer), ha="center", va="bottom", fontsize=8, color="0.35")
    bottom = 0.005 + len(footer) * 8 * 1.25 / 72 / fig.get_figheight()
    title_bottom = _fit_suptitle(fig)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    if _axes_top(fig) > title_bottom:  # a layout that left the suptitle out: lay the axes out below it
        fig.tight_layout(rect=(0, bottom, 1, title_bottom - 0.005))
    if stage and name:
        out = paths.figures_dir(stage) / f"{name}.png"
        fig.savefig(out, dpi=110)
        return out
    return None


def _renderer(fig):
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else fig._get_renderer()


def _axes_top(fig) -> float:
    """The top of the highest axes with its title and labels, in figure fraction (0 without axes)."""
    renderer = _renderer(fig)
    tops = [ax.get_tightbbox(renderer).y1 for ax in fig.axes if ax.get_visible()]
    return max(tops, default=0.0) / (fig.get_figheight() * fig.dpi)


def _fit_suptitle(fig, margin: float = 0.96) -> float:
    """Wrap ``fig``'s suptitle to ``margin`` of the figure's width; return its bottom (figure fraction; 1 without
    one)."""
    title = getattr(fig, "_suptitle", None)
    if title is None or not title.get_text():
        return 1.0
    renderer = _renderer(fig)
    width = fig.get_figwidth() * fig.dpi
    box = title.get_window_extent(renderer)
    if box.width > margin * width:
        lines = title.get_text().split("\n")
        longest = max(lines, key=len)
        chars = max(20, int(len(longest) * margin * width / box.width))
        title.set_text("\n".join(textwrap.fill(line, chars, break_on_hyphens=False) for line in lines))
        box = title.get_window_extent(renderer)
    return box.y0 / (fig.get_figheight() * fig.dpi)


def plot_image(img: np.ndarray, title: str = "", axes=None, vmax: float = 3.0):
    """The CNN's (3, 160, 80) input as three panels (x, y, z): rows = time, columns = the 80 points."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(7.5, 4.2))
    for c, (ax, name) in enumerate(zip(axes, "xyz")):
        im = ax.imshow(img[c], aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_title(f"{title} — {name}" if title else name, fontsize=8)
        ax.set_xlabel("point (lips | left hand | pose | right hand)", fontsize=7)
        for edge in (18, 39, 59):
            ax.axvline(edge - 0.5, color="k", lw=0.5)
        if c == 0:
            ax.set_ylabel("frame (resized to 160)")
    cax = axes[-1].inset_axes([1.04, 0.0, 0.06, 1.0])  # beside the z panel, outside tight_layout's reach
    axes[-1].figure.colorbar(im, cax=cax, label="normalised value")
    return axes


def plot_features(features: np.ndarray, mask: np.ndarray, title: str = "", ax=None):
    """The transformer's feature matrix of one sequence: real frames only, each of the 7 blocks scaled by its own
    99th-percentile magnitude (so distances and angles are as visible as positions), blocks labelled."""
    from islr.preprocess.transformer import FEATURE_SLICES

    ax = ax or plt.subplots(figsize=(12, 4))[1]
    n = max(int(mask.sum()), 1)
    shown = features[:n].astype(np.float64).copy()
    for sl in FEATURE_SLICES.values():
        scale = np.quantile(np.abs(shown[:, sl]), 0.99) if shown[:, sl].size else 0.0
        shown[:, sl] /= scale if scale > 0 else 1.0
    ax.imshow(shown, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    for k, (name, sl) in enumerate(FEATURE_SLICES.items()):
        ax.axvline(sl.start - 0.5, color="k", lw=0.6)
        ax.text((sl.start + sl.stop) / 2, -0.6 - 0.9 * (k % 2 and sl.stop - sl.start < 50), name, ha="center",
                va="bottom", fontsize=7)
    ax.set_xlabel("feature (972), each block scaled to its own 99th percentile")
    ax.set_ylabel(f"frame ({n} real of ≤ 96)")
    ax.set_title(title, fontsize=9, pad=22)
    return ax


# ---------------------------------------------------------------------------------------------------------------
# Augmentations drawn large (islr.explore's demos and explorer): grey before, colour after.
# ---------------------------------------------------------------------------------------------------------------
BEFORE_COLOR = "0.6"
AFTER_SERIES_COLOR = "tab:purple"
MASK_COLOR = "tab:red"


def _part_of(row: int) -> str:
    for part in ("left_hand", "pose", "right_hand"):
        if L.PART_OFFSET[part] <= row < L.PART_OFFSET[part] + L.PART_SIZE[part]:
            return part
    return "lips"


def draw_rows(ax, frame: np.ndarray, rows, grey: bool = False, lw: float = 1.6, size: float = 12,
              alpha: float = 1.0, ls: str = "-", zorder: int = 2) -> None:
    """Draw the landmark ``rows`` of one (543, 3) frame: pose and hand bones whose two ends are among them and
    present, and every present point as a dot; coloured by part (:data:`PART_COLORS`) or grey."""
    keep = {int(r) for r in np.asarray(rows)}
    xy = frame[:, :2]
    ok = np.isfinite(xy).all(1)

    def color(part):
        return BEFORE_COLOR if grey else PART_COLORS[part]

    edges = [(L.pose_id(a), L.pose_id(b), "pose") for a, b in POSE_EDGES]
    edges += [(L.PART_OFFSET[h] + a, L.PART_OFFSET[h] + b, h) for h in ("left_hand", "right_hand")
              for a, b in HAND_EDGES]
    for a, b, part in edges:
        if a in keep and b in keep and ok[a] and ok[b]:
            ax.plot([xy[a, 0], xy[b, 0]], [xy[a, 1], xy[b, 1]], c=color(part), lw=lw, alpha=alpha, ls=ls,
                    zorder=zorder, solid_capstyle="round")
    drawn = np.array(sorted(r for r in keep if ok[r]), dtype=np.int64)
    for part in ("lips", "left_hand", "pose", "right_hand"):
        sel = drawn[[_part_of(r) == part for r in drawn]] if len(drawn) else drawn
        if len(sel):
            ax.scatter(*xy[sel].T, s=size * (0.6 if part == "pose" else 1.0), c=color(part), alpha=alpha,
                       zorder=zorder + 1, linewidths=0)


def _square_limits(ax, points: np.ndarray, pad: float = 0.12, half: float | None = None) -> None:
    """Equal-aspect limits around ``points`` (N, 2) (y pointing down); ``half`` fixes the half-width."""
    points = points[np.isfinite(points).all(1)]
    if not len(points):
        return
    lo, hi = points.min(0), points.max(0)
    centre = (lo + hi) / 2
    half = half if half is not None else max(float((hi - lo).max()) / 2 * (1 + 2 * pad), 1e-3)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)
    ax.set_aspect("equal", adjustable="box")


def draw_view(ax, view) -> None:
    """One :class:`islr.explore.View`: before grey, after in colour, in the region the view names."""
    if view.kind == "skeleton":
        rows = np.asarray(view.rows)
        big = len(rows) <= 42  # a close-up: thicker bones, bigger dots
        lw, size = (2.4, 22) if big else (1.4, 8)
        draw_rows(ax, view.before, rows, grey=True, lw=lw + 0.8, size=size * 1.3, alpha=0.9, zorder=1)
        if view.partner is not None:
            draw_rows(ax, view.partner, rows, lw=lw * 0.7, size=size * 0.5, alpha=0.45, ls="--", zorder=2)
        draw_rows(ax, view.after, rows, lw=lw, size=size, zorder=3)
        frames = [view.before, view.after] + ([view.partner] if view.partner is not None else [])
        _square_limits(ax, np.concatenate([f[rows, :2] for f in frames]))
        if view.masked is not None and len(view.masked):
            gone = np.intersect1d(np.asarray(view.masked), rows)
            if len(gone):
                ax.scatter(*view.before[gone, :2].T, marker="x", s=size * 2.5, c="k", lw=1.8, zorder=5,
                           label=f"masked ({len(gone)} points)")
                ax.legend(fontsize=7, loc="best", handletextpad=0.2, borderaxespad=0.2)
        ax.set_xticks([])
        ax.set_yticks([])
    elif view.kind == "frames":
        before, after = np.asarray(view.before, bool), np.asarray(view.after, bool)
        idx = np.arange(len(before))
        ax.vlines(idx[before], 0.6, 1.4, color=BEFORE_COLOR, lw=2.2, label="before: nearest resize")
        ax.vlines(idx[after], -0.4, 0.4, color=AFTER_SERIES_COLOR, lw=2.2, label="after: random pick")
        dropped = before & ~after
        ax.scatter(idx[dropped], np.zeros(dropped.sum()), marker="x", c="k", s=30, zorder=3,
                   label="used before, dropped after")
        ax.set_yticks([1, 0], ["before", "after"], fontsize=7)
        ax.set_ylim(-1.6, 2.2)
        ax.set_xlabel(view.xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6.5, loc="upper center", ncol=2, handletextpad=0.3, columnspacing=0.8)
    else:
        before, after = np.asarray(view.before, float), np.asarray(view.after, float)
        ax.plot(np.arange(len(before)), before, color=BEFORE_COLOR, lw=3, marker=".", ms=5, label="before")
        ax.plot(np.arange(len(after)), after, color=AFTER_SERIES_COLOR, lw=1.5, marker=".", ms=4, label="after")
        if view.masked is not None and np.any(view.masked):
            m = np.asarray(view.masked, bool)
            edges = np.flatnonzero(np.diff(np.r_[0, m.astype(int), 0]))
            for k, (a, b) in enumerate(zip(edges[::2], edges[1::2])):
                ax.axvspan(a - 0.5, b - 0.5, color=MASK_COLOR, alpha=0.15, lw=0,
                           label="masked (zeroed)" if k == 0 else None)
        ax.set_xlabel(view.xlabel, fontsize=8)
        ax.set_ylabel(view.ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        if view.ylabel.startswith("y"):
            ax.invert_yaxis()  # image y points down, as in the skeletons
        ax.legend(fontsize=7, loc="best")
    ax.set_title(view.title, fontsize=8)


def _demo_text(demo, width: int = 40) -> str:
    parts = [demo.does, f"training: {demo.strength}"]
    if demo.shown:
        parts.append(f"shown: {demo.shown}")
    return "\n\n".join(textwrap.fill(p, width) for p in parts)


def plot_demos(demos, title: str, data: str = ""):
    """A figure of :class:`islr.explore.Demo` rows: left what the augmentation does, its training strength and what
    this draw did; right its views (grey before, colour after). A demo that cannot act shows its note instead."""
    n_views = max([len(d.views) for d in demos] + [1])
    n_cols = 1 + n_views
    fig = plt.figure(figsize=(3.0 + 3.0 * n_views, 3.0 * len(demos) + 0.9))
    gs = fig.add_gridspec(len(demos), n_cols, width_ratios=[1.0] + [1] * n_views)
    for r, demo in enumerate(demos):
        text_ax = fig.add_subplot(gs[r, 0])
        text_ax.axis("off")
        text_ax.set_title(demo.name, loc="left", fontsize=10, fontweight="bold")
        text_ax.text(0, 1, _demo_text(demo), va="top", ha="left", fontsize=8, transform=text_ax.transAxes)
        if not demo.active:
            note_ax = fig.add_subplot(gs[r, 1:])
            note_ax.axis("off")
            note_ax.text(0.5, 0.5, "\n".join(textwrap.wrap(demo.note, 70)), ha="center", va="center",
                         fontsize=10, transform=note_ax.transAxes,
                         bbox={"boxstyle": "round", "facecolor": "0.95", "edgecolor": "0.6"})
            continue
        for k, view in enumerate(demo.views):
            draw_view(fig.add_subplot(gs[r, 1 + k]), view)
    sub = "grey: before, colour: after (the same seed)" + (f" — {data}" if data else "")
    fig.suptitle(f"{title}\n{sub}", fontsize=10)
    return fig


def draw_explorer(fig, state, label: str, seed: int) -> None:
    """The explorer's figure (``fig`` is cleared): the whole body, each hand and the lips at the chosen frame, and
    the main hand's index fingertip y over time, before grey and after in colour; hidden points as red crosses."""
    fig.clear()
    gs = fig.add_gridspec(2, 4, height_ratios=[2.2, 1])
    before, after = state.before[state.frame], state.after[state.frame_after]
    pts = np.asarray(L.CNN_AUG_POINTS)
    whole = np.concatenate([state.before[:, pts, :2].reshape(-1, 2), state.after[:, pts, :2].reshape(-1, 2)])
    ax = fig.add_subplot(gs[0, 0])
    draw_rows(ax, before, pts, grey=True, lw=2.0, size=10, zorder=1)
    draw_rows(ax, after, pts, lw=1.4, size=7, zorder=3)
    _square_limits(ax, whole, pad=0.03)
    ax.set_title(f"body, frame {state.frame} → {state.frame_after}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    masked = np.asarray(state.hidden_rows)
    for k, part in enumerate(("left_hand", "right_hand", "lips")):
        ax = fig.add_subplot(gs[0, 1 + k])
        rows = pts[[_part_of(r) == part for r in pts]]
        # after a flip the hand is in the other hand's rows: follow it there
        twin = {"left_hand": "right_hand", "right_hand": "left_hand"}.get(part, part) if state.flipped else part
        after_rows = rows - L.PART_OFFSET[part] + L.PART_OFFSET[twin] if twin != part else rows
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
            extent = np.nanmax(np.ptp(state.before[:, rows, :2], axis=1)) if len(state.before) else np.nan
        here = np.concatenate([before[rows, :2], after[after_rows, :2]])
        name = part.replace("_", " ")
        if not np.isfinite(here).all(1).any():
            ax.text(0.5, 0.5, f"no {name} in this frame", ha="center", va="center", transform=ax.transAxes)
            ax.set_aspect("equal", adjustable="box")  # the same size as the other close-ups
        else:
            draw_rows(ax, before, rows, grey=True, lw=3.2, size=28, zorder=1)
            draw_rows(ax, after, after_rows, lw=2.4, size=22, zorder=3)
            gone = np.intersect1d(masked, after_rows)
            if len(gone):
                where = gone - after_rows[0] + rows[0]  # the same point's row before (the flip moves hands)
                ax.scatter(*before[where, :2].T, marker="x", s=50, c="k", lw=1.8, zorder=5)
            finite = here[np.isfinite(here).all(1)]
            need = float(np.ptp(finite, 0).max()) / 2 * 1.15
            _square_limits(ax, here, half=max(0.65 * extent, need) if np.isfinite(extent) and extent > 0 else None)
        ax.set_title(f"{name} (close-up)" + (f" → {twin.replace('_', ' ')} after the flip" if twin != part else ""),
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(gs[1, :])
    hand = max(("left_hand", "right_hand"), key=lambda h: int(np.isfinite(state.before[:, L.PART_OFFSET[h], 0]).sum()))
    other = {"left_hand": "right_hand", "right_hand": "left_hand"}[hand] if state.flipped else hand
    ax.plot(state.before[:, L.PART_OFFSET[hand] + 8, 1], color=BEFORE_COLOR, lw=3, marker=".", label="before")
    ax.plot(state.after[:, L.PART_OFFSET[other] + 8, 1], color=AFTER_SERIES_COLOR, lw=1.5, marker=".",
            label="after" + (f" ({other.replace('_', ' ')}: flipped)" if other != hand else ""))
    ax.axvline(state.frame, color=BEFORE_COLOR, ls=":")
    ax.axvline(state.frame_after, color=AFTER_SERIES_COLOR, ls=":")
    hidden = np.asarray(state.hidden_frames, bool)
    edges = np.flatnonzero(np.diff(np.r_[0, hidden.astype(int), 0]))
    for k, (a, b) in enumerate(zip(edges[::2], edges[1::2])):
        ax.axvspan(a - 0.5, b - 0.5, color=MASK_COLOR, alpha=0.15, lw=0, label="masked frames" if k == 0 else None)
    ax.invert_yaxis()
    ax.set_xlabel("frame")
    ax.set_ylabel("y")
    ax.set_title(f"{hand.replace('_', ' ')} index fingertip y over time (dotted: the frame shown)", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    applied = ", ".join(state.applied) or "nothing (every augmentation switched off)"
    fig.suptitle(f"{label} — seed {seed}\napplied, each with p = 1, in training order: {applied}", fontsize=9)
    fig.tight_layout()


def plot_calibration(fit: dict, temperature: float, bins: int = 5):
    """Reliability diagram of the held-out rows an answer-rules fit recorded (:func:`islr.answer.fit_rules`):
    accuracy against the top answer's probability per bin, raw softmax and calibrated (temperature fitted on the
    other held-out participants), with the expected calibration error of each, and the rows per bin below."""
    from islr.metrics import expected_calibration_error, reliability

    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5.5, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ":", color="0.5", lw=1, label="perfectly calibrated")
    curves = {"raw softmax": (fit["confidence_raw"], fit["correct"], "tab:red"),
              f"calibrated (T≈{temperature:.2f})": (fit["confidence_calibrated"], fit["correct_calibrated"],
                                                     "tab:blue")}
    width = 1 / bins / 2.4
    for i, (name, (conf, right, colour)) in enumerate(curves.items()):
        table = reliability(conf, right, bins)
        ece = expected_calibration_error(conf, right, bins)
        ax.plot(table["confidence"], table["accuracy"], "o-", color=colour, label=f"{name}: ECE {ece:.3f}")
        ax_n.bar((table["lo"] + table["hi"]) / 2 + (i - 0.5) * width, table["n"], width, color=colour)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy of the top answer")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"reliability on {fit['held_out_rows']} real sequences of {fit['held_out_participants']} "
                 f"unseen participants", fontsize=9)
    ax_n.set_xlabel("probability of the top answer")
    ax_n.set_ylabel("rows")
    return fig
