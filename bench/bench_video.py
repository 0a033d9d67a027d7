"""Memory, pipeline overhead and re-scoring cost of vlad's video path on the CPU.

Run as ``python bench/bench_video.py [--quick]`` from the repository root.

What it does, in one run:

* creates a ``ViT-B-32`` CLIP with random weights under a fixed seed (speed and memory do
  not depend on weight values), saves it to a temporary ``.safetensors`` file and loads it
  back through vlad's own loader (``ClipConfig(weights=FILE, device="cpu")``);
* writes synthetic 640x360 25 fps H.264 MP4 videos (yuv420p, x264 ``veryfast``: B-frames
  and CABAC, as cameras and phones write) with the ffmpeg bundled with ``imageio-ffmpeg``
  from its ``testsrc2`` lavfi source: 30 s and 5 min (``--quick``: 10 s and 60 s);
* **1. streaming memory**: in a fresh subprocess per video (this script in a hidden
  ``--child-memory`` mode), loads the detector, then runs ``VideoDetector.encode`` and
  ``.score`` with the default ``VideoConfig`` (2 samples per second, the scene prompts' 5
  default definitions). The peak RSS while scoring is the kernel's high-water mark
  (``VmHWM``, reset through ``/proc/self/clear_refs`` once the model is loaded; a 20 ms
  psutil sampler cross-checks it); ``ru_maxrss`` of the whole process (model loading
  included) is printed too. Goal: long video <= 1.25 x short video, for both;
* **2. pipeline overhead**: on the short video, at 2 samples/s (the default) and 8/s,
  frames/s of ``encode`` + ``score`` (decode, sample, preprocess, CLIP forward, score)
  against frames/s of ``ClipEncoder.encode_images`` alone over the same frames (decoded
  and preprocessed beforehand, stacked in batches of the same size). Pairs are interleaved
  (encoder alone, then the pipeline): 5 at 2/s, with 2 and with 1 torch thread (the
  decoding thread shares the cores with torch), 3 at 8/s. Goal: ratio >= 0.85 at torch's
  default thread count, at every rate. A table of each stage's cost per sampled frame,
  measured alone, explains the ratio;
* **3. re-scoring**: ``detector.score(encoded, ["<a definition never embedded>"])`` on
  cached embeddings against the first pass (``encode`` + ``score``). Goal: below 5 %.

On a shared machine other processes disturb timings, the more so with 2 torch threads on
2 cores (a parallel region waits for its descheduled thread). So before each timed pair
the bench waits (up to ``--max-wait`` s) until other processes use under 0.25 cores,
measures their CPU use during each run from ``/proc/stat`` minus its own, and takes its
medians over the quiet pairs (over all pairs, said so, when none was quiet).

Diagnostics (skipped with ``--no-diagnostics``): the memory and 2/s overhead measurements
are repeated with the PyAV decoder forced (``open_video(..., backend="pyav")``) and with
decoding on the consumer's thread (no ``prefetch``), by replacing those names in
``vlad.pipeline.video`` in this process only. These rows show what a change in vlad would
give; the verdicts use vlad's own code.

The exit status is 1 when a goal is missed, else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ARCH = "ViT-B-32"
GOAL_MEMORY_RATIO = 1.25
GOAL_PIPELINE_RATIO = 0.85
GOAL_RESCORE_SHARE = 0.05
WIDTH, HEIGHT, RATE = 640, 360, 25
LAVFI_SOURCE = "testsrc2"
BATCH_SIZE = 16  # VideoConfig's default
CHILD_MARK = "BENCH_VIDEO_CHILD "
NEW_DEFINITIONS = (
    "a dog running across the platform",
    "a suitcase left alone near the door",
    "smoke rising from a car",
    "a person climbing over a fence",
    "water flooding the floor",
)


# ----------------------------------------------------------------------------- inputs


def make_weights(arch: str, folder: Path, seed: int) -> Path:
    """Save a randomly initialised open_clip model of ``arch`` as .safetensors."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None)
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    path = folder / f"{arch}-random-seed{seed}.safetensors"
    save_file(tensors, str(path))
    del model, tensors
    gc.collect()
    return path


