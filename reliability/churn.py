#!/usr/bin/env python3
"""Churn: processes and sockets that appear and vanish at a high rate, for flowscope's
reliability runs.

The parent forks short-lived children at --rate per second (at most --max-live at once). Each
child picks a scenario: loopback TCP (a listener, 1-3 connections, some with data, closed
gracefully, abortively, half-closed or left to exit), UDP datagrams, UNIX sockets, a
refused connect, a socket shared with a grandchild, or all of them; holds its sockets for
0-300 ms (so scans see some of them), closes them and exits. A few children take names that
are not UTF-8 or carry escape sequences.

Every child reports what it did through a pipe (fixed-size records, atomic writes) just
before it exits; the parent sums them and prints one JSON object at the end. Socket counts
are sockets created by churn; each is closed by the time its process exits (by the child,
or by the kernel at exit), so for the sock_diag destroy groups:

    TCP destroy messages expected = tcp_sockets (listeners + 2 x connections + refused)
    UDP destroy messages expected = udp_sockets

Traffic stays on loopback: every address is in 127.77.0.0/16 (the child's own address,
127.77.x.y, so ports never run out). --netns runs everything in a new network namespace of
its own (lo only), so that a `flowscope events` run inside it (nsenter --net=/proc/PID/ns/net)
sees churn's sockets and nothing else. Bounded: --seconds, alarm() in every process,
PR_SET_PDEATHSIG in every child; children still alive at the end are killed by pid.

Output: "ready <pid>" on stdout once set up (after which, with --hold, it waits for one
line on stdin before starting), then the JSON summary as the last line. SIGTERM or SIGINT
ends the run early, with the summary.
"""
import argparse
import ctypes
import errno
import gc
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1
CLONE_NEWNET = 0x40000000
IP_BIND_ADDRESS_NO_PORT = 24

# What a child reports, in this order (int64 each).
FIELDS = [
    "scenario",
    "tcp_listeners",
    "tcp_connections",
    "tcp_sockets",
    "tcp_refused",
    "tcp_abortive",
    "tcp_left_to_exit",
    "tcp_half_closed",
    "tcp_bytes",
    "udp_sockets",
    "udp_datagrams",
    "unix_sockets",
    "grandchildren",
    "errors",
]
RECORD = struct.Struct("<%dq" % len(FIELDS))
SCENARIOS = ["tcp", "tcp", "tcp", "tcp", "udp", "unix", "refused", "shared", "mixed"]
ODD_NAMES = [b"churn\xff\xfe", b"churn\x1b[31m", b"ch\"urn\\\n", b"\xe2\x80\xa8churn"]

LIBC = ctypes.CDLL(None, use_errno=True)


