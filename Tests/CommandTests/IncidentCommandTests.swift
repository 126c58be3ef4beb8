import Foundation
import SchemaCheck
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A network namespace of the test's own with its loopback up, deleted on `remove()`.
final class TestNamespace {
  let name: String

  init(_ tag: String) throws {
    name = "fs23-\(tag)-\(getpid())"
    _ = try? run("/usr/sbin/ip", ["netns", "del", name])
    try ip("netns", "add", name)
    try ip("-n", name, "link", "set", "lo", "up")
  }

  /// Runs a command inside the namespace; throws when it fails.
  func exec(_ arguments: String...) throws {
    let outcome = try run("/usr/sbin/ip", ["netns", "exec", name] + arguments)
    guard outcome.status == 0 else {
      throw CocoaError(.executableLoad, userInfo: ["command": arguments, "stderr": outcome.stderr])
    }
  }

  /// Runs a python3 `Situation` inside the namespace.
  func situation(_ script: String) throws -> Situation {
    try Situation(script, prefix: ["/usr/sbin/ip", "netns", "exec", name])
  }

  func remove() { _ = try? run("/usr/sbin/ip", ["netns", "del", name]) }
}

/// The lines of a `check` table that carry `flag`.
func lines(_ outcome: Outcome, flag: String) -> [String] {
  outcome.text.split(separator: "\n").map(String.init).filter {
    $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map(String.init) == flag
  }
}

/// The classic incidents of issue 23, each made for real inside namespaces of the test's own
/// (traffic on their loopback only), each beside a healthy twin that must stay unflagged.
@Suite(.serialized, .enabled(if: runningAsRoot, "network namespaces need root"))
struct IncidentCommandTests {
  /// A listener with listen(8) that never accepts, 40 non-blocking clients: the accept queue
  /// holds 9, the kernel drops the others' SYNs, and they retry.
  static let deafServer = """
    import socket, json, os, sys
    deaf = socket.socket(); deaf.bind(("127.0.0.1", 0)); deaf.listen(8)
    clients = []
    for _ in range(40):
        c = socket.socket(); c.setblocking(False)
        try: c.connect(deaf.getsockname())
        except BlockingIOError: pass
        clients.append(c)
    print(json.dumps({"pid": os.getpid(), "port": deaf.getsockname()[1]}), flush=True)
    sys.stdin.read()
    """

  /// The twin: the same listen(8) and 40 clients, with a thread that accepts each at once.
  static let promptServer = """
    import socket, json, os, sys, threading, time
    prompt = socket.socket(); prompt.bind(("127.0.0.1", 0)); prompt.listen(8)
    accepted = []
    def serve():
        while True: accepted.append(prompt.accept()[0])
    threading.Thread(target=serve, daemon=True).start()
    clients = []
    for _ in range(40):
        c = socket.socket(); c.setblocking(False)
        try: c.connect(prompt.getsockname())
        except BlockingIOError: pass
        clients.append(c)
        time.sleep(0.01)
    print(json.dumps({"pid": os.getpid(), "port": prompt.getsockname()[1]}), flush=True)
    sys.stdin.read()
    """

  @Test func fullAcceptQueueCountsItsDropsAndItsClientsAreUnreachableNotStalled() throws {
    let deafNamespace = try TestNamespace("deaf")
    let promptNamespace = try TestNamespace("prompt")
    defer {
      deafNamespace.remove()
      promptNamespace.remove()
    }
    let deaf = try deafNamespace.situation(Self.deafServer)
    let prompt = try promptNamespace.situation(Self.promptServer)
    let port = deaf.int("port")
    usleep(1_100_000)  // past the first SYN retry

    // Two samples 2 s apart: the retried SYNs of the 31 waiting clients are dropped between them.
    let sampled = try flowscope("check", "-w", "2", "--json", "-P", String(deaf.pid))
    #expect(sampled.status == 2, "\(sampled.stderr)")
    let document = try document(sampled)
    #expect(try MiniSchema.load().validate(document, against: "#/$defs/checkDocument") == [])
    let problems = document["problems"] as? [[String: Any]] ?? []
    let listener = try #require(problems.first { $0["flag"] as? String == "recv-backlog" })
    let dropped = listener["dropped"] as? Int ?? 0
    #expect(dropped >= 31, "\(listener)")
    #expect((listener["drop_interval_s"] as? Double ?? 0) >= 1.9)
    let message = listener["message"] as? String ?? ""
    #expect(
      message.contains(
        "9 connections wait in the accept queue (backlog 8); the kernel dropped \(dropped) connection attempts in 2."),
      "\(message)")
    #expect(message.contains("/s) in its namespace"))
    #expect(!problems.contains { $0["flag"] as? String == "stalled" }, "\(problems)")
    // The drops are said on the listener, not again for its namespace.
    #expect((document["system_problems"] as? [Any])?.isEmpty == true)

