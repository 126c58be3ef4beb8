import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `--owners bpf|proc|auto`: the BPF task-file iterator and the /proc scan give the same output,
/// and where the iterator cannot be used, `auto` says why and `bpf` fails in one line.
@Suite(.serialized) struct OwnerSourceCommandTests {
  /// Sockets of every kind, a socket a thread opened, one shared with a forked child.
  static let holder = """
    import ctypes, json, socket, sys, threading
    ctypes.CDLL(None).prctl(15, b'fs-owners-peer', 0, 0, 0)  # PR_SET_NAME: -C finds it
    lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
    c = socket.create_connection(lst.getsockname()); s, _ = lst.accept()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0))
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind(('::1', 0)); u6.connect(u6.getsockname()[:2])
    a, b = socket.socketpair()
    ux = socket.socket(socket.AF_UNIX); ux.bind('\\0fs-owners-cmd-%d' % os.getpid()); ux.listen(1)
    held = []
    t = threading.Thread(target=lambda: held.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))); t.start(); t.join()
    # The child ends when the parent does (the pipe's end closes), so that nothing it inherited
    # outlives the test; and at the alarm, which a fork does not inherit.
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        signal.alarm(60); os.close(w); os.read(r, 1); os._exit(0)
    os.close(r)
    print(json.dumps({'pid': os.getpid(), 'child': child, 'port': lst.getsockname()[1]}), flush=True)
    sys.stdin.readline()
    os.kill(child, 9); os.waitpid(child, 0)
    """

  static let namespaced = """
    import ctypes, json, socket, sys
    ctypes.CDLL(None).prctl(15, b'fs-owners-peer', 0, 0, 0)
    lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
    c = socket.create_connection(lst.getsockname()); s, _ = lst.accept()
    print(json.dumps({'pid': os.getpid()}), flush=True)
    sys.stdin.readline()
    """

  /// What changes from one run to the next whatever the source: the time of the snapshot and
  /// the time since each connection last sent and received.
  static let timing: Set<String> = ["time", "last_send_ms", "last_recv_ms"]

  /// A JSON value without its timing fields, at any depth.
  static func untimed(_ value: Any) -> Any {
    if let object = value as? [String: Any] {
      return object.filter { !timing.contains($0.key) }.mapValues(untimed)
    }
    if let array = value as? [Any] { return array.map(untimed) }
    return value
  }

  /// The document without its timing: what must not differ between the two sources.
  func comparable(_ outcome: Outcome) throws -> NSDictionary {
    try #require(Self.untimed(try document(outcome)) as? [String: Any]) as NSDictionary
  }

  /// The keys whose values differ between two documents, with the first of the differing
  /// elements of a list: a short message when they do.
  func difference(_ a: NSDictionary, _ b: NSDictionary) -> String {
    var lines: [String] = []
    for key in Set(a.allKeys.compactMap { $0 as? String }).union(b.allKeys.compactMap { $0 as? String })
    where a[key] as? NSObject != b[key] as? NSObject {
      if let left = a[key] as? [NSObject], let right = b[key] as? [NSObject] {
        let index =
          zip(left, right).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(left.count, right.count)
        lines.append(
          "\(key): \(left.count) vs \(right.count); first difference at \(index): "
            + "\(index < left.count ? left[index].description : "-") vs \(index < right.count ? right[index].description : "-")"
        )
      } else {
        lines.append("\(key): \(String(describing: a[key])) vs \(String(describing: b[key]))")
      }
    }
    return lines.joined(separator: "\n")
  }

  @Test(.enabled(if: runningAsRoot, "loading the BPF iterator needs root"))
  func bothSourcesGiveTheSameDocument() throws {
    let namespace = "fs-owners-cmd-\(getpid())"
    #expect(shell("ip netns add \(namespace) && ip -n \(namespace) link set lo up").status == 0)
    defer { _ = shell("ip netns delete \(namespace)") }
    let holder = try Situation(Self.holder)
    defer { holder.say("done") }
    let inside = try Situation(Self.namespaced, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
    defer { inside.say("done") }
    let pids = [holder.pid, Int32(holder.int("child")), inside.pid].flatMap { ["-P", String($0)] }

    for command in [["-a", "-p", "all"], ["proc"]] {
      let proc = try run(flowscopeBinary, command + pids + ["--json", "--owners", "proc"])
      let bpf = try run(flowscopeBinary, command + pids + ["--json", "--owners", "bpf"])
      #expect(proc.status == 0 && bpf.status == 0, "\(proc.stderr) \(bpf.stderr)")
      let (fromProc, fromBPF) = (try comparable(proc), try comparable(bpf))
      #expect(fromProc == fromBPF, "\(command): \(difference(fromProc, fromBPF))")
    }
    // The flows are there, with both owners of the shared ones and the namespace's flows.
    let listing = try flows(try run(flowscopeBinary, ["-a", "-p", "all", "--json", "--owners", "bpf"] + pids))
    let listener = try #require(
      listing.first {
        ($0["local"] as? [String: Any])?["port"] as? Int == holder.int("port") && $0["state"] as? String == "LISTEN"
      })
    let owners = Set(((listener["processes"] as? [[String: Any]]) ?? []).compactMap { $0["pid"] as? Int })
    #expect(owners == [Int(holder.pid), holder.int("child")])
    #expect(
      listing.contains {
        (($0["processes"] as? [[String: Any]]) ?? []).contains { $0["pid"] as? Int == Int(inside.pid) }
      })
    #expect(listing.filter { $0["proto"] as? String == "unix" }.count >= 3)

