"""Training: loss formulas, optimisers / schedules, and the loop on a tiny toy model (learning, resume, early stop,
metrics, OOF logits, distillation, DDP on CPU)."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, Subset

from islr import paths
from islr.config import TrainConfig
from islr.runs import METRIC_FIELDS
from islr.train.checkpoint import RunConfigMismatch
from islr.train.device import DeviceSettings, compile_kwargs
from islr.train.loop import StepContext, StepOptions, fit, make_loader, train_one_epoch, validate
from islr.train.losses import (DeepSupervisionLoss, DistillationLoss, build_loss, class_weights, kd_loss,
                               soft_cross_entropy)
from islr.train.optim import build_optimizer, build_scheduler, centralize_gradient, kernel_kwargs

N_FEATURES, N_CLASSES = 8, 5
TRUE_W = torch.randn(N_FEATURES, N_CLASSES, generator=torch.Generator().manual_seed(7))


# ------------------------------------------------------------------------------------------ toy problem
class ToyData(Dataset):
    """Gaussian points labelled by argmax of a fixed linear map: separable, 5 classes (chance 0.2)."""

    def __init__(self, n, seed, dict_input=False):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, N_FEATURES, generator=g)
        self.y = (self.x @ TRUE_W).argmax(dim=1)
        self.dict_input = dict_input

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        x = {"x": self.x[i], "scale": torch.tensor(1.0)} if self.dict_input else self.x[i]
        return {"x": x, "y": self.y[i]}


class ToyNet(nn.Module):
    """MLP with dropout; with ``aux=True`` returns (main, aux) in training mode, like the CNN's hypercolumn."""

    def __init__(self, aux=False):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEATURES, 32), nn.ReLU(), nn.Dropout(0.1))
        self.head = nn.Linear(32, N_CLASSES)
        self.aux = nn.Linear(32, N_CLASSES) if aux else None

    def forward(self, x, scale=None):
        h = self.body(x if scale is None else x * scale[:, None])
        if self.aux is not None and self.training:
            return self.head(h), self.aux(h)
        return self.head(h)


def toy_cfg(**kw):
    base = TrainConfig(epochs=3, batch_size=32, eval_batch_size=64, lr=0.1, weight_decay=0.0, optimizer="radam",
                       schedule="onecycle", label_smoothing=0.0, class_weights=False, amp="off", early_stop=0,
                       seed=3)
    return replace(base, **kw)


def toy_loaders(cfg, n_train=640, n_valid=101, dict_input=False):
    train = make_loader(ToyData(n_train, 0, dict_input), cfg.batch_size, train=True, seed=cfg.seed)
    valid = make_loader(ToyData(n_valid, 1, dict_input), cfg.eval_batch_size, train=False)
    return train, valid


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny matrices: several threads only contend (30x slower on a loaded 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def noisy(batch, generator):
    """A device-side augmentation drawing from the loop's generator."""
    x = batch["x"]
    batch["x"] = x + 0.05 * torch.randn(x.shape, generator=generator, device=x.device)
    return batch


# ------------------------------------------------------------------------------------------ losses
def test_class_weights_match_reference_column_and_facts():
    w = class_weights(0.82197, 1.39792)
    table = pd.read_csv(paths.CLASS_WEIGHTS_CSV)
    assert w.shape == (250,) and w.dtype == torch.float32
    np.testing.assert_allclose(w.numpy(), table["ce_weight_bestCFG"].to_numpy(), rtol=1e-6)
    # docs/method.md §5: min 2.0, max 4.333, mean 2.629, first values 2.0057, 2.1997, 2.0502, 2.0669, 3.2695.
    assert w.min().item() == pytest.approx(2.0) and w.max().item() == pytest.approx(4.333, abs=1e-3)
    assert w.mean().item() == pytest.approx(2.629, abs=1e-3)
    np.testing.assert_allclose(w[:5].numpy(), [2.0057, 2.1997, 2.0502, 2.0669, 3.2695], atol=1e-4)
    w1 = class_weights(1.0, 1.0)
    np.testing.assert_allclose(w1.numpy(), (table["bad_weight"] + table["common_weight"]).to_numpy(), rtol=1e-6)


def _brute_force_ce(logits, probs, weight, eps):
    c = logits.shape[1]
    total = 0.0
    for i in range(logits.shape[0]):
        log_p = torch.log_softmax(logits[i].double(), 0)
        total += -sum(weight[k] * ((1 - eps) * probs[i, k] + eps / c) * log_p[k] for k in range(c))
    return total / logits.shape[0]


def test_soft_cross_entropy_hard_labels_vs_torch():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(6, 7, generator=g), torch.randint(0, 7, (6,), generator=g)
    w, eps = torch.rand(7, generator=g) + 0.5, 0.3
    ours = soft_cross_entropy(logits, y, w, eps)
    assert ours.item() == pytest.approx(_brute_force_ce(logits, F.one_hot(y, 7), w, eps).item(), rel=1e-6)
    # Batch mean, as docs/method.md §5: torch's per-sample losses averaged over B ...
    torch_none = F.cross_entropy(logits, y, weight=w, label_smoothing=eps, reduction="none")
    assert ours.item() == pytest.approx(torch_none.mean().item(), rel=1e-6)
    # ... whereas torch's reduction="mean" with class-index targets divides by sum_i w_{y_i} instead of B.
    torch_mean = F.cross_entropy(logits, y, weight=w, label_smoothing=eps)
    assert torch_mean.item() == pytest.approx((ours * len(y) / w[y].sum()).item(), rel=1e-6)
    assert torch_mean.item() != pytest.approx(ours.item(), rel=1e-3)
    # Unweighted, unsmoothed: plain cross-entropy.
    assert soft_cross_entropy(logits, y).item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)