    // The waiting clients: unreachable once their SYN was retried twice; never `stalled` with
    // the uptime for a duration.
    var check = try flowscope("check", "-P", String(deaf.pid))
    #expect(
      try within(seconds: 5) {
        check = try flowscope("check", "-P", String(deaf.pid))
        return !lines(check, flag: "unreachable").isEmpty
      })
    let unreachable = lines(check, flag: "unreachable").first ?? ""
    #expect(
      unreachable.contains("python3.\(deaf.pid) has 31 connections to 127.0.0.1:\(port) stuck in SYN_SENT ("),
      "\(check.text)")
    #expect(unreachable.contains("SYN retries): the peer is not answering"))
    #expect(lines(check, flag: "stalled").isEmpty, "\(check.text)")
    let listing = try flows(try flowscope("--json", "-a", "-p", "tcp", "-P", String(deaf.pid)))
    let waiting = listing.filter { $0["state"] as? String == "SYN_SENT" }
    #expect(waiting.count == 31)
    for flow in waiting {
      #expect(flow["flags"] as? [String] == ["unreachable"], "\(flow)")
      #expect(flow["last_recv_ms"] is NSNull && flow["last_send_ms"] is NSNull, "\(flow)")
    }

    // The twin accepted every client: nothing to say, dropped nothing.
    let twin = try flowscope("check", "-i", "1", "-P", String(prompt.pid))
    #expect(twin.status == 0, "\(twin.text)\(twin.stderr)")
    #expect(twin.stdout.isEmpty)
  }

  /// Drops between the two samples at a listener gone by the second: said for the namespace.
  @Test func dropsWithNoFullListenerLeftAreListenDropsOfTheNamespace() throws {
    let namespace = try TestNamespace("drops")
    defer { namespace.remove() }
    let situation = try namespace.situation(
      """
      import socket, json, os, sys, threading, time
      calm = socket.socket(); calm.bind(("127.0.0.1", 0)); calm.listen(8)
      slow = socket.socket(); slow.bind(("127.0.0.1", 0)); slow.listen(1)
      clients = []
      for _ in range(10):
          c = socket.socket(); c.setblocking(False)
          try: c.connect(slow.getsockname())
          except BlockingIOError: pass
          clients.append(c)
      def close():
          time.sleep(2.5)
          slow.close()
      threading.Thread(target=close, daemon=True).start()
      print(json.dumps({"pid": os.getpid()}), flush=True)
      sys.stdin.read()
      """)
    // Samples at about 0.1 s and 3.1 s: the 8 waiting clients retry at 1 and 2 s (and 3 s on
    // older kernels) into a full queue; at 2.5 s the listener is gone.
    let check = try flowscope("check", "-i", "3", "-P", String(situation.pid))
    #expect(check.status == 2, "\(check.text)\(check.stderr)")
    let found = lines(check, flag: "listen-drops")
    #expect(found.count == 1, "\(check.text)")
    let line = found.first ?? ""
    #expect(line.contains("namespace \(namespace.name): the kernel dropped "), "\(line)")
    // The time between the samples, as measured: 3 s, and a little more on a busy host.
    #expect(line.contains(#/\ connection attempts in 3\.[0-4] s \(/#), "\(line)")
    let dropped = Int(line.split(separator: "dropped ").last?.split(separator: " ").first ?? "") ?? 0
    #expect(dropped >= 16, "\(line)")
    #expect(lines(check, flag: "recv-backlog").isEmpty, "\(check.text)")
    // One sample sees no drops.
    #expect(lines(try flowscope("check", "-P", String(situation.pid)), flag: "listen-drops").isEmpty)
  }

  /// `connections` clients to one server on 127.0.0.1:5432; with `closing`, that many of them
  /// close first, leaving their port in TIME_WAIT.
  static func manyClients(_ connections: Int, closing: Int = 0) -> String {
    """
    import socket, json, os, sys
    server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 5432)); server.listen(128)
    pairs = []
    for _ in range(\(connections)):
        c = socket.create_connection(("127.0.0.1", 5432)); s, _ = server.accept(); pairs.append((c, s))
    for c, s in pairs[:\(closing)]:
        c.close(); s.close()
    print(json.dumps({"pid": os.getpid()}), flush=True)
    sys.stdin.read()
    """
  }

  @Test func narrowPortRangeIsPortsExhaustedAndAWideOneIsNot() throws {
    let narrow = try TestNamespace("narrow")
    let wide = try TestNamespace("wide")
    defer {
      narrow.remove()
      wide.remove()
    }
    try narrow.exec("sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40099")
    let crowded = try narrow.situation(Self.manyClients(95, closing: 40))
    let spread = try wide.situation(Self.manyClients(50))

    var check = try flowscope("check", "-P", String(crowded.pid))
    // The closed ones pass through FIN_WAIT to TIME_WAIT.
    #expect(
      try within(seconds: 3) {
        check = try flowscope("check", "-P", String(crowded.pid))
        return check.text.contains("(TIME_WAIT 40)")
      }, "\(check.text)")
    #expect(check.status == 2)
    let found = lines(check, flag: "ports-exhausted")
    #expect(found.count == 1, "\(check.text)")
    #expect(
      found.first?.contains(
        "127.0.0.1:5432: 95 of 100 local ports in use (TIME_WAIT 40) from 127.0.0.1 in namespace \(narrow.name): connect() to it will fail with EADDRNOTAVAIL"
      ) == true, "\(check.text)")
    #expect(check.text.contains("Namespaces and host:\n"))

    let json = try flowscope("check", "--json", "-P", String(crowded.pid))
    let document = try document(json)
    #expect(try MiniSchema.load().validate(document, against: "#/$defs/checkDocument") == [])
    let system = try #require((document["system_problems"] as? [[String: Any]])?.first)
    #expect(system["flag"] as? String == "ports-exhausted")
    #expect(system["scope"] as? String == "namespace")
    #expect(system["netns_name"] as? String == narrow.name)
    #expect(system["ports_in_use"] as? Int == 95)
    #expect(system["time_wait"] as? Int == 40)
    #expect(system["port_range"] as? [Int] == [40000, 40099])

    // A stricter threshold than 95 %: nothing.
    #expect(try flowscope("check", "-P", String(crowded.pid), "--ports-threshold", "96").status == 0)
    // The twin: 50 connections over the default range (28,232 ports).
    let twin = try flowscope("check", "-P", String(spread.pid))
    #expect(twin.status == 0, "\(twin.text)")
  }

  @Test func droppedSYNsAreUnreachableAndANormalConnectIsNot() throws {
    let namespace = try TestNamespace("nft")
    defer { namespace.remove() }
    try ip("-n", namespace.name, "addr", "add", "10.231.0.1/32", "dev", "lo")
    try ip("-n", namespace.name, "addr", "add", "10.231.0.2/32", "dev", "lo")
    // A firewall that drops SYNs to one address, as a remote one would.
    try namespace.exec("nft", "add", "table", "inet", "fs23")
    try namespace.exec(
      "nft", "add", "chain", "inet", "fs23", "in", "{ type filter hook input priority 0; }")
    try namespace.exec(
      "nft", "add", "rule", "inet", "fs23", "in", "ip", "daddr", "10.231.0.2", "tcp", "flags", "&",
      "(syn|ack)", "==", "syn", "drop")
    let situation = try namespace.situation(
      """
      import socket, json, os, sys
      server = socket.socket(); server.bind(("0.0.0.0", 7000)); server.listen(8)
      fine = socket.create_connection(("10.231.0.1", 7000)); accepted, _ = server.accept()
      lost = socket.socket(); lost.setblocking(False)
      try: lost.connect(("10.231.0.2", 7000))
      except BlockingIOError: pass
      print(json.dumps({"pid": os.getpid()}), flush=True)
      sys.stdin.read()
      """)
    let pid = String(situation.pid)
    var check = try flowscope("check", "-P", pid)
    #expect(
      try within(seconds: 6) {
        check = try flowscope("check", "-P", pid)
        return !lines(check, flag: "unreachable").isEmpty
      }, "\(check.text)")
    #expect(check.status == 2)
    #expect(check.text.split(separator: "\n").count == 1, "\(check.text)")
    #expect(
      lines(check, flag: "unreachable").first?.contains(
        "python3.\(pid) has 1 connection to 10.231.0.2:7000 stuck in SYN_SENT (") == true, "\(check.text)")
    // The normal connect beside it, through the same firewall: no flag.
    let listing = try flows(try flowscope("--json", "-a", "-p", "tcp", "-P", pid))
    let fine = listing.filter {
      ($0["remote"] as? [String: Any])?["address"] as? String == "10.231.0.1"
        && ($0["remote"] as? [String: Any])?["port"] as? Int == 7000
    }
    #expect(fine.count == 1)
    #expect(fine.first?["flags"] as? [String] == [])
    // A higher threshold waits longer.
    #expect(lines(try flowscope("check", "-P", pid, "--syn-retries", "20"), flag: "unreachable").isEmpty)
  }

  /// `count` connections whose client fills the send buffers and closes: each becomes an orphan
  /// in FIN_WAIT1 as long as the peer (a child process) does not read; with `stop`, it is
  /// SIGSTOPped first.
  static func closingClients(_ count: Int, stop: Bool) -> String {
    """
    import socket, json, os, sys, signal, time, ctypes
    server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server.bind(("127.0.0.1", 0)); server.listen(\(count))
    reader = os.fork()
    if reader == 0:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        signal.alarm(60)
        peers = [server.accept()[0] for _ in range(\(count))]
        for p in peers: p.setblocking(False)
        while True:
            for p in peers:
                try:
                    while p.recv(65536): pass
                except (BlockingIOError, ConnectionError): pass
            time.sleep(0.02)
    clients = []
    for _ in range(\(count)):
        c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        c.connect(server.getsockname()); clients.append(c)
    time.sleep(0.2)
    if \(stop ? "True" : "False"): os.kill(reader, signal.SIGSTOP)
    for c in clients:
        c.setblocking(False)
        try:
            while True: c.send(b"x" * 65536)
        except BlockingIOError: pass
        c.close()
    print(json.dumps({"pid": os.getpid(), "reader": reader}), flush=True)
    sys.stdin.read()
    os.kill(reader, signal.SIGKILL)
    """
  }

  /// The kernel's orphan count and tcp_max_orphans are host-wide (the sysctl exists in the
  /// initial namespace only), so the test does not lower the limit, which every other program
  /// on the host would feel: it sets the threshold so that 150 orphans pass it.
  @Test func orphansWithAFrozenPeerAreFlaggedAndClosingToAReadingPeerIsNot() throws {
    let limit = try #require(
      Int(
        try String(contentsOfFile: "/proc/sys/net/ipv4/tcp_max_orphans", encoding: .utf8)
          .trimmingCharacters(in: .whitespacesAndNewlines)))
    let threshold = String(format: "%.4f", 150.0 * 100 / Double(limit))
    let namespace = try TestNamespace("orphans")
    defer { namespace.remove() }

    // The twin: the peer reads, the closes complete, nothing is left orphaned for long.
    do {
      let reading = try namespace.situation(Self.closingClients(200, stop: false))
      var check = try flowscope("check", "--orphans-threshold", threshold)
      #expect(
        try within(seconds: 3) {
          check = try flowscope("check", "--orphans-threshold", threshold)
          return lines(check, flag: "orphans").isEmpty
        }, "\(check.text)")
      withExtendedLifetime(reading) {}
    }

    let frozen = try namespace.situation(Self.closingClients(200, stop: true))
    let check = try flowscope("check", "--orphans-threshold", threshold)
    let found = lines(check, flag: "orphans")
    #expect(found.count == 1, "\(check.text)")
    let line = found.first ?? ""
    #expect(line.contains("host: "), "\(line)")
    #expect(
      line.contains(
        " orphaned TCP sockets (closed by their process, still closing) of the \(limit) net.ipv4.tcp_max_orphans allows"
      ), "\(line)")
    #expect(line.contains("seen in FIN_WAIT1/FIN_WAIT2/LAST_ACK/CLOSING, most to 127.0.0.1:"), "\(line)")
    #expect(line.contains("in namespace \(namespace.name): past the limit the kernel resets connections"), "\(line)")
    // Their full send queues towards the frozen peer: said of the orphans, not of a process
    // flowscope could not see.
    #expect(
      lines(check, flag: "zero-window").contains {
        $0.contains("the kernel, for orphaned sockets their process closed, has 200 connections to 127.0.0.1:")
      }, "\(check.text)")
    let json = try flowscope("check", "--json", "--orphans-threshold", threshold)
    let document = try document(json)
    #expect(try MiniSchema.load().validate(document, against: "#/$defs/checkDocument") == [])
    let system = (document["system_problems"] as? [[String: Any]] ?? []).first { $0["flag"] as? String == "orphans" }
    #expect((system?["orphans"] as? Int ?? 0) >= 200, "\(String(describing: system))")
    #expect(system?["max_orphans"] as? Int == limit)
    #expect(system?["scope"] as? String == "host")
    // With a process named, orphans belong to none of them.
    #expect(
      lines(try flowscope("check", "-P", String(frozen.pid), "--orphans-threshold", threshold), flag: "orphans").isEmpty
    )
    // The default threshold (50 % of the limit) is far away.
    #expect(lines(try flowscope("check"), flag: "orphans").isEmpty)
  }
}
