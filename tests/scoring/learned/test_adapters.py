"""LoRA adapters through peft: injection, peft's file format, loading, merging."""

from __future__ import annotations

import json

import pytest
import torch

from tests.scoring.learned.synthetic import register_tiny_clip, tiny_prompts_config
from vlad.errors import ConfigError, InputError
from vlad.scoring.learned.adapters import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    LoraSettings,
    add_lora,
    has_lora,
    load_lora,
    lora_parameters,
    merge_lora,
    read_lora_settings,
    save_lora,
)
from vlad.scoring.learned.model import AnomalyClipModel

#: Largest difference between the merged and the unmerged anomaly map (values 0..2) that
#: the tests accept; measured on CLIP embeddings: 8e-7 (image) and 1.4e-6 (text), float32
#: rounding of (W + BA) x against W x + B A x.
MERGE_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def arch(tmp_path_factory):
    return register_tiny_clip(tmp_path_factory.mktemp("arch"))


def _clip(arch: str, seed: int = 0):
    import open_clip

    torch.manual_seed(seed)
    return open_clip.create_model(arch, pretrained=None).eval(), open_clip.get_tokenizer(arch)


def _model(arch: str, settings: LoraSettings | None = None, *, seed: int = 0):
    clip, tokenizer = _clip(arch, seed)
    model = AnomalyClipModel(clip, tokenizer, tiny_prompts_config())
    if settings is not None:
        add_lora(model.clip, settings)
        generator = torch.Generator().manual_seed(5)
        with torch.no_grad():  # peft starts B at zero; move it so the adapters matter
            for parameter in lora_parameters(model.clip):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model.eval()


def _images(seed: int = 1) -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_settings_are_checked_with_one_sentence():
    assert LoraSettings().pattern() == (
        r"^(?:visual\.|)transformer\.resblocks\.\d+\.(?:mlp\.c_fc|mlp\.c_proj)$"
    )
    with pytest.raises(ConfigError, match="lora_rank must be an integer >= 1") as caught:
        LoraSettings(rank=0)
    assert caught.value.param == "lora_rank"
    with pytest.raises(ConfigError, match="lora_targets out_proj not known; use some of c_fc"):
        LoraSettings(targets=("out_proj",))
    with pytest.raises(ConfigError, match="lora_towers audio not known"):
        LoraSettings(towers=("audio",))
    with pytest.raises(ConfigError, match=r"lora_dropout must be in \[0, 1\)"):
        LoraSettings(dropout=1.0)
    with pytest.raises(ConfigError, match="lora_alpha must be > 0"):
        LoraSettings(alpha=0)


def test_only_the_adapters_train_and_they_change_the_map(arch):
    plain = _model(arch)
    settings = LoraSettings(rank=2)
    adapted = _model(arch, settings)
    clip_trainable = [n for n, p in adapted.clip.named_parameters() if p.requires_grad]
    assert clip_trainable and all("lora_" in name for name in clip_trainable)
    # 4 vision + 4 text blocks, 2 MLP layers each, A and B
    assert len(clip_trainable) == 8 * 2 * 2
    assert all(p.requires_grad for p in adapted.prompt_parameters())
    with torch.no_grad():
        before = plain(_images()).maps
        after = adapted(_images()).maps
    assert (before - after).abs().max() > 1e-3
    with pytest.raises(ConfigError, match="already carries LoRA adapters"):
        add_lora(adapted.clip, settings)


def test_a_tower_can_be_chosen_and_a_missing_layer_is_refused(arch):
    clip, _ = _clip(arch)
    add_lora(clip, LoraSettings(towers=("visual",), targets=("attn",)))
    names = {n for n, p in clip.named_parameters() if p.requires_grad}
    assert names and all(n.startswith("visual.") for n in names)
    with pytest.raises(ConfigError, match="has no layer matching the LoRA targets") as caught:
        add_lora(torch.nn.Sequential(torch.nn.Linear(2, 2)), LoraSettings())
    assert caught.value.param == "lora_targets"


def test_peft_format_round_trip_gives_the_same_map(arch, tmp_path):
    settings = LoraSettings(rank=2, towers=("visual", "text"), targets=("c_fc", "c_proj"))
    trained = _model(arch, settings)
    folder = save_lora(trained.clip, tmp_path / "adapter", settings, clip_name="tiny")
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 2
    assert (folder / WEIGHTS_FILE).is_file()
    assert read_lora_settings(folder) == settings
    fresh = _model(arch)
    fresh.load_prompt_state(trained.prompt_state())
    assert load_lora(fresh.clip, folder) == settings
    assert not any(p.requires_grad for p in fresh.clip.parameters())
    with torch.no_grad():
        assert torch.equal(trained(_images()).maps, fresh(_images()).maps)


def test_merged_adapters_give_the_unmerged_map(arch, tmp_path):
    for targets in (("c_fc", "c_proj"), ("c_fc", "c_proj", "attn")):
        settings = LoraSettings(rank=4, targets=targets, towers=("text",))
        model = _model(arch, settings)
        with torch.no_grad():
            unmerged = model(_images())
        assert merge_lora(model.clip) > 0
        assert not has_lora(model.clip)
        assert not any("lora_" in name for name, _ in model.clip.named_parameters())
        with torch.no_grad():
            merged = model(_images())
        assert (merged.maps - unmerged.maps).abs().max() < MERGE_TOLERANCE
        assert (merged.image_scores - unmerged.image_scores).abs().max() < MERGE_TOLERANCE
    # loaded with merge=True: the same map as the trained, unmerged model
    settings = LoraSettings(rank=2)
    trained = _model(arch, settings)
    save_lora(trained.clip, tmp_path / "a", settings)
    fresh = _model(arch)
    fresh.load_prompt_state(trained.prompt_state())
    load_lora(fresh.clip, tmp_path / "a", merge=True)
    assert not has_lora(fresh.clip)
    with torch.no_grad():
        difference = (fresh(_images()).maps - trained(_images()).maps).abs().max()
    assert difference < MERGE_TOLERANCE


def test_a_wrong_adapter_folder_is_one_sentence(arch, tmp_path):
    import open_clip

    from tests.scoring.learned.synthetic import TINY_CLIP_CONFIG

    clip, _ = _clip(arch)
    with pytest.raises(InputError, match=r"lacks adapter_config\.json") as caught:
        load_lora(clip, tmp_path)
    assert caught.value.param == "adapter"
    settings = LoraSettings(rank=2, towers=("visual",))
    add_lora(clip, settings)
    save_lora(clip, tmp_path / "a", settings)
    narrow = json.loads(json.dumps(TINY_CLIP_CONFIG))
    narrow["vision_cfg"]["width"] = 32
    (tmp_path / "narrow-tiny.json").write_text(json.dumps(narrow))
    open_clip.add_model_config(tmp_path / "narrow-tiny.json")
    other = open_clip.create_model("narrow-tiny", pretrained=None)
    with pytest.raises(InputError, match="does not fit this CLIP") as caught:
        load_lora(other, tmp_path / "a")
    assert caught.value.param == "adapter"
    with pytest.raises(ConfigError, match="has no layer matching"):
        load_lora(torch.nn.Linear(2, 2), tmp_path / "a")
