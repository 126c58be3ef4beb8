#!/usr/bin/env python3
"""Long run: flowscope's long-lived commands under churn for --minutes (default 10).

Started together, each by pid, all stopped by pid at the end:

  churn         reliability/churn.py (nice -n 5), by default in a network namespace of its own
                (--root-netns: in the root one)
  events        `flowscope events --json` inside churn's namespace (nsenter --net), so that it
                hears churn's closes and nothing else; every line parsed
  events-small  the same with `--buffer 1`, stopped (SIGSTOP) for --stall seconds every
                --stall-every seconds, so that the kernel must drop messages and flowscope must
                count them ("lost" lines, summary)
  events-term   `flowscope events --json` again, stopped for churn's last --term-stall seconds,
                then sent SIGTERM while stopped (and continued): the closes queued meanwhile
                must be logged or counted as lost before it exits
  watch-json    `flowscope watch --json -i 0.2` in the root namespace (NDJSON, output piped
                here); every line parsed
  watch-tty     `flowscope watch -i 0.2` full screen in a private tmux server
                (`tmux -L <unique name>`; only that server is killed), with keys sent now and
                then; quit with `q` at the end and its exit status read

RSS (VmRSS), peak RSS (VmHWM), threads, open descriptors (/proc/PID/fd) and CPU time of each
flowscope process are sampled after --warmup seconds, every minute, and at the end.

Events accounting (the "no event is lost without being counted" check): churn reports every
TCP and UDP socket it created; each one sends one destroy message when it is freed. After churn
has stopped and --settle seconds have passed, each events process is stopped with SIGTERM and

    missing = (churn's TCP + UDP sockets) - (close lines written + lost counted)

must be 0 (inside churn's own namespace nothing else makes sockets). The close lines are also
compared per protocol, and with the counts of the stderr summary.

Run as root: sudo python3 reliability/longrun.py --minutes 10
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
TMUX_KEYS = ["v", "v", "s", "r", "r", "d", "d", "Right", "Left", "j", "k", "NPage", "PPage", "End", "Home", "p", "p", "?", "Escape"]


def now():
    return time.monotonic()


def sample(pid):
    """RSS, peak RSS (KiB), threads, open fds and CPU seconds of a process, or None if gone."""
    try:
        fields = {}
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        fds = len(os.listdir("/proc/%d/fd" % pid))
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / CLK_TCK
        return {
            "rss_kib": int(fields["VmRSS"].split()[0]),
            "hwm_kib": int(fields["VmHWM"].split()[0]),
            "threads": int(fields["Threads"]),
            "fds": fds,
            "cpu_s": cpu,
        }
    except (OSError, KeyError, ValueError, IndexError):
        return None


class LineReader(threading.Thread):
    """Consumes a pipe line by line; with parse=True, each line must be one JSON object."""

    def __init__(self, name, pipe, parse, on_object=None):
        super().__init__(daemon=True, name=name)
        self.pipe = pipe
        self.parse = parse
        self.on_object = on_object
        self.lines = 0
        self.bad = 0
        self.bad_examples = []
        self.tail = collections.deque(maxlen=20)
        self.head = []
        self.truncated_last = False  # the final line had no newline (the writer was killed mid-line)

    def run(self):
        for raw in iter(self.pipe.readline, b""):
            self.lines += 1
            if len(self.head) < 10:
                self.head.append(raw)
            self.tail.append(raw)
            if not self.parse:
                continue
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict) or obj.get("version") != 1:
                    raise ValueError("no \"version\": 1")
            except ValueError as error:
                if not raw.endswith(b"\n"):
                    # Only the last read can end without a newline: cut by the end of the writer.
                    self.truncated_last = True
                    continue
                self.bad += 1
                if len(self.bad_examples) < 5:
                    self.bad_examples.append((str(error), raw[:300]))
                continue
            if self.on_object:
                self.on_object(obj)


class EventsCount:
    def __init__(self):
        self.closes = collections.Counter()
        self.owner = collections.Counter()
        self.lost = 0
        self.lost_lines = 0
        self.lost_unknown = 0
        self.other = collections.Counter()

    def __call__(self, obj):
        kind = obj.get("event")
        if kind == "close":
            self.closes[obj.get("proto")] += 1
            self.owner[obj.get("owner")] += 1
        elif kind == "lost":
            self.lost_lines += 1
            if obj.get("count") is None:
                self.lost_unknown += 1
            else:
                self.lost += obj["count"]
        else:
            self.other[kind] += 1

    def result(self):
        return {"closes": dict(self.closes), "owner": dict(self.owner), "lost": self.lost,
                "lost_lines": self.lost_lines, "lost_unknown": self.lost_unknown, "other": dict(self.other)}


class WatchCount:
    def __init__(self):
        self.refreshes = 0
        self.backwards = 0
        self.changes = collections.Counter()
        self.warnings = collections.Counter()

    def __call__(self, obj):
        if "warning" in obj:
            self.warnings[re.sub(r"\d+", "#", obj["warning"])] += 1
            return
        refresh = obj.get("refresh")
        if isinstance(refresh, int):
            if refresh < self.refreshes:
                self.backwards += 1
            self.refreshes = max(self.refreshes, refresh)
        self.changes[obj.get("change")] += 1

    def result(self):
        return {"refreshes": self.refreshes, "backwards": self.backwards,
                "changes": {str(k): v for k, v in self.changes.items()}, "warnings": dict(self.warnings)}


def check_main(kind):
    """The checker process: parses NDJSON from stdin until EOF, prints one JSON summary."""
    counter = EventsCount() if kind == "events" else WatchCount()
    reader = LineReader(kind, sys.stdin.buffer, True, counter)
    reader.run()
    result = counter.result()
    result.update({"lines": reader.lines, "bad": reader.bad, "truncated_last": reader.truncated_last,
                   "bad_examples": [(e, r.decode("utf-8", "replace")) for e, r in reader.bad_examples]})
    print(json.dumps(result))


SUMMARY_RE = re.compile(
    r"(\d+) event\(s\) logged \((\d+) closes seen, (\d+) new\); (\d+) of unknown owner.*?(\d+) lost")


def parse_events_summary(stderr_text):
    for line in reversed(stderr_text.splitlines()):
        m = SUMMARY_RE.search(line)
        if m:
            logged, closes, news, unknown, lost = map(int, m.groups())
            return {"logged": logged, "closes": closes, "new": news, "unknown_owner": unknown, "lost": lost, "line": line}
    return None


class Managed:
    """A process we started, its stdout/stderr readers and its samples."""

    def __init__(self, name, popen, checker=None):
        self.name = name
        self.popen = popen
        self.pid = popen.pid if popen else None
        self.checker = checker  # the process that parses its stdout
        self.result = None
        self.stderr_chunks = []
        self.stderr_thread = None
        self.samples = []  # (label, sample)
        self.died_early = None
        if popen and popen.stderr:
            self.stderr_thread = threading.Thread(target=self._read_stderr, daemon=True)
            self.stderr_thread.start()

    def _read_stderr(self):
        for raw in iter(self.popen.stderr.readline, b""):
            self.stderr_chunks.append(raw.decode("utf-8", "replace"))

    @property
    def stderr(self):
        return "".join(self.stderr_chunks)

    def collect(self):
        """After the process ended: the checker's verdict on its output."""
        try:
            out, _ = self.checker.communicate(timeout=300)
            self.result = json.loads(out)
        except (subprocess.TimeoutExpired, ValueError):
            self.checker.kill()
            self.checker.wait()
            self.result = {"lines": 0, "bad": -1, "truncated_last": False, "bad_examples": [("checker failed", "")]}


