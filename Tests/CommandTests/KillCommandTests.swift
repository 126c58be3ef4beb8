import Foundation
import SchemaCheck
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `flowscope kill` on real sockets: in a network namespace of the test's own, so that nothing
/// outside it can match, or on loopback.
@Suite("kill", .serialized)
struct KillCommandTests {
  /// Runs `flowscope kill …` with /dev/null as its input (no terminal to ask on).
  func kill(_ arguments: String..., environment: [String: String]? = nil) throws -> Outcome {
    try run(flowscopeBinary, ["kill"] + arguments, environment: environment, quietInput: true)
  }

  /// A fresh namespace with loopback up, deleted after `body`.
  func withNamespace(_ body: (String) throws -> Void) throws {
    let name = "flowscope-kill-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
    try ip("netns", "add", name)
    defer { _ = try? run("/usr/sbin/ip", ["netns", "del", name]) }
    try ip("-n", name, "link", "set", "lo", "up")
    try body(name)
  }

  /// A listener and three connections to it on 127.0.0.1; on a line naming the index of a
  /// connection that was killed (or -1), it checks every connection and prints what each end
  /// saw: the killed one reads first (its error), the others exchange a message each way.
  static let threeConnections = """
    import socket, json, os, sys
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
    pairs = []
    for _ in range(3):
        c = socket.create_connection(l.getsockname()); s, _ = l.accept(); pairs.append((c, s))
    print(json.dumps({"pid": os.getpid(), "listener": l.getsockname()[1],
        "clients": [c.getsockname()[1] for c, _ in pairs]}), flush=True)
    killed = int(sys.stdin.readline())
    def probe(sock):
        sock.settimeout(2)
        try:
            data = sock.recv(10)
            return data.decode() if data else "eof"
        except OSError as e:
            return e.errno
    result = {}
    for i, (c, s) in enumerate(pairs):
        if i == killed:
            result["client%d" % i] = probe(c); result["server%d" % i] = probe(s)
        else:
            try:
                c.sendall(b"c%d" % i); result["server%d" % i] = probe(s)
                s.sendall(b"s%d" % i); result["client%d" % i] = probe(c)
            except OSError as e:
                result["client%d" % i] = e.errno
    n = socket.create_connection(l.getsockname()); a, _ = l.accept()
    result["listener"] = "accepts"
    print(json.dumps(result), flush=True)
    sys.stdin.read()
    """

  @Test func anEmptyExpressionIsRefused() throws {
    for arguments in [[], ["  "], ["-P", "1"], ["--yes", "--dry-run"]] {
      let outcome = try run(flowscopeBinary, ["kill"] + arguments, quietInput: true)
      #expect(outcome.status == 64, "\(arguments)")
      #expect(outcome.stderr.contains("kill needs an expression"), "\(outcome.stderr)")
      #expect(outcome.stdout.isEmpty)
    }
  }