def write_video(path: Path, seconds: float, preset: str) -> float:
    """Write a 640x360 25 fps H.264 MP4 from ffmpeg's testsrc2; return the seconds taken."""
    import imageio_ffmpeg

    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"{LAVFI_SOURCE}=size={WIDTH}x{HEIGHT}:rate={RATE}",
        "-t", f"{seconds:g}", "-c:v", "libx264", "-preset", preset,
        "-pix_fmt", "yuv420p", "-an", str(path),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


@contextlib.contextmanager
def patched_pipeline(*, backend: str | None = None, serial: bool = False) -> Iterator[None]:
    """Diagnostics: force a decoder, or decode on the consumer's thread (no prefetch).

    Only names looked up by ``vlad.pipeline.video`` are replaced, in this process only, and
    restored on exit; ``backend=None, serial=False`` changes nothing.
    """
    import vlad.pipeline.video as pipeline

    saved = pipeline.open_video, pipeline.prefetch
    if backend is not None:
        pipeline.open_video = functools.partial(saved[0], backend=backend)
    if serial:
        pipeline.prefetch = lambda items, maxsize=0: iter(items)
    try:
        yield
    finally:
        pipeline.open_video, pipeline.prefetch = saved


# ----------------------------------------------------------------------------- CPU use

QUIET_CORES = 0.25  # other processes' CPU use (in cores) under which a run counts as quiet


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def system_busy_s() -> float | None:
    """CPU seconds all processes have spent busy (not idle, not waiting on I/O), or None."""
    try:
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = sum(values) - values[3] - values[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class Window:
    """Wall time, this process's CPU time and the other processes' mean CPU use."""

    wall: float = 0.0
    own_cpu: float = 0.0
    others: float | None = None  # cores used by other processes on average

    @contextlib.contextmanager
    def measure(self) -> Iterator[Window]:
        busy, cpu, start = system_busy_s(), cpu_seconds(), time.perf_counter()
        yield self
        self.wall = time.perf_counter() - start
        self.own_cpu = cpu_seconds() - cpu
        after = system_busy_s()
        if busy is not None and after is not None and self.wall > 0:
            self.others = max(0.0, (after - busy - self.own_cpu) / self.wall)


def wait_quiet(max_wait: float, window: float = 1.0) -> float | None:
    """Wait (up to ``max_wait`` s) until other processes use under QUIET_CORES cores.

    Returns:
        The other processes' CPU use (cores) over the last window, or None without /proc.
    """
    deadline = time.perf_counter() + max_wait
    while True:
        idle = Window()
        with idle.measure():
            time.sleep(window)
        if idle.others is None or idle.others < QUIET_CORES:
            return idle.others
        if time.perf_counter() >= deadline:
            return idle.others


# ----------------------------------------------------------------------------- memory


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def ru_maxrss_bytes() -> int:
    """Peak RSS of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def vm_hwm_bytes() -> int | None:
    """The kernel's peak RSS of this process (VmHWM), or None where there is no /proc."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class RssSampler:
    """Samples the RSS on a thread every ``interval`` seconds and keeps the maximum."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def child_memory(video: str, weights: str, backend: str | None) -> int:
    """Hidden mode: load, encode + score one video, print one JSON line of measurements."""
    from vlad.config import ClipConfig, VideoConfig
    from vlad.pipeline.video import VideoDetector

    detector = VideoDetector.build(
        ClipConfig(arch=ARCH, weights=weights, device="cpu"), VideoConfig()
    )
    gc.collect()
    rss_loaded = rss_bytes()
    maxrss_loaded = ru_maxrss_bytes()
    reset = reset_high_water_mark()
    track: list[tuple[float, int]] = []  # (video time reached, RSS) after each batch

    def progress(time_s: float) -> None:
        track.append((time_s, rss_bytes()))

    cpu = cpu_seconds()
    start = time.perf_counter()
    with patched_pipeline(backend=backend), RssSampler() as sampler:
        encoded = detector.encode(video, progress=progress)
        result = detector.score(encoded)
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu
    hwm = vm_hwm_bytes() if reset else None
    maxrss_end = ru_maxrss_bytes()
    rescores = []
    for definition in NEW_DEFINITIONS[:3]:
        start = time.perf_counter()
        detector.score(encoded, [definition])
        rescores.append(time.perf_counter() - start)
    record = {
        "frames": len(encoded.frame_indices),
        "duration_s": encoded.info.duration_s,
        "backend": encoded.info.backend,
        "definitions": len(result.definitions),
        "threads": torch.get_num_threads(),
        "rss_loaded": rss_loaded,
        "maxrss_loaded": maxrss_loaded,
        "hwm_scoring": hwm,
        "sampled_peak_scoring": sampler.peak,
        "maxrss_end": maxrss_end,
        "rss_first_batch": track[0][1],
        "rss_last_batch": track[-1][1],
        "time_first_batch": track[0][0],
        "time_last_batch": track[-1][0],
        "wall_s": wall,
        "cpu_s": cpu,
        "rescore_s": statistics.median(rescores),
        "wait_for_frames_s": detector.times.wait_for_frames,
        "forward_s": detector.times.encode,
    }
    print(CHILD_MARK + json.dumps(record), flush=True)
    return 0


def run_child(video: Path, weights: Path, backend: str | None) -> dict[str, Any]:
    """Run the memory measurement of one video in a fresh interpreter."""
    command = [
        sys.executable, str(Path(__file__).resolve()),
        "--child-memory", str(video), "--weights", str(weights),
    ]  # fmt: skip
    if backend:
        command += ["--child-backend", backend]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(CHILD_MARK):
            return json.loads(line[len(CHILD_MARK) :])
    raise RuntimeError(
        f"memory child for {video.name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
    )


def mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f}"


def scoring_peak(record: dict[str, Any]) -> int:
    """Peak RSS while scoring: VmHWM after its reset, else the sampled peak."""
    return record["hwm_scoring"] or record["sampled_peak_scoring"]


# ----------------------------------------------------------------------------- overhead


@dataclass(frozen=True)
class Variant:
    """How the pipeline runs: torch threads, and the diagnostics' patches."""

    threads: int
    backend: str | None = None  # forced decoder; None: vlad's choice
    serial: bool = False  # decode on the consumer's thread instead of prefetching

    @property
    def is_vlad(self) -> bool:
        return self.backend is None and not self.serial

    def label(self, used_backend: str) -> str:
        if self.serial:
            return f"{used_backend}, serial"
        return f"{used_backend}{' forced' if self.backend else ''}"


@dataclass
class Pair:
    """One interleaved measurement: encoder alone, then the whole pipeline."""

    frames: int
    encoder: Window
    pipeline: Window
    wait_s: float  # VideoTimes.wait_for_frames: the loop starved of frames
    forward_s: float  # VideoTimes.encode: stack + forward + copy, inside the pipeline
    score_s: float

    @property
    def ratio(self) -> float:
        return self.encoder.wall / self.pipeline.wall

    @property
    def others(self) -> float:
        values = [w.others for w in (self.encoder, self.pipeline) if w.others is not None]
        return max(values, default=0.0)

    @property
    def quiet(self) -> bool:
        return self.others <= QUIET_CORES


@dataclass
class Setting:
    """All pairs of one sampling rate and variant."""

    rate: float | None
    variant: Variant
    used_backend: str = ""
    pairs: list[Pair] = field(default_factory=list)

    @property
    def used(self) -> list[Pair]:
        """The quiet pairs, or every pair when none was quiet."""
        return [p for p in self.pairs if p.quiet] or self.pairs

    def median(self, get: Callable[[Pair], float]) -> float:
        return statistics.median(get(p) for p in self.used)

    @property
    def frames(self) -> int:
        return self.pairs[0].frames

    @property
    def encoder_fps(self) -> float:
        return self.frames / self.median(lambda p: p.encoder.wall)

    @property
    def pipeline_fps(self) -> float:
        return self.frames / self.median(lambda p: p.pipeline.wall)

    @property
    def ratio(self) -> float:
        return self.median(lambda p: p.ratio)

    @property
    def best_ratio(self) -> float:
        """Best encoder-alone time over best pipeline time, over every pair."""
        return min(p.encoder.wall for p in self.pairs) / min(p.pipeline.wall for p in self.pairs)

    @property
    def quiet_count(self) -> int:
        return sum(p.quiet for p in self.pairs)


def rate_name(rate: float | None) -> str:
    return "every frame" if rate is None else f"{rate:g}/s"


def predecode(encoder: Any, video: Path, rate: float | None) -> tuple[list[int], list[Any]]:
    """Decode and preprocess the sampled frames exactly as the pipeline does."""
    from vlad.media.video import open_video

    indices, pixels = [], []
    with open_video(video) as reader:
        for frame in reader.iter_frames(rate):
            indices.append(frame.index)
            pixels.append(encoder.preprocess([Image.fromarray(frame.image)])[0])
    return indices, pixels


def measure_setting(
    encoder: Any,
    video: Path,
    rate: float | None,
    variant: Variant,
    repeats: int,
    max_wait: float,
) -> tuple[Setting, Any, Any]:
    """Interleaved pairs for one setting; returns the detector and its last EncodedVideo."""
    from vlad.config import VideoConfig
    from vlad.pipeline.video import VideoDetector, VideoTimes

    torch.set_num_threads(variant.threads)
    detector = VideoDetector(encoder, VideoConfig(sample_fps=rate, batch_size=BATCH_SIZE))
    # The text side is embedded once per detector: do it before any timing.
    detector.scorer.score(torch.zeros(1, encoder.embed_dim), detector.definitions)
    indices, pixels = predecode(encoder, video, rate)
    batches = [torch.stack(pixels[i : i + BATCH_SIZE]) for i in range(0, len(pixels), BATCH_SIZE)]
    del pixels
    encoder.encode_images(batches[0])  # warm-up at this thread count
    setting = Setting(rate, variant)
    encoded = None
    for _ in range(repeats):
        wait_quiet(max_wait)
        alone = Window()
        with alone.measure():
            for batch in batches:
                encoder.encode_images(batch)
        detector.times = VideoTimes()
        whole = Window()
        with whole.measure():
            with patched_pipeline(backend=variant.backend, serial=variant.serial):
                encoded = detector.encode(video)
            scored = time.perf_counter()
            detector.score(encoded)
            score_s = time.perf_counter() - scored
        if list(encoded.frame_indices) != indices:
            raise RuntimeError("the pipeline sampled other frames than the pre-decoded ones")
        setting.used_backend = encoded.info.backend
        setting.pairs.append(
            Pair(
                frames=len(indices),
                encoder=alone,
                pipeline=whole,
                wait_s=detector.times.wait_for_frames,
                forward_s=detector.times.encode,
                score_s=score_s,
            )
        )
    del batches
    gc.collect()
    return setting, detector, encoded


@dataclass
class Costs:
    """Cost per sampled frame of decoding (one decoder) and preprocessing, measured alone.

    Each is the best of a few runs, the one least disturbed by other processes.
    """

    rate: float | None
    backend: str
    frames: int
    decode_s: float  # wall time per frame, decoding on the main thread
    decode_cpu_s: float  # CPU time per frame (decoder threads included)
    preprocess_s: float
    others: float | None  # other processes' CPU use (cores) during the best decode run


def measure_costs(
    encoder: Any, video: Path, rate: float | None, backend: str, repeats: int, max_wait: float
) -> Costs:
    """Decode-only, then preprocess-only, time per sampled frame on the main thread."""
    from vlad.media.video import open_video

    decodes: list[Window] = []
    preprocesses: list[float] = []
    used, n = backend, 0
    for _ in range(repeats):
        wait_quiet(max_wait)
        images = []
        window = Window()
        with window.measure(), open_video(video, backend=backend) as reader:  # type: ignore[arg-type]
            for frame in reader.iter_frames(rate):
                images.append(frame.image)
            used = reader.info.backend
        decodes.append(window)
        start = time.perf_counter()
        for image in images:
            encoder.preprocess([Image.fromarray(image)])
        preprocesses.append(time.perf_counter() - start)
        n = len(images)
    best = min(decodes, key=lambda w: w.wall)
    return Costs(
        rate,
        used,
        n,
        decode_s=best.wall / n,
        decode_cpu_s=min(w.own_cpu for w in decodes) / n,
        preprocess_s=min(preprocesses) / n,
        others=best.others,
    )


# ----------------------------------------------------------------------------- report


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return "load average n/a"
    busy = "; other processes use the CPUs" if one > 0.5 else ""
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min{busy})"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def parse_rates(text: str) -> list[float | None]:
    rates: list[float | None] = []
    for part in text.split(","):
        part = part.strip()
        rates.append(None if part in ("all", "every") else float(part))
    return rates


