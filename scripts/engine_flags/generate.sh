#!/usr/bin/env bash
# Regenerate the engine flag snapshots in llmstack/catalog/engine_flags/ (one JSON per engine).
#
#   scripts/engine_flags/generate.sh [vllm|sglang|llamacpp|tgi|tei|ollama|nim|all]   (default: all)
#
# Everything heavy happens under $WORK (default /tmp/engine-flags): throw-away venvs with the pinned vLLM / SGLang
# wheels installed with --no-deps plus only what importing their parsers needs (CPU torch; no GPU, no CUDA wheels),
# llama.cpp sources from PyPI sdists, and the TGI / TEI / Ollama repositories, which must be given as git clones or
# mirrors ($TGI_REPO, $TEI_REPO, $OLLAMA_REPO; defaults are the mirror paths the snapshots were first made from).
# Nothing is built and nothing here is installed into the project's .venv. Bump the versions below together with
# llmstack/catalog/engines.yaml; tests/engines fails while a snapshot's image tag differs from engines.yaml.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="${WORK:-/tmp/engine-flags}"
PY="${PYTHON:-python3.11}"          # the parsers import under CPython 3.11 (the CPU torch wheel used is cp311)
PROJECT_PY="${PROJECT_PY:-$ROOT/.venv/bin/python}"

VLLM_VERSION=0.30.0
SGLANG_VERSION=0.5.10.post1
TORCH_VERSION=2.13.0                 # what vllm 0.30.0 pins; a CPU build is enough to build the parsers
# llama.cpp: the image is build b11206; PyPI has no sdist of exactly that build. llama-cpp-python 0.3.36 vendors
# ggml-org/llama.cpp@0c1e57098 (between b11063 and b11549); xllamacpp's sdists vendor b11063 and b11549 exactly
# (their versions end in the build number) and bracket it.
LCPP_PY_VERSION=0.3.36
LCPP_REVISION=0c1e57098
XLLAMACPP_BELOW=2026.9.11063
XLLAMACPP_ABOVE=2026.10.11549
TGI_TAG=v3.3.7
TEI_TAG=v1.9.3                       # engines.yaml pins cpu-1.9.3, this release
OLLAMA_TAG=v0.12.10
TGI_REPO="${TGI_REPO:-/work/.mirror/huggingface+text-generation-inference/repo}"
TEI_REPO="${TEI_REPO:-/work/.mirror/huggingface+text-embeddings-inference/repo}"
OLLAMA_REPO="${OLLAMA_REPO:-/work/.mirror/ollama+ollama/repo}"

mkdir -p "$WORK"
export ENGINE_FLAGS_VIA

venv() {  # venv NAME PACKAGE==VERSION [extra packages...]: a venv with PACKAGE (no deps) + torch + extras
  local dir="$WORK/venv-$1" pkg="$2"; shift 2
  if [ ! -x "$dir/bin/python" ]; then
    "$PY" -m venv "$dir"
    "$dir/bin/pip" install -q "torch==$TORCH_VERSION" numpy pyyaml
    "$dir/bin/pip" install -q --no-deps "$pkg"
    "$dir/bin/pip" install -q "$@"
  fi
  echo "$dir/bin/python"
}

sdist() {  # sdist NAME==VERSION: download and unpack a source distribution once, print its folder
  local spec="$1" name="${1%%==*}" version="${1##*==}" dir="$WORK/src"
  mkdir -p "$dir"
  local unpacked; unpacked="$(find -L "$dir" -maxdepth 1 -type d -iname "${name//-/[-_]}-$version" | head -1)"
  if [ -z "$unpacked" ]; then
    "$PY" -m pip download -q --no-deps --no-binary "$name" "$spec" -d "$dir"
    tar -C "$dir" -xzf "$(find "$dir" -maxdepth 1 -iname "${name//-/[-_]}-$version.tar.gz" | head -1)"
    unpacked="$(find -L "$dir" -maxdepth 1 -type d -iname "${name//-/[-_]}-$version" | head -1)"
  fi
  echo "$unpacked"
}

gen_vllm() {
  local py; py="$(venv vllm "vllm==$VLLM_VERSION" \
    regex cachetools psutil requests tqdm "transformers>=5.10.4" "huggingface_hub>=1.31.0" tokenizers safetensors \
    "pydantic>=2.12" "fastapi<0.137,>=0.133" "starlette>=1.0.1" aiohttp "openai>=2.25" prometheus_client pillow \
    msgspec pyzmq cloudpickle typing_extensions filelock jsonschema blake3 py-cpuinfo partial-json-parser cbor2 \
    pybase64 setproctitle einops sentencepiece uvloop openai-harmony xgrammar llguidance uvicorn watchfiles \
    model_hosting_container_standards)"
  ENGINE_FLAGS_VIA="scripts/engine_flags/generate.sh vllm (venv: vllm==$VLLM_VERSION --no-deps, torch==$TORCH_VERSION cpu)" \
    "$py" "$HERE/argparse_dump.py" vllm
}

gen_sglang() {
  local py; py="$(venv sglang "sglang==$SGLANG_VERSION" \
    tqdm pybase64 requests IPython pydantic aiohttp safetensors orjson triton packaging pillow starlette torchvision \
    openai partial-json-parser huggingface_hub transformers pyzmq dill sentencepiece)"
  ENGINE_FLAGS_VIA="scripts/engine_flags/generate.sh sglang (venv: sglang==$SGLANG_VERSION --no-deps, torch==$TORCH_VERSION cpu)" \
    "$py" "$HERE/argparse_dump.py" sglang
}

gen_llamacpp() {
  local main below above
  main="$(sdist "llama-cpp-python==$LCPP_PY_VERSION")/vendor/llama.cpp"
  below="$(sdist "xllamacpp==$XLLAMACPP_BELOW")/thirdparty/llama.cpp"
  above="$(sdist "xllamacpp==$XLLAMACPP_ABOVE")/thirdparty/llama.cpp"
  ENGINE_FLAGS_VIA="scripts/engine_flags/generate.sh llamacpp" \
    "$PROJECT_PY" "$HERE/llamacpp_args.py" --src "$main" --revision "$LCPP_REVISION" \
      --source-label "pypi:llama-cpp-python==$LCPP_PY_VERSION (sdist, vendor/llama.cpp)" \
      --compare "b${XLLAMACPP_BELOW##*.}=$below" --compare "b${XLLAMACPP_ABOVE##*.}=$above"
}

gen_tgi() { ENGINE_FLAGS_VIA="scripts/engine_flags/generate.sh tgi" \
  "$PROJECT_PY" "$HERE/clap_args.py" tgi --repo "$TGI_REPO" --tag "$TGI_TAG"; }
gen_tei() { ENGINE_FLAGS_VIA="scripts/engine_flags/generate.sh tei" \
  "$PROJECT_PY" "$HERE/clap_args.py" tei --repo "$TEI_REPO" --tag "$TEI_TAG"; }
gen_ollama() { ENGINE_FLAGS_VIA="scripts/engine_flags/generate.sh ollama" \
  "$PROJECT_PY" "$HERE/ollama_env.py" --repo "$OLLAMA_REPO" --tag "$OLLAMA_TAG"; }
gen_nim() { ENGINE_FLAGS_VIA="scripts/engine_flags/generate.sh nim" "$PROJECT_PY" "$HERE/nim_env.py"; }

target="${1:-all}"
if [ "$target" = all ]; then
  for e in vllm sglang llamacpp tgi tei ollama nim; do "gen_$e"; done
else
  "gen_$target"
fi