def test_soft_cross_entropy_soft_targets_vs_torch_probability_targets():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 6, generator=g)
    lam = 0.3  # a mixup of two labels
    probs = lam * F.one_hot(torch.tensor([0, 1, 2, 3, 4]), 6) + (1 - lam) * F.one_hot(torch.tensor([5, 1, 0, 0, 2]), 6)
    w, eps = torch.rand(6, generator=g) + 0.5, 0.5127
    ours = soft_cross_entropy(logits, probs.float(), w, eps)
    assert ours.item() == pytest.approx(_brute_force_ce(logits, probs, w, eps).item(), rel=1e-6)
    ref = F.cross_entropy(logits, probs.float(), weight=w, label_smoothing=eps)  # the reference's own call
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)


def test_deep_supervision_and_build_loss():
    g = torch.Generator().manual_seed(2)
    main, aux, y = torch.randn(4, 250, generator=g), torch.randn(4, 250, generator=g), torch.tensor([0, 5, 9, 249])
    loss = DeepSupervisionLoss(label_smoothing=0.1, aux_weight=0.4)
    expected = 0.6 * soft_cross_entropy(main, y, None, 0.1) + 0.4 * soft_cross_entropy(aux, y, None, 0.1)
    assert loss((main, aux), {"y": y}).item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss(main, {"y": y}).item() == pytest.approx(soft_cross_entropy(main, y, None, 0.1).item(), rel=1e-6)
    soft = torch.softmax(torch.randn(4, 250, generator=g), 1)
    assert loss(main, {"y": y, "target": soft}).item() == pytest.approx(
        soft_cross_entropy(main, soft, None, 0.1).item(), rel=1e-6)  # soft target wins over labels
    built = build_loss(TrainConfig())  # best_CFG: class weights, smoothing 0.5127
    w = class_weights()
    assert built(main, {"y": y}).item() == pytest.approx(soft_cross_entropy(main, y, w, 0.5127).item(), rel=1e-6)


def test_kd_loss_formula_and_zero_when_equal():
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(4, 10, generator=g), torch.randn(4, 10, generator=g)
    assert kd_loss(s, s.clone(), 2.0).item() == pytest.approx(0.0, abs=1e-7)
    p_t, p_s = torch.softmax(t / 2.0, 1), torch.softmax(s / 2.0, 1)
    brute = 4.0 * (p_t * (p_t.log() - p_s.log())).sum(1).mean()
    assert kd_loss(s, t, 2.0).item() == pytest.approx(brute.item(), rel=1e-5)
    assert kd_loss(s, t, 2.0).item() > 0


def test_kd_loss_gradient_scale_independent_of_temperature():
    g = torch.Generator().manual_seed(4)
    s0, t = torch.randn(8, 20, generator=g), torch.randn(8, 20, generator=g)

    def grad_norm(temperature, t2=True):
        s = s0.clone().requires_grad_(True)
        loss = kd_loss(s, t, temperature)
        (loss if t2 else loss / temperature ** 2).backward()
        return s.grad.norm().item()

    norms = [grad_norm(T) for T in (4.0, 8.0, 16.0)]
    assert max(norms) / min(norms) < 1.25, norms  # T² compensates the 1/T² of the softened gradient
    raw = [grad_norm(T, t2=False) for T in (4.0, 16.0)]
    assert raw[0] / raw[1] > 10, raw  # without T² the gradient shrinks ~16× from T=4 to T=16


