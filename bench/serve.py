#!/usr/bin/env python3
"""CPU of one `flowscope serve` collection against a full `flowscope --json`, on one load.

    sudo python3 bench/serve.py [--connections 50000] [--scrapes 20] [--binary PATH]

Starts bench/loadgen.py (N connections = 2N sockets over 50 processes), then:
- `flowscope --json` (dump, /proc scan, join, every field as JSON), --runs times: CPU and wall;
- `flowscope serve --min-interval 0` on a free loopback port: one scrape (start-up and the first
  full /proc scan), then --scrapes more; the serve process's CPU (utime+stime from
  /proc/PID/stat) over those scrapes, divided by their number, is one collection with its
  exposition. The server is stopped by pid.
Prints the medians, the ratio collection / full JSON (issue target: at most 1/3), and the
exposition's size (it grows with groups, not with sockets).
"""
import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (Load, measure, build)


def process_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=50000)
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--binary")
    parser.add_argument("--scratch-path", default=".build-bench")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--new-connection-per-scrape", action="store_true",
                        help="open a connection for each scrape (like curl) instead of keeping "
                             "one open as Prometheus does")
    args = parser.parse_args()
    binary = run.build(args)

    load = run.Load(args.connections, args.processes)
    try:
        full = [run.measure([binary, "--json"]) for _ in range(args.runs)]
        port = free_port()
        serve = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:%d" % port,
                                  "--min-interval", "0", "--scrape-timeout", "60"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = "http://127.0.0.1:%d/metrics" % port
            for _ in range(100):
                try:
                    first = urllib.request.urlopen(url, timeout=60).read()
                    break
                except OSError:
                    time.sleep(0.1)
            # Prometheus keeps its connection to a target open between scrapes: so does this,
            # unless told otherwise. (A new connection per scrape is a socket serve's owner
            # cache has never seen, in a process whose descriptor count did not move: each
            # collection then re-reads every process, as it must to name its owner.)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

            def scrape():
                if args.new_connection_per_scrape:
                    return urllib.request.urlopen(url, timeout=60).read()
                connection.request("GET", "/metrics")
                return connection.getresponse().read()

            per_collection, durations = [], []
            for _ in range(args.runs):
                before = process_cpu(serve.pid)
                started = time.time()
                for _ in range(args.scrapes):
                    body = scrape()
                per_collection.append((process_cpu(serve.pid) - before) / args.scrapes)
                durations.append((time.time() - started) / args.scrapes)
            rss = int(open("/proc/%d/status" % serve.pid).read().split("VmRSS:")[1].split()[0])
        finally:
            serve.terminate()
            serve.wait(timeout=10)
    finally:
        load.stop()

    full_cpu = statistics.median(cpu for _, cpu, _ in full)
    one = statistics.median(per_collection)
    lines = body.decode().splitlines()
    samples = [l for l in lines if not l.startswith("#")]
    print("sockets: %d (N=%d over %d processes), medians of %d runs"
          % (2 * args.connections, args.connections, args.processes, args.runs))
    print("flowscope --json           CPU %.3f s  wall %.3f s"
          % (full_cpu, statistics.median(w for w, _, _ in full)))
    print("serve, one collection      CPU %.3f s  wall %.3f s per scrape (RSS %.1f MB)"
          % (one, statistics.median(durations), rss / 1024))
    print("collection / full JSON     %.2f  (target <= 0.33: %s)"
          % (one / full_cpu, "ok" if one / full_cpu <= 1 / 3 else "missed"))
    print("exposition                 %d bytes, %d samples (first scrape %d bytes)"
          % (len(body), len(samples), len(first)))


if __name__ == "__main__":
    main()