def start_flowscope(name, argv, kind):
    # The output goes straight to a checker process of its own, so that parsing keeps up (and
    # no GIL is shared between the streams).
    popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checker = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--check", kind],
                               stdin=popen.stdout, stdout=subprocess.PIPE)
    popen.stdout.close()
    return Managed(name, popen, checker)


def wait_for_stderr(managed, needle, timeout):
    end = now() + timeout
    while now() < end:
        if needle in managed.stderr:
            return True
        if managed.popen.poll() is not None:
            return False
        time.sleep(0.05)
    return False


class Tmux:
    def __init__(self, name):
        self.name = name
        self.base = ["tmux", "-L", name, "-f", "/dev/null"]

    def run(self, *words, check=True):
        return subprocess.run(self.base + list(words), capture_output=True, text=True, check=check)

    def start(self, command, width=200, height=50):
        self.run("new-session", "-d", "-s", "rel", "-x", str(width), "-y", str(height), command)
        self.run("set-option", "-t", "rel", "remain-on-exit", "on", check=False)
        self.run("set-option", "-g", "remain-on-exit", "on", check=False)

    def pane(self, fmt):
        r = self.run("list-panes", "-t", "rel", "-F", fmt, check=False)
        return r.stdout.strip()

    def kill_server(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True)