def address_for(index):
    return "127.77.%d.%d" % ((index // 254) % 254 + 1, index % 254 + 1)


class Child:
    """One child's work; counts go into self.c."""

    def __init__(self, index, rng):
        self.index = index
        self.rng = rng
        self.address = address_for(index)
        self.c = dict.fromkeys(FIELDS, 0)
        self.held = []

    # --- TCP -----------------------------------------------------------------------------
    def tcp_socket(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.c["tcp_sockets"] += 1
        return s

    def listener(self):
        s = self.tcp_socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.address, 0))
        s.listen(16)
        self.c["tcp_listeners"] += 1
        return s

    def connect(self, listener):
        client = self.tcp_socket()
        client.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        client.bind((self.address, 0))
        client.connect(listener.getsockname())
        server, _ = listener.accept()
        self.c["tcp_sockets"] += 1
        self.c["tcp_connections"] += 1
        return client, server

    @staticmethod
    def recv_exactly(s, n):
        got = 0
        while got < n:
            chunk = s.recv(min(65536, n - got))
            if not chunk:
                break
            got += len(chunk)
        return got

    def exchange(self, client, server):
        size = self.rng.choice([0, 0, 1, 100, 1500, 4096, 32768])
        if size == 0:
            return
        client.sendall(b"q" * size)
        self.recv_exactly(server, size)
        reply = self.rng.choice([0, 10, size])
        if reply:
            server.sendall(b"r" * reply)
            self.recv_exactly(client, reply)
        self.c["tcp_bytes"] += size + reply

    def close_pair(self, client, server):
        mode = self.rng.choice(["client-first", "server-first", "abort", "abort-server", "half", "exit"])
        linger0 = struct.pack("ii", 1, 0)
        if mode == "client-first":
            client.close()
            server.recv(1)  # EOF
            server.close()
        elif mode == "server-first":
            server.close()
            client.recv(1)
            client.close()
        elif mode == "abort":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
            client.close()
            self.c["tcp_abortive"] += 1
            try:
                server.recv(1)
            except OSError:
                pass
            server.close()
        elif mode == "abort-server":
            server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
            server.close()
            self.c["tcp_abortive"] += 1
            try:
                client.recv(1)
            except OSError:
                pass
            client.close()
        elif mode == "half":
            # The server sits in CLOSE_WAIT until the process exits.
            client.close()
            self.held.append(server)
            self.c["tcp_half_closed"] += 1
        else:
            self.held += [client, server]
            self.c["tcp_left_to_exit"] += 2

    def tcp(self):
        lst = self.listener()
        pairs = [self.connect(lst) for _ in range(self.rng.randint(1, 3))]
        for client, server in pairs:
            self.exchange(client, server)
        self.hold()
        for client, server in pairs:
            self.close_pair(client, server)
        if self.rng.random() < 0.2:
            self.held.append(lst)
            self.c["tcp_left_to_exit"] += 1
        else:
            lst.close()

    def refused(self):
        # A port nobody listens on: bind one, note it, close it, connect to it.
        probe = self.tcp_socket()
        probe.bind((self.address, 0))
        target = probe.getsockname()
        probe.close()
        s = self.tcp_socket()
        try:
            s.connect(target)
            self.c["errors"] += 1
        except ConnectionRefusedError:
            self.c["tcp_refused"] += 1
        s.close()

    # --- UDP -----------------------------------------------------------------------------
    def udp(self):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.c["udp_sockets"] += 2
        a.bind((self.address, 0))
        b.bind((self.address, 0))
        for _ in range(self.rng.randint(1, 4)):
            a.sendto(b"d" * self.rng.randint(1, 1200), b.getsockname())
            b.recvfrom(2048)
            self.c["udp_datagrams"] += 1
        if self.rng.random() < 0.5:
            a.connect(b.getsockname())
            a.send(b"c")
            b.recv(16)
            self.c["udp_datagrams"] += 1
        self.hold()
        a.close()
        if self.rng.random() < 0.3:
            self.held.append(b)
        else:
            b.close()

    # --- UNIX ----------------------------------------------------------------------------
    def unix(self):
        x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        x.sendall(b"u" * 64)
        y.recv(64)
        d1, d2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        d1.send(b"g")
        d2.recv(8)
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(b"\0flowscope-churn-%d-%d" % (os.getpid(), self.index))
        lst.listen(4)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(lst.getsockname())
        s, _ = lst.accept()
        c.sendall(b"hello")
        s.recv(16)
        self.c["unix_sockets"] += 7
        self.hold()
        for sock in (x, y, d1, d2, c, s, lst):
            sock.close()

    # --- shared with a grandchild --------------------------------------------------------
    def shared(self):
        lst = self.listener()
        client, server = self.connect(lst)
        self.exchange(client, server)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() != parent:
                    os._exit(0)
                signal.alarm(5)
                time.sleep(self.rng.uniform(0, 0.05))
            finally:
                os._exit(0)
        self.c["grandchildren"] += 1
        self.hold()
        self.close_pair(client, server)
        lst.close()
        os.waitpid(pid, 0)

    def hold(self):
        r = self.rng.random()
        if r < 0.7:
            return
        time.sleep(self.rng.uniform(0, 0.05) if r < 0.9 else self.rng.uniform(0.05, 0.3))

    def run(self, scenario):
        self.c["scenario"] = SCENARIOS.index(scenario)
        if scenario == "mixed":
            self.tcp()
            self.udp()
            self.unix()
            self.refused()
        else:
            getattr(self, scenario)()


def child_main(index, seed, parent, report_fd, start_gate_fd):
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)
    signal.alarm(10)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    gc.disable()
    rng = random.Random(seed)
    scenario = rng.choice(SCENARIOS)
    name = b"churn-" + scenario.encode()
    if rng.random() < 0.05:
        name = rng.choice(ODD_NAMES)
    LIBC.prctl(PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)
    child = Child(index, rng)
    try:
        child.run(scenario)
    except OSError:
        child.c["errors"] += 1
    child.hold()
    # Report before exit: the sockets still held are closed by the kernel at exit.
    os.write(report_fd, RECORD.pack(*[child.c[f] for f in FIELDS]))
    os._exit(0)


