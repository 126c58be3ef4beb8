#!/usr/bin/env python3
"""Opens and closes loopback TCP connections at a steady rate, for `flowscope events`.

    python3 bench/churn.py --closes 10000 --seconds 30 --lifetime 2.5

K worker processes each listen on their own 127.30.0.x and connect to themselves; every
connection lives --lifetime seconds, then both ends close with SO_LINGER {1,0} (a reset: no
TIME_WAIT), so the kernel destroys --closes sockets per second in all (two per connection).
Once --seconds of opening is over, the last connections still live out their lifetime before
they close: every socket lives at least --lifetime. Prints "ready <pids>" once the workers run,
then, at the end, one line per worker: "closed <sockets> <opened connections> <seconds>".
Bounded in time (alarm, PR_SET_PDEATHSIG). Traffic goes only to 127.30.x.y on this machine.
"""
import argparse
import collections
import ctypes
import os
import resource
import signal
import socket
import struct
import sys
import time

PR_SET_PDEATHSIG = 1


def worker(index, per_second, seconds, lifetime, out_fd):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.alarm(int(seconds + lifetime + 60))
    need = int(2 * per_second * (lifetime + 1)) + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, soft), max(need, hard)))
    address = "127.30.0.%d" % (index + 1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    linger = struct.pack("ii", 1, 0)
    alive = collections.deque()  # (deadline, client, server)
    opened = closed = 0
    start = time.monotonic()
    tick = 0.01
    while True:
        now = time.monotonic()
        elapsed = now - start
        if elapsed < seconds:
            due = int(elapsed * per_second) - opened
            for _ in range(max(0, due)):
                client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                # From the worker's own address too (else the source is 127.0.0.1).
                client.bind((address, 0))
                client.connect((address, port))
                server, _ = listener.accept()
                server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                alive.append((now + lifetime, client, server))
                opened += 1
        elif not alive:
            break
        while alive and alive[0][0] <= now:
            _, client, server = alive.popleft()
            client.close()
            server.close()
            closed += 2
        time.sleep(tick)
    listener.close()
    os.write(out_fd, ("closed %d %d %.2f\n" % (closed, opened, time.monotonic() - start)).encode())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--closes", type=int, default=10000, help="sockets closed per second, in all")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--lifetime", type=float, default=2.5, help="seconds each connection lives")
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    per_second = args.closes / 2 / args.processes
    read_end, write_end = os.pipe()
    pids = []
    for index in range(args.processes):
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                worker(index, per_second, args.seconds, args.lifetime, write_end)
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(write_end)
    print("ready " + " ".join(map(str, pids)), flush=True)
    with os.fdopen(read_end) as results:
        for line in results:
            print(line.strip(), flush=True)
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


if __name__ == "__main__":
    sys.exit(main())
