"""Fixtures of the demo tests: a calibrated tiny analyzer and a launched app on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.analysis_helpers import calibrate, video_config, write_event_video


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def demo_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_event_video(tmp_path_factory.mktemp("demo") / "event.mp4")


@pytest.fixture(scope="session")
def demo_calibration(tiny_encoder, demo_video):
    return calibrate(tiny_encoder, demo_video)


@pytest.fixture(scope="session")
def demo_analyzer(tiny_encoder, demo_calibration):
    from vlad.pipeline import Pipeline

    return Pipeline(tiny_encoder, video=video_config(demo_calibration.threshold))


def launch(app) -> str:
    from vlad.demo.app import launch_app

    _, url, _ = launch_app(app, host="127.0.0.1", port=free_port(), block=False)
    return url


@pytest.fixture(scope="module")
def demo_url(demo_analyzer, demo_calibration) -> Iterator[str]:
    from vlad.demo.app import build_app

    app = build_app(demo_analyzer, concurrency=2)
    app.vlad_definition = demo_calibration.definition
    url = launch(app)
    yield url
    app.close()