def bring_lo_up():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long to churn (default 60)")
    parser.add_argument("--rate", type=float, default=300, help="children started per second (default 300)")
    parser.add_argument("--max-live", type=int, default=128, help="children alive at once, at most (default 128)")
    parser.add_argument("--netns", action="store_true", help="run in a new network namespace of its own")
    parser.add_argument("--hold", action="store_true", help="after 'ready', wait for a line on stdin")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", help="also write the JSON summary to this file")
    args = parser.parse_args()

    stop = {"why": None}

    def on_signal(number, _frame):
        stop["why"] = signal.Signals(number).name

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    if args.netns:
        if LIBC.unshare(CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            sys.exit("churn: unshare(CLONE_NEWNET): %s" % os.strerror(e))
        bring_lo_up()
    print("ready %d%s" % (os.getpid(), " netns" if args.netns else ""), flush=True)
    if args.hold:
        sys.stdin.readline()
    # A hard bound in case the loop below hangs: the default action of SIGALRM ends us,
    # and PR_SET_PDEATHSIG ends the children.
    signal.alarm(int(args.seconds) + 60)

    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    gc.disable()

    totals = dict.fromkeys(FIELDS[1:], 0)
    by_scenario = dict.fromkeys(sorted(set(SCENARIOS)), 0)
    live = {}
    started = 0
    reported = 0
    reaped = 0
    exit_nonzero = 0
    fork_failures = 0
    killed_at_end = 0
    pending = b""
    max_live_seen = 0

    def drain():
        nonlocal pending, reported
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            pending += chunk
        while len(pending) >= RECORD.size:
            values = RECORD.unpack_from(pending)
            pending = pending[RECORD.size:]
            reported += 1
            by_scenario[SCENARIOS[values[0]]] += 1
            for name, value in zip(FIELDS[1:], values[1:]):
                totals[name] += value

    def reap(block=False):
        nonlocal reaped, exit_nonzero
        while live:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                live.clear()
                return
            if pid == 0:
                return
            if live.pop(pid, None) is not None:
                reaped += 1
                if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
                    exit_nonzero += 1
            if block:
                return

    me = os.getpid()
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    while stop["why"] is None:
        now = time.monotonic()
        if now >= deadline:
            break
        drain()
        reap()
        due = int((now - t0) * args.rate) - started
        while due > 0 and len(live) < args.max_live:
            index = started
            child_seed = rng.getrandbits(64)
            try:
                pid = os.fork()
            except OSError:
                fork_failures += 1
                break
            if pid == 0:
                try:
                    os.close(read_end)
                    child_main(index, child_seed, me, write_end, None)
                finally:
                    os._exit(1)
            live[pid] = now
            started += 1
            due -= 1
        max_live_seen = max(max_live_seen, len(live))
        if due > 0:
            time.sleep(0.0005)  # at --max-live: wait for exits
        else:
            time.sleep(min(0.01, max(0.0, (started + 1) / args.rate - (time.monotonic() - t0))))
    ran = time.monotonic() - t0

    # Let the children finish by themselves (they are short-lived), then kill the rest by pid.
    grace = time.monotonic() + 5
    while live and time.monotonic() < grace:
        drain()
        reap()
        time.sleep(0.005)
    for pid in list(live):
        try:
            os.kill(pid, signal.SIGKILL)
            killed_at_end += 1
        except ProcessLookupError:
            pass
    while live:
        reap(block=True)
    drain()
    signal.alarm(0)

    summary = {
        "seed": seed,
        "netns": args.netns,
        "seconds": round(ran, 3),
        "ended_by": stop["why"] or "seconds",
        "rate_asked": args.rate,
        "processes_started": started,
        "processes_per_second": round(started / ran, 1) if ran > 0 else 0,
        "processes_reported": reported,
        "processes_exit_nonzero": exit_nonzero,
        "processes_killed_at_end": killed_at_end,
        "grandchildren": totals["grandchildren"],
        "fork_failures": fork_failures,
        "max_live": max_live_seen,
        "scenarios": by_scenario,
        "tcp_connections_opened": totals["tcp_connections"],
        "tcp_connections_closed": totals["tcp_connections"],
        "tcp_listeners": totals["tcp_listeners"],
        "tcp_refused": totals["tcp_refused"],
        "tcp_sockets": totals["tcp_sockets"],
        "tcp_sockets_closed": totals["tcp_sockets"],
        "tcp_abortive_closes": totals["tcp_abortive"],
        "tcp_left_to_exit": totals["tcp_left_to_exit"],
        "tcp_half_closed": totals["tcp_half_closed"],
        "tcp_bytes": totals["tcp_bytes"],
        "udp_sockets": totals["udp_sockets"],
        "udp_datagrams": totals["udp_datagrams"],
        "unix_sockets": totals["unix_sockets"],
        "child_errors": totals["errors"],
        "exact": reported == started and killed_at_end == 0,
    }
    text = json.dumps(summary, sort_keys=False)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
