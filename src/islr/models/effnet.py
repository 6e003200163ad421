"""EfficientNet-B0 on the 160×80×3 landmark "image", with the hypercolumn auxiliary head (docs/method.md §1, §4).

The reference (2nd place, asl-signs) trains lukemelas ``efficientnet_pytorch`` EfficientNet-B0 on a (3, 160, 80)
input: channels x, y, z; height = time (160 frames); width = the 80 CNN points. We use timm's
``efficientnet_b0`` instead, built with ``pretrained=False`` (nothing is ever downloaded):

* **BatchNorm eps 1e-3, momentum 0.01** as the reference, passed through timm's ``bn_eps`` / ``bn_momentum``
  builder kwargs (timm resolves them into every ``BatchNormAct2d`` of the backbone; no post-hoc patching).
* **Parameter count** of the main network with 250 classes: 4,327,798, identical to the reference.
* **Numeric difference from the reference — padding.** lukemelas uses "same" padding computed once for 224×224
  (stride-2 3×3 convs pad (0, 1), stride-2 5×5 pad (1, 2), the stem pads (0, 1)); timm pads symmetrically k//2.
  At 160×80 the stage maps are therefore 80×40, 40×20, 20×10, 10×5 and **5×3** (head 1280×5×3), where the
  reference
  has 5×2 for blocks 11–15. The taps see the image shifted by one pixel at the stride-2 convs, so reference
  weights are shape-compatible but not numerically interchangeable. This is our choice; the Keras port follows timm.
* Stochastic depth 0.2, linear in the block index (timm and lukemelas use the same rule: rate·i/16).

Hypercolumn deep supervision (training only, docs/method.md §4 "Hypercolumn"): the outputs of the last block of each
distinct channel width are taken from timm's ``forward_intermediates(extra_blocks=True)`` (one output per timm
stage; a stage that does not change the width is merged into the next). ``hypercolumn_blocks=n`` keeps the last n of
them: n=4 gives 80+112+192+320 = 704 channels (the reference code), n=5 adds the 40-channel stage (the reference
README). Each map is resized bilinearly (align_corners=True) to 16×8, the maps are concatenated, and the head is
BN(C, eps 1e-5) → squeeze-excitation(C, squeeze 64, ReLU/sigmoid) → Conv3×3(C→256, pad 1, no activation) →
global average pool → Dropout(0.1) → Linear(256→250) (1,778,810 parameters for n=4, as the reference).

Forward contract: in ``train()`` mode with the head on, ``forward`` returns the tuple ``(main_logits, aux_logits)``;
otherwise (eval mode, or ``hypercolumn_blocks=0``) it returns ``main_logits`` only. The training loss is
``(1 - aux_weight)·L(main) + aux_weight·L(aux)`` with ``aux_weight = 0.4`` (reference: 0.6/0.4); the training code
applies it. Only the main head is scored and exported: :meth:`HypercolumnEfficientNet.inference_state_dict` drops
the ``hypercolumn.`` keys.
"""

from __future__ import annotations

from pathlib import Path

import islr._compat  # noqa: F401  (before timm: torchvision next to a CPU-only torch, see there)
import timm
import torch
import torch.nn.functional as F
from timm.layers import SqueezeExcite
from timm.models.efficientnet import _gen_efficientnet
from torch import nn

from islr.models.registry import register_model

#: BatchNorm settings of the reference backbone (lukemelas: momentum 1 - 0.99 in torch convention, eps 1e-3).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
#: Spatial size every hypercolumn map is resized to (time × points).
HYPERCOLUMN_SIZE = (16, 8)

_HYPER_PREFIX = "hypercolumn."
_BACKBONE_PREFIX = "backbone."


