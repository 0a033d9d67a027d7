"""The pipeline with ``method="anomalyclip"``: learned prompts score images and draw the
peak-frame maps of videos; their records look like WinCLIP's; bad settings are one sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_image
from tests.learned_helpers import OTHER_SHAPE, clip_folder, load_local, write_prompts
from tests.videos import moving_square_frames, write_video
from vlad.config import ClipConfig, PipelineConfig, VideoConfig, WinClipConfig
from vlad.errors import ConfigError, ModelLoadError
from vlad.pipeline import Pipeline


@pytest.fixture(scope="module")
def encoder(clip_dir: Path):
    return load_local(clip_dir)


@pytest.fixture(scope="module")
def prompts_dir(encoder, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("learned") / "prompts"
    write_prompts(folder, encoder, seed=2)
    return folder


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    make_image(40, 48, seed=4, defect=True).save(folder / "plate.png")
    make_image(37, 29, seed=5).save(folder / "small.png")
    video = write_video(folder / "walk.mp4", moving_square_frames(20, 48, 64), fps=10)
    return {"image": folder / "plate.png", "small": folder / "small.png", "video": video}


def learned_pipeline(clip_dir: Path, prompts: Path, encoder, **settings) -> Pipeline:
    config = PipelineConfig(
        clip=ClipConfig(weights=f"local-dir:{clip_dir}", device="cpu"),
        method="anomalyclip",
        learned_prompts=str(prompts),
        llm=None,
        **settings,
    )
    return Pipeline.from_config(config, encoder=encoder)


def test_images_get_the_learned_score_and_full_size_map(clip_dir, prompts_dir, encoder, media):
    pipeline = learned_pipeline(clip_dir, prompts_dir, encoder, image=WinClipConfig(threshold=0.0))
    assert pipeline.method == "anomalyclip" and pipeline.learned is not None
    explanations = pipeline.analyze([media["image"], media["small"]])
    expected = pipeline.learned.score_images(
        [Image.open(media["image"]).convert("RGB"), Image.open(media["small"]).convert("RGB")]
    )
    for explanation, (score, anomaly_map), size in zip(
        explanations, expected, [(40, 48), (37, 29)], strict=True
    ):
        assert explanation.ok and explanation.kind == "image"
        assert explanation.score == pytest.approx(score, abs=1e-5)
        assert explanation.anomaly_map.shape == size == (explanation.height, explanation.width)
        np.testing.assert_allclose(explanation.anomaly_map, anomaly_map, atol=1e-5)
        assert explanation.keyframes[0].overlay.shape == (*size, 3)
        # Threshold 0: anomalous, with the learned score as its first evidence item.
        assert explanation.verdict == "anomalous"
        first = explanation.evidence[0].items[0]
        assert (first.kind, first.text) == ("image", "AnomalyCLIP image score")
        record = explanation.to_record()
        assert record["map_max"] == pytest.approx(float(anomaly_map.max()), abs=1e-5)
        assert record["evidence"][0]["items"][0]["text"] == "AnomalyCLIP image score"


def test_records_have_the_same_fields_as_winclips(clip_dir, prompts_dir, encoder, media):
    learned = learned_pipeline(clip_dir, prompts_dir, encoder)
    winclip = Pipeline.from_config(
        PipelineConfig(clip=ClipConfig(weights=f"local-dir:{clip_dir}"), llm=None), encoder=encoder
    )
    [a] = learned.analyze(media["image"])
    [b] = winclip.analyze(media["image"])
    assert set(a.to_record()) == set(b.to_record())
    assert a.score != pytest.approx(b.score, abs=1e-6)  # another scorer really ran
    assert b.threshold == a.threshold == 0.5


def test_image_size_setting(clip_dir, prompts_dir, encoder, media):
    pipeline = learned_pipeline(clip_dir, prompts_dir, encoder, image_size=48)
    assert pipeline.learned.image_size == 48
    [explanation] = pipeline.analyze(media["image"])
    assert explanation.anomaly_map.shape == (40, 48)


def test_video_peak_frame_maps_come_from_the_learned_prompts(clip_dir, prompts_dir, encoder, media):
    pipeline = learned_pipeline(
        clip_dir, prompts_dir, encoder, video=VideoConfig(threshold=0.0, definitions=("a box",))
    )
    [explanation] = pipeline.analyze(media["video"])
    assert explanation.ok and explanation.kind == "video" and explanation.intervals
    mapped = [k for k in explanation.keyframes if k.anomaly_map is not None]
    assert mapped
    for keyframe in mapped:
        [(_, expected)] = pipeline.learned.score_images([Image.fromarray(keyframe.image)])
        assert keyframe.anomaly_map.shape == keyframe.image.shape[:2]
        np.testing.assert_allclose(keyframe.anomaly_map, expected, atol=1e-5)
    assert explanation.maps  # the localized peak frames, also from the learned prompts
    for localized in explanation.maps:
        assert localized.anomaly_map.shape == (48, 64)


def test_references_are_refused_before_any_input(clip_dir, prompts_dir, encoder, media):
    pipeline = learned_pipeline(clip_dir, prompts_dir, encoder)
    with pytest.raises(ConfigError) as caught:
        pipeline.analyze([media["image"]], references=[media["small"]])
    assert caught.value.param == "references"
    assert str(caught.value) == (
        "references do not apply to method anomalyclip (its learned prompts are zero-shot); "
        "leave references out or use method winclip."
    )


def test_prompts_for_another_clip_stop_the_pipeline_when_built(clip_dir, encoder, tmp_path):
    other = load_local(clip_folder(tmp_path / "clip", OTHER_SHAPE, seed=1))
    path = write_prompts(tmp_path / "other", other, clip_name="other-clip")
    with pytest.raises(ModelLoadError, match="were trained for CLIP other-clip") as caught:
        learned_pipeline(clip_dir, path, encoder)
    assert caught.value.param == "learned_prompts"


def test_the_default_stays_winclip(clip_dir, encoder, media):
    pipeline = Pipeline.from_config(
        PipelineConfig(clip=ClipConfig(weights=f"local-dir:{clip_dir}"), llm=None,
                       image=WinClipConfig(threshold=0.0)),
        encoder=encoder,
    )  # fmt: skip
    assert pipeline.method == "winclip" and pipeline.learned is None
    [explanation] = pipeline.analyze(media["image"])
    assert explanation.evidence[0].items[0].text == "WinCLIP image score"


@pytest.mark.parametrize(
    ("settings", "param", "message"),
    [
        (
            {"method": "patchcore"},
            "method",
            "Unknown method 'patchcore'; use one of winclip, anomalyclip.",
        ),
        (
            {"method": "anomalyclip"},
            "learned_prompts",
            "Method anomalyclip needs learned_prompts: the folder 'vlad train prompts' wrote, "
            "its prompts.safetensors, or the authors' .pth checkpoint.",
        ),
        (
            {"learned_prompts": "run/"},
            "learned_prompts",
            "learned_prompts are used by method anomalyclip only; choose that method or leave "
            "learned_prompts out.",
        ),
        (
            {"image_size": 336},
            "image_size",
            "image_size sets the input size of method anomalyclip only; choose that method or "
            "leave image_size out.",
        ),
        (
            {"method": "anomalyclip", "learned_prompts": "run/", "image_size": 0},
            "image_size",
            "image_size must be a positive number of pixels, got 0.",
        ),
    ],
)
def test_bad_method_settings_name_their_parameter(settings, param, message):
    with pytest.raises(ConfigError) as caught:
        PipelineConfig(**settings)
    assert caught.value.param == param
    assert str(caught.value) == message


def test_the_constructor_checks_the_same(encoder):
    with pytest.raises(ConfigError, match="Method anomalyclip needs learned_prompts"):
        Pipeline(encoder, method="anomalyclip")


def test_config_from_a_mapping():
    config = PipelineConfig(
        **{"method": "anomalyclip", "learned_prompts": "run/prompts", "image_size": 336}
    )
    assert (config.method, config.learned_prompts, config.image_size) == (
        "anomalyclip",
        "run/prompts",
        336,
    )


def test_the_demo_says_which_scorer_draws_the_maps(clip_dir, prompts_dir, encoder):
    from vlad.demo.app import scorer_line

    learned = learned_pipeline(clip_dir, prompts_dir, encoder)
    assert scorer_line(learned) == f"AnomalyCLIP learned prompts ({prompts_dir.name})"
    assert scorer_line(Pipeline(encoder)) == "WinCLIP prompt ensemble"
