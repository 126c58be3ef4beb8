#!/usr/bin/env bash
# The cost of reading many network namespaces: NS namespaces (default 20), each with a process
# holding CONN loopback connections (default 250, i.e. 500 sockets), then flowscope over all of
# them against flowscope over its own namespace only. Needs root. Cleans up what it made.
# Usage: bench/namespaces.sh [BINARY] [NS] [CONN] [RUNS]
set -euo pipefail
binary=${1:-.build/release/flowscope}
count=${2:-20}
connections=${3:-250}
runs=${4:-5}
prefix="fsbench$$"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for i in $(seq 1 "$count"); do ip netns del "$prefix-$i" 2>/dev/null || true; done
}
trap cleanup EXIT

holder='
import socket, sys, signal
signal.alarm(300)
n = int(sys.argv[1])
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(4096)
held = []
for _ in range(n):
    c = socket.create_connection(listener.getsockname()); a, _ = listener.accept(); held += [c, a]
print("ready", flush=True)
signal.pause()
'
for i in $(seq 1 "$count"); do
  ip netns add "$prefix-$i"
  ip -n "$prefix-$i" link set lo up
  coproc_out=$(mktemp)
  ip netns exec "$prefix-$i" python3 -c "$holder" "$connections" >"$coproc_out" &
  pids+=($!)
  until grep -q ready "$coproc_out" 2>/dev/null; do sleep 0.05; done
  rm -f "$coproc_out"
done

measure() {
  local label=$1; shift
  local times=()
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
  printf '%-44s %8.3f s (median of %d)\n' "$label" "$median" "$runs"
}

echo "$count namespaces x $((2 * connections)) sockets, $(nproc) cores, kernel $(uname -r)"
flows=$("$binary" -a -p tcp -H 2>/dev/null | wc -l)
echo "flows listed across namespaces: $flows"
measure "flowscope -a -p tcp (every namespace)" "$binary" -a -p tcp
measure "flowscope -a -p tcp --host-netns" "$binary" -a -p tcp --host-netns
measure "flowscope -a -p tcp --json (every namespace)" "$binary" -a -p tcp --json
