"""Device choice: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, checked once for every model.

torch is imported only when a GPU has to be looked for, so that choosing ``cpu`` costs
nothing and this module stays importable without torch.
"""

from __future__ import annotations

import re

from vlad.errors import ConfigError

__all__ = ["DEVICES", "resolve_device"]

DEVICES = "auto, cpu, cuda or cuda:N"
"""The device values vlad accepts, as a person reads them."""

_CUDA = re.compile(r"cuda(?::(\d+))?")


def resolve_device(device: str) -> str:
    """Turn a device setting into the torch device to use, checking that it exists.

    Args:
        device: ``auto`` (the first CUDA GPU when there is one, else the CPU), ``cpu``,
            ``cuda`` or ``cuda:N``.

    Returns:
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises:
        ConfigError: An unknown device, or a CUDA device that this machine does not have
            (``param="device"``).

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    if not isinstance(device, str):
        raise ConfigError(
            f"Device {device!r} is not supported; set device to {DEVICES}.", param="device"
        )
    if device == "cpu":
        return device
    cuda = _CUDA.fullmatch(device)
    if device != "auto" and cuda is None:
        raise ConfigError(
            f"Device '{device}' is not supported; set device to {DEVICES}.", param="device"
        )
    import torch

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ConfigError(
            f"Device '{device}' was asked for but no CUDA GPU is available; set device to "
            "cpu or auto.",
            param="device",
        )
    assert cuda is not None
    if cuda.group(1) is not None:
        count = torch.cuda.device_count()
        if int(cuda.group(1)) >= count:
            raise ConfigError(
                f"Device '{device}' was asked for but this machine has {count} CUDA GPU(s) "
                f"(cuda:0 to cuda:{count - 1}); set device to one of them.",
                param="device",
            )
    return device
