#!/bin/bash
# One device call: start master.sh detached if it is not running yet, follow it for up to WAIT_S seconds,
# then copy what exists to $OUT. Call it again (back to back, the machine stays warm ~30 s) until it says done.
# Usage (from the repository root, on the GPU machine): bash benchmarks/llamacpp_gpu/device_run.sh WAIT_S
W=/tmp/lgpu
WAIT_S=${1:-540}
mkdir -p "$W"
if [ ! -f "$W/started" ]; then
  touch "$W/started"
  setsid nohup bash "$(pwd)/benchmarks/llamacpp_gpu/master.sh" "$(pwd)" "$W" > "$W/master.log" 2>&1 < /dev/null &
  echo "started master"
fi
end=$((SECONDS + WAIT_S))
last=""
while [ $SECONDS -lt $end ] && [ ! -f "$W/done" ]; do
  sleep 5
  cur="$(tail -c 300 "$W/build.log" 2>/dev/null | tail -1 | cut -c1-100) | $(cat "$W/quant.log" 2>/dev/null | wc -l) quantized | $(tail -1 "$W/progress.log" 2>/dev/null | cut -c1-150)"
  [ "$cur" != "$last" ] && echo "[$SECONDS s] $cur" && last="$cur"
done
[ -f "$W/done" ] && echo "DONE"
cp "$W/sweep.json" "$OUT/" 2>/dev/null
cat "$W/env.txt" "$W/master.log" "$W/make.log" "$W/quant.log" "$W/progress.log" > "$OUT/run.txt" 2>/dev/null
tail -c 200000 "$W/build.log" > "$OUT/build_tail.log" 2>/dev/null
tar -czf "$OUT/logs.tgz" -C "$W" logs $(cd "$W" && ls quant-*.log 2>/dev/null) 2>/dev/null
tail -5 "$W/progress.log" 2>/dev/null
df -h "$W" | tail -1
