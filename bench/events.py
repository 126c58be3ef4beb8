#!/usr/bin/env python3
"""`flowscope events` under churn, with a background load: the events part of bench/run.py alone.

    sudo python3 bench/events.py --binary .build/release/flowscope --background 50000 \\
        --owners proc --owners auto

Starts bench/loadgen.py (--background connections = twice as many sockets, over 50 processes;
0 for none), then for each --binary and each --owners given (in turn; none given: the default) runs
`flowscope events --json --scan-interval 1 --local 127.30.0.0/16` while bench/churn.py closes
--closes sockets a second for --seconds, each having lived 2.5 s, and prints one line per run:
closes made, close events logged, those with an owner, those without, and the lost ones (the
summary's `N lost`). The load is stopped by pid at the end. Nothing is written to RESULTS.md.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", action="append", required=True, help="repeatable: each runs in turn")
    p.add_argument("--background", type=int, default=50000, help="connections of the background load")
    p.add_argument("--processes", type=int, default=50)
    p.add_argument("--closes", type=int, default=10000)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--owners", action="append", default=[], help="proc, bpf or auto; repeatable")
    args = p.parse_args()
    load = run.Load(args.background, args.processes) if args.background > 0 else None
    try:
        for binary, owners in [(b, o) for b in args.binary for o in args.owners or [None]]:
            e = run.events_churn(binary, args.closes, args.seconds, owners=owners)
            print("%s owners=%s background=%d sockets: %.0f closes/s, %d closed, %d logged, %d with an owner, "
                  "%d without, lost %s, steal %.0f%%; %s"
                  % (binary, owners or "default", 2 * args.background, e["closes_per_second"], e["closed"], e["logged"],
                     e["known"], e["logged"] - e["known"], e["lost"], 100 * e["steal"], e["summary"]), flush=True)
    finally:
        if load:
            load.stop()


if __name__ == "__main__":
    main()
