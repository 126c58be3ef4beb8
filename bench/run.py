#!/usr/bin/env python3
"""flowscope against ss, lsof and netstat, on one loopback load, in one session.

    python3 bench/run.py                      # N=50,000 connections (100k sockets) and N=10,000
    python3 bench/run.py --connections 20000 --small 0 --runs 3   # a quicker look
    python3 bench/run.py --sizes 250000,50000 --runs 3 --slow-runs 1 --peers ss-tan,ss-tanp \
        --watch-refreshes 5 --scrapes 5 --events    # issue 16: 500k and 100k sockets, its targets

For each size it starts bench/loadgen.py (N connections over K processes, plus UDP and UNIX
sockets), waits for "ready", runs every command --runs times round-robin under bench/timer.c (as /usr/bin/time, to the µs),
takes medians of wall time, CPU time (user+sys) and peak RSS, prints a table with the ratios
flowscope/peer and flowscope/floor, and writes bench/RESULTS.md. The load is stopped by pid.

Not part of the test suite: it takes minutes and needs a quiet machine.
"""
import argparse
import atexit
import datetime
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--connections", type=int, default=50000, help="TCP connections (2 sockets each)")
    p.add_argument("--small", type=int, default=10000,
                   help="connections of the second, smaller load for the linearity check (0: skip)")
    p.add_argument("--processes", type=int, default=50)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--binary", default=None, help="flowscope binary (default: build in release)")
    p.add_argument("--scratch-path", default=".build", help="swift build --scratch-path")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--skip-peers", action="store_true", help="flowscope and its floor only")
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"), help="'-' to write none")
    p.add_argument("--sizes", default=None,
                   help="connections of each load, comma-separated, largest first (instead of "
                        "--connections and --small); e.g. 250000,50000 for 500k and 100k sockets")
    p.add_argument("--peers", default=",".join(PEERS),
                   help="peers to run, comma-separated, of: " + ", ".join(PEERS))
    p.add_argument("--slow-runs", type=int, default=None,
                   help="runs of the slow peers (ss -tanp, ss -tanpi, lsof, netstat; default "
                        "--runs): ss -tanp takes ~3 min at 500k sockets")
    p.add_argument("--watch-refreshes", type=int, default=0,
                   help="also time R refreshes of `watch` at each size (CPU per refresh; 0: no)")
    p.add_argument("--scrapes", type=int, default=0,
                   help="also time K collections of `serve` at each size (CPU per collection; 0: no)")
    p.add_argument("--events", action="store_true",
                   help="also run the `events` churn: --events-closes sockets closed per second "
                        "for --events-seconds (bench/churn.py), counting lost events and owners")
    p.add_argument("--events-closes", type=int, default=10000)
    p.add_argument("--events-seconds", type=float, default=30)
    args = p.parse_args()
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        args.connections, args.others = sizes[0], sizes[1:]
    else:
        args.others = [args.small] if args.small else []
    args.peers = [x for x in args.peers.split(",") if x]
    unknown = [x for x in args.peers if x not in PEERS]
    if unknown:
        p.error("unknown peer(s): %s" % ", ".join(unknown))
    if args.slow_runs is None:
        args.slow_runs = args.runs
    if args.skip_peers:
        args.peers = []
    return args


# name in --peers -> (row, argv, slow)
PEERS = {
    "ss-tan": ("ss -tan (no processes)", ["ss", "-tan"], False),
    "ss-tanp": ("ss -tanp", ["ss", "-tanp"], True),
    "ss-tanpi": ("ss -tanpi", ["ss", "-tanpi"], True),
    "lsof": ("lsof -i -n -P", ["lsof", "-i", "-n", "-P"], True),
    "netstat": ("netstat -tanp", ["netstat", "-tanp"], True),
}


def build(args):
    if args.binary:
        return os.path.abspath(args.binary)
    binary = os.path.join(REPO, args.scratch_path, "release", "flowscope")
    if not args.no_build:
        # As `make build` builds it: the Swift runtime linked in statically.
        subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib",
                        "--scratch-path", args.scratch_path],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return binary