def backend_name(backend: str | None) -> str:
    return "vlad's" if backend is None else f"{backend} (forced)"


# ----------------------------------------------------------------------------- sections


def section_memory(
    videos: dict[str, Path], weights: Path, diagnostics: bool, failures: list[str]
) -> dict[str, dict[str, Any]]:
    print(
        "1. streaming memory: a fresh subprocess per video loads the detector, then runs "
        "encode + score (VideoConfig(): 2 samples/s, 5 default definitions)"
    )
    runs: list[tuple[str, str | None]] = [("short", None), ("long", None)]
    if diagnostics:
        runs += [("short", "pyav"), ("long", "pyav")]
    records = {}
    for name, backend in runs:
        records[f"{name}/{backend}"] = run_child(videos[name], weights, backend)
    header = (
        f"{'video':>5} {'decoder':>14} {'backend':>7} {'frames':>6} {'wall s':>7} {'cpu s':>7} "
        f"{'RSS loaded':>10} {'peak scoring':>12} {'sampled':>7} {'ru_maxrss':>9} "
        f"{'1st batch':>9} {'last batch':>10}"
    )
    print(header + "   (MiB)")
    print("-" * len(header))
    for key, r in records.items():
        name, backend = key.split("/")
        print(
            f"{name:>5} {backend_name(None if backend == 'None' else backend):>14} "
            f"{r['backend']:>7} {r['frames']:>6} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} "
            f"{mib(r['rss_loaded']):>10} {mib(r['hwm_scoring']):>12} "
            f"{mib(r['sampled_peak_scoring']):>7} {mib(r['maxrss_end']):>9} "
            f"{mib(r['rss_first_batch']):>9} {mib(r['rss_last_batch']):>10}"
        )
    print(
        "(peak scoring: VmHWM reset after the model was loaded; sampled: psutil every 20 ms; "
        "ru_maxrss: whole process, model loading included; 1st/last batch: RSS after the "
        "first and the last batch of frames)"
    )
    ok = True
    for backend in [None, "pyav"] if diagnostics else [None]:
        short, long = records[f"short/{backend}"], records[f"long/{backend}"]
        ratio_peak = scoring_peak(long) / scoring_peak(short)
        ratio_maxrss = long["maxrss_end"] / short["maxrss_end"]
        growth_short = scoring_peak(short) - short["rss_loaded"]
        growth_long = scoring_peak(long) - long["rss_loaded"]
        minutes = (long["time_last_batch"] - long["time_first_batch"]) / 60
        drift = (long["rss_last_batch"] - long["rss_first_batch"]) / 2**20
        judged = backend is None
        ok_here = max(ratio_peak, ratio_maxrss) <= GOAL_MEMORY_RATIO
        label = (
            f"decoder {backend_name(backend)} ({long['backend']})"
            if judged
            else f"diagnostic, decoder {backend_name(backend)}"
        )
        print(
            f"{label}: peak RSS while scoring long/short {mib(scoring_peak(long))} / "
            f"{mib(scoring_peak(short))} MiB = {ratio_peak:.3f}; ru_maxrss "
            f"{mib(long['maxrss_end'])} / {mib(short['maxrss_end'])} MiB = {ratio_maxrss:.3f}; "
            f"above the loaded model: short +{mib(growth_short)}, long +{mib(growth_long)} MiB; "
            f"long video from first to last batch {drift:+.0f} MiB over {minutes:.1f} min"
            + (f"  (goal <= {GOAL_MEMORY_RATIO}): {verdict(ok_here)}" if judged else "")
        )
        if judged:
            ok = ok_here
    if not ok:
        failures.append("peak RSS while scoring grows with the video's length")
    return records