  /// Several connections; one is killed by its port, and only it: its owner reads
  /// ECONNABORTED, its peer a reset; the others and the listener carry on. A dry run before
  /// it closes nothing.
  @Test(.enabled(if: runningAsRoot, "namespaces and SOCK_DESTROY need root"))
  func onlyTheSelectedConnectionCloses() throws {
    try withNamespace { namespace in
      let situation = try Situation(Self.threeConnections, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
      let clients = try #require(situation.info["clients"] as? [Int])
      let selected = "sport == \(clients[1])"

      let dry = try kill("--netns", namespace, "--dry-run", selected)
      #expect(dry.status == 0, "\(dry.stderr)")
      #expect(dry.text.contains("127.0.0.1:\(clients[1])"))
      #expect(dry.text.contains("1 would close."), "\(dry.text)")
      #expect(!dry.text.contains("127.0.0.1:\(clients[0])"))

      let outcome = try kill("--netns", namespace, "--yes", "--json", selected)
      #expect(outcome.status == 0, "\(outcome.stderr)")
      let report = try document(outcome)
      #expect(try MiniSchema.load().validate(report, against: "#/$defs/killDocument") == [])
      let sockets = try #require(report["sockets"] as? [[String: Any]])
      #expect(sockets.count == 1)
      #expect(sockets.first?["result"] as? String == "closed")
      #expect((sockets.first?["local"] as? [String: Any])?["port"] as? Int == clients[1])
      #expect((report["summary"] as? [String: Any])?["closed"] as? Int == 1)

      situation.say("1")
      let seen = try #require(situation.nextInfo())
      #expect(seen["client1"] as? Int == Int(ECONNABORTED), "\(seen)")
      #expect(seen["server1"] as? Int == Int(ECONNRESET), "\(seen)")
      #expect(seen["client0"] as? String == "s0" && seen["server0"] as? String == "c0", "\(seen)")
      #expect(seen["client2"] as? String == "s2" && seen["server2"] as? String == "c2", "\(seen)")
      #expect(seen["listener"] as? String == "accepts")
    }
  }

  /// Without --yes and without a terminal, nothing is closed and the reason is given.
  @Test func withoutATerminalItNeedsYes() throws {
    let situation = try Situation(Self.threeConnections)
    let clients = try #require(situation.info["clients"] as? [Int])
    let outcome = try kill("--host-netns", "sport == \(clients[0])")
    #expect(outcome.status == 64)
    #expect(outcome.stderr.contains("standard input is not a terminal"), "\(outcome.stderr)")
    #expect(outcome.stderr.contains("--yes"))
    situation.say("-1")
    let seen = try #require(situation.nextInfo())
    #expect(seen["client0"] as? String == "s0", "\(seen)")
  }

  @Test(.enabled(if: runningAsRoot, "namespaces and SOCK_DESTROY need root"))
  func udpSockets() throws {
    try withNamespace { namespace in
      let situation = try Situation(
        """
        import socket, json, os, sys
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.1", 0))
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("127.0.0.1", 0))
        a.connect(b.getsockname())
        lone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); lone.bind(("127.0.0.1", 0))
        print(json.dumps({"pid": os.getpid(), "a": a.getsockname()[1], "b": b.getsockname()[1],
            "lone": lone.getsockname()[1]}), flush=True)
        sys.stdin.readline()
        result = {}
        for name, s in (("a", a), ("lone", lone), ("b", b)):
            s.settimeout(0.5)
            try: result[name] = s.recv(10).decode()
            except socket.timeout: result[name] = "waiting"
            except OSError as e: result[name] = e.errno
        print(json.dumps(result), flush=True)
        sys.stdin.read()
        """, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
      // The connected one as flow lists it, the unconnected one with -a.
      let connected = try kill("--netns", namespace, "--yes", "sport == \(situation.int("a"))")
      #expect(connected.status == 0, "\(connected.stderr)")
      #expect(connected.text.contains("closed         udp   127.0.0.1:\(situation.int("a"))"), "\(connected.text)")
      let lone = try kill("--netns", namespace, "--yes", "-a", "sport == \(situation.int("lone"))")
      #expect(lone.status == 0, "\(lone.stderr)")
      #expect(lone.text.contains("UNCONN"), "\(lone.text)")
      situation.say("go")
      let seen = try #require(situation.nextInfo())
      #expect(seen["a"] as? Int == Int(ECONNABORTED), "\(seen)")
      #expect(seen["lone"] as? Int == Int(ECONNABORTED), "\(seen)")
      #expect(seen["b"] as? String == "waiting", "\(seen)")
    }
  }

  /// A TIME_WAIT socket (the side that closed first keeps one): the report says what this
  /// kernel did. 6.18 removes it; kernels before about 6.5 answer EOPNOTSUPP.
  @Test(.enabled(if: runningAsRoot, "namespaces and SOCK_DESTROY need root"))
  func timeWaitReportsWhatTheKernelDid() throws {
    try withNamespace { namespace in
      let situation = try Situation(
        """
        import socket, json, os, sys
        l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
        c = socket.create_connection(l.getsockname()); s, _ = l.accept()
        port = c.getsockname()[1]
        c.close(); s.recv(1); s.close()
        print(json.dumps({"pid": os.getpid(), "port": port}), flush=True)
        sys.stdin.read()
        """, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
      let query = "state == time-wait and sport == \(situation.int("port"))"
      let listed = try flowscope("--netns", namespace, "--json", query)
      #expect((try document(listed)["flows"] as? [Any])?.count == 1, "\(listed.text)")
      let outcome = try kill("--netns", namespace, "--yes", "--json", query)
      let sockets = try #require(try document(outcome)["sockets"] as? [[String: Any]])
      #expect(sockets.count == 1)
      let result = sockets.first?["result"] as? String
      if result == "closed" {
        #expect(outcome.status == 0)
        let after = try flowscope("--netns", namespace, "--json", query)
        #expect((try document(after)["flows"] as? [Any])?.isEmpty == true, "\(after.text)")
      } else {
        #expect(result == "not-supported")
        #expect(sockets.first?["detail"] as? String == "this kernel cannot close TIME_WAIT sockets")
        #expect(outcome.status == 2)
      }
    }
  }

  /// Without CAP_NET_ADMIN the kernel refuses, and the report says what is needed.
  @Test(.enabled(if: runningAsRoot, "switching to nobody needs root"))
  func withoutPrivilegeItSaysWhatIsNeeded() throws {
    let copy = try BinaryForNobody("kill")
    defer { withExtendedLifetime(copy) {} }
    let situation = try Situation(Self.threeConnections)
    let clients = try #require(situation.info["clients"] as? [Int])
    let outcome = try run(
      "/usr/bin/setpriv",
      [
        "--reuid=65534", "--regid=65534", "--clear-groups", copy.path, "kill", "--yes", "--host-netns",
        "sport == \(clients[2])",
      ], quietInput: true)
    #expect(outcome.status == 2, "\(outcome.stderr)")
    #expect(outcome.text.contains("not permitted"), "\(outcome.text)")
    #expect(outcome.text.contains("needs CAP_NET_ADMIN in that namespace"))
    situation.say("-1")
    let seen = try #require(situation.nextInfo())
    #expect(seen["client2"] as? String == "s2", "\(seen)")
  }

  /// SSH_CONNECTION names a connection the test made: both its ends are left open, the other
  /// connection selected is closed, and --force closes them.
  @Test(.enabled(if: runningAsRoot, "namespaces and SOCK_DESTROY need root"))
  func theSSHConnectionIsLeftOpen() throws {
    try withNamespace { namespace in
      let situation = try Situation(Self.threeConnections, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
      let clients = try #require(situation.info["clients"] as? [Int])
      let listener = situation.int("listener")
      var environment = ProcessInfo.processInfo.environment
      environment["SSH_CONNECTION"] = "127.0.0.1 \(clients[0]) 127.0.0.1 \(listener)"
      let selected = "sport == \(clients[0]) or dport == \(clients[0]) or sport == \(clients[1])"
      let outcome = try kill("--netns", namespace, "--yes", "--json", selected, environment: environment)
      #expect(outcome.status == 2, "\(outcome.stderr)")
      let sockets = try #require(try document(outcome)["sockets"] as? [[String: Any]])
      #expect(sockets.count == 3)
      #expect(sockets.filter { $0["guard"] as? String == "ssh" }.count == 2, "\(sockets)")
      #expect(sockets.filter { $0["result"] as? String == "closed" }.count == 1)
      let text = try kill("--netns", namespace, "--dry-run", selected, environment: environment)
      #expect(text.text.contains("the SSH connection flowscope runs under (--force closes it)"), "\(text.text)")

      let forced = try kill(
        "--netns", namespace, "--yes", "--force", "sport == \(clients[0])", environment: environment)
      #expect(forced.status == 0, "\(forced.stderr)")
      #expect(forced.text.contains("1 closed."), "\(forced.text)")
      situation.say("0")
      let seen = try #require(situation.nextInfo())
      #expect(seen["client0"] as? Int == Int(ECONNABORTED), "\(seen)")
      #expect(seen["client2"] as? String == "s2", "\(seen)")
    }
  }

  /// A listener is left open unless the query names the listen state.
  @Test(.enabled(if: runningAsRoot, "namespaces and SOCK_DESTROY need root"))
  func listenersNeedTheirStateNamed() throws {
    try withNamespace { namespace in
      let situation = try Situation(
        """
        import socket, json, os, sys
        l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
        print(json.dumps({"pid": os.getpid(), "port": l.getsockname()[1]}), flush=True)
        sys.stdin.read()
        """, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
      let port = situation.int("port")
      let guarded = try kill("--netns", namespace, "--yes", "-a", "sport == \(port)")
      #expect(guarded.status == 2, "\(guarded.stderr)")
      #expect(guarded.text.contains("left open"), "\(guarded.text)")
      #expect(guarded.text.contains("it is listening"), "\(guarded.text)")
      #expect(try flowscope("--netns", namespace, "-l", "sport == \(port)").text.contains("LISTEN"))

      let named = try kill("--netns", namespace, "--yes", "state == listen and sport == \(port)")
      #expect(named.status == 0, "\(named.stderr)")
      #expect(named.text.contains("1 closed."), "\(named.text)")
      #expect(!(try flowscope("--netns", namespace, "-l", "sport == \(port)").text.contains("LISTEN")))
    }
  }

  /// On a terminal it asks, and closes only on a yes.
  @Test(.enabled(if: runningAsRoot, "namespaces and SOCK_DESTROY need root"))
  func onATerminalItAsks() throws {
    // python3 gives flowscope a pseudo-terminal as its input and types the answer.
    let driver = """
      import os, subprocess, sys, json
      master, slave = os.openpty()
      p = subprocess.Popen(sys.argv[1:-1], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
      os.close(slave)
      os.write(master, sys.argv[-1].encode() + b"\\n")
      out, err = p.communicate(timeout=30)
      print(json.dumps({"status": p.returncode, "out": out.decode(), "err": err.decode()}))
      """
    func answered(_ answer: String, _ arguments: String...) throws -> [String: Any] {
      let outcome = try run(
        "/usr/bin/python3", ["-c", driver, flowscopeBinary, "kill"] + arguments + [answer], quietInput: true)
      return try #require(try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any], "\(outcome.stderr)")
    }
    try withNamespace { namespace in
      let situation = try Situation(Self.threeConnections, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
      let clients = try #require(situation.info["clients"] as? [Int])
      let no = try answered("n", "--netns", namespace, "sport == \(clients[1]) or sport == \(clients[2])")
      #expect(no["status"] as? Int == 1, "\(no)")
      #expect((no["err"] as? String)?.contains("Close these 2 sockets? [y/N]") == true, "\(no)")
      #expect((no["err"] as? String)?.contains("nothing closed") == true)
      let yes = try answered("y", "--netns", namespace, "sport == \(clients[1])")
      #expect(yes["status"] as? Int == 0, "\(yes)")
      #expect((yes["err"] as? String)?.contains("Close this socket? [y/N]") == true, "\(yes)")
      #expect((yes["out"] as? String)?.contains("1 closed.") == true, "\(yes)")
      situation.say("1")
      let seen = try #require(situation.nextInfo())
      #expect(seen["client1"] as? Int == Int(ECONNABORTED), "\(seen)")
      #expect(seen["client2"] as? String == "s2", "\(seen)")
    }
  }

  /// In `watch`, x asks about the flow on the first row, and y closes it.
  @Test(
    .enabled(if: runningAsRoot, "namespaces and SOCK_DESTROY need root"),
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "needs tmux"))
  func watchClosesTheFirstRowAfterAYes() throws {
    try withNamespace { namespace in
      let situation = try Situation(Self.threeConnections, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
      let clients = try #require(situation.info["clients"] as? [Int])
      let listener = situation.int("listener")
      let pane = try Pane([
        "watch", "--netns", namespace, "-i", "0.3", "--color", "never", "sport == \(clients[1])",
      ])
      let shown = pane.wait { $0.contains { $0.contains("127.0.0.1:\(clients[1])") } }
      #expect(shown != nil, "\(pane.screen.joined(separator: "\n"))")
      let question = "Close tcp 127.0.0.1:\(clients[1]) → 127.0.0.1:\(listener) (python3."
      pane.keys("x")
      #expect(pane.wait { $0.contains { $0.contains(question) } } != nil, "\(pane.screen.joined(separator: "\n"))")
      #expect(pane.screen.contains { $0.hasPrefix("x ") && $0.contains("127.0.0.1:\(clients[1])") })
      pane.keys("n")
      #expect(pane.wait { $0.contains { $0.contains("nothing closed") } } != nil)
      pane.keys("x")
      #expect(pane.wait { $0.contains { $0.contains(question) } } != nil)
      pane.keys("y")
      let closed = pane.wait { $0.contains { $0.contains("closed tcp 127.0.0.1:\(clients[1])") } }
      #expect(closed != nil, "\(pane.screen.joined(separator: "\n"))")
      pane.keys("q")
      situation.say("1")
      let seen = try #require(situation.nextInfo())
      #expect(seen["client1"] as? Int == Int(ECONNABORTED), "\(seen)")
      #expect(seen["client0"] as? String == "s0" && seen["client2"] as? String == "s2", "\(seen)")
    }
  }

  @Test func everyKillOptionIsInTheManPage() throws {
    let help = try flowscope("kill", "--help").text
    let manual = try String(contentsOf: packageRoot.appendingPathComponent("man/flowscope.8"), encoding: .utf8)
    for option in Set(help.matches(of: /--([a-z0-9][a-z0-9-]*)/).map { String($0.output.1) }) {
      #expect(manual.contains("Fl -\(option)"), "man/flowscope.8 lacks kill's --\(option)")
    }
    #expect(manual.contains(".Sh KILL"))
    #expect(manual.contains("Fl y"))
  }
}