def test_distillation_loss_mixes_terms():
    g = torch.Generator().manual_seed(5)
    s, t, y = torch.randn(3, 6, generator=g), torch.randn(3, 6, generator=g), torch.tensor([0, 1, 2])
    base = DeepSupervisionLoss()
    loss = DistillationLoss(base, temperature=3.0, kd_weight=0.25)
    expected = 0.75 * soft_cross_entropy(s, y) + 0.25 * kd_loss(s, t, 3.0)
    assert loss(s, {"y": y}, t).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="teacher"):
        loss(s, {"y": y}, None)


# ------------------------------------------------------------------------------------------ optimisers
def test_optimizers_settings_and_decoupled_weight_decay():
    model = nn.Linear(4, 3)
    ranger = build_optimizer(model, "ranger", lr=2e-4)
    group = ranger.param_groups[0]
    assert (group["betas"], group["eps"], group["lookahead_k"], group["lookahead_alpha"]) == ((0.95, 0.999), 1e-5,
                                                                                               5, 0.5)
    la = build_optimizer(model, "lookahead_radam", lr=1e-3, weight_decay=0.01).param_groups[0]
    assert (la["betas"], la["eps"], la["lookahead_k"]) == ((0.9, 0.999), 1e-8, 5)
    # Decoupled decay: with a zero gradient RAdam's step is p <- p * (1 - lr * wd).
    opt = build_optimizer(model, "radam", lr=0.1, weight_decay=0.5)
    before = model.weight.detach().clone()
    model.weight.grad, model.bias.grad = torch.zeros_like(model.weight), torch.zeros_like(model.bias)
    opt.step()
    torch.testing.assert_close(model.weight.detach(), before * (1 - 0.1 * 0.5))
    with pytest.raises(ValueError):
        build_optimizer(model, "sgd", lr=0.1)


def test_ranger_centralises_gradients():
    model = nn.Linear(6, 4)
    opt = build_optimizer(model, "ranger", lr=1e-3)
    model(torch.randn(16, 6)).pow(2).sum().backward()
    raw = model.weight.grad.clone()
    opt.step()
    torch.testing.assert_close(model.weight.grad, raw - raw.mean(dim=1, keepdim=True))
    assert model.weight.grad.mean(dim=1).abs().max() < 1e-6
    assert torch.equal(centralize_gradient(torch.ones(3)), torch.ones(3))  # 1-D (bias) untouched


def test_onecycle_runs_exactly_total_steps_and_ends_at_final_lr():
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, "radam", lr=0.01)
    sched = build_scheduler(opt, "onecycle", lr=0.01, total_steps=50, pct_start=0.1)
    lrs, beta1 = [], []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        beta1.append(opt.param_groups[0]["betas"][0])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.01 / 25) and max(lrs) == pytest.approx(0.01)
    assert int(np.argmax(lrs)) == 4  # peak at pct_start · (total − 1)
    assert lrs[-1] == pytest.approx(0.01 / 25 / 1e4)  # the last step uses the final lr (docs/method.md §10.7 fixed)
    assert (beta1[0], beta1[4], beta1[-1]) == pytest.approx((0.95, 0.85, 0.95))  # β1 cycles 0.95 → 0.85 → 0.95


def test_flat_cosine_schedule():
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, "ranger", lr=2e-4)
    sched = build_scheduler(opt, "flat_cosine", lr=2e-4, total_steps=100, flat_fraction=0.6)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert all(lr == pytest.approx(2e-4) for lr in lrs[:61])  # steps 0..60 flat (cosine starts at 60 with 1.0)
    assert lrs[61] < 2e-4
    # Cosine over steps 60..99: progress (step − 60) / 39.
    assert lrs[80] == pytest.approx(2e-4 * 0.5 * (1 + math.cos(math.pi * 20 / 39)))
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


# ------------------------------------------------------------------------------------------ the loop
def test_train_step_with_autocast_grad_scaler_and_clipping():
    # The CUDA AMP path (autocast + GradScaler unscale -> clip -> step) exercised on CPU with bf16 autocast.
    cfg = toy_cfg(epochs=1, grad_clip=0.05)  # unclipped gradient norm here is ~0.45
    train, _ = toy_loaders(cfg)
    torch.manual_seed(0)
    model = ToyNet(aux=True)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = build_optimizer(model, "radam", cfg.lr)
    scheduler = build_scheduler(optimizer, "onecycle", cfg.lr, total_steps=len(train))
    ctx = StepContext(DeviceSettings(torch.device("cpu"), torch.bfloat16), StepOptions(grad_clip=0.05, progress=False),
                      scaler=torch.amp.GradScaler("cpu", init_scale=1024.0))
    out = train_one_epoch(model, train, optimizer, scheduler, DeepSupervisionLoss(), ctx, epoch=0)
    assert math.isfinite(out["train_loss"]) and out["samples"] == 640
    assert ctx.scaler.get_scale() == 1024.0  # no overflow, no skipped step
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    total_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert total_norm == pytest.approx(0.05, rel=1e-3)  # the last step's unscaled gradients were clipped to 0.05


