#!/usr/bin/env bash
# How long promote and rollback take to reach a running Adapter process that follows a model registry
# (Adapter__ModelPollMs at its default, 1000 ms). Everything is local: the mock broker, a private
# redis-server, a file-system registry with two small synthetic models. Each figure runs from the start of
# `streaming models promote|rollback` (a new process) until the Adapter's /metrics reports the version active.
# Usage: bench/rollout.sh [rounds]     (run ./streaming once first: it builds)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
S="dotnet $root/artifacts/bin/Streaming.Cli/release/streaming.dll"
port=$((20000 + RANDOM % 10000)); http=$((30000 + RANDOM % 10000))
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

$S train --data synthetic --epochs 1 --out "$work/a.model" > /dev/null
$S train --data synthetic --epochs 1 --seed 2 --out "$work/b.model" > /dev/null
$S models push "$work/a.model" --registry "$work/registry" --promote > /dev/null
$S models push "$work/b.model" --registry "$work/registry" > /dev/null

$S mock-broker > "$work/broker.out" 2>&1 & pids+=($!)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" > /dev/null 2>&1 & pids+=($!)
until grep -q bootstrap= "$work/broker.out"; do sleep 0.1; done
Kafka__BootstrapServers="$(grep bootstrap= "$work/broker.out" | cut -d= -f2)" Redis__Configuration="127.0.0.1:$port" \
  Adapter__Registry="$work/registry" Adapter__Catalogue=synthetic ASPNETCORE_URLS="http://127.0.0.1:$http" \
  Logging__LogLevel__Default=Warning dotnet "$root/artifacts/bin/Streaming.Adapter/release/Streaming.Adapter.dll" > "$work/adapter.log" 2>&1 & pids+=($!)
until curl -sf "http://127.0.0.1:$http/health" > /dev/null; do sleep 0.2; done

active() { curl -s "http://127.0.0.1:$http/metrics" | grep '^streaming_adapter_model_info' | grep 'role="active"' | sed 's/.*version="\([^"]*\)".*/\1/'; }
worst=0
for _ in $(seq "${1:-5}"); do
  for step in "promote v2" "rollback"; do
    want=$([ "$step" = "rollback" ] && echo v1 || echo v2)
    t0=$(date +%s%N)
    $S models $step --registry "$work/registry" > /dev/null
    until [ "$(active)" = "$want" ]; do sleep 0.02; done
    ms=$(( ($(date +%s%N) - t0) / 1000000 )); worst=$(( ms > worst ? ms : worst ))
    echo "$step -> $want active in the Adapter: $ms ms"
  done
done
echo "worst: $worst ms (goal: 2000 ms)"
