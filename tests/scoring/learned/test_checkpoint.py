"""Prompt files: vlad's format round trip, the authors' checkpoints, CLIP checks, bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from vlad.errors import ConfigError, InputError, ModelLoadError
from vlad.scoring.learned.checkpoint import (
    AUTHORS_CLIP,
    META_NAME,
    WEIGHTS_NAME,
    authors_to_vlad,
    check_clip,
    clip_fingerprint,
    load_prompts,
    model_from_prompts,
    save_prompts,
    vlad_to_authors,
)
from vlad.scoring.learned.config import LearnedPromptsConfig
from vlad.scoring.learned.model import AnomalyClipModel

SMALL = LearnedPromptsConfig(
    n_ctx=4, text_depth=3, text_ctx=2, dpam_layer=3, feature_layers=(2, 4), image_size=32, sigma=1.0
)
SMALL_FINGERPRINT = "vit-w64-l4-p8-s32-e32-text-w64-l3-v49408"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def model(small_encoder: Any) -> AnomalyClipModel:
    torch.manual_seed(0)
    built = AnomalyClipModel(small_encoder.model, small_encoder.tokenizer, SMALL)
    with torch.no_grad():
        for parameter in built.prompt_parameters():
            parameter.normal_(std=0.5)
    return built.eval()


def save_small(target: Path, model: AnomalyClipModel) -> Path:
    return save_prompts(
        target,
        model,
        SMALL,
        clip_name="small:local",
        clip_fingerprint=clip_fingerprint(model.clip),
        provenance={"data": "synthetic", "epochs": 2},
    )


def authors_state(
    width: int = 64, n_ctx: int = 12, depth: int = 9, t_ctx: int = 4
) -> dict[str, Any]:
    """A prompt-learner state dict shaped as the authors' code saves it."""
    generator = torch.Generator().manual_seed(3)
    state: dict[str, Any] = {
        "ctx_pos": torch.randn(1, 1, n_ctx, width, generator=generator),
        "ctx_neg": torch.randn(1, 1, n_ctx, width, generator=generator),
        "token_prefix_pos": torch.zeros(1, 1, 1, width),
        "token_suffix_pos": torch.zeros(1, 1, 77 - 1 - n_ctx, width),
        "tokenized_prompts_pos": torch.zeros(1, 1, 77, dtype=torch.int32),
    }
    for index in range(depth - 1):
        state[f"compound_prompts_text.{index}"] = torch.randn(t_ctx, width, generator=generator)
        state[f"compound_prompt_projections.{index}.weight"] = torch.zeros(896, width)
        state[f"compound_prompt_projections.{index}.bias"] = torch.zeros(896)
    return state


def test_clip_fingerprint_names_the_shapes(small_encoder: Any, tiny_encoder: Any) -> None:
    assert clip_fingerprint(small_encoder.model) == SMALL_FINGERPRINT
    assert clip_fingerprint(tiny_encoder.model) != SMALL_FINGERPRINT


def test_save_to_a_folder_and_load_back(tmp_path: Path, model: AnomalyClipModel) -> None:
    weights = save_small(tmp_path / "run", model)
    assert weights == tmp_path / "run" / WEIGHTS_NAME
    record = json.loads((tmp_path / "run" / META_NAME).read_text())
    assert record["format"] == "vlad-learned-prompts" and record["version"] == 1
    assert record["tensors"] == {
        "ctx_normal": [4, 64],
        "ctx_anomalous": [4, 64],
        "text_tokens": [2, 2, 64],
    }
    assert record["config"]["feature_layers"] == [2, 4]
    loaded = load_prompts(tmp_path / "run")
    assert loaded.source_format == "vlad"
    assert loaded.config == SMALL
    assert (loaded.clip_name, loaded.clip_fingerprint) == ("small:local", SMALL_FINGERPRINT)
    assert loaded.provenance == {"data": "synthetic", "epochs": 2}
    for name, tensor in model.prompt_state().items():
        assert torch.equal(loaded.state[name], tensor)
    assert not list((tmp_path / "run").glob("*.tmp"))  # atomic writes leave nothing behind


def test_save_to_a_named_file_writes_its_json_beside_it(
    tmp_path: Path, model: AnomalyClipModel
) -> None:
    weights = save_small(tmp_path / "bottle.safetensors", model)
    assert weights.is_file() and (tmp_path / "bottle.json").is_file()
    for path in (tmp_path / "bottle.safetensors", tmp_path / "bottle.json"):
        assert torch.equal(
            load_prompts(path).state["ctx_normal"], model.prompt_state()["ctx_normal"]
        )