def others_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def section_overhead(
    encoder: Any,
    video: Path,
    seconds: float,
    rates: list[float | None],
    thread_counts: list[int],
    default_threads: int,
    repeats: int,
    max_wait: float,
    diagnostics: bool,
    failures: list[str],
) -> tuple[Any, Any, Setting]:
    print(
        f"2. pipeline overhead on the {seconds:g} s video, batch {BATCH_SIZE}: interleaved "
        "pairs (encoder alone on the pre-decoded frames, then encode + score); before each "
        f"pair the bench waits up to {max_wait:g} s for other processes to use under "
        f"{QUIET_CORES} cores"
    )
    print("cost per sampled frame of each stage alone, on the main thread (no overlap):")
    for rate in rates:
        for backend in ("auto", "pyav") if diagnostics else ("auto",):
            cost = measure_costs(encoder, video, rate, backend, 3, max_wait)
            print(
                f"  {rate_name(rate):>11} ({cost.frames} frames) decode {cost.backend:>6}"
                f"{' (forced)' if backend == 'pyav' else ' (vlad)  '}: "
                f"{cost.decode_s * 1000:5.1f} ms wall, {cost.decode_cpu_s * 1000:5.1f} ms CPU; "
                f"preprocess {cost.preprocess_s * 1000:4.1f} ms  (best of 3; others "
                f"{others_text(cost.others)} cores)"
            )
    settings: list[Setting] = []
    kept = None
    for position, rate in enumerate(rates):
        # Thread counts and diagnostics at the first rate; the others at torch's default.
        counts = thread_counts if position == 0 else [default_threads]
        plan = [Variant(t) for t in counts]
        if diagnostics and position == 0:
            plan += [
                Variant(default_threads, backend="pyav"),
                Variant(default_threads, serial=True),
            ]
        for variant in plan:
            setting, detector, encoded = measure_setting(
                encoder,
                video,
                rate,
                variant,
                repeats if position == 0 else max(1, repeats - 2),
                max_wait,
            )
            settings.append(setting)
            if kept is None and variant.is_vlad and variant.threads == default_threads:
                kept = (detector, encoded, setting)
    torch.set_num_threads(default_threads)
    header = (
        f"{'rate':>6} {'thr':>3} {'decoder':>15} {'frames':>6} {'quiet':>5} {'others':>6} "
        f"{'enc f/s':>7} {'pipe f/s':>8} {'ratio':>6} {'best/best':>9} {'enc CPU':>7} "
        f"{'pipe CPU':>8} {'wait s':>6} {'fwd pipe':>8} {'fwd alone':>9} {'score s':>7}"
    )
    print(header)
    print("-" * len(header))
    for st in settings:
        print(
            f"{rate_name(st.rate):>6} {st.variant.threads:>3} "
            f"{st.variant.label(st.used_backend):>15} {st.frames:>6} "
            f"{st.quiet_count:>2}/{len(st.pairs):<2} "
            f"{statistics.median(p.others for p in st.pairs):>6.2f} "
            f"{st.encoder_fps:>7.2f} {st.pipeline_fps:>8.2f} {st.ratio:>6.3f} "
            f"{st.best_ratio:>9.3f} "
            f"{st.median(lambda p: p.encoder.own_cpu / p.frames) * 1000:>7.0f} "
            f"{st.median(lambda p: p.pipeline.own_cpu / p.frames) * 1000:>8.0f} "
            f"{st.median(lambda p: p.wait_s):>6.2f} {st.median(lambda p: p.forward_s):>8.2f} "
            f"{st.median(lambda p: p.encoder.wall):>9.2f} {st.median(lambda p: p.score_s):>7.3f}"
        )
    print(
        "(quiet: pairs during which other processes used <= "
        f"{QUIET_CORES} cores; others: their median use in cores; f/s, ratio and the "
        "columns after best/best: medians over the quiet pairs, or over all when none was "
        "quiet; ratio: encoder-alone time / pipeline time on the same frames and threads; "
        "best/best: fastest encoder-alone run / fastest pipeline run; enc/pipe CPU: CPU ms "
        "of this process per frame; wait: VideoTimes.wait_for_frames; fwd pipe: "
        "VideoTimes.encode, the forward passes inside the pipeline; fwd alone: the "
        "encoder-alone time; serial: decoding on the consumer's thread, no prefetch)"
    )
    forwards = ", ".join(
        f"{st.median(lambda p: p.encoder.wall / p.frames) * 1000:.1f} ms/frame at "
        f"{st.variant.threads} thread(s)"
        for st in settings
        if st.rate == rates[0] and st.variant.is_vlad
    )
    print(
        f"  CLIP forward alone (encode_images, batch {BATCH_SIZE}), "
        f"{rate_name(rates[0])}: {forwards}"
    )
    for rate in rates:
        mine = [st for st in settings if st.rate == rate and st.variant.is_vlad]
        pipe = max(mine, key=lambda st: st.pipeline_fps)
        alone = max(mine, key=lambda st: st.encoder_fps)
        print(
            f"  {rate_name(rate)}: fastest pipeline {pipe.pipeline_fps:.2f} f/s "
            f"({pipe.variant.threads} thread(s)) / fastest encoder alone "
            f"{alone.encoder_fps:.2f} f/s ({alone.variant.threads} thread(s)) = "
            f"{pipe.pipeline_fps / alone.encoder_fps:.3f}"
        )
    judged = [st for st in settings if st.variant.is_vlad and st.variant.threads == default_threads]
    ok = all(st.ratio >= GOAL_PIPELINE_RATIO for st in judged)
    text = ", ".join(
        f"{rate_name(st.rate)} {st.ratio:.3f}"
        + ("" if st.quiet_count else " (no quiet pair: measured under load)")
        for st in judged
    )
    print(
        f"pipeline / encoder-alone frames/s at torch's default {default_threads} threads, "
        f"vlad's decoder: {text}  (goal >= {GOAL_PIPELINE_RATIO}): {verdict(ok)}"
    )
    if not ok:
        failures.append("the pipeline is slower than the encoder alone by more than the goal")
    assert kept is not None
    return kept