class PretrainedLoadError(ValueError):
    """A local weight file could not be loaded into the backbone; ``str`` names the file and the problem."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot load pretrained weights from {self.path}: {reason}")


class HypercolumnHead(nn.Module):
    """Auxiliary classifier on multi-scale backbone features (docs/method.md §4 "Hypercolumn").

    Args:
        in_channels: Sum of the channels of the concatenated stage outputs (704 for the reference's 4 stages).
        num_classes: Output classes.
        size: (H, W) every stage output is resized to before concatenation.
        squeeze_channels: Bottleneck width of the squeeze-excitation block.
        mid_channels: Output channels of the 3×3 conv.
        drop_rate: Dropout before the final linear layer.
    """

    def __init__(self, in_channels: int, num_classes: int = 250, size: tuple[int, int] = HYPERCOLUMN_SIZE,
                 squeeze_channels: int = 64, mid_channels: int = 256, drop_rate: float = 0.1) -> None:
        super().__init__()
        self.size = tuple(size)
        self.in_channels = in_channels
        self.bn = nn.BatchNorm2d(in_channels, eps=1e-5)
        # timm's SEModule: GAP → 1×1 conv → ReLU → 1×1 conv → sigmoid gate
        # (same maths and parameter count as the
        # torchvision SqueezeExcitation the reference used).
        self.se = SqueezeExcite(in_channels, rd_channels=squeeze_channels, act_layer=nn.ReLU, gate_layer="sigmoid")
        self.conv = nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(mid_channels, num_classes)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Classify from stage outputs.

        Args:
            features: Stage outputs, each (B, C_i, H_i, W_i), shallow to deep.

        Returns:
            Logits (B, num_classes).
        """
        resized = [F.interpolate(f, size=self.size, mode="bilinear", align_corners=True) for f in features]
        x = torch.cat(resized, dim=1)  # (B, ΣC_i, 16, 8)
        x = self.conv(self.se(self.bn(x)))  # (B, 256, 16, 8)
        x = x.mean(dim=(2, 3))  # (B, 256)
        return self.fc(self.drop(x))


def distinct_width_stages(channels: list[int]) -> list[int]:
    """Indices of the last output of each run of equal channel width.

    Args:
        channels: Channels of the candidate outputs in forward order.

    Returns:
        Indices ``i`` with ``channels[i] != channels[i + 1]`` (the last index is always kept).
    """
    return [i for i, c in enumerate(channels) if i == len(channels) - 1 or channels[i + 1] != c]


def _stage_channels(backbone: nn.Module) -> list[int]:
    # timm EfficientNet: `blocks` is a Sequential of stages. In every block type the last Conv2d in module order is
    # the output projection (conv_pw / conv_pwl, after the SE convs), so its out_channels is the stage width.
    widths = []
    for stage in backbone.blocks:
        convs = [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
        widths.append(convs[-1].out_channels)
    return widths


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PretrainedLoadError(path, "no such file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            # weights_only: a user-supplied file must not be able to run code
            # (docs/architecture.md, pattern "Weight files hold data, not code").
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any reader failure becomes one clear error naming the file
        raise PretrainedLoadError(path, f"unreadable ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedLoadError(path, "not a flat state_dict of tensors")
    return state


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> list[str]:
    """Load a LOCAL timm ``efficientnet_b0``-shaped state_dict (.pth/.pt/.bin or .safetensors) into ``backbone``.

    A leading ``backbone.`` prefix (our own :meth:`HypercolumnEfficientNet.inference_state_dict`) is stripped.
    ``classifier.*`` tensors whose shapes differ from the model's (e.g. ImageNet's 1000 classes) are dropped and
    the model's freshly initialised classifier is kept; everything else must match exactly (strict).

    Args:
        backbone: A timm EfficientNet.
        path: Local weight file. Nothing is ever fetched from a hub.

    Returns:
        The keys that were dropped (the classifier when its shape differed), for logging.

    Raises:
        PretrainedLoadError: missing/unreadable file, or missing/unexpected/mis-shaped keys (named in the message).
    """
    path = Path(path)
    state = _read_state_dict(path)
    if state and all(k.startswith(_BACKBONE_PREFIX) for k in state):
        state = {k[len(_BACKBONE_PREFIX):]: v for k, v in state.items()}
    own = backbone.state_dict()
    dropped = [k for k in state if k.startswith("classifier.") and k in own and state[k].shape != own[k].shape]
    for k in dropped:
        state[k] = own[k]  # keep our classifier; the rest stays strict
    bad_shapes = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                  for k, v in state.items() if k in own and v.shape != own[k].shape]
    # BatchNorm's `num_batches_tracked` is bookkeeping that exported files often omit.
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    problems = []
    for label, keys in (("shape mismatch", bad_shapes), ("missing keys", missing), ("unexpected keys", unexpected)):
        if keys:
            problems.append(f"{label} ({len(keys)}): {', '.join(keys[:5])}{' …' if len(keys) > 5 else ''}")
    if problems:
        raise PretrainedLoadError(path, "; ".join(problems))
    backbone.load_state_dict(state, strict=False)
    return dropped


class HypercolumnEfficientNet(nn.Module):
    """timm EfficientNet with an optional hypercolumn auxiliary head (module docstring has the details).

    Args:
        backbone: A timm EfficientNet (``forward_intermediates``, ``forward_features``, ``forward_head``).
        hypercolumn_blocks: How many of the deepest distinct-width stage outputs feed the auxiliary head (0 = off).
        hypercolumn_weight: Weight of the auxiliary loss (exposed as ``aux_weight``; main weight is 1 - it).
        num_classes: Output classes of the auxiliary head (the backbone's classifier must match).
        pretrained_path: Local weight file for the backbone ("" = random init). See :func:`load_backbone_weights`.
    """

    def __init__(self, backbone: nn.Module, hypercolumn_blocks: int = 4, hypercolumn_weight: float = 0.4,
                 num_classes: int = 250, pretrained_path: str | Path = "") -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.aux_weight = float(hypercolumn_weight)
        if pretrained_path:
            load_backbone_weights(self.backbone, pretrained_path)
        widths = _stage_channels(backbone)
        stages = distinct_width_stages(widths)
        if not 0 <= hypercolumn_blocks <= len(stages):
            raise ValueError(f"hypercolumn_blocks must be in 0..{len(stages)} (distinct-width stages "
                             f"{[widths[i] for i in stages]}), got {hypercolumn_blocks}")
        chosen = stages[len(stages) - hypercolumn_blocks:]
        # forward_intermediates(extra_blocks=True) numbers the stem 0 and stage i as i + 1.
        self.hypercolumn_indices = [i + 1 for i in chosen]
        self.hypercolumn_channels = [widths[i] for i in chosen]
        self.hypercolumn = (HypercolumnHead(sum(self.hypercolumn_channels), num_classes)
                            if hypercolumn_blocks > 0 else None)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone up to the head conv: (B, 3, 160, 80) → (B, 1280, 5, 3)."""
        return self.backbone.forward_features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Main head: global pool → dropout → linear. (B, 1280, h, w) → (B, num_classes) (or (B, 1280))."""
        return self.backbone.forward_head(x, pre_logits=pre_logits)

    def forward_hypercolumn(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Main and auxiliary logits in one backbone pass (used in training; works in either mode).

        Args:
            x: (B, 3, H, W) input.

        Returns:
            ``(main_logits, aux_logits)``, each (B, num_classes).
        """
        if self.hypercolumn is None:
            raise RuntimeError("this model was built with hypercolumn_blocks=0")
        feats, stages = self.backbone.forward_intermediates(x, indices=self.hypercolumn_indices, extra_blocks=True)
        return self.forward_head(feats), self.hypercolumn(stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 160, 80) → main logits (B, 250); in training with the head on, ``(main, aux)``."""
        if self.training and self.hypercolumn is not None:
            return self.forward_hypercolumn(x)
        return self.forward_head(self.forward_features(x))

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """The state_dict without the training-only ``hypercolumn.`` keys (for export and scoring).

        Loads strictly into the same model built with ``hypercolumn_blocks=0``; as a ``pretrained_path`` file it
        also loads into any model of the same backbone.
        """
        return {k: v for k, v in self.state_dict().items() if not k.startswith(_HYPER_PREFIX)}


@register_model("effnet_b0", family="cnn")
def effnet_b0(num_classes: int = 250, in_chans: int = 3, drop_rate: float = 0.1055, drop_path_rate: float = 0.2,
              hypercolumn_blocks: int = 4, hypercolumn_weight: float = 0.4,
              pretrained_path: str | Path = "", bn_momentum: float = BN_MOMENTUM) -> HypercolumnEfficientNet:
    """EfficientNet-B0 of the reference (docs/method.md §4; defaults = best_CFG and the code's 4-stage hypercolumn).

    Args:
        num_classes: Output classes.
        in_chans: Input channels (x, y, z).
        drop_rate: Dropout before the main classifier.
        drop_path_rate: Stochastic depth of the last block (linear in block index).
        hypercolumn_blocks: Deepest distinct-width stages fed to the auxiliary head (4 = code, 5 = README, 0 = off).
        hypercolumn_weight: Auxiliary loss weight.
        pretrained_path: Local timm efficientnet_b0 state_dict file ("" = random init).
        bn_momentum: BatchNorm running-stat momentum (PyTorch convention). The reference's 0.01 suits its ~1,300
            steps per epoch; short runs (a few hundred steps) need ~0.1 or the eval-mode statistics lag behind.
    """
    backbone = timm.create_model("efficientnet_b0", pretrained=False, in_chans=in_chans, num_classes=num_classes,
                                 drop_rate=drop_rate, drop_path_rate=drop_path_rate,
                                 bn_eps=BN_EPS, bn_momentum=bn_momentum)
    return HypercolumnEfficientNet(backbone, hypercolumn_blocks=hypercolumn_blocks,
                                   hypercolumn_weight=hypercolumn_weight, num_classes=num_classes,
                                   pretrained_path=pretrained_path)


def _scaled_b0(channel_multiplier: float, depth_multiplier: float, num_classes: int, in_chans: int,
               drop_rate: float, drop_path_rate: float, hypercolumn_blocks: int, hypercolumn_weight: float,
               pretrained_path: str | Path, bn_momentum: float) -> HypercolumnEfficientNet:
    # timm's own B0 generator with smaller multipliers: the architecture definition stays timm's.
    backbone = _gen_efficientnet("efficientnet_b0", channel_multiplier=channel_multiplier,
                                 depth_multiplier=depth_multiplier, pretrained=False, in_chans=in_chans,
                                 num_classes=num_classes, drop_rate=drop_rate, drop_path_rate=drop_path_rate,
                                 bn_eps=BN_EPS, bn_momentum=bn_momentum)
    return HypercolumnEfficientNet(backbone, hypercolumn_blocks=hypercolumn_blocks,
                                   hypercolumn_weight=hypercolumn_weight, num_classes=num_classes,
                                   pretrained_path=pretrained_path)


@register_model("effnet_b0_half", family="cnn")
def effnet_b0_half(num_classes: int = 250, in_chans: int = 3, drop_rate: float = 0.1055,
                   drop_path_rate: float = 0.2, hypercolumn_blocks: int = 4, hypercolumn_weight: float = 0.4,
                   pretrained_path: str | Path = "", bn_momentum: float = BN_MOMENTUM) -> HypercolumnEfficientNet:
    """EfficientNet-B0 at width ×0.5, depth ×0.5 (~0.8 M parameters; same block types): the CPU-sized CNN of the
    offline ``default`` profile, ~4× faster to train than B0 on a 2-core CPU. Arguments as :func:`effnet_b0`.
    """
    return _scaled_b0(0.5, 0.5, num_classes, in_chans, drop_rate, drop_path_rate, hypercolumn_blocks,
                      hypercolumn_weight, pretrained_path, bn_momentum)


@register_model("effnet_test", family="cnn")
def effnet_test(num_classes: int = 250, in_chans: int = 3, drop_rate: float = 0.1055, drop_path_rate: float = 0.2,
                hypercolumn_blocks: int = 4, hypercolumn_weight: float = 0.4,
                pretrained_path: str | Path = "", bn_momentum: float = BN_MOMENTUM) -> HypercolumnEfficientNet:
    """A tiny EfficientNet-B0 (same block types; width ×0.25, depth ×0.34; ~0.28 M parameters) for fast tests.

    Stage widths 8, 8, 16, 24, 32, 48, 80: the first two share a width, so the distinct-width rule is exercised.
    Arguments as :func:`effnet_b0`.
    """
    return _scaled_b0(0.25, 0.34, num_classes, in_chans, drop_rate, drop_path_rate, hypercolumn_blocks,
                      hypercolumn_weight, pretrained_path, bn_momentum)
