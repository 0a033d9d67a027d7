"""Tests of vlad.config: checks in __post_init__, weights kinds, mappings and YAML."""

from __future__ import annotations

import dataclasses
import re

import pytest

from vlad.config import (
    DEFAULT_CLIP_ARCH,
    DEFAULT_CLIP_WEIGHTS,
    ClipConfig,
    VideoConfig,
    WinClipConfig,
    check_known_keys,
    from_mapping,
    load_yaml,
    looks_like_path,
    to_dict,
)
from vlad.errors import ConfigError

# --- ClipConfig --------------------------------------------------------------------------


def test_clip_config_defaults():
    config = ClipConfig()
    assert (config.arch, config.weights) == (DEFAULT_CLIP_ARCH, DEFAULT_CLIP_WEIGHTS)
    assert (config.device, config.precision) == ("auto", "auto")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.arch = "ViT-B-32"


def test_clip_config_empty_arch():
    with pytest.raises(ConfigError, match="The CLIP architecture is empty; pass one such as"):
        ClipConfig(arch="", weights="laion400m_e31")
    with pytest.raises(ConfigError, match="architecture is empty"):
        ClipConfig(arch="", weights=None)
    # a local-dir folder brings its own architecture
    assert ClipConfig(arch="", weights="local-dir:./clip").weights_kind == "local-dir"


@pytest.mark.parametrize("precision", ["fp8", "FP16", "", "float32"])
def test_clip_config_unknown_precision(precision):
    with pytest.raises(
        ConfigError, match=f"Unknown precision '{precision}'; use one of auto, fp32, fp16, bf16"
    ):
        ClipConfig(precision=precision)


@pytest.mark.parametrize("precision", ["auto", "fp32", "fp16", "bf16"])
def test_clip_config_known_precision(precision):
    assert ClipConfig(precision=precision).precision == precision


@pytest.mark.parametrize("device", ["gpu", "CUDA", "cuda0", "", "mps"])
def test_clip_config_unknown_device(device):
    with pytest.raises(
        ConfigError, match=f"Unknown device '{device}'; use auto, cpu, cuda or cuda:N"
    ):
        ClipConfig(device=device)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:3"])
def test_clip_config_known_device(device):
    assert ClipConfig(device=device).device == device


def test_clip_config_local_dir_without_folder():
    with pytest.raises(ConfigError, match="'local-dir:' needs a folder after it"):
        ClipConfig(weights="local-dir:")


