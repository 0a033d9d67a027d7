"""Answer a batch of 3 conversations with vlad's VLLMBackend and report tokens/s.

Run through ``bench/vllm_cpu_check.sh``, which builds the vLLM CPU environment and sets
``VLLM_TARGET_DEVICE=cpu``; run directly only in an env that has vLLM.

Generation settings belong to a ``chat()`` call, not to a conversation, so the batch goes
in as two calls: the two plain conversations together, then the third with a
``json_schema`` (vLLM guided decoding; its answer must parse as JSON with the schema's
keys). A third measurement sends all three in one call without a schema, to show what
batching in one call gives. Each is timed after a warm-up round (the first round pays for
grammar compilation).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable

from vlad.reasoning.backends.vllm_backend import Generation, VLLMBackend
from vlad.reasoning.llm import GenerationSettings

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "anomaly": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 120},
    },
    "required": ["anomaly", "reason"],
    "additionalProperties": False,
}

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}],
    [
        {"role": "system", "content": "You watch a parking lot camera. Be brief."},
        {"role": "user", "content": "Name two events in a parking lot that would be unusual."},
    ],
    [
        {
            "role": "user",
            "content": "A man is riding a bicycle inside a library reading room. "
            "Is this an anomaly? Give your verdict and a short reason.",
        }
    ],
]


def timed(
    run: Callable[[], list[Generation]], repeats: int
) -> tuple[list[Generation], list[float]]:
    """Run once to warm up, then ``repeats`` times; return the answers and tokens/s of each."""
    generations = run()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        outs = run()
        rates.append(sum(g.new_tokens for g in outs) / (time.perf_counter() - start))
    return generations, rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="local HF model folder")
    parser.add_argument(
        "--dtype",
        default="float32",
        help="float32 (default: CPUs without AVX512-BF16/AMX run bf16 emulated, much slower), "
        "bfloat16 or auto (the model's own, bf16 here)",
    )
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument(
        "--max-num-batched-tokens",
        type=int,
        default=None,
        help="tokens per engine step, passed to vllm.LLM (default: --max-model-len); also the "
        "size of vLLM's warm-up run",
    )
    parser.add_argument(
        "--enforce-eager", action="store_true", help="skip torch.compile (faster start)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds after warm-up")
    args = parser.parse_args()

    import torch
    import vllm

    print(f"python {platform.python_version()}, vllm {vllm.__version__}, torch {torch.__version__}")
    print(
        f"VLLM_TARGET_DEVICE={os.environ.get('VLLM_TARGET_DEVICE')} "
        f"VLLM_CPU_KVCACHE_SPACE={os.environ.get('VLLM_CPU_KVCACHE_SPACE')} "
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}"
    )

    start = time.perf_counter()
    backend = VLLMBackend(
        args.model,
        dtype=args.dtype,
        max_model_len=args.max_model_len,
        # An engine option VLLMBackend does not name: it goes to vllm.LLM as it is.
        max_num_batched_tokens=args.max_num_batched_tokens or args.max_model_len,
        enforce_eager=args.enforce_eager,
    )
    print(f"\nbackend: {backend.name} (dtype {args.dtype})")
    print(f"engine built in {time.perf_counter() - start:.1f} s")

    plain = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=0.0)
    guided = GenerationSettings(
        max_new_tokens=args.max_new_tokens, temperature=0.0, json_schema=VERDICT_SCHEMA
    )
    generations, mixed_rates = timed(
        lambda: (
            backend.generate(CONVERSATIONS[:2], plain) + backend.generate(CONVERSATIONS[2:], guided)
        ),
        args.repeats,
    )
    _, batch_rates = timed(lambda: backend.generate(CONVERSATIONS, plain), args.repeats)

    print()
    for number, (conversation, generation) in enumerate(
        zip(CONVERSATIONS, generations, strict=True)
    ):
        print(f"--- conversation {number} ({'json_schema' if number == 2 else 'plain'})")
        print(f"Q: {conversation[-1]['content']}")
        print(f"A: {generation.text}")
        print(
            f"   prompt {generation.prompt_tokens} tokens, answer {generation.new_tokens} "
            f"tokens, finish {generation.finish_reason}"
        )

    guided_answer = generations[2]
    try:
        verdict = json.loads(guided_answer.text)
    except json.JSONDecodeError as exc:
        ok = guided_answer.finish_reason == "length"  # cut by max_new_tokens: no verdict
        print(f"\njson_schema answer does not parse ({exc}); finish {guided_answer.finish_reason}")
    else:
        ok = isinstance(verdict, dict) and set(verdict) == {"anomaly", "reason"}
        print(f"\njson_schema answer parses: {verdict}; keys as in the schema: {ok}")

    print("\nnew tokens/s, greedy, after one warm-up round:")
    print(f"  2 plain + 1 json_schema (two chat calls): {_rates(mixed_rates)}")
    print(f"  3 plain in one chat call:                 {_rates(batch_rates)}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{r:.1f}" for r in rates) + (f" (best {max(rates):.1f})" if rates else "")


if __name__ == "__main__":
    sys.exit(main())