class Load:
    """bench/loadgen.py, bounded in time and stopped by pid."""

    def __init__(self, connections, processes):
        seconds = 900
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "loadgen.py"), "--connections", str(connections),
             "--processes", str(processes), "--seconds", str(seconds)],
            stdout=subprocess.PIPE, text=True)
        self.workers = []
        deadline = time.time() + 300
        line = self.proc.stdout.readline()
        if not line.startswith("ready") or time.time() > deadline:
            self.stop()
            raise SystemExit("loadgen did not get ready: %r" % line)
        self.workers = [int(x) for x in line.split()[1:]]

    def stop(self):
        # The parent kills its workers on SIGTERM; the workers die with it anyway (PDEATHSIG).
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


TIMER = None  # bench/timer.c, built on first use


def timer():
    """Builds bench/timer.c once: /usr/bin/time's %e counts hundredths, and at 20k sockets a
    listing takes 0.06 s (one step moved the linearity ratio by a sixth)."""
    global TIMER
    if TIMER is None:
        directory = tempfile.mkdtemp(prefix="flowscope-bench-")
        atexit.register(shutil.rmtree, directory, True)
        path = os.path.join(directory, "timer")
        subprocess.run(["cc", "-O2", "-o", path, os.path.join(HERE, "timer.c")], check=True)
        TIMER = path
    return TIMER


def measure(argv, timeout=600):
    """One run: (wall s, cpu s, peak RSS KiB), stdout to /dev/null."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        subprocess.run([timer(), out.name] + argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=timeout)
        wall, cpu, rss = out.read().split()
    return float(wall), float(cpu), int(rss)


def commands(binary, pid, peers):
    fs = binary
    rows = [
        ("flowscope flow -n", [fs, "flow", "-n"], "flowscope"),
        ("flowscope --json", [fs, "--json"], "flowscope"),
        # Streamed, as --json is: memory does not grow with the sockets.
        ("flowscope --format ndjson", [fs, "--format", "ndjson"], "stream"),
        ("flowscope --format csv", [fs, "--format", "csv"], "stream"),
        # The same JSON collected whole first (the path of a sorted listing, and of every
        # listing before streaming): what streaming saves.
        ("flowscope --json --no-stream", [fs, "--json", "--no-stream"], "stream"),
        ("flowscope -P <pid> -n", [fs, "-P", str(pid), "-n"], "flowscope"),
        # The query language: one that matches nearly everything and gives the kernel no
        # bytecode, and one the kernel filters (issue 14's two figures).
        ("flowscope 'rtt_us >= 0 and bytes_in >= 0' -n",
         [fs, "-n", "rtt_us >= 0 and bytes_in >= 0"], "query"),
        ("flowscope dport == 9001 -n", [fs, "-n", "dport", "==", "9001"], "query"),
        ("floor: netlink dump", [fs, "bench-floor", "--dump-only"], "floor"),
        ("floor: /proc scan", [fs, "bench-floor", "--scan-only"], "floor"),
        ("floor: /proc scan -P <pid>", [fs, "bench-floor", "--scan-only", "-P", str(pid)], "floor"),
    ]
    for peer in peers:
        name, argv, slow = PEERS[peer]
        rows.append((name, argv, "slow peer" if slow else "peer"))
    return rows


STOLEN = {}  # connections -> share of the busy CPU time the hypervisor took during the runs


def cpu_ticks():
    """/proc/stat's first line: (busy ticks, stolen ticks)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal, steal


def run_size(binary, connections, args):
    print("# load: %d connections (%d sockets) over %d processes" % (
        connections, 2 * connections, args.processes), flush=True)
    started = time.time()
    load = Load(connections, args.processes)
    try:
        print("  ready after %.1f s; %d runs each" % (time.time() - started, args.runs), flush=True)
        rows = commands(binary, load.workers[0], args.peers)
        rows = [r for r in rows if r[2] != "slow peer" or args.slow_runs > 0]
        samples = {name: [] for name, _, _ in rows}
        busy_before, stolen_before = cpu_ticks()
        for run in range(args.runs):
            for name, argv, kind in rows:
                if kind == "slow peer" and run >= args.slow_runs:
                    continue
                samples[name].append(measure(argv))
            print("  run %d/%d done" % (run + 1, args.runs), flush=True)
        extras = {}
        if args.watch_refreshes > 0:
            extras["watch"] = watch_refresh(binary, args.watch_refreshes, args.runs)
            print("  watch: %.3f CPU s per refresh" % extras["watch"], flush=True)
        if args.scrapes > 0:
            extras["collection"], extras["collection_wall"] = serve_collection(binary, args.scrapes)
            print("  serve: %.3f CPU s per collection" % extras["collection"], flush=True)
        busy, stolen = cpu_ticks()
        busy -= busy_before
        STOLEN[connections] = (stolen - stolen_before) / busy if busy > 0 else 0.0
    finally:
        load.stop()
    result = {}
    if extras:
        EXTRAS[connections] = extras
    for name, argv, kind in rows:
        s = samples[name]
        result[name] = {
            "kind": kind,
            "argv": argv,
            "wall": statistics.median(x[0] for x in s),
            "cpu": statistics.median(x[1] for x in s),
            "rss": statistics.median(x[2] for x in s) / 1024.0,
            "walls": [x[0] for x in s],
        }
    return result