@pytest.mark.parametrize(
    "weights, kind",
    [
        ("laion400m_e31", "tag"),
        ("openai", "tag"),
        ("model.safetensors", "file"),
        ("weights.pt", "file"),
        ("ckpt.pth", "file"),
        ("pytorch_model.bin", "file"),
        ("run/epoch_3", "file"),
        ("C:\\clip\\weights", "file"),
        ("local-dir:x", "local-dir"),
        ("local-dir:/models/clip.safetensors", "local-dir"),
        (None, "none"),
    ],
)
def test_weights_kind(weights, kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file in the working folder may shadow a tag
    assert ClipConfig(weights=weights).weights_kind == kind


def test_existing_file_without_suffix_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ClipConfig(weights="mytag").weights_kind == "tag"
    (tmp_path / "mytag").write_bytes(b"")
    assert ClipConfig(weights="mytag").weights_kind == "file"
    assert looks_like_path("mytag")


# --- WinClipConfig -----------------------------------------------------------------------


def test_winclip_config_defaults():
    config = WinClipConfig()
    assert config.class_name == "object"
    assert config.prompts == "winclip"
    assert config.scales == (2, 3)
    assert config.temperature == 0.07
    assert config.threshold == 0.5


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_winclip_config_empty_class_name(name):
    with pytest.raises(ConfigError, match="The class name is empty; pass what the images show"):
        WinClipConfig(class_name=name)


@pytest.mark.parametrize("temperature", [0.0, -0.07, -1, float("nan"), float("inf")])
def test_winclip_config_temperature(temperature):
    with pytest.raises(
        ConfigError, match=f"Temperature must be a positive number, got {temperature}"
    ):
        WinClipConfig(temperature=temperature)


@pytest.mark.parametrize("threshold", [-0.01, 1.5, float("nan")])
def test_winclip_config_threshold(threshold):
    with pytest.raises(ConfigError, match=rf"Threshold must lie in \[0, 1\], got {threshold}"):
        WinClipConfig(threshold=threshold)


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_winclip_config_threshold_bounds_allowed(threshold):
    assert WinClipConfig(threshold=threshold).threshold == threshold


@pytest.mark.parametrize("scales", [(2, 0), (-1,), (3, 2, 0)])
def test_winclip_config_scales(scales):
    with pytest.raises(
        ConfigError,
        match=re.escape(f"Window scales must be positive patch counts, got {scales!r}."),
    ):
        WinClipConfig(scales=scales)


@pytest.mark.parametrize(
    "kwargs", [{"definitions": ("cracked {}", "  ")}, {"normal": ("",)}, {"definitions": ("\n",)}]
)
def test_winclip_config_empty_phrase(kwargs):
    param = next(iter(kwargs))
    with pytest.raises(ConfigError, match=f"A phrase in {param} is empty; give it") as info:
        WinClipConfig(**kwargs)
    assert info.value.param == param
    assert "--" not in str(info.value)


def test_winclip_config_replace_states_needs_definitions():
    with pytest.raises(
        ConfigError, match="Replacing the state words needs at least one definitions phrase"
    ) as info:
        WinClipConfig(replace_states=True)
    assert info.value.param == "definitions"
    assert info.value.for_surface({"definitions": "--define"}) == (
        "Replacing the state words needs at least one --define phrase to use instead."
    )
    with pytest.raises(ConfigError, match="needs at least one definitions phrase"):
        WinClipConfig(replace_states=True, normal=("shiny {}",))
    config = WinClipConfig(replace_states=True, definitions=("cracked {}",))
    assert config.replace_states


# --- to_dict / from_mapping --------------------------------------------------------------


def test_from_mapping_rejects_unknown_keys_by_name():
    with pytest.raises(
        ConfigError,
        match=r"Unknown setting\(s\) bogus, scale for WinClipConfig; known ones are class_name, "
        r"definitions, normal, prompts, replace_states, scales, temperature, threshold\.",
    ):
        from_mapping(WinClipConfig, {"class_name": "bottle", "scale": [2], "bogus": 1})
    with pytest.raises(ConfigError, match=r"Unknown setting\(s\) model for ClipConfig"):
        from_mapping(ClipConfig, {"model": "ViT-B-32"})


def test_from_mapping_turns_lists_into_tuples_and_checks():
    config = from_mapping(
        WinClipConfig, {"class_name": "bottle", "scales": [2], "definitions": ["cracked {}"]}
    )
    assert config == WinClipConfig(class_name="bottle", scales=(2,), definitions=("cracked {}",))
    with pytest.raises(ConfigError, match="Temperature must be a positive number"):
        from_mapping(WinClipConfig, {"temperature": -1.0})


def test_to_dict_round_trip():
    config = WinClipConfig(class_name="pill", definitions=("a {} with a crack",), scales=(3,))
    data = to_dict(config)
    assert data["definitions"] == ["a {} with a crack"]
    assert data["scales"] == [3]
    assert from_mapping(WinClipConfig, data) == config
    clip = ClipConfig(arch="ViT-B-32", weights=None, device="cpu", precision="fp32")
    assert from_mapping(ClipConfig, to_dict(clip)) == clip


# --- load_yaml ---------------------------------------------------------------------------


def test_load_yaml_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("class_name: bottle\nscales: [2, 3]\n", encoding="utf-8")
    assert load_yaml(path) == {"class_name": "bottle", "scales": [2, 3]}
    assert load_yaml(str(path)) == {"class_name": "bottle", "scales": [2, 3]}


def test_load_yaml_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"Config file '.*nope\.yaml' does not exist; check"):
        load_yaml(tmp_path / "nope.yaml")


def test_load_yaml_invalid_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("class_name: bottle\nscales: [2, 3\nthreshold: 0.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not valid YAML near line \d+; fix it"):
        load_yaml(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "", "just a string\n", "42\n"])
def test_load_yaml_not_a_mapping(tmp_path, text):
    path = tmp_path / "list.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="must hold a mapping of settings"):
        load_yaml(path)


def test_load_yaml_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"Config file '.*' is a folder; name a YAML file"):
        load_yaml(tmp_path)