    // A whole-host scan (a command name does not narrow it), whose output is the test's flows:
    // the same in both.
    let whole = ["-a", "-p", "all", "-C", "fs-owners-peer", "--json", "--owners"]
    // /proc/1/fd refuses even root in some sandboxes: the iterator still reads it, and /proc
    // says it could not. Other tests' namespaces can vanish between the two runs, and be
    // said unreadable in one. Those warnings aside, the documents are the same.
    func withoutDenied(_ document: NSDictionary) -> NSDictionary {
      let copy = document.mutableCopy() as! NSMutableDictionary
      copy["warnings"] = (document["warnings"] as? [String])?.filter {
        !$0.contains("unreadable (permission denied)") && !$0.hasPrefix("netns ")
      }
      return copy
    }
    let wholeProc = withoutDenied(try comparable(try run(flowscopeBinary, whole + ["proc"])))
    let wholeBPF = withoutDenied(try comparable(try run(flowscopeBinary, whole + ["bpf"])))
    #expect(wholeProc == wholeBPF, "\(difference(wholeProc, wholeBPF))")
    #expect((wholeBPF["flows"] as? [Any])?.count ?? 0 >= 12)
  }

  @Test(.enabled(if: runningAsRoot, "loading the BPF iterator needs root"))
  func explainSaysWhichSourceAndWhy() throws {
    #expect(
      try flowscope("--explain", "--owners", "bpf").text.hasSuffix(
        "owner source: bpf (root; the task-file iterator is loaded)\n"))
    // auto: the iterator, unless the host has few files open.
    let auto = try flowscope("--explain").text
    #expect(
      auto.hasSuffix("owner source: bpf (root; the task-file iterator is loaded)\n")
        || auto.contains("owner source: proc (bpf: only ")
          && auto.hasSuffix(
            " files are open: reading /proc costs less than loading the program)\n"),
      "\(auto)")
    #expect(try flowscope("--explain", "--owners", "proc").text.hasSuffix("owner source: proc (--owners proc)\n"))
    #expect(
      try flowscope("--explain", "-P", "1").text.hasSuffix("owner source: proc (bpf: only one process is read)\n"))
    // A command that refreshes reads what changed from /proc, and every process with the iterator.
    #expect(
      try flowscope("watch", "--explain", "--owners", "bpf").text.hasSuffix(
        "owner source: bpf (root; the iterator reads every process at the first refresh and "
          + "whenever a socket's owner is unknown, /proc the processes that changed)\n"))
    for arguments in [
      ["--owners", "bpf", "--proc-root", "/tmp"], ["serve", "--owners", "bpf", "--proc-root", "/tmp"],
    ] {
      let outcome = try run(flowscopeBinary, arguments)
      #expect(outcome.status == 1)
      #expect(outcome.stderr.split(separator: "\n").count == 1)
      #expect(outcome.stderr.contains("--owners bpf: "), "\(outcome.stderr)")
    }
  }

  @Test(.enabled(if: runningAsRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
  func unprivilegedAutoUsesProcAndBPFFailsInOneLine() throws {
    let copy = try BinaryForNobody("owners")
    defer { withExtendedLifetime(copy) {} }
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", copy.path]
    let explained = try run("/usr/bin/setpriv", nobody + ["--explain"])
    #expect(explained.status == 0, "\(explained.stderr)")
    #expect(explained.text.hasSuffix("owner source: proc (bpf: not root)\n"), "\(explained.text)")
    let listed = try run("/usr/bin/setpriv", nobody + ["-a", "--json"])
    #expect(listed.status == 0, "\(listed.stderr)")
    #expect(!listed.stderr.contains("bpf"))
    let refused = try run("/usr/bin/setpriv", nobody + ["-a", "--owners", "bpf"])
    #expect(refused.status == 1)
    #expect(refused.stdout.isEmpty)
    #expect(refused.stderr == "Error: --owners bpf: not root\n", "\(refused.stderr)")
  }
}
