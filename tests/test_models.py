import copy

import pytest
import torch
from safetensors.torch import save_file

import islr._compat  # noqa: F401  (before transformers: torchvision next to a CPU torch, see there)
from transformers import BertModel, DebertaV2Model

from islr.models import create_model, list_models
from islr.models.effnet import PretrainedLoadError, distinct_width_stages, load_backbone_weights
from islr.models.transformer import init_from, truncate_layers

TRANSFORMER_TESTS = ["bert_test", "deberta_test"]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _frames(batch=3, length=20, pad=0):
    """Features (B, T+pad, 972) with random garbage in the padded frames, and the (B, T+pad) mask."""
    x = torch.randn(batch, length + pad, 972)
    mask = torch.zeros(batch, length + pad)
    mask[:, :length] = 1
    return x, mask


# ---------------------------------------------------------------- registry

def test_registry_lists_every_variant_and_rejects_unknown_names():
    assert {"effnet_b0", "effnet_test", "bert", "deberta", "bert_test", "deberta_test"} <= set(list_models())
    with pytest.raises(KeyError, match="effnet_b0.*effnet_test"):
        create_model("resnet50")


def test_every_registered_model_belongs_to_a_family_of_the_table():
    from islr.models import model_family
    from islr.models.families import FAMILIES

    assert {name: model_family(name) for name in ("effnet_b0", "effnet_test", "bert_test", "deberta")} == {
        "effnet_b0": "cnn", "effnet_test": "cnn", "bert_test": "bert", "deberta": "deberta"}
    assert {model_family(name) for name in list_models()} == set(FAMILIES)
    with pytest.raises(KeyError, match="unknown model 'resnet50'"):
        model_family("resnet50")


# ---------------------------------------------------------------- EfficientNet

def test_distinct_width_stages_keeps_the_last_of_each_width():
    assert distinct_width_stages([8, 8, 16, 24, 24, 80]) == [1, 2, 4, 5]
    assert distinct_width_stages([16, 24, 40, 80, 112, 192, 320]) == list(range(7))  # B0: every stage
    assert distinct_width_stages([8]) == [0]


def test_hypercolumn_blocks_selects_the_deepest_stages():
    assert create_model("effnet_test", hypercolumn_blocks=5).hypercolumn_channels == [16, 24, 32, 48, 80]
    # stages 0 and 1 share width 8, so only 6 distinct-width outputs exist
    assert create_model("effnet_test", hypercolumn_blocks=6).hypercolumn_channels == [8, 16, 24, 32, 48, 80]
    with pytest.raises(ValueError, match="hypercolumn_blocks must be in 0..6"):
        create_model("effnet_test", hypercolumn_blocks=7)


def test_effnet_b0_matches_reference_sizes():
    model = create_model("effnet_b0")
    # docs/method.md §4: 80+112+192+320 channels, 4,327,798 + 1,778,810 parameters, BN eps 1e-3 / momentum 0.01.
    assert model.hypercolumn_channels == [80, 112, 192, 320]
    assert model.hypercolumn.in_channels == 704
    assert sum(p.numel() for p in model.backbone.parameters()) == 4_327_798
    assert sum(p.numel() for p in model.hypercolumn.parameters()) == 1_778_810
    bns = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) > 40 and all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)
    assert model.hypercolumn.bn.eps == 1e-5
    assert model.aux_weight == pytest.approx(0.4)
    # README's 5-stage variant adds the 40-channel stage; 0 turns the head off.
    assert create_model("effnet_test", hypercolumn_blocks=0).hypercolumn is None


def test_effnet_test_train_returns_both_heads_and_backpropagates():
    model = create_model("effnet_test")
    assert len(set(model.hypercolumn_channels)) >= 2
    main, aux = model(torch.randn(2, 3, 160, 80))
    assert main.shape == aux.shape == (2, 250)
    ((1 - model.aux_weight) * main.logsumexp(1).sum() + model.aux_weight * aux.logsumexp(1).sum()).backward()
    assert model.backbone.conv_stem.weight.grad.abs().sum() > 0
    assert model.hypercolumn.fc.weight.grad.abs().sum() > 0
    assert model.backbone.classifier.weight.grad.abs().sum() > 0


def test_effnet_eval_returns_main_logits_only_and_heads_match_a_manual_pass():
    model = create_model("effnet_test").eval()
    x = torch.randn(2, 3, 160, 80)
    stage_outputs = []
    hooks = [stage.register_forward_hook(lambda m, i, o: stage_outputs.append(o)) for stage in model.backbone.blocks]
    with torch.no_grad():
        main_eval = model(x)
        main, aux = model.forward_hypercolumn(x)
    for h in hooks:
        h.remove()
    assert isinstance(main_eval, torch.Tensor) and main_eval.shape == (2, 250)
    torch.testing.assert_close(main, main_eval)
    # aux head on the stage outputs taken by hooks (first pass = model(x)): last of each distinct width, last 4.
    per_stage = stage_outputs[:len(model.backbone.blocks)]
    widths = [o.shape[1] for o in per_stage]
    chosen = [per_stage[i] for i in distinct_width_stages(widths)[-4:]]
    assert [o.shape[1] for o in chosen] == model.hypercolumn_channels
    with torch.no_grad():
        torch.testing.assert_close(model.hypercolumn(chosen), aux)