EXTRAS = {}  # connections -> {"watch": CPU s per refresh, "collection": CPU s per collection}


def watch_refresh(binary, refreshes, runs):
    """CPU of one `watch` refresh: `--count R+1` less `--count 1` (start-up and first scan),
    over R, in a pseudo-terminal (script(1)); the median of `runs` pairs (as bench/watch.py)."""
    def watch(count):
        command = "%s watch -i 0.2 --count %d" % (shlex.quote(binary), count)
        return measure(["script", "-qfec", command, "/dev/null"])
    per = []
    for _ in range(runs):
        first, many = watch(1), watch(refreshes + 1)
        per.append((many[1] - first[1]) / refreshes)
    return statistics.median(per)


def process_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_collection(binary, scrapes):
    """CPU of one `serve` collection with its exposition (as bench/serve.py): a first scrape
    (start-up, first full scan), then `scrapes` more on one kept-alive connection, as
    Prometheus scrapes, read from /proc/PID/stat around them. Returns (CPU s, wall s) per
    collection. The server is stopped by pid."""
    import http.client
    import socket
    import urllib.request
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    serve = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:%d" % port,
                              "--min-interval", "0", "--scrape-timeout", "120"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d/metrics" % port
        for _ in range(300):
            try:
                urllib.request.urlopen(url, timeout=120).read()
                break
            except OSError:
                time.sleep(0.1)
        # A new connection is a socket the owner cache has not seen, in a process whose
        # descriptor count may not have moved: the collection that finds it reads every
        # process again. Open it before the measured scrapes.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("GET", "/metrics")
        connection.getresponse().read()
        before, started = process_cpu(serve.pid), time.time()
        for _ in range(scrapes):
            connection.request("GET", "/metrics")
            connection.getresponse().read()
        return ((process_cpu(serve.pid) - before) / scrapes, (time.time() - started) / scrapes)
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=10)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()


def events_churn(binary, closes, seconds, lifetime=2.5, scan_interval=1.0, owners=None):
    """`flowscope events` while bench/churn.py closes `closes` sockets a second for `seconds`,
    each having lived `lifetime` s (more than a scan interval): how many of them were logged,
    with an owner, and how many events were lost."""
    out = tempfile.NamedTemporaryFile("w+", suffix=".ndjson")
    err = tempfile.NamedTemporaryFile("w+", suffix=".err")
    duration = 3 + seconds + lifetime + 4
    events = subprocess.Popen(
        [binary, "events", "--json", "--scan-interval", str(scan_interval), "--duration",
         str(duration), "--local", "127.30.0.0/16"] + (["--owners", owners] if owners else []),
        stdout=out, stderr=err)
    stolen_before = cpu_ticks()
    try:
        time.sleep(3)  # its first scan
        churn = subprocess.run(
            [sys.executable, os.path.join(HERE, "churn.py"), "--closes", str(closes), "--seconds",
             str(seconds), "--lifetime", str(lifetime)], stdout=subprocess.PIPE, text=True,
            timeout=seconds + lifetime + 120)
        events.wait(timeout=duration + 60)
    finally:
        if events.poll() is None:
            events.send_signal(signal.SIGINT)
            events.wait(timeout=30)
    busy, stolen = [a - b for a, b in zip(cpu_ticks(), stolen_before)]
    closed = opened = 0
    elapsed = []
    for line in churn.stdout.splitlines():
        if line.startswith("closed"):
            _, c, o, t = line.split()
            closed += int(c)
            opened += int(o)
            elapsed.append(float(t))
    logged = known = lost_lines = 0
    out.seek(0)
    for line in out:
        if '"event":"lost"' in line:
            lost_lines += 1
        elif '"event":"close"' in line:
            logged += 1
            if '"owner":"known"' in line:
                known += 1
    err.seek(0)
    summary = err.read()
    lost = None
    for part in summary.replace(";", "\n").splitlines():
        part = part.strip()
        if part.endswith(" lost") and part.split()[0].isdigit():
            lost = int(part.split()[0])
    return {
        "closes_per_second": closed / seconds if seconds else 0,
        "closed": closed,
        "logged": logged,
        "known": known,
        "lost": lost,
        "lost_lines": lost_lines,
        "steal": stolen / busy if busy else 0.0,
        "summary": summary.strip().splitlines()[-1] if summary.strip() else "",
    }


