#!/usr/bin/env python3
"""The two owner sources of a listing, side by side: `flowscope --json` with --owners proc and
with --owners bpf (the BPF task-file iterator), and the iterator's floor against the /proc scan's.

    sudo python3 bench/owners.py --binary .build/release/flowscope            # 100k sockets
    sudo python3 bench/owners.py --binary .build/release/flowscope --connections 20000 --runs 3

Under the load of bench/loadgen.py (as bench/run.py starts it), each command runs --runs times
round-robin under bench/timer.c; the medians of wall time, CPU time (user+sys) and peak RSS are
printed as a Markdown table. As root: unprivileged, --owners bpf fails. Not part of the tests.
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Load, measure  # noqa: E402  (bench/run.py: the load and the timer)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True, help="a release flowscope")
    p.add_argument("--connections", type=int, default=50000, help="TCP connections (2 sockets each)")
    p.add_argument("--processes", type=int, default=50)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run it as root: --owners bpf needs root")
    fs = os.path.abspath(args.binary)
    rows = [
        ("flowscope --json --owners proc", [fs, "--json", "--owners", "proc"]),
        ("flowscope --json --owners bpf", [fs, "--json", "--owners", "bpf"]),
        ("flowscope -p all -a --json --owners proc", [fs, "-p", "all", "-a", "--json", "--owners", "proc"]),
        ("flowscope -p all -a --json --owners bpf", [fs, "-p", "all", "-a", "--json", "--owners", "bpf"]),
        ("flowscope proc --json --owners proc", [fs, "proc", "--json", "--owners", "proc"]),
        ("flowscope proc --json --owners bpf", [fs, "proc", "--json", "--owners", "bpf"]),
    ]
    load = Load(args.connections, args.processes)
    try:
        results = {name: [] for name, _ in rows}
        for _ in range(args.runs):
            for name, argv in rows:
                results[name].append(measure(argv))
    finally:
        load.stop()
    print("%d connections (%d sockets) over %d processes; medians of %d runs\n"
          % (args.connections, 2 * args.connections, args.processes, args.runs))
    print("| command | wall s | CPU s | peak RSS MB |")
    print("|---|---|---|---|")
    for name, _ in rows:
        walls, cpus, rsss = zip(*results[name])
        print("| `%s` | %.3f | %.3f | %.1f |" % (name, statistics.median(walls), statistics.median(cpus),
                                                statistics.median(rsss) / 1024))


if __name__ == "__main__":
    main()
