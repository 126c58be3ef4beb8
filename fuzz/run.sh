#!/bin/sh
# Builds the libFuzzer harnesses and runs each in turn for SECONDS (default 60).
#   fuzz/run.sh [seconds] [netlink|procfs|query|recording ...]
# Everything lands in .build-fuzz/ (gitignored): bin/, corpus/<name>/ (grown from
# fuzz/seeds/<name>/), crashes/<name>/, <name>.log. Not part of `make test` or CI.
set -eu
cd "$(dirname "$0")/.."

seconds=${1:-60}
[ $# -gt 0 ] && shift
harnesses=${*:-netlink procfs query recording}
out=.build-fuzz
# Swift's backtracer would symbolicate for tens of seconds after every crash.
export SWIFT_BACKTRACE=enable=no

mkdir -p "$out/bin"
flags="-sanitize=fuzzer,address -parse-as-library -swift-version 6 -O -g"

# A pure target that imports FlowModel and SockDiag: SwiftPM builds those (uninstrumented)
# and their objects are linked in; the target itself is compiled here with coverage.
#   harness_over_model TARGET NAME HARNESS.swift
harness_over_model() {
  echo "building fuzz-$2"
  swift build --scratch-path "$out" --target "$1" >"$out/$2-deps.log" 2>&1 ||
    { cat "$out/$2-deps.log"; exit 1; }
  swiftc $flags -module-name "$1" -I "$out/debug/Modules" \
    Sources/"$1"/*.swift fuzz/"$3" \
    "$out"/debug/FlowModel.build/*.o "$out"/debug/SockDiag.build/*.o \
    -o "$out/bin/fuzz-$2"
}

for name in $harnesses; do
  case $name in
    netlink)
      # SockDiag needs nothing but the standard library.
      echo "building fuzz-netlink"
      swiftc $flags -module-name SockDiag Sources/SockDiag/*.swift fuzz/FuzzNetlink.swift \
        -o "$out/bin/fuzz-netlink"
      ;;
    procfs)
      # ProcFS imports SystemPackage: SwiftPM builds that dependency (uninstrumented) and
      # its objects are linked in; ProcFS itself is compiled here with coverage.
      echo "building fuzz-procfs"
      swift build --scratch-path "$out" --target SystemPackage >"$out/systempackage.log" 2>&1 ||
        { cat "$out/systempackage.log"; exit 1; }
      swiftc $flags -module-name ProcFS -I "$out/debug/Modules" \
        -Xcc -fmodule-map-file="$out/checkouts/swift-system/Sources/CSystem/include/module.modulemap" \
        Sources/ProcFS/*.swift fuzz/FuzzProcFS.swift \
        "$out"/debug/SystemPackage.build/*.o "$out"/debug/CSystem.build/*.o \
        -o "$out/bin/fuzz-procfs"
      ;;
    query) harness_over_model FlowQuery query FuzzQuery.swift ;;
    recording) harness_over_model FlowRecording recording FuzzRecording.swift ;;
    *) echo "unknown harness: $name (netlink, procfs, query, recording)" >&2; exit 2 ;;
  esac
done

status=0
for name in $harnesses; do
  corpus=$out/corpus/$name
  crashes=$out/crashes/$name
  log=$out/$name.log
  mkdir -p "$corpus" "$crashes"
  before=$(ls "$crashes" | wc -l)
  echo "running fuzz-$name for ${seconds}s (log: $log)"
  # The first corpus directory receives new inputs; the checked-in seeds stay as they are.
  "$out/bin/fuzz-$name" -max_total_time="$seconds" -timeout=10 -max_len=8192 \
    -dict="fuzz/$name.dict" -artifact_prefix="$crashes/" -print_final_stats=1 \
    "$corpus" "fuzz/seeds/$name" >"$log" 2>&1 || true
  found=$(($(ls "$crashes" | wc -l) - before))
  [ "$found" -gt 0 ] && status=1
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed 's/^#[0-9]*[[:space:]]*//')
  echo "fuzz-$name: executions ${execs:-?}, exec/s ${rate:-?}, crashes $found"
  echo "  last: $last"
  echo "  corpus: $(ls "$corpus" | wc -l) files in $corpus"
  if [ "$found" -gt 0 ]; then
    echo "  crash inputs in $crashes/ (reproduce: $out/bin/fuzz-$name FILE)"
    grep -m 3 -E 'ERROR|Fatal error|SUMMARY' "$log" | sed 's/^/  /'
  fi
done
exit $status