def test_fit_learns_toy_problem_with_dict_inputs_and_aux_head(tmp_path):
    cfg = toy_cfg(epochs=5)
    train, valid = toy_loaders(cfg, dict_input=True)
    torch.manual_seed(0)
    model = ToyNet(aux=True)
    result = fit(model, train, valid, cfg, tmp_path, DeepSupervisionLoss(), device="cpu", progress=False)
    assert result.best_top1 > 0.8, result.history  # chance is 0.2
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    metrics, logits = validate(model, valid)
    assert logits.shape == (101, N_CLASSES) and metrics["top1"] == pytest.approx(result.best_top1)
    assert 0 < metrics["top1"] <= metrics["top3"] <= 1


# ------------------------------------------------------------------------------------------ speed settings of the step
class ToyImages(Dataset):
    """(3, 8, 4) images labelled by argmax of a fixed linear map of the pixels: the CNN's input shape, tiny."""

    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 3, 8, 4, generator=g)
        w = torch.randn(96, N_CLASSES, generator=torch.Generator().manual_seed(11))
        self.y = (self.x.flatten(1) @ w).argmax(dim=1)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


class ToyCNN(nn.Module):
    """Conv + BatchNorm + linear head; records the memory format and dtype its first conv sees."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Sequential(nn.BatchNorm2d(16), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 4, N_CLASSES))
        self.seen = []
        self.conv.register_forward_hook(lambda m, inp, out: self.seen.append(
            (inp[0].is_contiguous(memory_format=torch.channels_last), out.dtype)))

    def forward(self, x):
        return self.body(self.conv(x))


def _fit_images(tmp_path, name, epochs=2, **speed):
    cfg = toy_cfg(epochs=epochs, lr=0.01, **speed)
    train = make_loader(ToyImages(128, 0), 32, train=True, seed=cfg.seed)
    valid = make_loader(ToyImages(40, 1), 64, train=False)
    torch.manual_seed(0)
    model = ToyCNN()
    result = fit(model, train, valid, cfg, tmp_path / name, DeepSupervisionLoss(), device="cpu", progress=False)
    seen = list(model.seen)
    model.seen.clear()
    return model, result, validate(model, valid)[1], seen


def test_speed_keys_resolve_to_gpu_settings_on_cuda_and_off_on_cpu(monkeypatch):
    auto = toy_cfg(amp="auto", channels_last="auto", compile="auto", pin_memory="auto")
    cpu = DeviceSettings.from_config(auto, "cpu")
    assert (cpu.amp_dtype, cpu.channels_last, cpu.compile_mode, cpu.pin_memory) == (None, False, None, False)
    assert not cpu.grad_scaler().is_enabled()
    # A CUDA device is only named here (nothing is allocated), so this runs on a CPU-only machine.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    gpu = DeviceSettings.from_config(auto, "cuda:0")
    assert (gpu.amp_dtype, gpu.channels_last, gpu.compile_mode, gpu.pin_memory) == (torch.bfloat16, True, "default",
                                                                                     True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "an old GPU")
    assert DeviceSettings.from_config(auto, "cuda:0").amp_dtype == torch.float16  # fp16 (+ GradScaler) without bf16
    with pytest.raises(ValueError, match="an old GPU has no bf16"):
        DeviceSettings.from_config(toy_cfg(amp="bf16"), "cuda:0")
    forced = DeviceSettings.from_config(toy_cfg(amp="bf16", channels_last="on", compile="max-autotune"), "cpu")
    assert (forced.amp_dtype, forced.channels_last, forced.compile_mode) == (torch.bfloat16, True, "max-autotune")
    off = DeviceSettings.from_config(toy_cfg(amp="off", channels_last="off", compile="off", pin_memory="off"),
                                     "cuda:0")
    assert (off.amp_dtype, off.channels_last, off.compile_mode, off.pin_memory) == (None, False, None, False)


def test_speed_keys_per_profile_values_and_legacy_amp():
    from islr.config import get_config

    for block in ("cnn_train", "transformer_train"):
        full = getattr(get_config("full"), block)
        assert (full.amp, full.channels_last, full.compile, full.optimizer_impl, full.pin_memory) == ("auto",) * 5
        for profile in ("default", "smoke"):  # float32 eager even on a GPU machine, as before
            cpu = getattr(get_config(profile), block)
            # NHWC for the CNN: measured faster on the CPU too; the transformers have no 4-D input
            assert (cpu.amp, cpu.channels_last, cpu.compile) == ("off", "on" if block == "cnn_train" else "off", "off")
    assert TrainConfig(amp=True).amp == "auto" and TrainConfig(amp=False).amp == "off"  # configs saved before
    assert get_config("full", {"cnn_train.amp": False}).cnn_train.amp == "off"
    with pytest.raises(ValueError, match="train.compile = 'fast'"):
        get_config("full", {"cnn_train.compile": "fast"})
    with pytest.raises(ValueError, match="train.amp = 'fp8'"):
        TrainConfig(amp="fp8")


def test_channels_last_step_matches_plain_step(tmp_path):
    plain, _, logits, seen = _fit_images(tmp_path, "plain")
    assert not any(nhwc for nhwc, _ in seen)
    nhwc, _, logits_cl, seen_cl = _fit_images(tmp_path, "channels_last", channels_last="on")
    assert all(cl for cl, _ in seen_cl)  # training and evaluation inputs reached the conv in NHWC
    assert nhwc.conv.weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(logits_cl, logits, atol=1e-4)  # same training, other memory layout


def test_bf16_autocast_step_on_cpu(tmp_path):
    _, _, logits, _ = _fit_images(tmp_path, "fp32", epochs=1)
    model, result, logits_bf16, seen = _fit_images(tmp_path, "bf16", epochs=1, amp="bf16")
    assert {dtype for _, dtype in seen} == {torch.bfloat16}  # the convolution ran in bf16
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay float32
    assert math.isfinite(result.history[0]["train_loss"])
    assert np.abs(logits_bf16 - logits).max() < 0.1 * np.abs(logits).max()  # bf16 rounding, not another model
    assert (logits_bf16.argmax(1) == logits.argmax(1)).mean() >= 0.9


def test_fp16_autocast_uses_the_grad_scaler(tmp_path):
    model, result, logits, seen = _fit_images(tmp_path, "fp16", epochs=1, amp="fp16")
    assert {dtype for _, dtype in seen} == {torch.float16}
    scaler = torch.load(tmp_path / "fp16" / "last.pt", weights_only=True)["scaler"]
    assert scaler and scaler["scale"] > 1.0  # a live GradScaler was checkpointed (disabled scalers save {})
    assert math.isfinite(result.history[0]["train_loss"]) and np.isfinite(logits).all()
    assert not torch.load(tmp_path / "fp16" / "best.pt", weights_only=True)["model"]["conv.weight"].isnan().any()


def test_compiled_step_matches_eager_step(tmp_path, monkeypatch):
    # The inductor backend needs minutes of C++ compilation on this CPU; "eager" traces the model with TorchDynamo
    # and runs the captured graph, which checks the wiring (what is compiled, what is checkpointed and evaluated).
    calls = []
    real_compile = torch.compile

    def spy(model, **kwargs):
        calls.append(kwargs)
        return real_compile(model, **kwargs)

    monkeypatch.setattr(torch, "compile", spy)
    _, plain, logits, _ = _fit_images(tmp_path, "eager")
    assert calls == []
    model, compiled, logits_c, _ = _fit_images(tmp_path, "compiled", compile="reduce-overhead", compile_backend="eager")
    assert calls == [{"backend": "eager"}]  # a mode is inductor's option (torch 2.4 passes it on to any backend)
    assert [r["train_loss"] for r in compiled.history] == pytest.approx([r["train_loss"] for r in plain.history],
                                                                        rel=1e-6)
    np.testing.assert_allclose(logits_c, logits, atol=1e-5)
    saved = torch.load(tmp_path / "compiled" / "best.pt", weights_only=True)["model"]
    assert set(saved) == set(model.state_dict())  # plain keys, no "_orig_mod." prefix of the compiled wrapper


def test_device_line_says_where_and_how_training_runs():
    line = DeviceSettings.from_config(toy_cfg(amp="bf16", channels_last="on", compile="max-autotune"), "cpu").describe()
    assert line == "training on cpu: bfloat16 autocast, channels-last, torch.compile max-autotune/inductor"
    assert DeviceSettings.from_config(toy_cfg(), "cpu").describe() == "training on cpu: float32, NCHW, eager"


def test_compile_mode_goes_to_inductor_alone():
    assert compile_kwargs("reduce-overhead", "inductor") == {"backend": "inductor", "mode": "reduce-overhead"}
    assert compile_kwargs("default", "inductor") == {"backend": "inductor"}
    assert compile_kwargs("max-autotune", "aot_eager") == {"backend": "aot_eager"}


@pytest.mark.parametrize("name", ["radam", "ranger"])
def test_foreach_optimizer_matches_for_loop(name):
    steps = {}
    for impl in ("for_loop", "foreach"):
        torch.manual_seed(0)
        model = ToyNet()
        opt = build_optimizer(model, name, 0.01, weight_decay=0.01, impl=impl)
        inner = getattr(opt, "base_optimizer", opt)
        assert inner.defaults["foreach"] is (impl == "foreach")
        g = torch.Generator().manual_seed(1)
        for _ in range(7):  # past the first Lookahead sync (k = 5)
            x = torch.randn(16, N_FEATURES, generator=g)
            loss = F.cross_entropy(model(x), (x @ TRUE_W).argmax(1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        steps[impl] = [p.detach().clone() for p in model.parameters()]
    for a, b in zip(steps["for_loop"], steps["foreach"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_fused_optimizer_only_where_it_exists():
    assert kernel_kwargs(torch.optim.AdamW, "auto", torch.device("cuda")) == {"fused": True}
    assert kernel_kwargs(torch.optim.AdamW, "auto", torch.device("cpu")) == {}
    assert kernel_kwargs(torch.optim.RAdam, "auto", torch.device("cuda")) == {}  # torch's default: foreach on CUDA
    assert kernel_kwargs(torch.optim.RAdam, "for_loop", torch.device("cuda")) == {"foreach": False}
    with pytest.raises(ValueError, match="RAdam has no fused kernel"):
        build_optimizer(ToyNet(), "radam", 0.01, impl="fused")


def _straight_and_killed(tmp_path, cfg):
    class Killed(Exception):
        pass

    def killer(limit):
        calls = {"n": 0}

        def transform(batch, generator):
            calls["n"] += 1
            if calls["n"] > limit:
                raise Killed
            return noisy(batch, generator)
        return transform

    runs = {}
    for name in ("straight", "resumed"):
        train, valid = toy_loaders(cfg)
        torch.manual_seed(0)
        model = ToyNet()
        out = tmp_path / name
        if name == "resumed":
            with pytest.raises(Killed):  # dies in the middle of epoch 1 (20 steps per epoch)
                fit(model, train, valid, cfg, out, DeepSupervisionLoss(), device="cpu", batch_transform=killer(25),
                    progress=False)
            torch.manual_seed(99)
            model = ToyNet()  # a fresh process: different initial weights, everything must come from last.pt
        result = fit(model, train, valid, cfg, out, DeepSupervisionLoss(), device="cpu", batch_transform=noisy,
                     progress=False)
        runs[name] = (result, torch.load(out / "last.pt", weights_only=True))
    return runs


def test_resume_after_kill_reproduces_uninterrupted_run(tmp_path):
    cfg = toy_cfg(epochs=3, optimizer="lookahead_radam")
    runs = _straight_and_killed(tmp_path, cfg)
    (straight, ckpt_a), (resumed, ckpt_b) = runs["straight"], runs["resumed"]
    for key, value in ckpt_a["model"].items():
        assert torch.equal(value, ckpt_b["model"][key]), key
    assert ckpt_a["state"] == ckpt_b["state"] and ckpt_b["state"]["next_epoch"] == 3
    assert [r["train_loss"] for r in straight.history] == [r["train_loss"] for r in resumed.history]
    rows = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [0, 1, 2]


def test_resume_refuses_a_folder_of_another_config(tmp_path):
    cfg = toy_cfg(epochs=1)
    train, valid = toy_loaders(cfg, n_train=64, n_valid=16)
    run = {"data": {"data_dir": "/a", "num_workers": 2}}
    fit(ToyNet(), train, valid, cfg, tmp_path, DeepSupervisionLoss(), device="cpu", run_config=run, progress=False)
    before = (tmp_path / "last.pt").read_bytes()
    # Same config, more loader workers: a finished run is simply reused.
    fit(ToyNet(), train, valid, cfg, tmp_path, DeepSupervisionLoss(), device="cpu",
        run_config={"data": {"data_dir": "/a", "num_workers": 8}}, progress=False)
    for changed_run, changed_cfg, key in (({"data": {"data_dir": "/b", "num_workers": 2}}, cfg, "run.data.data_dir"),
                                          (run, toy_cfg(epochs=2), "train.epochs")):
        with pytest.raises(RunConfigMismatch, match=key.replace(".", r"\.")):
            fit(ToyNet(), train, valid, changed_cfg, tmp_path, DeepSupervisionLoss(), device="cpu",
                run_config=changed_run, progress=False)
    assert (tmp_path / "last.pt").read_bytes() == before  # nothing was overwritten


def test_early_stopping_and_metrics_files(tmp_path):
    cfg = toy_cfg(epochs=10, lr=0.0, early_stop=2)  # lr 0: top1 never improves after epoch 0
    train, valid = toy_loaders(cfg)
    torch.manual_seed(0)
    result = fit(ToyNet(), train, valid, cfg, tmp_path, DeepSupervisionLoss(), device="cpu", progress=False)
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 0
    table = pd.read_csv(tmp_path / "metrics.csv")
    assert list(table.columns) == list(METRIC_FIELDS) and table["epoch"].tolist() == [0, 1, 2]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3
    assert (table["samples_per_s"] > 0).all() and table["top1"].nunique() == 1
    # Resuming a stopped run trains nothing more.
    again = fit(ToyNet(), train, valid, cfg, tmp_path, DeepSupervisionLoss(), device="cpu", progress=False)
    assert again.epochs_run == 3 and len(pd.read_csv(tmp_path / "metrics.csv")) == 3


def test_metrics_one_row_per_epoch_and_step_cap(tmp_path):
    cfg = toy_cfg(epochs=2, max_steps_per_epoch=3, schedule="flat_cosine", optimizer="ranger", grad_clip=1.0)
    train, valid = toy_loaders(cfg)
    result = fit(ToyNet(), train, valid, cfg, tmp_path, DeepSupervisionLoss(), device="cpu", progress=False)
    table = pd.read_csv(tmp_path / "metrics.csv")
    assert table["epoch"].tolist() == [0, 1] and len(result.history) == 2
    # 3 capped steps of 32 samples per epoch; the schedule's total is 2 × 3 steps, so the lr reached 0 at the end.
    assert table["lr"].iloc[-1] == pytest.approx(0.0, abs=1e-12)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["scheduler"]["last_epoch"] == 6 and ckpt["config"]["train"]["max_steps_per_epoch"] == 3


def test_full_data_training_without_validation(tmp_path):
    cfg = toy_cfg(epochs=2)
    train, _ = toy_loaders(cfg)
    result = fit(ToyNet(), train, None, cfg, tmp_path, DeepSupervisionLoss(), device="cpu", progress=False)
    assert result.best_epoch == 1 and result.best_top1 is None and result.oof_metrics == {}
    assert (tmp_path / "best.pt").exists() and not (tmp_path / "oof_logits.npy").exists()
    assert pd.read_csv(tmp_path / "metrics.csv")["top1"].isna().all()


def test_oof_logits_are_best_checkpoint_in_dataset_order(tmp_path):
    cfg = toy_cfg(epochs=3)
    train, _ = toy_loaders(cfg)
    full_valid = ToyData(200, 1)
    order = np.arange(0, 200, 3)[::-1].copy()  # a Subset in a non-sorted order
    valid = make_loader(Subset(full_valid, order.tolist()), 16, train=False)
    torch.manual_seed(0)
    model = ToyNet()
    result = fit(model, train, valid, cfg, tmp_path, DeepSupervisionLoss(), device="cpu",
                 run_config={"note": "toy"}, progress=False)
    logits, index = np.load(tmp_path / "oof_logits.npy"), np.load(tmp_path / "oof_index.npy")
    assert logits.shape == (len(order), N_CLASSES) and logits.dtype == np.float32
    assert np.array_equal(index, order)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    top1s = [r["top1"] for r in result.history]
    assert best["epoch"] == int(np.argmax(top1s)) == result.best_epoch and best["config"]["run"] == {"note": "toy"}
    fresh = ToyNet()
    fresh.load_state_dict(best["model"])
    fresh.eval()
    with torch.no_grad():
        expected = fresh(full_valid.x[order]).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    accuracy = (logits.argmax(1) == full_valid.y[order].numpy()).mean()
    assert accuracy == pytest.approx(result.best_top1)


def test_distillation_learns_from_teacher_only(tmp_path):
    # The training labels are shuffled garbage; with kd_weight 1 the student can only learn from the teacher,
    # whose logits (the true linear map) must reach the loss on the same inputs.
    cfg = toy_cfg(epochs=5)
    data = ToyData(640, 0)
    data.y = data.y[torch.randperm(len(data.y), generator=torch.Generator().manual_seed(0))]
    train = make_loader(data, cfg.batch_size, train=True, seed=cfg.seed)
    valid = make_loader(ToyData(101, 1), 64, train=False)
    teacher = nn.Linear(N_FEATURES, N_CLASSES, bias=False)
    with torch.no_grad():
        teacher.weight.copy_(TRUE_W.T * 3)
    teacher_before = teacher.weight.detach().clone()
    torch.manual_seed(0)
    loss = DistillationLoss(DeepSupervisionLoss(), temperature=2.0, kd_weight=1.0)
    result = fit(ToyNet(), train, valid, cfg, tmp_path, loss, teacher=teacher, device="cpu", progress=False)
    assert result.best_top1 > 0.8, result.history
    assert torch.equal(teacher.weight, teacher_before) and not teacher.weight.requires_grad and not teacher.training


DDP_SCRIPT = """
import sys
from pathlib import Path

