#!/usr/bin/env python3
"""CPU per refresh of `flowscope watch` against a full `flowscope flow`, on one load.

    sudo python3 bench/watch.py [--connections 20000] [--refreshes 30] [--binary PATH]

Starts bench/loadgen.py (N connections = 2N sockets), then, round-robin, --runs times each:
- `flowscope flow -n`: a full listing (dump, /proc scan, join, table);
- `flowscope watch -i 0.2 --count 1` and `--count R+1` in a pseudo-terminal (script(1)):
  the difference of their CPU times over R is the CPU of one refresh, without the start-up
  and the first full scan.
Prints the medians and the ratio refresh / full listing (issue target: under 1/3).
"""
import argparse
import os
import shlex
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (Load, measure, build)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=20000)
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--refreshes", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--binary")
    parser.add_argument("--scratch-path", default=".build-bench")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    binary = run.build(args)

    def watch(count):
        command = "%s watch -i 0.2 --count %d" % (shlex.quote(binary), count)
        return run.measure(["script", "-qfec", command, "/dev/null"])

    load = run.Load(args.connections, args.processes)
    try:
        flow, first, many = [], [], []
        for _ in range(args.runs):
            flow.append(run.measure([binary, "flow", "-n"]))
            first.append(watch(1))
            many.append(watch(args.refreshes + 1))
    finally:
        load.stop()

    full = statistics.median(cpu for _, cpu, _ in flow)
    per_refresh = statistics.median(
        (m[1] - f[1]) / args.refreshes for f, m in zip(first, many))
    rss = statistics.median(rss for _, _, rss in many)
    print("sockets: %d (N=%d over %d processes), %d runs, medians"
          % (2 * args.connections, args.connections, args.processes, args.runs))
    print("flowscope flow -n        CPU %.3f s  wall %.3f s"
          % (full, statistics.median(w for w, _, _ in flow)))
    print("watch, one refresh       CPU %.3f s  (peak RSS over %d refreshes %.1f MB)"
          % (per_refresh, args.refreshes, rss / 1024))
    print("refresh / full listing   %.2f  (target < 0.33: %s)"
          % (per_refresh / full, "ok" if per_refresh / full < 1 / 3 else "missed"))


if __name__ == "__main__":
    main()
