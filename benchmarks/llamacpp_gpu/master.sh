#!/bin/bash
# The whole device job, started once (detached) by device_run.sh: build a CUDA llama-server from the vendored
# llama.cpp, write the all-zero F16 GGUFs, quantize them to Q4_K_M with the real llama-quantize (a CPU build of
# the same commit, carried in .lcpp/bin-cpu/), then run sweep.py model by model as each file is ready.
# Usage: master.sh REPO WORKDIR
set -u
R=$1; W=$2
MODELS="qwen2.5-0.5b mistral-7b-v0.3 llama-3.1-8b gemma-2-9b qwen3-30b-a3b"
export PYTHONUNBUFFERED=1
cp -a "$R/.lcpp" "$W/lcpp" && cp -a "$R/benchmarks" "$W/benchmarks" || { echo "copy failed"; touch "$W/done"; exit 1; }
{ date -u; nproc; free -g; df -h /tmp "$R"; nvidia-smi; nvcc --version | tail -2; cmake --version | head -1; python3 -c 'import numpy; print("numpy", numpy.__version__)'; } > "$W/env.txt" 2>&1

( cmake -S "$W/lcpp" -B "$W/build" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DGGML_NATIVE=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_NUMBER=11312 -DLLAMA_BUILD_COMMIT=0c1e570 \
  && cmake --build "$W/build" --target llama-server -j16 \
  && { [ -x "$W/lcpp/bin-cpu/llama-quantize" ] || cmake --build "$W/build" --target llama-quantize -j16; } \
  && touch "$W/build.done" ) > "$W/build.log" 2>&1 &
BPID=$!

mkdir -p "$W/f16" "$W/q" "$W/logs"
Q="$W/lcpp/bin-cpu/llama-quantize"
if [ ! -x "$Q" ]; then  # no carried CPU build: use the CUDA tree's, built right after llama-server
  Q="$W/build/bin/llama-quantize"
fi
( [ -x "$Q" ] || { while [ ! -f "$W/build.done" ] && [ ! -f "$W/done" ]; do sleep 3; done; }
  LLAMA_CPP_DIR="$W/lcpp" python3 "$W/benchmarks/llamacpp_gpu/make_models.py" "$W/f16" > "$W/make.log" 2>&1
  for m in $MODELS; do
    if [ "$m" = qwen3-30b-a3b ]; then  # 18.6 GB: wait for disk freed by earlier sweeps if needed
      for i in $(seq 600); do
        free_gb=$(df -BG --output=avail "$W" | tail -1 | tr -dc 0-9)
        [ "$free_gb" -gt 24 ] && break; sleep 2
      done
    fi
    t0=$SECONDS
    nice -n 5 "$Q" "$W/f16/$m-f16.gguf" "$W/q/$m.gguf" Q4_K_M 12 > "$W/quant-$m.log" 2>&1 \
      && touch "$W/q/$m.ready"
    echo "quantized $m rc=$? in $((SECONDS - t0)) s, $(stat -c %s "$W/q/$m.gguf" 2>/dev/null) bytes" >> "$W/quant.log"
  done
  touch "$W/q/all.done" ) &

wait $BPID; rc=$?
echo "build rc=$rc at $SECONDS s" >> "$W/progress.log"
if [ $rc -ne 0 ] || [ ! -x "$W/build/bin/llama-server" ]; then touch "$W/done"; exit 1; fi
"$W/build/bin/llama-server" --version >> "$W/progress.log" 2>&1

for m in $MODELS; do
  while [ ! -f "$W/q/$m.ready" ] && [ ! -f "$W/q/all.done" ]; do sleep 2; done
  [ -f "$W/q/$m.ready" ] || { echo "no $m" >> "$W/progress.log"; continue; }
  python3 "$W/benchmarks/llamacpp_gpu/sweep.py" --server "$W/build/bin/llama-server" --models "$W/q" \
    --out "$W/sweep.json" --logs "$W/logs" --only "$m" >> "$W/progress.log" 2>&1
  rm -f "$W/q/$m.gguf"
done
echo "all done at $SECONDS s" >> "$W/progress.log"
touch "$W/done"
