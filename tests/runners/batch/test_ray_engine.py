"""The Ray engine: the same records as the local engine, skips before dispatch, one-sentence errors.

The cluster is a local one (``ray.init(num_cpus=2)``), started once for the module; Ray's
start-up alone takes several seconds, so those tests are marked slow.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_image
from tests.videos import moving_square_frames, write_video
from vlad.config import PipelineConfig
from vlad.errors import ConfigError, MissingDependencyError
from vlad.runners.batch.inputs import BatchInput, expand_inputs
from vlad.runners.batch.local import BatchOptions, run_local
from vlad.runners.batch.ray_engine import plan_chunks, run_ray
from vlad.runners.batch.store import ResultStore

RUN = {"engine-independent": "settings"}


@pytest.fixture(scope="module")
def image_inputs(tmp_path_factory: pytest.TempPathFactory) -> list[BatchInput]:
    """Two images and an unreadable one."""
    root = tmp_path_factory.mktemp("ray_images")
    for number in range(2):
        make_image(64, 64, seed=number, defect=number == 1).save(root / f"part{number}.png")
    (root / "broken.png").write_bytes(b"not an image")
    return expand_inputs([str(root)])


@pytest.fixture(scope="module")
def inputs(image_inputs, tmp_path_factory: pytest.TempPathFactory) -> list[BatchInput]:
    """Three short videos, two images and an unreadable one."""
    root = tmp_path_factory.mktemp("ray_videos")
    for number in range(3):
        frames = moving_square_frames(24 + 8 * number, 48, 64, seed=number)
        write_video(root / f"clip{number}.mp4", frames, fps=8)
    return [*expand_inputs([str(root)]), *image_inputs]


def _config(clip_dir: Path) -> PipelineConfig:
    return PipelineConfig(
        clip={"weights": f"local-dir:{clip_dir}", "device": "cpu"},
        video={"sample_fps": 4.0, "threshold": 0.6, "smoothing_sigma_s": 0.5},
        llm=None,
        max_keyframes=2,
    )


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _spans(record: dict) -> list[float]:
    return [t for i in record["intervals"] for t in (i["start_s"], i["end_s"])]


def _by_id(store: ResultStore) -> dict[str, dict]:
    return {record["id"]: record for record in store.records()}


@pytest.mark.slow
def test_ray_gives_the_local_engines_records_and_skips_done_inputs(
    cluster, inputs, clip_dir, tmp_path
):
    config = _config(clip_dir)
    options = BatchOptions(progress=False, workers=1)
    local = ResultStore(tmp_path / "local").open()
    run_local(inputs, local, config=config, run_settings=RUN, llm=None, options=options)
    remote = ResultStore(tmp_path / "ray").open()
    summary = run_ray(inputs, remote, config=config, run_settings=RUN, llm=None, options=options)

    expected, found = _by_id(local), _by_id(remote)
    assert sorted(found) == sorted(expected) == sorted(item.id for item in inputs)
    assert (summary.done, summary.failed, summary.remaining) == (5, 1, 0)
    assert any(record.get("intervals") for record in expected.values())  # the check has teeth
    for input_id, want in expected.items():
        got = found[input_id]
        assert got["status"] == want["status"]
        assert got["settings_hash"] == want["settings_hash"]
        if want["status"] != "ok":
            assert got["error"] == want["error"]
            continue
        assert got["verdict"] == want["verdict"]
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)
        assert _spans(got) == pytest.approx(_spans(want), abs=1e-5)
        assert got["text"] == want["text"]
        assert [a["path"] for a in got["artifacts"]] == [a["path"] for a in want["artifacts"]]
        for artifact in got["artifacts"]:
            assert (remote.root / artifact["path"]).stat().st_size > 0
        if "timeline" in want:
            assert np.allclose(got["timeline"]["fused"], want["timeline"]["fused"], atol=1e-5)
    lines = (remote.root / "index.jsonl").read_text().splitlines()
    assert len(lines) == len(inputs)

    stamps = {p.name: p.stat().st_mtime_ns for p in remote.results_dir.glob("*.json")}
    again = run_ray(inputs, remote, config=config, run_settings=RUN, llm=None, options=options)
    assert (again.skipped, again.skipped_failed, again.done, again.failed) == (5, 1, 0, 0)
    assert stamps == {p.name: p.stat().st_mtime_ns for p in remote.results_dir.glob("*.json")}


@pytest.mark.slow
def test_gpus_the_cluster_lacks_are_refused_in_one_sentence(cluster, inputs, clip_dir, tmp_path):
    store = ResultStore(tmp_path / "gpu").open()
    with pytest.raises(ConfigError) as caught:
        run_ray(
            inputs,
            store,
            config=_config(clip_dir),
            run_settings=RUN,
            options=BatchOptions(progress=False),
            gpus_per_worker=1,
        )
    assert str(caught.value) == (
        "gpus_per_worker 1 asks each worker for GPUs, but the Ray cluster has 0; leave it "
        "out for CPU workers, or join a cluster with GPU nodes."
    )
    assert caught.value.param == "gpus_per_worker"
    assert store.records() == []


def test_without_ray_the_extra_is_named_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    store = ResultStore(tmp_path / "out")
    with pytest.raises(MissingDependencyError) as caught:
        run_ray([BatchInput("a", "a.png")], store, config=PipelineConfig(), run_settings=RUN)
    assert str(caught.value) == (
        "vlad batch --engine ray needs Ray, which is not installed; install it with "
        "pip install 'vlad[ray]'."
    )
    assert not store.root.exists()


def test_chunks_keep_groups_apart_and_spread_over_the_actors():
    items = [BatchInput(id=f"i{n}", path=f"{n}.mp4") for n in range(7)]
    groups = [({"scene": "a"}, items[:5]), ({"scene": "b"}, items[5:])]
    chunks = plan_chunks(groups, actors=2, most=8)
    assert [(kwargs["scene"], [i.id for i in part]) for kwargs, part in chunks] == [
        ("a", ["i0", "i1"]),
        ("a", ["i2", "i3"]),
        ("a", ["i4"]),
        ("b", ["i5"]),
        ("b", ["i6"]),
    ]
    assert [len(part) for _, part in plan_chunks([({}, items)], actors=1, most=3)] == [3, 3, 1]


def test_the_vllm_stage_path_stores_what_the_local_engine_stores(image_inputs, clip_dir, tmp_path):
    """Without vLLM here, the two actors of the ray.data.llm path are driven directly."""
    from dataclasses import replace

    from vlad.runners.batch.local import input_hashes
    from vlad.runners.batch.ray_engine import _ExplainActor, _StoreActor

    config = _config(clip_dir)
    options = BatchOptions(progress=False, workers=0)
    images = image_inputs  # one is unreadable
    local = ResultStore(tmp_path / "local").open()
    run_local(images, local, config=config, run_settings=RUN, llm=None, options=options)
    staged = ResultStore(tmp_path / "staged").open()
    settings = {
        "config": config,
        "llm": None,
        "cache": False,
        "options": replace(options, llm_batch=4),
        "out_dir": str(staged.root),
        "defer_texts": True,
    }
    hashes = input_hashes(images, RUN)
    payload = pickle.dumps(({}, images, hashes))
    rows = _ExplainActor(settings)({"payload": [payload]})
    assert sorted(rows) == ["messages", "payload"] and len(rows["payload"]) == 2
    assert [r["id"] for r in staged.records()] == ["broken.png"]  # failures stored at once
    conversation = pickle.loads(rows["messages"][0])
    assert [m["role"] for m in conversation] == ["system", "user"]
    answers = ["", "   "]  # the model said nothing usable: the template text, as local
    _StoreActor(settings)({"payload": rows["payload"], "answer": answers})
    expected, found = _by_id(local), _by_id(staged)
    assert sorted(found) == sorted(expected)
    for input_id, want in expected.items():
        got = found[input_id]
        for key in ("status", "verdict", "score", "text", "text_source", "settings_hash"):
            assert got.get(key) == want.get(key), key
