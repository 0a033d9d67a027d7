"""Tests of vlad.utils.device: the one device check of every model (CLIP, LLM backends)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from vlad.errors import ConfigError
from vlad.utils.device import resolve_device

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_cpu_is_cpu() -> None:
    assert resolve_device("cpu") == "cpu"


@no_gpu
def test_auto_is_the_cpu_without_a_gpu() -> None:
    assert resolve_device("auto") == "cpu"


@no_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_a_gpu_names_the_device_parameter(device: str) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve_device(device)
    assert str(exc.value) == (
        f"Device '{device}' was asked for but no CUDA GPU is available; set device to cpu or auto."
    )
    assert exc.value.param == "device"
    assert exc.value.for_surface({"device": "--device"}).endswith("set --device to cpu or auto.")


@pytest.mark.parametrize(
    "device", ["tpu", "mps", "CUDA", "cuda:", "cuda:x", "cuda:0:1", " cpu", ""]
)
def test_unknown_devices_are_refused_without_looking_for_a_gpu(device: str) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve_device(device)
    assert str(exc.value) == (
        f"Device '{device}' is not supported; set device to auto, cpu, cuda or cuda:N."
    )
    assert exc.value.param == "device"


@pytest.mark.parametrize("device", [None, 0, ["cpu"]])
def test_a_device_that_is_not_text_is_refused(device: object) -> None:
    with pytest.raises(ConfigError, match=r"is not supported; set device to auto, cpu") as exc:
        resolve_device(device)  # type: ignore[arg-type]
    assert exc.value.param == "device"


@needs_gpu
def test_with_a_gpu() -> None:
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda") == "cuda"
    assert resolve_device("cuda:0") == "cuda:0"
    count = torch.cuda.device_count()
    with pytest.raises(ConfigError, match=rf"this machine has {count} CUDA GPU\(s\)") as exc:
        resolve_device(f"cuda:{count}")
    assert exc.value.param == "device"


def test_choosing_the_cpu_does_not_import_torch() -> None:
    code = (
        "import sys; from vlad.utils.device import resolve_device; resolve_device('cpu'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
