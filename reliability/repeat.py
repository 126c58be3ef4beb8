#!/usr/bin/env python3
"""Repeat: runs flowscope's listings over and over while churn.py keeps processes and sockets
appearing and vanishing, and counts what went wrong.

For each command (default: `flow`, `proc`, `flow --json`, `proc --json`), --runs times in a
row (default 1,000), one after the other, with churn running the whole time. Each run is
classed as:

  crash     death by a signal, or "Fatal error" / a Swift backtrace / "Program crashed" on stderr
  timeout   still running after --timeout seconds (killed by pid)
  exit N    a non-zero exit status; documented: 1 with a one-line message on stderr, 64 usage
  badjson   (--json commands) stdout is not one JSON document with "version": 1
  ok        exit 0, and valid JSON where JSON was asked

It prints a table per command (runs, ok, crashes, timeouts, exit codes, JSON failures, time
median/max), churn's summary, and the distinct stderr lines seen (digits folded to #). The
output of every failing run is kept under --keep (default /tmp/flowscope-repeat.<pid>).

Needs root for a full picture (and for churn's --netns): sudo python3 reliability/repeat.py
"""
import argparse
import collections
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CRASH_MARKERS = ("Fatal error", "Program crashed", "Backtrace", "Crashed", "Segmentation fault", "Illegal instruction")
DEFAULT_COMMANDS = ["flow", "proc", "flow --json", "proc --json"]


def start_churn(args):
    command = ["nice", "-n", str(args.churn_nice), sys.executable, os.path.join(HERE, "churn.py"),
               "--seconds", str(args.churn_seconds), "--rate", str(args.rate)]
    if not args.root_netns:
        command.append("--netns")
    churn = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = churn.stdout.readline()
    if not line.startswith("ready"):
        sys.exit("churn did not start: %r" % line)
    return churn


