#!/usr/bin/env python3
"""`flowscope serve` under churn: its resident memory over --minutes, scraped every second.

    sudo python3 reliability/serve_rss.py --binary PATH [--minutes 10]

Starts reliability/churn.py (root network namespace, so serve sees the churn and its destroy
messages) and `flowscope serve --min-interval 1` on a free loopback port, scrapes /metrics every
second, and samples serve's VmRSS and VmHWM every 30 s. Everything it starts is stopped by pid.
Prints the samples and the closes serve folded in (flowscope_closed_flows_total).
"""
import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def status(pid, field):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    seconds = args.minutes * 60
    churn = subprocess.Popen(["nice", "-n", "5", sys.executable, os.path.join(HERE, "churn.py"),
                              "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)
    serve = subprocess.Popen([args.binary, "serve", "--listen", "127.0.0.1:%d" % port,
                              "--min-interval", "1"], stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d/metrics" % port
    samples = []
    body = b""
    try:
        start = time.time()
        next_sample = start
        while time.time() - start < seconds:
            try:
                body = urllib.request.urlopen(url, timeout=10).read()
            except OSError:
                pass
            if time.time() >= next_sample:
                samples.append((round(time.time() - start), status(serve.pid, "VmRSS"),
                                status(serve.pid, "VmHWM")))
                print("t=%4d s  RSS %6d kB  peak %6d kB" % samples[-1], flush=True)
                next_sample += 30
            time.sleep(1)
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        churn.terminate()
        churn.wait(timeout=30)
    for line in body.decode().splitlines():
        if line.startswith("flowscope_closed_flows_total") or line.startswith("flowscope_destroy"):
            print(line)


if __name__ == "__main__":
    main()
