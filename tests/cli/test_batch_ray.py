"""``vlad batch --engine ray``: a killed driver loses nothing finished, and a rerun does the rest.

Each run is a real ``vlad batch`` process that starts its own local Ray cluster; Ray's
start-up and the actors' model loading take tens of seconds, so the kill test is slow.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_image
from tests.videos import moving_square_frames, write_video

REPO = Path(__file__).resolve().parents[2]
MAIN = "import sys\nfrom vlad.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"


def _command(inputs: Path, out: Path, clip_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        MAIN,
        "batch",
        str(inputs),
        "--out",
        str(out),
        "--engine",
        "ray",
        "--llm",
        "none",
        "--clip-weights",
        f"local-dir:{clip_dir}",
        "--fps",
        "4",
        "--no-progress",
    ]


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "RAY_DEDUP_LOGS": "0"}


def test_without_ray_the_extra_is_named_in_one_sentence(clip_dir, tmp_path, monkeypatch, capsys):
    from vlad.cli.main import main

    make_image(32, 32).save(tmp_path / "a.png")
    monkeypatch.setitem(sys.modules, "ray", None)
    status = main(_command(tmp_path / "a.png", tmp_path / "out", clip_dir)[3:])
    assert status == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("vlad:")] == [
        "vlad: vlad batch --engine ray needs Ray, which is not installed; install it with "
        "pip install 'vlad[ray]'."
    ]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # named before the folder is made


@pytest.mark.slow
def test_a_killed_driver_loses_only_inputs_in_flight_and_a_rerun_finishes(clip_dir, tmp_path):
    pytest.importorskip("ray")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for number in range(8):
        write_video(inputs / f"cam{number}.mp4", moving_square_frames(40, 48, 64, seed=number), 8)
    for number in range(4):
        make_image(48, 48, seed=number).save(inputs / f"part{number}.png")
    out = tmp_path / "out"
    command = _command(inputs, out, clip_dir)
    results = out / "results"

    # The driver and the local cluster it starts share a new session: the driver is
    # killed with SIGKILL once some results are in, then whatever of Ray is left (its
    # workers may be writing) is killed the same way.
    driver = subprocess.Popen(
        command,
        cwd=REPO,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and driver.poll() is None:
            if len(list(results.glob("*.json"))) >= 2:
                break
            time.sleep(0.1)
        assert driver.poll() is None, "the run ended before it could be killed"
        finished_before = len(list(results.glob("*.json")))
        assert 2 <= finished_before < 12
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    time.sleep(1.0)
    survivors = {p.stem: p.stat().st_mtime_ns for p in results.glob("*.json")}
    for path in results.glob("*.json"):
        json.loads(path.read_text())  # every result file a rerun would trust is whole

    rerun = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO, env=_environment(), timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(survivors)} input(s) already done with these settings are skipped." in (
        rerun.stderr
    )
    records = {p.stem: json.loads(p.read_text()) for p in results.glob("*.json")}
    assert len(records) == 12
    assert all(record["status"] == "ok" for record in records.values())
    for name, stamp in survivors.items():  # finished before the kill: not done again
        assert (results / f"{name}.json").stat().st_mtime_ns == stamp
    lines = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(records)  # each input once
    assert not [p for p in results.iterdir() if p.name.startswith(".")]  # no leftovers