def test_a_model_from_loaded_prompts_scores_as_the_original(
    tmp_path: Path, model: AnomalyClipModel, small_encoder: Any
) -> None:
    save_small(tmp_path / "run", model)
    loaded = load_prompts(tmp_path / "run")
    rebuilt = model_from_prompts(small_encoder.model, small_encoder.tokenizer, loaded)
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        before, after = model(pixels), rebuilt(pixels)
    assert torch.equal(before.image_scores, after.image_scores)
    assert torch.equal(before.maps, after.maps)
    bigger = model_from_prompts(
        small_encoder.model, small_encoder.tokenizer, loaded, image_size=64, sigma=0.0
    )
    assert (bigger.config.image_size, bigger.config.sigma, bigger.config.n_ctx) == (64, 0.0, 4)


def test_prompts_for_another_clip_are_refused_in_one_sentence(
    tmp_path: Path, model: AnomalyClipModel, tiny_encoder: Any
) -> None:
    save_small(tmp_path / "run", model)
    loaded = load_prompts(tmp_path / "run")
    with pytest.raises(ModelLoadError) as info:
        model_from_prompts(tiny_encoder.model, tiny_encoder.tokenizer, loaded, clip_name="tiny")
    message = str(info.value)
    assert info.value.param == "learned_prompts"
    assert message.startswith(
        f"learned_prompts '{tmp_path / 'run'}' were trained for CLIP small:local"
    )
    assert f"({SMALL_FINGERPRINT}), not for tiny (" in message
    assert message.endswith("; use that CLIP or train prompts for this one.")
    assert message.count(". ") == 0


def test_shape_settings_cannot_be_overridden(
    tmp_path: Path, model: AnomalyClipModel, small_encoder: Any
) -> None:
    save_small(tmp_path / "run", model)
    with pytest.raises(ConfigError, match="n_ctx are fixed by the learned prompts") as info:
        model_from_prompts(
            small_encoder.model, small_encoder.tokenizer, load_prompts(tmp_path / "run"), n_ctx=3
        )
    assert info.value.param == "n_ctx"


def test_authors_names_map_to_vlads(tmp_path: Path) -> None:
    state = authors_state()
    mapped, config = authors_to_vlad(state)
    assert (config.n_ctx, config.text_depth, config.text_ctx) == (12, 9, 4)
    assert (config.dpam_layer, config.feature_layers, config.sigma, config.image_size) == (
        20,
        (24,),
        4.0,
        518,
    )
    assert torch.equal(mapped["ctx_normal"], state["ctx_pos"][0, 0])
    assert torch.equal(mapped["ctx_anomalous"], state["ctx_neg"][0, 0])
    assert mapped["text_tokens"].shape == (8, 4, 64)
    # Their forward casts the deep tokens to fp16; the import rounds them the same way.
    for index in range(8):
        expected = state[f"compound_prompts_text.{index}"].half().float()
        assert torch.equal(mapped["text_tokens"][index], expected)


def test_vlad_names_map_back_to_the_authors() -> None:
    state = authors_state()
    back = vlad_to_authors(authors_to_vlad(state)[0])
    assert set(back) == {"ctx_pos", "ctx_neg"} | {f"compound_prompts_text.{i}" for i in range(8)}
    assert torch.equal(back["ctx_pos"], state["ctx_pos"])
    assert torch.equal(back["ctx_neg"], state["ctx_neg"])
    rounded = state["compound_prompts_text.5"].half().float()
    assert torch.equal(back["compound_prompts_text.5"], rounded)


def test_an_authors_checkpoint_loads(tmp_path: Path, small_encoder: Any) -> None:
    path = tmp_path / "epoch_15.pth"
    torch.save({"prompt_learner": authors_state(n_ctx=4, depth=3, t_ctx=2)}, path)
    loaded = load_prompts(path)
    assert loaded.source_format == "authors"
    assert loaded.clip_name == AUTHORS_CLIP and loaded.clip_fingerprint is None
    assert loaded.provenance["file"] == "epoch_15.pth"
    assert (loaded.config.n_ctx, loaded.config.text_depth, loaded.config.text_ctx) == (4, 3, 2)
    # The authors' files record no CLIP: a CLIP with the same text width is accepted.
    check_clip(loaded, small_encoder.model)
    built = model_from_prompts(
        small_encoder.model,
        small_encoder.tokenizer,
        loaded,
        dpam_layer=3,
        feature_layers=(4,),
        image_size=32,
    )
    assert torch.equal(built.prompt_state()["ctx_normal"], loaded.state["ctx_normal"])