def test_inference_state_dict_drops_hypercolumn_and_loads_into_a_plain_model():
    model = create_model("effnet_test").eval()
    state = model.inference_state_dict()
    assert state and not any(k.startswith("hypercolumn.") for k in state)
    assert any(k.startswith("hypercolumn.") for k in model.state_dict())
    plain = create_model("effnet_test", hypercolumn_blocks=0).eval()
    plain.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 160, 80)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), model(x))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_pretrained_round_trip(tmp_path, suffix):
    source = create_model("effnet_test").eval()
    for m in source.backbone.modules():  # non-trivial BN statistics, so they must travel too
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    path = tmp_path / f"weights{suffix}"
    state = {k: v.contiguous() for k, v in source.backbone.state_dict().items()}
    torch.save(state, path) if suffix == ".pth" else save_file(state, str(path))
    loaded = create_model("effnet_test", pretrained_path=str(path)).eval()
    x = torch.randn(2, 3, 160, 80)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x), rtol=0, atol=0)


def test_pretrained_with_other_classifier_keeps_ours_and_loads_the_rest(tmp_path):
    source = create_model("effnet_test", num_classes=1000)
    state = source.backbone.state_dict()
    del state["bn1.num_batches_tracked"]  # exported files often omit it
    path = tmp_path / "imagenet.pth"
    torch.save(state, path)
    target = create_model("effnet_test")
    own_classifier = target.backbone.classifier.weight.detach().clone()
    dropped = load_backbone_weights(target.backbone, path)
    assert sorted(dropped) == ["classifier.bias", "classifier.weight"]
    torch.testing.assert_close(target.backbone.classifier.weight, own_classifier)
    torch.testing.assert_close(target.backbone.conv_head.weight, source.backbone.conv_head.weight)


def test_bad_pretrained_file_names_the_file(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedLoadError, match="garbage.pth"):
        create_model("effnet_test", pretrained_path=str(garbage))
    wrong = tmp_path / "b0_weights.pth"  # a real state_dict of another width: shape mismatch, strict
    torch.save(create_model("effnet_test", hypercolumn_blocks=0).backbone.state_dict(), wrong)
    with pytest.raises(PretrainedLoadError, match="b0_weights.pth.*shape mismatch") as err:
        load_backbone_weights(create_model("effnet_b0", hypercolumn_blocks=0).backbone, wrong)
    assert err.value.path == wrong
    with pytest.raises(PretrainedLoadError, match="missing.pth.*no such file"):
        create_model("effnet_test", pretrained_path=str(tmp_path / "missing.pth"))


# ---------------------------------------------------------------- transformers

@pytest.mark.parametrize("name", TRANSFORMER_TESTS)
def test_transformer_forward_backward_shapes(name):
    model = create_model(name)
    x, mask = _frames(batch=4, length=30, pad=6)
    logits = model(x, mask)
    assert logits.shape == (4, 250)
    logits.logsumexp(1).sum().backward()
    assert model.proj.weight.grad.abs().sum() > 0 and model.cls_token.grad.abs().sum() > 0
    assert all(c.conv.weight.grad.abs().sum() > 0 for c in model.cpe.values())
    with pytest.raises(ValueError, match="at most 96"):
        model(torch.randn(1, 97, 972))


def test_reference_sizes():
    bert, deberta = create_model("bert"), create_model("deberta")
    # docs/method.md §4: ~2.45 M used parameters (the vocab-1 word embedding exists but is never used).
    for model, expected in ((bert, 2_450_682), (deberta, 2_450_170)):
        unused = model.embeddings.word_embeddings.weight.numel()
        assert sum(p.numel() for p in model.parameters()) - unused == expected
    assert bert.hf_config.layer_norm_eps == 1e-12 and bert.hf_config.hidden_act == "silu"
    assert bert.hf_config.max_position_embeddings == 97 and bert.hf_config.type_vocab_size == 2
    cfg = deberta.hf_config
    assert (cfg.relative_attention, cfg.position_biased_input, cfg.type_vocab_size, cfg.layer_norm_eps) == \
        (False, True, 0, 1e-7)
    assert deberta.embeddings.token_type_embeddings is None
    assert torch.count_nonzero(bert.cls_token) == 0


@pytest.mark.parametrize("name, kwargs", [("bert_test", {}), ("bert_test", {"attn_implementation": "eager"}),
                                          ("deberta_test", {}), ("deberta_test", {"relative_attention": True})])