def table(head, rows):
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    out = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(head, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.path.join(HERE, "..", ".build", "release", "flowscope"))
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=300, help="churn's children per second")
    parser.add_argument("--interval", default="0.2", help="watch's -i (default 0.2)")
    parser.add_argument("--warmup", type=float, default=10, help="seconds before the first sample")
    parser.add_argument("--settle", type=float, default=5, help="seconds between churn's end and stopping events")
    parser.add_argument("--stall", type=float, default=10, help="seconds events-small is stopped each time (0: never)")
    parser.add_argument("--stall-every", type=float, default=30)
    parser.add_argument("--term-stall", type=float, default=8,
                        help="events-term is stopped for churn's last N seconds and sent SIGTERM while stopped (0: no events-term)")
    parser.add_argument("--root-netns", action="store_true", help="churn (and events) in the root network namespace")
    parser.add_argument("--json-out", help="write the figures as JSON to this file")
    parser.add_argument("--check", choices=["events", "watch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        check_main(args.check)
        return 0

    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit("no flowscope binary at %s (build it, or pass --binary)" % binary)
    if not shutil.which("tmux"):
        sys.exit("tmux is needed (apt-get install -y tmux)")
    seconds = args.minutes * 60

    # 1. churn, held until events listen.
    churn_cmd = ["nice", "-n", "5", sys.executable, os.path.join(HERE, "churn.py"), "--hold",
                 "--seconds", str(seconds + args.warmup + 120), "--rate", str(args.rate)]
    if not args.root_netns:
        churn_cmd.append("--netns")
    churn = subprocess.Popen(churn_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = churn.stdout.readline().split()
    if not ready or ready[0] != "ready":
        sys.exit("churn did not start")
    churn_pid = int(ready[1])
    enter = [] if args.root_netns else ["nsenter", "--net=/proc/%d/ns/net" % churn_pid]

    procs = []
    tmux = Tmux("flowscope-rel-%d" % os.getpid())
    try:
        events = start_flowscope("events", enter + [binary, "events", "--json"], "events")
        small = start_flowscope("events-small", enter + [binary, "events", "--json", "--buffer", "1"], "events")
        procs += [events, small]
        term = None
        if args.term_stall > 0:
            term = start_flowscope("events-term", enter + [binary, "events", "--json"], "events")
            procs.append(term)
        event_procs = [m for m in (events, small, term) if m]
        for m in event_procs:
            if not wait_for_stderr(m, "watching closes", 60):
                sys.exit("%s did not start: %s" % (m.name, m.stderr))
        watch_json = start_flowscope("watch-json", [binary, "watch", "--json", "-i", args.interval], "watch")
        procs.append(watch_json)
        tmux.start("exec %s watch -i %s" % (binary, args.interval))
        time.sleep(0.5)
        tty_pid = int(tmux.pane("#{pane_pid}"))
        watch_tty = Managed("watch-tty", None)
        watch_tty.pid = tty_pid
        procs.append(watch_tty)

        # 2. churn starts now.
        churn.stdin.write("go\n")
        churn.stdin.flush()
        t0 = now()
        print("started: churn %d, events %d, events-small %d, watch-json %d, watch-tty %d (tmux -L %s); %.1f min"
              % (churn_pid, events.pid, small.pid, watch_json.pid, tty_pid, tmux.name, args.minutes), flush=True)

        marks = [(args.warmup, "start")] + [(60.0 * k, "%d min" % k) for k in range(1, int(seconds // 60) + 1)
                                            if args.warmup + 20 < 60.0 * k < seconds - 20]
        next_stall = t0 + args.stall_every
        next_key = t0 + 7
        key_index = 0
        screens_ok = 0
        screens_bad = []
        stalls = 0
        end = t0 + seconds
        term_stopped = False
        while now() < end:
            t = now()
            if marks and t >= t0 + marks[0][0]:
                label = marks.pop(0)[1]
                for m in procs:
                    s = sample(m.pid)
                    if s:
                        m.samples.append((label, s))
            if term and not term_stopped and t >= end - args.term_stall:
                s = sample(term.pid)
                if s:
                    term.samples.append(("end", s))
                os.kill(term.pid, signal.SIGSTOP)
                term_stopped = True
            if args.stall > 0 and t >= next_stall and t + args.stall < end - args.term_stall - 2:
                os.kill(small.pid, signal.SIGSTOP)
                time.sleep(args.stall)
                os.kill(small.pid, signal.SIGCONT)
                stalls += 1
                next_stall = now() + args.stall_every
            if t >= next_key:
                key = TMUX_KEYS[key_index % len(TMUX_KEYS)]
                key_index += 1
                tmux.run("send-keys", "-t", "rel", key, check=False)
                time.sleep(0.6)
                screen = tmux.run("capture-pane", "-p", "-t", "rel", check=False).stdout
                if len([l for l in screen.splitlines() if l.strip()]) >= 3:
                    screens_ok += 1
                else:
                    screens_bad.append(screen[:2000])
                next_key = now() + 5
            for m in procs:
                if m.popen and m.died_early is None and m.popen.poll() is not None:
                    m.died_early = (round(now() - t0, 1), m.popen.returncode)
            if watch_tty.died_early is None and tmux.pane("#{pane_dead}") == "1":
                watch_tty.died_early = (round(now() - t0, 1), tmux.pane("#{pane_dead_status}"))
            if churn.poll() is not None:
                print("churn ended early", file=sys.stderr)
                break
            time.sleep(0.2)
        ran = now() - t0
        for m in procs:
            if m is term and term_stopped:
                continue  # sampled before it was stopped, below
            s = sample(m.pid)
            if s:
                m.samples.append(("end", s))
        last_screen = tmux.run("capture-pane", "-p", "-t", "rel", check=False).stdout

        # 3. stop churn, let the last destroy messages come, stop everything.
        churn.send_signal(signal.SIGTERM)
        churn_out, _ = churn.communicate(timeout=120)
        churn_summary = json.loads([l for l in churn_out.splitlines() if l.startswith("{")][-1])
        os.kill(small.pid, signal.SIGCONT)
        time.sleep(args.settle)
        results = {}
        if term and term.popen.poll() is None:
            # SIGTERM while stopped, with its queue full of closes: it must log or count them.
            term.popen.send_signal(signal.SIGTERM)
            os.kill(term.pid, signal.SIGCONT)
        for m in event_procs + [watch_json]:
            # One SIGTERM each (events-term has had its own): a second one may end events before
            # it prints its summary.
            if m is not term and m.popen.poll() is None:
                m.popen.send_signal(signal.SIGTERM)
            try:
                m.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                m.popen.kill()
                m.popen.wait()
                results[m.name + "_hung"] = True
            m.collect()
            if m.stderr_thread:
                m.stderr_thread.join(timeout=5)
        tmux.run("send-keys", "-t", "rel", "q", check=False)
        quit_deadline = now() + 10
        while now() < quit_deadline and tmux.pane("#{pane_dead}") != "1":
            time.sleep(0.1)
        tty_dead = tmux.pane("#{pane_dead}") == "1"
        tty_status = None
        if tty_dead:
            # tmux marks the pane dead at the pty's EOF and learns the status when it reaps it.
            status_deadline = now() + 5
            while now() < status_deadline:
                tty_status = tmux.pane("#{pane_dead_status}#{?pane_dead_signal, signal #{pane_dead_signal},}")
                if tty_status:
                    break
                time.sleep(0.1)
        tty_screen_after = tmux.run("capture-pane", "-p", "-t", "rel", check=False).stdout
    finally:
        for m in procs:
            if m.popen and m.popen.poll() is None:
                m.popen.kill()
            if m.checker and m.checker.poll() is None and m.result is None:
                m.checker.kill()
        if churn.poll() is None:
            churn.kill()
        tmux.kill_server()

    # 4. Report.
    print()
    print("## Resources (RSS and peak RSS in MiB, open descriptors, threads, CPU seconds)")
    rows = []
    for m in procs:
        if not m.samples:
            rows.append([m.name, "-", "-", "-", "-", "-", "-"])
            continue
        first, last = m.samples[0][1], m.samples[-1][1]
        series = " ".join("%.1f" % (s["rss_kib"] / 1024) for _, s in m.samples)
        fds = " ".join(str(s["fds"]) for _, s in m.samples)
        rows.append([m.name, "%.1f → %.1f" % (first["rss_kib"] / 1024, last["rss_kib"] / 1024),
                     "%.1f" % (last["hwm_kib"] / 1024), series, fds, "%d → %d" % (first["threads"], last["threads"]),
                     "%.0f" % last["cpu_s"]])
    print(table(["process", "RSS start → end", "peak", "RSS samples (start, each minute, end)", "fds samples",
                 "threads", "CPU s"], rows))

    print()
    print("## Churn")
    print("%d processes in %.0f s (%.0f/s), %d TCP connections, %d TCP sockets, %d UDP sockets, %d UNIX sockets; exact: %s"
          % (churn_summary["processes_started"], churn_summary["seconds"], churn_summary["processes_per_second"],
             churn_summary["tcp_connections_opened"], churn_summary["tcp_sockets"], churn_summary["udp_sockets"],
             churn_summary["unix_sockets"], churn_summary["exact"]))

    print()
    print("## Events accounting")
    expected = churn_summary["tcp_sockets"] + churn_summary["udp_sockets"]
    acct_rows = []
    accounting = {}
    for m in event_procs:
        r = m.result
        tcp, udp = r.get("closes", {}).get("tcp", 0), r.get("closes", {}).get("udp", 0)
        summary = parse_events_summary(m.stderr)
        missing = expected - tcp - udp - r.get("lost", 0)
        accounting[m.name] = {
            "exit": m.popen.returncode, "tcp_closes": tcp, "udp_closes": udp,
            "lost_counted": r.get("lost", 0), "lost_lines": r.get("lost_lines", 0),
            "lost_unknown": r.get("lost_unknown", 0), "owner": r.get("owner", {}), "bad_json": r["bad"],
            "lines": r["lines"], "summary": summary, "expected": expected, "missing": missing,
            "tcp_expected": churn_summary["tcp_sockets"], "udp_expected": churn_summary["udp_sockets"],
            "stderr_tail": m.stderr.splitlines()[-6:],
        }
        consistent = summary is not None and summary["closes"] == tcp + udp and summary["lost"] == r.get("lost", 0)
        acct_rows.append([
            m.name, m.popen.returncode, "%d / %d" % (tcp, churn_summary["tcp_sockets"]),
            "%d / %d" % (udp, churn_summary["udp_sockets"]),
            "%d (%d lines%s)" % (r.get("lost", 0), r.get("lost_lines", 0),
                                 ", %d unknown" % r["lost_unknown"] if r.get("lost_unknown") else ""),
            missing, "yes" if consistent else "NO", r["bad"],
        ])
    print(table(["events", "exit", "TCP closes / churn's TCP sockets", "UDP closes / churn's", "lost (counted)",
                 "missing (uncounted)", "summary agrees", "bad JSON"], acct_rows))
    for m in event_procs:
        s = accounting[m.name]["summary"]
        print("%s summary: %s" % (m.name, s["line"] if s else "(none found) " + " | ".join(accounting[m.name]["stderr_tail"])))
        print("%s owners: %s" % (m.name, accounting[m.name]["owner"]))
    if args.root_netns:
        print("(root namespace: other processes' sockets are counted too, so only missing <= 0 is meaningful)")

    print()
    print("## Watch")
    w = watch_json.result
    print("watch-json: exit %s, %d lines, %d refreshes, %d bad JSON lines, last line cut at SIGTERM: %s, "
          "refresh going backwards %d, changes %s, warnings %s"
          % (watch_json.popen.returncode, w["lines"], w.get("refreshes", 0), w["bad"], w["truncated_last"],
             w.get("backwards", 0), w.get("changes"), w.get("warnings")))
    print("watch-tty: quit with q: %s (exit status %s); screens that looked right %d, wrong %d; died early: %s"
          % ("yes" if tty_dead else "NO", tty_status, screens_ok, len(screens_bad), watch_tty.died_early))
    for m in procs:
        if m.died_early:
            print("DIED EARLY: %s at %s s, status %s; stderr tail: %s" % (m.name, m.died_early[0], m.died_early[1],
                                                                          m.stderr[-500:] if m.popen else ""))
    crash_markers = ("Fatal error", "Program crashed", "Backtrace", "Crashed")
    for m in event_procs + [watch_json]:
        if any(x in m.stderr for x in crash_markers):
            print("CRASH TEXT in %s stderr:\n%s" % (m.name, m.stderr[-3000:]))
        for error, raw in m.result.get("bad_examples", []):
            print("BAD JSON from %s: %s: %r" % (m.name, error, raw[:300]))
    print("stalls of events-small: %d × %.0f s; events-term stopped for churn's last %.0f s + %.0f s settle, then SIGTERM; ran %.1f min"
          % (stalls, args.stall, args.term_stall, args.settle, ran / 60))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({
                "minutes": ran / 60, "churn": churn_summary, "stalls": stalls,
                "samples": {m.name: m.samples for m in procs},
                "died_early": {m.name: m.died_early for m in procs},
                "events": accounting,
                "watch_json": dict(w, exit=watch_json.popen.returncode,
                                   stderr_tail=watch_json.stderr.splitlines()[-5:]),
                "watch_tty": {"quit": tty_dead, "status": tty_status, "screens_ok": screens_ok,
                              "screens_bad": screens_bad[:3], "last_screen": last_screen[:4000],
                              "after_quit": tty_screen_after[:2000]},
            }, f, indent=1)
    bad = any((a["missing"] > 0 if args.root_netns else a["missing"] != 0) or a["bad_json"]
              for a in accounting.values()) or w["bad"] \
        or any(m.died_early for m in procs) or not tty_dead
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