def stop_churn(churn):
    if churn.poll() is None:
        churn.send_signal(signal.SIGTERM)
    try:
        out, _ = churn.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        churn.kill()
        out, _ = churn.communicate()
    lines = [l for l in out.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def fold(line):
    return re.sub(r"\d+", "#", line.strip())


class Tally:
    def __init__(self, name):
        self.name = name
        self.runs = 0
        self.ok = 0
        self.crashes = 0
        self.timeouts = 0
        self.exits = collections.Counter()
        self.exit1_without_message = 0
        self.bad_json = 0
        self.times = []
        self.stderr_lines = collections.Counter()
        self.failures = []  # (run, what)


def run_once(binary, words, is_json, timeout, env):
    started = time.monotonic()
    proc = subprocess.Popen([binary] + words, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()  # our own child, by pid
        out, err = proc.communicate()
        timed_out = True
    return proc.returncode, out, err, timed_out, time.monotonic() - started


def classify(tally, index, code, out, err, timed_out, elapsed, is_json, keep):
    tally.runs += 1
    tally.times.append(elapsed)
    text = err.decode("utf-8", "replace")
    for line in text.splitlines():
        if line.strip():
            tally.stderr_lines[fold(line)] += 1
    what = []
    if timed_out:
        tally.timeouts += 1
        what.append("timeout")
    crashed = code is not None and code < 0
    if any(marker in text for marker in CRASH_MARKERS):
        crashed = True
    if crashed:
        tally.crashes += 1
        what.append("crash (%s)" % (signal.Signals(-code).name if code and code < 0 else "stderr"))
    if code not in (0, None) and not crashed and not timed_out:
        tally.exits[code] += 1
        what.append("exit %d" % code)
        if code == 1 and not text.strip():
            tally.exit1_without_message += 1
            what.append("exit 1 without a message")
    if is_json and code == 0:
        try:
            document = json.loads(out)
            if not isinstance(document, dict) or document.get("version") != 1:
                raise ValueError("no \"version\": 1")
        except ValueError as error:
            tally.bad_json += 1
            what.append("bad JSON: %s" % error)
    if what:
        tally.failures.append((index, ", ".join(what)))
        if len(tally.failures) <= 20:
            stem = os.path.join(keep, "%s.%d" % (re.sub(r"\W+", "_", tally.name), index))
            with open(stem + ".out", "wb") as f:
                f.write(out)
            with open(stem + ".err", "wb") as f:
                f.write(err)
    else:
        tally.ok += 1


def print_table(tallies):
    head = ["command", "runs", "ok", "crashes", "timeouts", "non-zero exits", "bad JSON", "median s", "max s"]
    rows = []
    for t in tallies:
        exits = ", ".join("%d×%d" % (n, c) for c, n in sorted(t.exits.items())) or "0"
        rows.append([
            "flowscope " + t.name, str(t.runs), str(t.ok), str(t.crashes), str(t.timeouts), exits,
            str(t.bad_json) if "--json" in t.name else "-",
            "%.3f" % statistics.median(t.times) if t.times else "-",
            "%.3f" % max(t.times) if t.times else "-",
        ])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.path.join(HERE, "..", ".build", "release", "flowscope"))
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--command", action="append", dest="commands",
                        help="a flowscope command line to repeat (repeatable); default: %s" % DEFAULT_COMMANDS)
    parser.add_argument("--rate", type=float, default=300, help="churn's children per second")
    parser.add_argument("--churn-nice", type=int, default=5)
    parser.add_argument("--root-netns", action="store_true",
                        help="churn in the root network namespace (default: a namespace of its own)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a run counts as hung")
    parser.add_argument("--keep", default="/tmp/flowscope-repeat.%d" % os.getpid())
    parser.add_argument("--json-out", help="write the figures as JSON to this file")
    args = parser.parse_args()

    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit("no flowscope binary at %s (build it, or pass --binary)" % binary)
    commands = args.commands or DEFAULT_COMMANDS
    os.makedirs(args.keep, exist_ok=True)
    # Churn must outlive the runs; it is stopped by pid (SIGTERM) when they are done.
    args.churn_seconds = 24 * 3600
    env = dict(os.environ)

    churn = start_churn(args)
    time.sleep(2)  # let churn reach its rate
    tallies = []
    started = time.monotonic()
    try:
        for command in commands:
            words = shlex.split(command)
            tally = Tally(command)
            tallies.append(tally)
            is_json = "--json" in words or "-J" in words
            for index in range(args.runs):
                if churn.poll() is not None:
                    sys.exit("churn ended early (status %s)" % churn.returncode)
                code, out, err, timed_out, elapsed = run_once(binary, words, is_json, args.timeout, env)
                classify(tally, index, code, out, err, timed_out, elapsed, is_json, args.keep)
                if (index + 1) % 250 == 0:
                    print("  %s: %d runs, %d not ok" % (command, index + 1, tally.runs - tally.ok),
                          file=sys.stderr, flush=True)
    finally:
        churn_summary = stop_churn(churn)
    elapsed = time.monotonic() - started

    print()
    print_table(tallies)
    print()
    if churn_summary:
        print("churn: %d processes in %.0f s (%.0f/s), %d TCP connections, %d TCP/%d UDP/%d UNIX sockets%s" % (
            churn_summary["processes_started"], churn_summary["seconds"], churn_summary["processes_per_second"],
            churn_summary["tcp_connections_opened"], churn_summary["tcp_sockets"], churn_summary["udp_sockets"],
            churn_summary["unix_sockets"], ", in a network namespace of its own" if churn_summary["netns"] else ""))
    print("total time: %.0f s" % elapsed)
    for t in tallies:
        if t.failures:
            print("\n%s: %d failing runs, first ones:" % (t.name, len(t.failures)))
            for index, what in t.failures[:10]:
                print("  run %d: %s" % (index, what))
        if t.stderr_lines:
            print("\n%s: stderr lines (digits as #), most frequent first:" % t.name)
            for line, n in t.stderr_lines.most_common(8):
                print("  %5d  %s" % (n, line[:160]))
    print("\nfailing runs' output kept in %s" % args.keep)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({
                "binary": binary,
                "churn": churn_summary,
                "seconds": round(elapsed, 1),
                "commands": [{
                    "command": t.name, "runs": t.runs, "ok": t.ok, "crashes": t.crashes, "timeouts": t.timeouts,
                    "exits": {str(k): v for k, v in t.exits.items()},
                    "exit1_without_message": t.exit1_without_message, "bad_json": t.bad_json,
                    "median_s": statistics.median(t.times) if t.times else None,
                    "max_s": max(t.times) if t.times else None,
                    "stderr": t.stderr_lines.most_common(20),
                    "failures": t.failures[:50],
                } for t in tallies],
            }, f, indent=1)
    bad = sum(t.crashes + t.timeouts + sum(t.exits.values()) + t.bad_json for t in tallies)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
