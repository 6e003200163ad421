import json
import re

import pytest

from islr.config import PROFILES, RENAMED_KEYS, Config, get_config, stage_config


# profile: (CNN model, CNN epochs, synthetic sequences per sign)
PROFILE_FACTS = {"smoke": ("effnet_test", 1, 1), "default": ("effnet_b0_half", 10, 4), "full": ("effnet_b0", 182, 0)}


@pytest.mark.parametrize("profile", PROFILES)
def test_profiles_build(profile):
    assert set(PROFILE_FACTS) == set(PROFILES)
    model, epochs, synth_per_sign = PROFILE_FACTS[profile]
    cfg = get_config(profile)
    assert cfg.profile == profile and cfg.run_name == profile
    assert (cfg.cnn.model, cfg.cnn_train.epochs, cfg.data.synth_per_sign) == (model, epochs, synth_per_sign)


def test_full_profile_keeps_reference_hyperparameters():
    cfg = get_config("full")
    assert cfg.cnn_train.epochs == 182 and cfg.cnn_train.batch_size == 64
    assert cfg.cnn_train.lr == pytest.approx(0.0027055)
    assert cfg.cnn_train.label_smoothing == pytest.approx(0.5127)
    assert cfg.cnn_aug.mixup_prob == pytest.approx(0.4875)
    assert cfg.transformer_train.epochs == 70 and cfg.transformer_train.optimizer == "ranger"
    assert cfg.data.synth_per_sign == 0


def test_overrides_nested_and_dotted():
    cfg = get_config("smoke", {"cnn_train.epochs": 3, "cnn_aug": {"mixup_prob": 0.0}})
    assert cfg.cnn_train.epochs == 3 and cfg.cnn_aug.mixup_prob == 0.0
    assert get_config("smoke").cnn_train.epochs == 1  # no mutation of shared state
    assert cfg.cnn_train.lr == pytest.approx(get_config("smoke").cnn_train.lr)


@pytest.mark.parametrize("bad", [{"cnn_train.epoch": 3}, {"nope": 1}, {"cnn": {"dropout": 0.1}}])
def test_unknown_keys_rejected(bad):
    with pytest.raises(KeyError, match="unknown config key"):
        get_config("smoke", bad)


@pytest.mark.parametrize("bad", [{"cnn_train.epochs": "3"}, {"cnn_train.amp": 1}, {"cnn_train.epochs": True},
                                 {"cnn": 3}, {"cnn_aug.affine_scale": 0.5}])
def test_wrong_types_rejected(bad):
    with pytest.raises(TypeError):
        get_config("smoke", bad)


def test_int_accepted_for_float():
    assert get_config("smoke", {"cnn_train.lr": 1}).cnn_train.lr == 1.0


def test_unknown_profile():
    with pytest.raises(ValueError, match="unknown profile"):
        get_config("huge")


def test_save_load_round_trip(tmp_path):
    cfg = get_config("default", {"cnn_train.epochs": 5, "cnn_aug.affine_scale": [0.7, 1.2]})
    path = cfg.save(tmp_path)
    assert path.name == "config.json"
    back = Config.load(tmp_path)
    assert back == cfg
    assert json.loads(path.read_text())["cnn_train"]["epochs"] == 5


@pytest.mark.parametrize("old", sorted(RENAMED_KEYS))
def test_renamed_key_names_the_new_one(old):
    new = RENAMED_KEYS[old]
    section, name = new.split(".")
    assert hasattr(getattr(get_config("smoke"), section), name), new  # the new key exists
    value = getattr(getattr(get_config("smoke"), section), name)
    with pytest.raises(KeyError, match=re.escape(f"'{old}' was renamed to '{new}'")):
        get_config("smoke", {old: value})
    assert getattr(getattr(get_config("smoke", {new: value}), section), name) == value


def test_saved_config_with_an_old_key_names_file_and_new_key(tmp_path):
    saved = get_config("smoke").to_dict()
    saved["cnn_aug"]["freq_m"] = saved["cnn_aug"].pop("frame_mask_max")  # a config.json written before the rename
    path = tmp_path / "config.json"
    path.write_text(json.dumps(saved))
    message = f"{path}: config key 'cnn_aug.freq_m' was renamed to 'cnn_aug.frame_mask_max'"
    with pytest.raises(KeyError, match=re.escape(message)):
        Config.load(tmp_path)


def test_stage_config_saves_in_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ISLR_OUTPUTS", str(tmp_path))
    cfg = stage_config("00_eda", "smoke", data_dir="/some/where", run_name="r1", overrides={"split.fold": 2})
    run = tmp_path / "runs" / "r1"
    assert Config.load(run / "config_00_eda.json") == cfg == Config.load(run)
    assert cfg.data.data_dir == "/some/where" and cfg.split.fold == 2
