#!/usr/bin/env python3
"""Holds N established loopback TCP connections (2N sockets) over K worker processes.

Each worker listens on its own address in 127.0.0.0/8 so ephemeral ports never run out,
connects to itself N/K times, and sets SO_LINGER {1,0} so nothing lingers in TIME_WAIT.
Workers also hold a few UDP and UNIX sockets. Everything ends by itself after --seconds,
and with the parent (PR_SET_PDEATHSIG). Prints "ready <pids>" on stdout once all are up.

Traffic goes only to 127.x.y.z addresses on this machine.
"""
import argparse
import ctypes
import os
import resource
import signal
import socket
import struct
import sys
import time

PR_SET_PDEATHSIG = 1


def worker(index, connections, seconds, ready_fd):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.alarm(seconds)
    need = 2 * connections + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, soft), max(need, hard)))
    address = "127.10.%d.%d" % (index // 250, index % 250 + 1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    linger = struct.pack("ii", 1, 0)
    held = []
    for _ in range(connections):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        client.connect((address, port))
        server, _ = listener.accept()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        client.send(b"x" * 10)
        held.append(client)
        held.append(server)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, 0))
    pair = socket.socketpair()
    held += [udp, *pair]
    os.write(ready_fd, b"r")
    os.close(ready_fd)
    signal.pause()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=20000)
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=600)
    args = parser.parse_args()
    per_worker = max(1, args.connections // args.processes)
    read_end, write_end = os.pipe()
    pids = []
    for index in range(args.processes):
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                worker(index, per_worker, args.seconds, write_end)
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(write_end)
    got = 0
    while got < args.processes:
        chunk = os.read(read_end, 64)
        if not chunk:
            break
        got += len(chunk)
    print("ready " + " ".join(map(str, pids)), flush=True)
    for ending in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(ending, lambda *_: None)
    signal.alarm(args.seconds)
    try:
        signal.pause()
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


if __name__ == "__main__":
    sys.exit(main())