def test_padding_does_not_change_logits(name, kwargs):
    model = create_model(name, **kwargs).eval()
    x, _ = _frames(batch=3, length=20)
    xp, mask = _frames(batch=3, length=20, pad=12)
    xp[:, :20] = x
    with torch.no_grad():
        plain = model(x)
        padded = model(xp, mask)
        # without the mask the garbage frames are seen: the check above is able to fail
        unmasked = model(xp, torch.ones_like(mask))
    torch.testing.assert_close(padded, plain, rtol=1e-5, atol=1e-5)
    assert (unmasked - plain).abs().max() > 1e-3


def test_masked_cpe_sees_zero_padding_like_the_unpadded_sequence():
    # Attention ignores masked keys by itself; the CPE conv would read a pad's garbage at the last real token.
    cpe = create_model("bert_test").cpe["1"]
    plain = torch.randn(2, 11, 32)  # CLS + 10 frames
    padded = torch.cat([plain, 100 * torch.randn(2, 5, 32)], 1)
    keep = torch.zeros(2, 16, dtype=torch.bool)
    keep[:, :11] = True
    with torch.no_grad():
        masked, unmasked, reference = cpe(padded, keep), cpe(padded, None), cpe(plain, None)
    torch.testing.assert_close(masked[:, :11], reference)
    assert masked[:, 11:].abs().max() == 0
    assert (unmasked[:, 10] - reference[:, 10]).abs().max() > 1e-2


@pytest.mark.parametrize("arch", ["bert", "deberta"])
def test_layer_loop_matches_the_hf_encoder_when_cpe_is_zero(arch):
    model = create_model(f"{arch}_test").eval()
    with torch.no_grad():
        for cpe in model.cpe.values():
            cpe.conv.weight.zero_()
            cpe.conv.bias.zero_()
    hf_class = BertModel if arch == "bert" else DebertaV2Model
    hf = hf_class(model.hf_config, **({"add_pooling_layer": False} if arch == "bert" else {})).eval()
    hf.embeddings.load_state_dict(model.embeddings.state_dict())
    hf.encoder.load_state_dict(model.encoder.state_dict())
    x, mask = _frames(batch=3, length=15, pad=4)
    with torch.no_grad():
        ours = model.forward_features(x, mask)
        tokens = torch.cat([model.cls_token.expand(3, -1, -1), model.proj(x)], 1)
        keep = torch.cat([torch.ones(3, 1), mask], 1).long()
        theirs = hf(inputs_embeds=tokens, attention_mask=keep).last_hidden_state
    torch.testing.assert_close(ours[:, :16], theirs[:, :16], rtol=1e-5, atol=1e-5)


def test_cpe_runs_before_layers_1_to_last_and_never_before_layer_0():
    model = create_model("bert", layers=3, hidden=32, heads=2, intermediate=64).eval()
    assert sorted(model.cpe) == ["1", "2"]
    calls = []
    for i, layer in enumerate(model.encoder.layer):
        layer.register_forward_pre_hook(lambda m, a, i=i: calls.append(f"layer{i}"))
    for key, cpe in model.cpe.items():
        cpe.register_forward_pre_hook(lambda m, a, key=key: calls.append(f"cpe{key}"))
    with torch.no_grad():
        model(torch.randn(1, 8, 972))
    assert calls == ["layer0", "cpe1", "layer1", "cpe2", "layer2"]


@pytest.mark.parametrize("name", TRANSFORMER_TESTS)
def test_truncate_layers_copies_the_first_layers_exactly(name):
    teacher = create_model(name, layers=3)
    student = truncate_layers(teacher, 2)
    assert student.num_layers == 2 and sorted(student.cpe) == ["1"]
    t_state, s_state = teacher.state_dict(), student.state_dict()
    assert not any(k.startswith("encoder.layer.2.") or k == "cpe.2.conv.weight" for k in s_state)
    assert len(s_state) < len(t_state)
    for key, value in s_state.items():
        assert torch.equal(value, t_state[key]), key
        assert value.data_ptr() != t_state[key].data_ptr()  # a copy, not shared storage
    # the student computes what the teacher computes with its last layer cut off (module surgery on a copy)
    cut = copy.deepcopy(teacher).eval()
    cut.encoder.layer = cut.encoder.layer[:2]
    del cut.cpe["2"]
    x, mask = _frames(batch=2, length=12, pad=3)
    with torch.no_grad():
        torch.testing.assert_close(student.eval()(x, mask), cut(x, mask), rtol=0, atol=0)


def test_init_from_rejects_mismatched_models():
    with pytest.raises(ValueError, match="mis-shapes"):
        init_from(create_model("bert_test", layers=3), create_model("bert_test", layers=2))
    with pytest.raises(ValueError, match="mis-shapes"):
        init_from(create_model("bert_test", hidden=64), create_model("bert_test"))