def test_load_yaml_not_utf8(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_bytes(b"\xff\xfe\x00\x81 not text")
    with pytest.raises(ConfigError, match=r"Config file '.*b\.yaml' is not UTF-8 text; save it"):
        load_yaml(path)


# --- errors name parameters, never flags ---------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, param, message",
    [
        ({"sample_fps": 0.0}, "sample_fps", "sample_fps must be a positive number of frames"),
        ({"sample_fps": float("nan")}, "sample_fps", "sample_fps must be a positive number"),
        ({"segment_seconds": -1.0}, "segment_seconds", "segment_seconds must be a positive"),
        ({"frames_fps": 0.0}, "frames_fps", "frames_fps must be a positive frame rate, got 0.0"),
        ({"smoothing_sigma_s": -1.0}, "smoothing_sigma_s", "smoothing_sigma_s must be 0 or more"),
        ({"threshold": 1.5}, "threshold", r"Threshold must lie in \[0, 1\], got 1.5"),
        ({"low_threshold": 0.9}, "low_threshold", r"low_threshold must lie in \[0, 0.5\]"),
        ({"batch_size": 0}, "batch_size", "batch_size must be at least 1, got 0"),
        ({"definitions": ("",)}, "definitions", "A phrase in definitions is empty"),
        ({"normal": ("  ",)}, "normal", "A phrase in normal is empty"),
    ],
)
def test_video_config_errors_name_the_parameter(kwargs, param, message):
    with pytest.raises(ConfigError, match=message) as info:
        VideoConfig(**kwargs)
    assert info.value.param == param
    assert "--" not in str(info.value)


def test_video_config_errors_translate_to_flags():
    with pytest.raises(ConfigError) as info:
        VideoConfig(sample_fps=0.0)
    assert info.value.for_surface({"sample_fps": "--fps"}) == (
        "--fps must be a positive number of frames per second, got 0.0."
    )
    with pytest.raises(ConfigError) as info:
        VideoConfig(low_threshold=0.9)
    # whole words only: the threshold in the text is not the parameter low_threshold
    assert info.value.for_surface({"low_threshold": "--low-threshold"}) == (
        "The low threshold --low-threshold must lie in [0, 0.5] (the threshold), got 0.9."
    )


# --- nested mappings -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Outer:
    clip: ClipConfig = dataclasses.field(default_factory=ClipConfig)
    video: VideoConfig | None = None
    name: str = "run"
    scales: tuple[int, ...] = (1,)


def test_from_mapping_builds_nested_sub_configs():
    config = from_mapping(
        _Outer,
        {
            "clip": {"arch": "ViT-B-32", "weights": None, "device": "cpu"},
            "video": {"sample_fps": 4, "definitions": ["a fight"]},
            "scales": [2, 3],
        },
    )
    assert config.clip == ClipConfig(arch="ViT-B-32", weights=None, device="cpu")
    assert config.video == VideoConfig(sample_fps=4, definitions=("a fight",))
    assert config.scales == (2, 3)
    assert config.name == "run"
    assert from_mapping(_Outer, to_dict(config)) == config
    assert to_dict(config)["video"]["definitions"] == ["a fight"]


def test_from_mapping_nested_errors_name_the_field():
    with pytest.raises(
        ConfigError, match=r"Unknown setting\(s\) fps for VideoConfig; known ones are batch_size"
    ) as info:
        from_mapping(_Outer, {"video": {"fps": 3}})
    assert info.value.param == "fps"
    with pytest.raises(ConfigError, match="sample_fps must be a positive number") as info:
        from_mapping(_Outer, {"video": {"sample_fps": -1}})
    assert info.value.param == "sample_fps"


def test_check_known_keys_names_where():
    check_known_keys(ClipConfig, {"arch": "x"})
    with pytest.raises(
        ConfigError,
        match=r"Unknown setting\(s\) model for section 'clip' of a\.yaml; known ones are arch, "
        r"device, precision, weights\.",
    ):
        check_known_keys(ClipConfig, {"model": "x"}, where="section 'clip' of a.yaml")


@pytest.mark.parametrize("config", [WinClipConfig, VideoConfig])
@pytest.mark.parametrize("param", ["definitions", "normal"])
def test_a_phrase_over_the_length_limit_is_refused(config, param):
    config(**{param: ("x" * 1000,)})  # at the limit: accepted
    with pytest.raises(ConfigError) as info:
        config(**{param: ("a fight", "y" * 102_400)})
    assert str(info.value) == (
        f"A phrase in {param} is 102,400 characters long, more than the limit of 1,000; "
        "say it in a sentence or two."
    )
    assert info.value.param == param
    assert "--define" in info.value.for_surface({"definitions": "--define"}) or param == "normal"


def test_a_request_with_a_too_long_definition_is_refused():
    from vlad.pipeline.request import build_request

    with pytest.raises(ConfigError) as info:
        build_request(definitions=["a fight", "z" * 1001])
    assert str(info.value) == (
        "A phrase in definitions is 1,001 characters long, more than the limit of 1,000; "
        "say it in a sentence or two."
    )
    assert info.value.param == "definitions"
    assert build_request(definitions=["w" * 1000]).definitions == ("w" * 1000,)