def ratio(a, b):
    return "%.2f" % (a / b) if b > 0 else "-"


def report(sizes, args):
    lines = []
    big = sizes[args.connections]
    floor = big["floor: netlink dump"]["wall"] + big["floor: /proc scan"]["wall"]
    floor_p = big["floor: netlink dump"]["wall"] + big["floor: /proc scan -P <pid>"]["wall"]
    for connections, res in sizes.items():
        lines.append("### %d connections = %d TCP sockets over %d processes (+ UDP/UNIX), median of %d" % (
            connections, 2 * connections, args.processes, args.runs))
        lines.append("")
        lines.append("| command | wall s | CPU s | peak RSS MB | wall runs |")
        lines.append("|---|---:|---:|---:|---|")
        for name, r in res.items():
            lines.append("| `%s` | %.3f | %.3f | %.1f | %s |" % (
                name, r["wall"], r["cpu"], r["rss"], " ".join("%.3f" % w for w in r["walls"])))
        lines.append("")
        if connections in STOLEN:
            # A shared host takes cycles from a VM ("steal" in /proc/stat): the runs are slower
            # and noisier, the more so for commands that use both CPUs.
            lines.append("CPU time taken by the hypervisor during these runs: %.0f%% of the busy time." % (
                100 * STOLEN[connections]))
            lines.append("")
    lines.append("### Ratios at %d connections (flowscope / other; wall time unless said)" % args.connections)
    lines.append("")
    ours = ["flowscope flow -n", "flowscope --json"]
    others = [n for n, r in big.items() if r["kind"] == "peer"]
    head = "| flowscope | " + " | ".join("/ `%s`" % o for o in others) + " | / floor (dump+scan) | RSS / `ss -tanp` |"
    lines.append(head)
    lines.append("|---" * (len(others) + 3) + "|")
    for name in ours:
        r = big[name]
        cells = [ratio(r["wall"], big[o]["wall"]) for o in others]
        rss = ratio(r["rss"], big["ss -tanp"]["rss"]) if "ss -tanp" in big else "-"
        lines.append("| `%s` | %s | %s | %s |" % (name, " | ".join(cells), ratio(r["wall"], floor), rss))
    lines.append("")
    lines.append("Floor (dump + scan, each alone): %.3f s; for one process (dump + its scan): %.3f s." % (
        floor, floor_p))
    lines.append("")
    # Targets of issue 8.
    lines.append("### Targets")
    lines.append("")
    checks = []
    best = min(big[n]["wall"] for n in ours)
    worst = max(big[n]["wall"] for n in ours)
    if "ss -tanp" in big:
        checks.append(("listing <= 1/8 of `ss -tanp` wall", worst, big["ss -tanp"]["wall"] / 8))
    if "lsof -i -n -P" in big:
        checks.append(("listing <= 1/3 of `lsof -i -n -P` wall", worst, big["lsof -i -n -P"]["wall"] / 3))
    checks.append(("listing <= 1.25 x floor", worst, 1.25 * floor))
    plain = big["flowscope flow -n"]["wall"]
    if "flowscope 'rtt_us >= 0 and bytes_in >= 0' -n" in big:
        checks.append(("query matching nearly all <= 1.10 x the plain listing",
                       big["flowscope 'rtt_us >= 0 and bytes_in >= 0' -n"]["wall"], 1.10 * plain))
        checks.append(("query the kernel filters (`dport == 9001`) < the plain listing",
                       big["flowscope dport == 9001 -n"]["wall"], plain))
    checks.append(("`-P pid` <= dump + that process's scan (+25%)",
                   big["flowscope -P <pid> -n"]["wall"], 1.25 * floor_p))
    if "ss -tanp" in big:
        checks.append(("peak RSS <= 2 x `ss -tanp`", max(big[n]["rss"] for n in ours),
                       2 * big["ss -tanp"]["rss"]))
    small = [c for c in sizes if c != args.connections]
    if small:
        s = sizes[small[0]]
        scale = args.connections / small[0]
        allowed = 5.5 * scale / 5.0  # 5.5x for 100k vs 20k sockets, scaled if other sizes were asked
        for n in ours:
            checks.append(("`%s`: time at %dk / at %dk sockets <= %.2f" % (
                n, 2 * args.connections // 1000, 2 * small[0] // 1000, allowed),
                big[n]["wall"] / s[n]["wall"], allowed))
    lines.append("| target | measured | limit | |")
    lines.append("|---|---:|---:|---|")
    for what, value, limit in checks:
        lines.append("| %s | %.3f | %.3f | %s |" % (what, value, limit, "ok" if value <= limit else "**missed**"))
    lines.append("")
    lines += targets16(sizes, args)
    return "\n".join(lines), best


def targets16(sizes, args):
    """The targets of issue 16 (500k sockets, streaming, flat memory), from this run's figures;
    those whose rows were not run are left out."""
    big = sizes[args.connections]
    k = 2 * args.connections // 1000
    checks = []  # (what, measured, limit, at most?)
    worst = max(big[n]["wall"] for n in ("flowscope flow -n", "flowscope --json"))
    tan = "ss -tan (no processes)"
    if tan in big:
        checks.append(("%dk: listing with owners (worst of `flow -n`, `--json`) <= 0.8 x `ss -tan`, s"
                       % k, worst, 0.8 * big[tan]["wall"], True))
    if "ss -tanp" in big:
        checks.append(("%dk: listing <= 1/100 of `ss -tanp`, s" % k, worst,
                       big["ss -tanp"]["wall"] / 100, True))
    for other in args.others:
        res = sizes[other]
        if tan in res:
            checks.append(("%dk: listing <= 1.0 x `ss -tan`, s" % (2 * other // 1000),
                           max(res[n]["wall"] for n in ("flowscope flow -n", "flowscope --json")),
                           res[tan]["wall"], True))
    streamed = [n for n in ("flowscope --json", "flowscope --format ndjson", "flowscope --format csv")
                if n in big]
    checks.append(("%dk: peak RSS of the streamed formats (worst of %s) <= 48 MB" % (
        k, ", ".join("`%s`" % n.split(" ", 1)[1] for n in streamed)),
        max(big[n]["rss"] for n in streamed), 48.0, True))
    checks.append(("%dk: peak RSS of the table (`flow -n`) <= 100 MB" % k,
                   big["flowscope flow -n"]["rss"], 100.0, True))
    if args.others:
        other = args.others[0]
        allowed = 5.5 * (args.connections / other) / 5.0
        for n in ("flowscope flow -n", "flowscope --json"):
            checks.append(("`%s`: time at %dk / at %dk sockets <= %.2f" % (
                n.split(" ", 1)[1], k, 2 * other // 1000, allowed),
                big[n]["wall"] / sizes[other][n]["wall"], allowed, True))
    checks.append(("%dk: `-P pid` <= the netlink dump alone + 10 %%, s" % k,
                   big["flowscope -P <pid> -n"]["wall"], 1.10 * big["floor: netlink dump"]["wall"], True))
    extras = EXTRAS.get(args.connections, {})
    if "watch" in extras:
        checks.append(("%dk: one `watch` refresh <= 1/3 of `flow -n`, CPU s" % k, extras["watch"],
                       big["flowscope flow -n"]["cpu"] / 3, True))
    if "collection" in extras:
        checks.append(("%dk: one metrics collection (`serve`) <= 1/3 of `--json`, CPU s" % k,
                       extras["collection"], big["flowscope --json"]["cpu"] / 3, True))
    if EVENTS:
        e = EVENTS
        checks.append(("`events`: closes per second the churn made (%d asked; at least 98 %%)"
                       % args.events_closes, e["closes_per_second"], 0.98 * args.events_closes, False))
        checks.append(("`events`: lost events (stderr summary) = 0",
                       e["lost"] if e["lost"] is not None else float("nan"), 0, True))
        checks.append(("`events`: churn closes logged (of %d closed)" % e["closed"], e["logged"],
                       e["closed"], False))
        checks.append(("`events`: logged closes without an owner (each lived 2.5 s > the 1 s scan "
                       "interval) = 0", e["logged"] - e["known"], 0, True))
    lines = ["### Targets of issue 16", ""]
    lines.append("| target | measured | limit | |")
    lines.append("|---|---:|---:|---|")
    for what, value, limit, at_most in checks:
        good = value <= limit if at_most else value >= limit
        lines.append("| %s | %.3f | %.3f | %s |" % (what, value, limit, "ok" if good else "**missed**"))
    lines.append("")
    if extras:
        lines.append("At %dk: one `watch` refresh %s CPU s; one `serve` collection %s CPU s (%s s wall)." % (
            k, "%.3f" % extras["watch"] if "watch" in extras else "-",
            "%.3f" % extras["collection"] if "collection" in extras else "-",
            "%.3f" % extras["collection_wall"] if "collection_wall" in extras else "-"))
        lines.append("")
    if EVENTS:
        lines.append("`events` churn (bench/churn.py, %d closes/s asked for %.0f s): %d sockets closed, "
                     "%d close events logged, %d with an owner, %d lost lines; hypervisor steal %.0f%%. "
                     "Its summary: `%s`" % (
                         args.events_closes, args.events_seconds, EVENTS["closed"], EVENTS["logged"],
                         EVENTS["known"], EVENTS["lost_lines"], 100 * EVENTS["steal"], EVENTS["summary"]))
        lines.append("")
    return lines


EVENTS = {}


def machine():
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return "%d CPUs (%s), %s memory, kernel %s" % (os.cpu_count(), cpu, mem, platform.release())


def main():
    args = parse_args()
    binary = build(args)
    if not os.access(binary, os.X_OK):
        raise SystemExit("no flowscope binary at %s" % binary)
    sizes = {}
    started = datetime.datetime.now(datetime.timezone.utc)
    load_average = os.getloadavg()
    for connections in [args.connections] + args.others:
        sizes[connections] = run_size(binary, connections, args)
    if args.events:
        print("# events: %d closes/s for %.0f s" % (args.events_closes, args.events_seconds), flush=True)
        EVENTS.update(events_churn(binary, args.events_closes, args.events_seconds))
    text, _ = report(sizes, args)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
    header = "\n".join([
        "## bench/run.py, %s" % started.strftime("%Y-%m-%d %H:%M UTC"),
        "",
        "- date: %s to %s" % (started.strftime("%Y-%m-%d %H:%M"),
                              datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M UTC")),
        "- commit: %s%s" % (commit, " (with uncommitted changes)" if dirty else ""),
        "- steal (hypervisor's share of the busy CPU time, per load): %s" % ", ".join(
            "%dk sockets %.0f%%" % (2 * c // 1000, 100 * STOLEN[c]) for c in STOLEN),
        "- load average at the start: %.2f %.2f %.2f" % load_average,
        "- machine: %s" % machine(),
        "- user: %s" % ("root" if os.geteuid() == 0 else "uid %d" % os.geteuid()),
        "- command: `python3 bench/run.py %s`" % " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "- binary: `%s`" % os.path.relpath(binary, REPO),
        "",
    ])
    print()
    print(header)
    print(text)
    if args.results != "-":
        write_results(args.results, header + "\n" + text)
        print("written to %s" % os.path.relpath(args.results, os.getcwd()))


BEGIN = "<!-- bench/run.py: latest run (replaced by the next one) -->"
END = "<!-- bench/run.py: end of the latest run -->"


def write_results(path, text):
    """Puts the run at the top of `path` (after its title), replacing the last run's section;
    what was written by hand below stays."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = "# flowscope benchmark results\n"
    section = BEGIN + "\n\n" + text.rstrip() + "\n\n" + END + "\n"
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + section + old[old.index(END) + len(END) + 1:]
    else:
        title, _, rest = old.partition("\n")
        new = title + "\n\n" + section + rest
    with open(path, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