def section_rescoring(
    kept: tuple[Any, Any, Setting],
    seconds: float,
    long_seconds: float,
    long_record: dict[str, Any],
    max_wait: float,
    failures: list[str],
) -> None:
    detector, encoded, setting = kept
    encoder = detector.encoder
    torch.set_num_threads(setting.variant.threads)
    before = encoder.text_cache_size
    windows = []
    for definition in NEW_DEFINITIONS:
        wait_quiet(max_wait)
        window = Window()
        with window.measure():
            detector.score(encoded, [definition])
        windows.append(window)
    added = encoder.text_cache_size - before
    cached = Window()
    with cached.measure():
        detector.score(encoded, [NEW_DEFINITIONS[0]])
    quiet = [w for w in windows if w.others is None or w.others <= QUIET_CORES]
    rescore = statistics.median(w.wall for w in quiet or windows)
    first_pass = setting.median(lambda p: p.pipeline.wall)
    share = rescore / first_pass
    print(
        f"3. re-scoring the {seconds:g} s video ({len(encoded.frame_indices)} frames at "
        f"{rate_name(encoded.sample_fps)}, backend {encoded.info.backend}, "
        f"{setting.variant.threads} torch threads) against one new definition"
    )
    print(
        f"first pass encode + score {first_pass:.2f} s (median of {len(setting.used)} "
        f"{'quiet ' if setting.quiet_count else ''}pair(s)); score(new definition) "
        f"{rescore * 1000:.1f} ms (median of {len(quiet or windows)} "
        f"{'quiet ' if quiet else ''}of {len(windows)} definitions; all: "
        + ", ".join(f"{w.wall * 1000:.0f}" for w in windows)
        + " ms; others "
        + ", ".join(others_text(w.others) for w in windows)
        + f" cores); {added} new sentences embedded; an already embedded definition "
        f"{cached.wall * 1000:.1f} ms"
    )
    long_share = long_record["rescore_s"] / long_record["wall_s"]
    ok = share < GOAL_RESCORE_SHARE
    print(
        f"re-score / first pass: {share:.2%}; {long_seconds:g} s video in its subprocess: "
        f"{long_record['rescore_s'] * 1000:.1f} ms / {long_record['wall_s']:.1f} s = "
        f"{long_share:.2%}  (goal < {GOAL_RESCORE_SHARE:.0%}): {verdict(ok)}"
    )
    if not ok:
        failures.append("re-scoring costs too large a share of a first pass")


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter videos, fewer repeats")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rates", default=None, help="overhead sampling rates (2,8; 'all')")
    parser.add_argument("--threads", default="2,1", help="torch thread counts to compare")
    parser.add_argument(
        "--repeats", type=int, default=None, help="pairs per setting at the first rate (5)"
    )
    parser.add_argument(
        "--max-wait", type=float, default=None, help="seconds to wait for quiet CPUs (30)"
    )
    parser.add_argument("--preset", default="veryfast", help="x264 preset of the videos")
    parser.add_argument("--no-diagnostics", action="store_true", help="skip the forced-PyAV rows")
    parser.add_argument("--child-memory", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-backend", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--weights", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    # open_clip imports timm, whose deprecation notice would land in the middle of the report.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"timm\b")
    if args.child_memory:
        return child_memory(args.child_memory, args.weights, args.child_backend)

    from vlad.config import ClipConfig
    from vlad.encoders.clip import load_clip
    from vlad.media.video import probe_video
    from vlad.media.video.sources.decord import decord_threads

    short_s, long_s = (10.0, 60.0) if args.quick else (30.0, 300.0)
    rates = parse_rates(args.rates or ("2" if args.quick else "2,8"))
    thread_counts = [int(t) for t in args.threads.split(",")]
    repeats = args.repeats or (1 if args.quick else 5)
    max_wait = args.max_wait if args.max_wait is not None else (5.0 if args.quick else 30.0)
    diagnostics = not args.no_diagnostics
    default_threads = torch.get_num_threads()
    decord_thread_count = decord_threads()

    print(f"vlad video bench: {ARCH}, random weights (seed {args.seed}), CPU fp32")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"open_clip {version('open_clip_torch')}, av {version('av')}, "
        f"decord {version('decord')}, numpy {np.__version__}, pillow {version('pillow')}, "
        f"imageio-ffmpeg {version('imageio-ffmpeg')}"
    )
    print(
        f"CPUs {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), "
        f"{platform.processor() or platform.machine()}; torch threads {default_threads} "
        f"(interop {torch.get_num_interop_threads()}); decord threads {decord_thread_count}; "
        f"PyAV thread_type AUTO; {load_average()}"
    )

    failures: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vlad-bench-video-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        weights = make_weights(ARCH, folder, args.seed)
        print(
            f"weights: {weights.stat().st_size / 1e6:.0f} MB .safetensors in "
            f"{time.perf_counter() - start:.1f} s"
        )
        videos = {}
        for name, seconds in (("short", short_s), ("long", long_s)):
            path = folder / f"{LAVFI_SOURCE}_{WIDTH}x{HEIGHT}_{seconds:g}s.mp4"
            took = write_video(path, seconds, args.preset)
            info = probe_video(path)
            videos[name] = path
            print(
                f"video {name}: {info.width}x{info.height} H.264 yuv420p (x264 {args.preset}, "
                f"lavfi {LAVFI_SOURCE}), {info.duration_s:.1f} s, {info.frame_count} frames at "
                f"{info.fps:g} fps, {path.stat().st_size / 1e6:.1f} MB, vlad's backend "
                f"{info.backend}; written in {took:.1f} s"
            )

        print()
        records = section_memory(videos, weights, diagnostics, failures)

        print()
        encoder = load_clip(ClipConfig(arch=ARCH, weights=str(weights), device="cpu"))
        kept = section_overhead(
            encoder,
            videos["short"],
            short_s,
            rates,
            thread_counts,
            default_threads,
            repeats,
            max_wait,
            diagnostics,
            failures,
        )

        print()
        section_rescoring(kept, short_s, long_s, records["long/None"], max_wait, failures)
    print()
    print(f"after the run ({time.perf_counter() - started:.0f} s): {load_average()}")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