def test_an_authors_checkpoint_for_another_text_width_is_refused(
    tmp_path: Path, small_encoder: Any
) -> None:
    path = tmp_path / "epoch_15.pth"
    torch.save({"prompt_learner": authors_state(width=96)}, path)
    with pytest.raises(ModelLoadError) as info:
        check_clip(load_prompts(path), small_encoder.model, clip_name="small")
    assert info.value.param == "learned_prompts"
    assert str(info.value) == (
        f"learned_prompts '{path}' have 96-wide tokens for CLIP {AUTHORS_CLIP}, but small has a "
        "64-wide text encoder; use that CLIP or train prompts for this one."
    )


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match="do not exist; pass the folder or file that 'vlad train prompts'"
    ) as info:
        load_prompts(tmp_path / "nowhere")
    assert info.value.param == "learned_prompts"


def test_a_folder_without_the_pair_is_refused(tmp_path: Path, model: AnomalyClipModel) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=f"lack {WEIGHTS_NAME}; pass a folder holding"):
        load_prompts(tmp_path / "empty")
    save_small(tmp_path / "run", model)
    (tmp_path / "run" / META_NAME).unlink()
    with pytest.raises(InputError, match=f"lack {META_NAME}"):
        load_prompts(tmp_path / "run")


@pytest.mark.parametrize(
    "damage",
    [
        "not json",
        json.dumps({"format": "something else"}),
        json.dumps({"format": "vlad-learned-prompts", "config": {"n_ctx": -1}}),
    ],
)
def test_an_unreadable_description_is_refused(
    tmp_path: Path, model: AnomalyClipModel, damage: str
) -> None:
    save_small(tmp_path / "run", model)
    (tmp_path / "run" / META_NAME).write_text(damage)
    with pytest.raises(
        InputError, match=r"cannot be read .*; write them again with 'vlad train prompts'"
    ) as info:
        load_prompts(tmp_path / "run")
    assert info.value.param == "learned_prompts"


def test_truncated_weights_are_refused(tmp_path: Path, model: AnomalyClipModel) -> None:
    weights = save_small(tmp_path / "run", model)
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(InputError, match="cannot be read"):
        load_prompts(tmp_path / "run")


def test_a_newer_format_is_refused(tmp_path: Path, model: AnomalyClipModel) -> None:
    save_small(tmp_path / "run", model)
    meta = tmp_path / "run" / META_NAME
    record = json.loads(meta.read_text())
    record["version"] = 9
    meta.write_text(json.dumps(record))
    with pytest.raises(
        InputError, match="use format version 9, newer than this vlad reads \\(1\\); update vlad"
    ):
        load_prompts(tmp_path / "run")


def test_a_file_missing_a_tensor_is_refused(tmp_path: Path, model: AnomalyClipModel) -> None:
    from safetensors.torch import save_file

    weights = save_small(tmp_path / "run", model)
    state = model.prompt_state()
    del state["text_tokens"]
    save_file(state, str(weights))
    with pytest.raises(InputError, match="lack the tensor\\(s\\) text_tokens"):
        load_prompts(tmp_path / "run")


@pytest.mark.parametrize(
    "content",
    [{"state_dict": {}}, {"prompt_learner": {"ctx_pos": torch.zeros(3)}}, [1, 2]],
)
def test_a_pth_that_is_not_an_authors_checkpoint_is_refused(tmp_path: Path, content: Any) -> None:
    path = tmp_path / "other.pth"
    torch.save(content, path)
    with pytest.raises(
        InputError, match="is not an AnomalyCLIP checkpoint with a 'prompt_learner' state dict"
    ):
        load_prompts(path)


def test_saving_an_incomplete_state_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="The prompt state lacks ctx_anomalous, text_tokens"):
        save_prompts(
            tmp_path / "run",
            {"ctx_normal": torch.zeros(4, 64)},
            SMALL,
            clip_name=None,
            clip_fingerprint=None,
        )
    assert not (tmp_path / "run").exists()