import torch

sys.path.insert(0, {tests!r})
from test_train import DeepSupervisionLoss, ToyNet, fit, toy_cfg, toy_loaders
from islr.train.device import cleanup_distributed, setup_distributed

info = setup_distributed()
assert info.world_size == 2
torch.manual_seed(info.rank)  # different initial weights per rank: DDP must broadcast rank 0's
cfg = toy_cfg(epochs=2)
train, valid = toy_loaders(cfg)
model = ToyNet()
fit(model, train, valid, cfg, Path({out!r}), DeepSupervisionLoss(), device="cpu", progress=False)
torch.save(model.state_dict(), Path({weights!r}) / f"rank{{info.rank}}.pt")
cleanup_distributed()
"""


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tmp_path):
    out, weights = tmp_path / "run", tmp_path / "weights"
    weights.mkdir()
    script = tmp_path / "ddp_toy.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out),
                                                        weights=str(weights))))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    # Own process group: on a timeout, kill the launcher AND its workers (killing torchrun alone orphans them).
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                             str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [0, 1]  # rank 0 only: no duplicated rows
    assert sorted(p.name for p in out.glob("metrics*")) == ["metrics.csv", "metrics.jsonl"]
    w0, w1 = (torch.load(weights / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for key in w0:
        assert torch.equal(w0[key], w1[key]), key
    # The gathered validation logits are in dataset order (101 samples: the 2-way shard pads one).
    model = ToyNet()
    model.load_state_dict(w0)
    model.eval()
    valid = ToyData(101, 1)
    with torch.no_grad():
        expected = model(valid.x).numpy()
    np.testing.assert_allclose(np.load(out / "oof_logits.npy"), expected, rtol=1e-5, atol=1e-6)
    assert np.array_equal(np.load(out / "oof_index.npy"), np.arange(101))


def test_sample_check_length_is_config():
    from islr.config import get_config
    from islr.train.run import sample_check_overrides

    default = sample_check_overrides(get_config("default"), "cnn")
    assert default == {"cnn_train.epochs": 15, "cnn_train.batch_size": 8, "cnn_train.max_steps_per_epoch": 0,
                       "cnn_train.compile": "off", "cnn_train.lr": 1e-3}
    smoke = sample_check_overrides(get_config("smoke"), "bert")  # lr None: the block's own lr is kept
    assert smoke == {"transformer_train.epochs": 2, "transformer_train.batch_size": 8,
                     "transformer_train.max_steps_per_epoch": 2, "transformer_train.compile": "off"}
    short = get_config("full", {"sample_check.epochs": 1, "sample_check.max_steps_per_epoch": 3})
    assert sample_check_overrides(short, "bert")["transformer_train.epochs"] == 1
    assert short.override(sample_check_overrides(short, "cnn")).cnn_train.max_steps_per_epoch == 3


def test_a_key_missing_from_a_saved_config_is_compared_through_its_default():
    from islr.train.checkpoint import config_changes

    saved = {"train": {"epochs": 10}}  # written before length_grouping existed: its runs had no grouping
    defaults = {"train": {"epochs": 182, "length_grouping": 0}}
    assert config_changes(saved, {"train": {"epochs": 10, "length_grouping": 0}}, defaults) == []
    assert config_changes(saved, {"train": {"epochs": 10, "length_grouping": 8}}, defaults) == [
        "train.length_grouping: 0 → 8"]
    assert config_changes(saved, {"train": {"epochs": 10, "length_grouping": 8}}) == []  # no defaults: not compared
    assert config_changes({"train": {"epochs": 10, "gone": 1}}, {"train": {"epochs": 10}}, defaults) == []
