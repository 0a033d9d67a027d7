"""AnomalyClipModel on a small random CLIP: shapes, maths, DPAM, frozen CLIP, settings."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from vlad.errors import ConfigError, ModelLoadError
from vlad.scoring.learned.config import LearnedPromptsConfig
from vlad.scoring.learned.math import gaussian_blur, similarity_logits
from vlad.scoring.learned.model import AnomalyClipModel
from vlad.scoring.learned.prompt_learner import encode_prompts
from vlad.scoring.learned.vision import encode_image

# The small CLIP: 4 vision blocks (patch 8, 32 px), 3 text layers, width 64, embed 32.
SMALL = {
    "n_ctx": 4,
    "text_depth": 3,
    "text_ctx": 2,
    "dpam_layer": 3,  # DPAM in blocks 3 and 4
    "feature_layers": (2, 4),
    "image_size": 32,
    "sigma": 1.0,
}

pytestmark = pytest.mark.usefixtures("one_thread")


def small_config(**changes: Any) -> LearnedPromptsConfig:
    return LearnedPromptsConfig(**{**SMALL, **changes})


@pytest.fixture
def model(small_encoder: Any) -> AnomalyClipModel:
    torch.manual_seed(0)
    built = AnomalyClipModel(small_encoder.model, small_encoder.tokenizer, small_config())
    with torch.no_grad():
        for parameter in built.prompt_parameters():
            parameter.normal_(std=0.5)
    return built.eval()


def images(batch: int = 2, height: int = 32, width: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def test_default_settings_follow_the_authors_current_code() -> None:
    config = LearnedPromptsConfig()
    assert (config.n_ctx, config.text_depth, config.text_ctx) == (12, 9, 4)
    assert (config.dpam_layer, config.feature_layers, config.sigma) == (20, (24,), 4.0)
    assert (config.image_size, config.feature_mode) == (518, "independent")
    assert (config.normal_words, config.anomalous_words) == ("object", "damaged object")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_ctx": 0}, "n_ctx must be a whole number >= 1, got 0."),
        ({"text_depth": 1.5}, "text_depth must be a whole number >= 1, got 1.5."),
        ({"dpam_layer": True}, "dpam_layer must be a whole number >= 1, got True."),
        (
            {"feature_layers": ()},
            "feature_layers must list vision blocks as whole numbers, got ().",
        ),
        ({"feature_layers": (0, 3)}, "feature_layers must be distinct blocks counted from 1"),
        ({"feature_layers": (3, 3)}, "feature_layers must be distinct blocks counted from 1"),
        ({"sigma": -1.0}, "sigma must be a number >= 0, got -1.0."),
        ({"feature_mode": "copied"}, "feature_mode must be independent or aliased, got 'copied'."),
        ({"anomalous_words": " "}, "anomalous_words is empty; give the words of the prompt"),
    ],
)
def test_config_refuses_bad_settings_by_name(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        LearnedPromptsConfig(**changes)
    assert info.value.param == next(iter(changes))


def test_config_turns_a_layer_list_into_a_tuple() -> None:
    assert LearnedPromptsConfig(feature_layers=[6, 12]).feature_layers == (6, 12)  # type: ignore[arg-type]


def test_forward_shapes_and_the_maths_that_links_them(model: AnomalyClipModel) -> None:
    with torch.inference_mode():
        out = model(images())
        text = model.text_features()
    assert out.image_logits.shape == (2, 2)
    assert torch.allclose(out.image_scores, out.image_logits.softmax(-1)[:, 1])
    assert len(out.layer_maps) == 2
    for layer_map in out.layer_maps:
        assert layer_map.shape == (2, 2, 32, 32)
        assert torch.allclose(layer_map.sum(1), torch.ones(2, 32, 32), atol=1e-5)
    total = out.layer_maps[0][:, 1] + out.layer_maps[1][:, 1]
    assert torch.allclose(out.maps, gaussian_blur(total, 1.0), atol=1e-6)
    assert text.shape == (2, 32)
    assert torch.allclose(text.norm(dim=-1), torch.ones(2))
    assert not torch.allclose(out.maps[0], out.maps[1])  # two different images, two maps


def test_precomputed_text_features_give_the_same_output(model: AnomalyClipModel) -> None:
    pixels = images()
    with torch.inference_mode():
        text = model.text_features()
        fresh, cached = model(pixels), model(pixels, text_features=text)
    assert torch.equal(fresh.image_logits, cached.image_logits)
    assert torch.equal(fresh.maps, cached.maps)


def test_image_logits_are_the_global_feature_against_the_text(model: AnomalyClipModel) -> None:
    pixels = images()
    with torch.inference_mode():
        out = model(pixels)
        vision = encode_image(model.clip, pixels, model.config)
        expected = similarity_logits(vision.image, model.text_features())
    assert torch.allclose(out.image_logits, expected, atol=1e-5)


def test_each_image_is_scored_alone(model: AnomalyClipModel) -> None:
    pixels = images(batch=3)
    with torch.inference_mode():
        batch = model(pixels)
        single = model(pixels[1:2])
    assert torch.allclose(batch.image_scores[1:2], single.image_scores, atol=1e-6)
    assert torch.allclose(batch.maps[1:2], single.maps, atol=1e-6)


def test_rectangular_images_get_rectangular_maps(model: AnomalyClipModel) -> None:
    with torch.inference_mode():
        out = model(images(batch=1, height=32, width=48))
    assert out.maps.shape == (1, 32, 48)
    assert out.layer_maps[0].shape == (1, 2, 32, 48)


def test_without_dpam_the_vision_loop_equals_open_clips_own_forward(small_encoder: Any) -> None:
    clip = small_encoder.model
    built = AnomalyClipModel(
        clip, small_encoder.tokenizer, small_config(dpam_layer=1, feature_layers=(4,))
    )
    pixels = images()
    with torch.inference_mode():
        ours = encode_image(built.clip, pixels, built.config)
        visual = clip.visual
        visual.output_tokens = True
        try:
            _, tokens = visual(pixels)
        finally:
            visual.output_tokens = False
        # The global feature is the class token projected without ln_post, as the authors do.
        x = visual.conv1(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([visual.class_embedding.expand(2, 1, -1), x], 1) + visual.positional_embedding
        x = visual.transformer(visual.ln_pre(x).transpose(0, 1)).transpose(0, 1)
    assert torch.allclose(ours.layer_tokens[0], tokens @ visual.proj, atol=1e-5)
    assert torch.allclose(ours.image, x[:, 0] @ visual.proj, atol=1e-5)
    assert not torch.allclose(ours.image, visual.ln_post(x[:, 0]) @ visual.proj, atol=1e-3)


def test_dpam_changes_the_top_layers_only(small_encoder: Any) -> None:
    pixels = images()
    outputs = {}
    for dpam in (1, 3):
        config = small_config(dpam_layer=dpam, feature_layers=(2, 3, 4))
        built = AnomalyClipModel(small_encoder.model, small_encoder.tokenizer, config)
        with torch.inference_mode():
            outputs[dpam] = encode_image(built.clip, pixels, config)
    plain, dpam = outputs[1], outputs[3]
    assert torch.allclose(plain.layer_tokens[0], dpam.layer_tokens[0], atol=1e-6)  # block 2
    assert not torch.allclose(plain.layer_tokens[1], dpam.layer_tokens[1], atol=1e-3)  # block 3
    assert torch.allclose(plain.image, dpam.image, atol=1e-5)  # the ordinary path is unchanged


def test_aliased_mode_gives_every_layer_from_the_one_before_dpam_the_last_tokens(
    small_encoder: Any,
) -> None:
    pixels = images()
    maps = {}
    state = None
    for mode in ("independent", "aliased"):
        config = small_config(feature_layers=(1, 2, 3, 4), feature_mode=mode)
        built = AnomalyClipModel(small_encoder.model, small_encoder.tokenizer, config)
        state = state or built.prompt_state()
        built.load_prompt_state(state)
        with torch.inference_mode():
            maps[mode] = built(pixels).layer_maps
    independent, aliased = maps["independent"], maps["aliased"]
    assert torch.equal(aliased[0], independent[0])  # block 1: below the aliasing
    for index in (1, 2, 3):  # blocks 2 (feeds DPAM block 3), 3 and 4
        assert torch.equal(aliased[index], independent[3])
    assert not torch.allclose(independent[1], independent[3], atol=1e-3)


def test_prompt_text_equals_clip_text_when_the_context_is_the_placeholder_embedding(
    small_encoder: Any,
) -> None:
    clip, tokenizer = small_encoder.model, small_encoder.tokenizer
    config = small_config(text_depth=1)
    built = AnomalyClipModel(clip, tokenizer, config)
    learner = built.prompt_learner
    assert learner.text_tokens.shape == (0, 2, 64)
    with torch.no_grad():
        for row, name in enumerate(("ctx_normal", "ctx_anomalous")):
            placeholder = learner.token_ids[row, 1]
            getattr(learner, name).copy_(clip.token_embedding.weight[placeholder])
        ours = encode_prompts(clip, learner)
        padded = F.pad(learner.token_ids, (0, 77 - learner.token_ids.shape[1]))
        theirs = clip.encode_text(padded)
    assert torch.allclose(ours, theirs, atol=1e-5)
    # The placeholders stand for "<n_ctx words> object." and "<n_ctx words> damaged object.".
    words = tokenizer(["object.", "damaged object."])
    assert learner.token_ids[0, 1 + 4 : 1 + 4 + 3].tolist() == words[0, 1:4].tolist()
    assert learner.token_ids[1, 1 + 4 : 1 + 4 + 4].tolist() == words[1, 1:5].tolist()


def test_each_prompt_reads_its_own_context_and_the_deep_tokens(model: AnomalyClipModel) -> None:
    # Random changes: a constant added to a token would vanish in the next layer norm.
    generator = torch.Generator().manual_seed(1)
    learner = model.prompt_learner
    with torch.no_grad():
        before = model.text_features().clone()
        learner.ctx_anomalous.add_(torch.randn(learner.ctx_anomalous.shape, generator=generator))
        after_anomalous = model.text_features().clone()
        learner.text_tokens[1].add_(torch.randn(learner.text_tokens[1].shape, generator=generator))
        after_deep = model.text_features()
    assert torch.allclose(before[0], after_anomalous[0], atol=1e-6)
    assert not torch.allclose(before[1], after_anomalous[1], atol=1e-4)
    assert not torch.allclose(after_anomalous[0], after_deep[0], atol=1e-4)
    assert not torch.allclose(after_anomalous[1], after_deep[1], atol=1e-4)


def test_gradients_reach_only_the_prompt_parameters(model: AnomalyClipModel) -> None:
    model.train()
    out = model(images())
    labels = torch.tensor([0, 1])
    loss = F.cross_entropy(out.image_logits, labels) + sum(m[:, 1].mean() for m in out.layer_maps)
    loss.backward()
    prompt_ids = {id(p) for p in model.prompt_parameters()}
    assert len(prompt_ids) == 3
    for parameter in model.prompt_parameters():
        assert parameter.requires_grad
        assert parameter.grad is not None and float(parameter.grad.abs().sum()) > 0
    for name, parameter in model.clip.named_parameters():
        assert not parameter.requires_grad, name
        assert parameter.grad is None, name
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == prompt_ids


def test_the_clip_is_left_as_it_was(small_encoder: Any) -> None:
    clip = small_encoder.model
    before = {k: v.clone() for k, v in clip.state_dict().items()}
    kinds = [type(m) for m in clip.modules()]
    built = AnomalyClipModel(clip, small_encoder.tokenizer, small_config())
    with torch.inference_mode():
        built(images(height=48, width=48))  # another size: the positional table is not resized
    after = clip.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [type(m) for m in clip.modules()] == kinds
    for module in clip.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


@pytest.mark.parametrize(
    ("changes", "param", "message"),
    [
        (
            {"feature_layers": (2, 6)},
            "feature_layers",
            "feature_layers [2, 6] name a block above the 4",
        ),
        ({"dpam_layer": 6}, "dpam_layer", "dpam_layer 6 asks for DPAM in 5 blocks but this CLIP's"),
        ({"text_depth": 4}, "text_depth", "text_depth 4 exceeds the 3 layers of this CLIP's text"),
        ({"n_ctx": 74}, "n_ctx", "The prompt 'object' with 74 context tokens needs 78 tokens"),
    ],
)
def test_settings_that_do_not_fit_the_clip_are_refused(
    small_encoder: Any, changes: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        AnomalyClipModel(small_encoder.model, small_encoder.tokenizer, small_config(**changes))
    assert info.value.param == param


def test_an_image_side_off_the_patch_grid_is_refused(model: AnomalyClipModel) -> None:
    with pytest.raises(
        ConfigError, match="image size 30x32 is not a multiple of this CLIP's 8"
    ) as info:
        model(images(height=30))
    assert info.value.param == "image_size"


def test_a_clip_without_a_vit_is_refused(small_encoder: Any) -> None:
    class NoVision(torch.nn.Module):
        pass

    with pytest.raises(ModelLoadError, match="need an open_clip ViT CLIP"):
        AnomalyClipModel(NoVision(), small_encoder.tokenizer, small_config())


def test_a_clip_whose_text_is_not_pooled_at_the_end_token_is_refused(small_encoder: Any) -> None:
    import copy

    clip = copy.deepcopy(small_encoder.model)
    clip.text_pool_type = "last"
    with pytest.raises(ModelLoadError, match="pooled at the end-of-text token") as info:
        AnomalyClipModel(clip, small_encoder.tokenizer, small_config())
    assert info.value.param == "clip"


def test_load_prompt_state_refuses_wrong_shapes(model: AnomalyClipModel) -> None:
    state = model.prompt_state()
    state["ctx_normal"] = torch.zeros(5, 64)
    with pytest.raises(
        ModelLoadError, match=r"ctx_normal is shaped \(5, 64\) but this model needs"
    ) as info:
        model.load_prompt_state(state)
    assert info.value.param == "learned_prompts"
    with pytest.raises(ModelLoadError, match="text_tokens is missing"):
        model.load_prompt_state({**model.prompt_state(), "text_tokens": None})  # type: ignore[dict-item]
