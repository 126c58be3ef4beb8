import Foundation
import SchemaCheck
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A python3 child that holds loopback TCP connections and a UDP socket, all on one port, and
/// closes them when told. `burst` short connections follow. (Not closed with RST: an abortive
/// close resets the socket's addresses before the kernel announces it, so a port filter could
/// not find it.)
private let workerScript = """
  import os, socket, struct, sys, signal
  signal.alarm(60)
  burst = int(sys.argv[1]); pairs_wanted = int(sys.argv[2])
  def exact(s, n):
      got = b""
      while len(got) < n:
          chunk = s.recv(n - len(got))
          if not chunk: raise SystemExit("short read")
          got += chunk
  listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(1024)
  port = listener.getsockname()[1]
  udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", port))
  pairs = []
  for _ in range(pairs_wanted):
      c = socket.create_connection(("127.0.0.1", port)); a, _ = listener.accept()
      c.sendall(b"x" * 1000); exact(a, 1000); a.sendall(b"y" * 300); exact(c, 300)
      pairs.append((c, a))
  print(os.getpid(), port, flush=True)
  sys.stdin.readline()
  for c, a in pairs:
      c.close(); a.recv(1); a.close()
  if pairs_wanted:
      # Born and gone before any scan can see it.
      c = socket.create_connection(("127.0.0.1", port)); a, _ = listener.accept()
      c.close(); a.recv(1); a.close()
  for _ in range(burst):
      c = socket.create_connection(("127.0.0.1", port)); a, _ = listener.accept()
      c.close(); a.close()
  udp.close(); listener.close()
  print("done", flush=True)
  sys.stdin.readline()
  """

private func port(_ endpoint: Any?) -> Int? { (endpoint as? [String: Any])?["port"] as? Int }

@Suite(.serialized, .enabled(if: runningAsRoot, "the destroy groups need CAP_NET_ADMIN"))
struct EventsCommandTests {
  /// The worker, ready to open `connections` connections, and the port it listens on.
  private func startWorker(connections: Int) throws -> (Spawned, Int) {
    let worker = try Spawned("/usr/bin/python3", ["-c", workerScript, String(connections), "0"])
    #expect(worker.wait(seconds: 10) { out, _ in out.contains("\n") })
    let words = worker.stdout.split(whereSeparator: \.isWhitespace)
    let port = Int(words.dropFirst().first ?? "")
    if port == nil { worker.finish() }
    return (worker, try #require(port, "the worker printed no port: \(worker.stdout)"))
  }

  @Test func closesCarryOwnerAddressesAndCountersAndUnknownOwnersAreMarked() throws {
    let worker = try Spawned("/usr/bin/python3", ["-c", workerScript, "0", "2"])
    defer { worker.finish() }
    #expect(worker.wait(seconds: 10) { out, _ in out.contains("\n") })
    let fields = worker.stdout.split(whereSeparator: \.isWhitespace)
    let pid = try #require(Int(fields.first ?? ""))
    let listenPort = try #require(Int(fields.dropFirst().first ?? ""))

    // 2 pairs (4 sockets) + the unseen pair (2) + the UDP socket + the listener.
    let events = try Spawned(
      flowscopeBinary,
      [
        "events", "--json", "--port", String(listenPort), "--scan-interval", "30", "--count", "8",
        "--duration", "20",
      ])
    #expect(events.wait(seconds: 15) { _, err in err.contains("watching") }, "\(events.stderr)")
    worker.say("close")
    events.finish()
    #expect(events.process.terminationStatus == 0, "\(events.stderr)")

    let schema = try MiniSchema.load()
    let lines = events.stdout.split(separator: "\n")
    #expect(lines.count == 8, "\(events.stdout)\n\(events.stderr)")
    var objects: [[String: Any]] = []
    for line in lines {
      let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      #expect(schema.validate(object, against: "#/$defs/eventLine") == [], "\(line)")
      objects.append(object)
    }
    func owner(_ object: [String: Any]) -> Int? {
      ((object["processes"] as? [[String: Any]])?.first)?["pid"] as? Int
    }
    let known = objects.filter { $0["owner"] as? String == "known" }
    #expect(known.allSatisfy { owner($0) == pid })
    #expect(known.allSatisfy { (($0["processes"] as? [[String: Any]])?.first?["command"] as? String) == "python3" })
    #expect(known.allSatisfy { ($0["lifetime_min_ms"] as? Int).map { $0 >= 0 } == true })

    let tcp = known.filter { $0["proto"] as? String == "tcp" && port($0["remote"]) != 0 }
    let clients = tcp.filter { port($0["remote"]) == listenPort }
    let servers = tcp.filter { port($0["local"]) == listenPort }
    #expect(clients.count == 2)
    #expect(servers.count == 2)
    for client in clients {
      // bytes_acked counts the SYN on the connecting side, and each FIN adds one.
      #expect((1000...1002).contains(client["bytes_out"] as? Int ?? -1), "\(client)")
      #expect((300...301).contains(client["bytes_in"] as? Int ?? -1), "\(client)")
      #expect((client["local"] as? [String: Any])?["address"] as? String == "127.0.0.1")
      #expect(client["state"] as? String == "CLOSE")
    }
    for server in servers {
      #expect((300...301).contains(server["bytes_out"] as? Int ?? -1), "\(server)")
      #expect((1000...1001).contains(server["bytes_in"] as? Int ?? -1), "\(server)")
    }
    let udp = try #require(objects.first { $0["proto"] as? String == "udp" })
    #expect(udp["owner"] as? String == "known")
    #expect(owner(udp) == pid)
    #expect(udp["bytes_in"] is NSNull)
    #expect(port(udp["local"]) == listenPort)
    let listener = try #require(known.first { $0["proto"] as? String == "tcp" && port($0["remote"]) == 0 })
    #expect(port(listener["local"]) == listenPort)

    let unknown = objects.filter { $0["owner"] as? String == "unknown" }
    #expect(unknown.count == 2)
    #expect(unknown.allSatisfy { ($0["processes"] as? [Any])?.isEmpty == true && $0["first_seen"] is NSNull })
    #expect(events.stderr.contains("8 event(s) logged"))
    #expect(events.stderr.contains("2 of unknown owner"))
  }

  @Test func aBurstOf5000ConnectionsIsFullyAccountedFor() throws {
    let burst = 5000
    let (worker, listenPort) = try startWorker(connections: burst)
    defer { worker.finish() }
    let expected = 2 * burst + 2  // both ends of each, the UDP socket and the listener
    let events = try Spawned(
      flowscopeBinary,
      [
        "events", "--json", "--port", String(listenPort), "--count", String(expected),
        "--duration", "25",
      ])
    #expect(events.wait(seconds: 15) { _, err in err.contains("watching") }, "\(events.stderr)")
    let start = Date()
    worker.say("go")
    #expect(worker.wait(seconds: 30) { out, _ in out.contains("done") })
    let seconds = Date().timeIntervalSince(start)
    events.finish()
    #expect(events.process.terminationStatus == 0, "\(events.stderr)")
    let lines = events.stdout.split(separator: "\n")
    let closes = lines.filter { $0.contains("\"event\":\"close\"") }.count
    let lostLines = lines.filter { $0.contains("\"event\":\"lost\"") }
    let lost = lostLines.compactMap { line -> Int? in
      let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      return object?["count"] as? Int
    }.reduce(0, +)
    print(
      "burst of \(burst) connections in \(String(format: "%.2f", seconds)) s: \(closes) closes logged, \(lost) lost")
    if lost == 0 {
      #expect(closes == expected, "\(events.stderr)")
    } else {
      // Lost messages are said on stderr and counted (the count covers every dropped
      // message, including other processes' closes the filter would have hidden).
      #expect(events.stderr.contains("lost"))
      #expect(closes + lost >= expected)
    }
  }

  /// Closes queued in the kernel when SIGTERM comes are still read and logged (or counted as
  /// lost): events is stopped (SIGSTOP) while 1,000 connections close, then gets SIGTERM, then
  /// SIGCONT. A second SIGTERM right after does not kill the summary.
  @Test func closesQueuedAtSIGTERMAreLoggedNotDropped() throws {
    let burst = 1000
    let (worker, listenPort) = try startWorker(connections: burst)
    defer { worker.finish() }
    let expected = 2 * burst + 2  // both ends of each, the UDP socket and the listener
    let events = try Spawned(
      flowscopeBinary, ["events", "--json", "--port", String(listenPort), "--duration", "60"])
    #expect(events.wait(seconds: 15) { _, err in err.contains("watching") }, "\(events.stderr)")
    let pid = events.process.processIdentifier
    kill(pid, SIGSTOP)
    worker.say("go")
    #expect(worker.wait(seconds: 30) { out, _ in out.contains("done") })
    kill(pid, SIGTERM)
    kill(pid, SIGCONT)
    usleep(50_000)
    kill(pid, SIGTERM)
    events.finish()
    #expect(events.process.terminationReason == .exit, "killed by a signal: \(events.stderr)")
    #expect(events.stderr.contains("event(s) logged"), "\(events.stderr)")
    let lines = events.stdout.split(separator: "\n")
    let closes = lines.filter { $0.contains("\"event\":\"close\"") }.count
    let lost = lines.filter { $0.contains("\"event\":\"lost\"") }.compactMap { line -> Int? in
      let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      return object?["count"] as? Int
    }.reduce(0, +)
    #expect(closes + lost >= expected, "\(closes) closes, \(lost) lost: \(events.stderr)")
  }

  @Test func unprivilegedItRunsOrSaysWhatItNeeds() throws {
    // Kernel 6.18 lets any user join the destroy groups; a kernel that refuses (EPERM) gets a
    // one-line reason.
    let outcome = try run(
      "/usr/bin/setpriv",
      [
        "--reuid=65534", "--regid=65534", "--clear-groups", flowscopeBinary, "events", "-p", "udp",
        "--duration", "1",
      ])
    if outcome.status == 0 {
      #expect(outcome.stderr.contains("event(s) logged"), "\(outcome.stderr)")
    } else {
      #expect(outcome.status == 1)
      #expect(outcome.stderr.contains("needs root or CAP_NET_ADMIN"), "\(outcome.stderr)")
    }
  }
}

/// A python3 child that, once told, opens a loopback TCP connection every 50 ms for 4 s and
/// closes each after `lifetime` seconds (the last ones when the 4 s are up, younger), then
/// prints each client port with how long its connection lived.
private let churnScript = """
  import json, os, socket, sys, signal, time
  signal.alarm(60)
  lifetime = float(sys.argv[1])
  listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(1024)
  port = listener.getsockname()[1]
  print(os.getpid(), port, flush=True)
  sys.stdin.readline()
  open_, lived = [], {}
  def close(entry):
      c, a, born = entry
      cport = c.getsockname()[1]
      c.close(); a.recv(1); a.close()
      lived[cport] = time.monotonic() - born
  start = time.monotonic()
  while time.monotonic() - start < 4:
      c = socket.create_connection(("127.0.0.1", port)); a, _ = listener.accept()
      open_.append((c, a, time.monotonic()))
      while open_ and time.monotonic() - open_[0][2] >= lifetime:
          close(open_.pop(0))
      time.sleep(0.05)
  for entry in open_: close(entry)
  listener.close()
  print("done", json.dumps(lived), flush=True)
  sys.stdin.readline()
  """

/// Runs the churn child (through `prefix`, e.g. setpriv) and `events` (through `binary`) on
/// its port; returns the child's pid, the lifetimes by client port, and the close records.
private func churn(
  prefix: [String] = [], binary: String = flowscopeBinary, owners: String, interval: Double, lifetime: Double
) throws -> (pid: Int, lived: [Int: Double], closes: [[String: Any]], stderr: String) {
  let command = prefix + ["/usr/bin/python3", "-c", churnScript, String(lifetime)]
  let worker = try Spawned(command[0], Array(command.dropFirst()))
  defer { worker.finish() }
  #expect(worker.wait(seconds: 10) { out, _ in out.contains("\n") })
  let words = worker.stdout.split(whereSeparator: \.isWhitespace)
  let pid = try #require(Int(words.first ?? ""), "\(worker.stdout)")
  let listenPort = try #require(Int(words.dropFirst().first ?? ""))
  let eventsCommand =
    prefix + [
      binary, "events", "--format", "ndjson", "--port", String(listenPort), "--scan-interval", String(interval),
      "--owners", owners, "--duration", "30",
    ]
  let events = try Spawned(eventsCommand[0], Array(eventsCommand.dropFirst()))
  #expect(events.wait(seconds: 15) { _, err in err.contains("watching") }, "\(events.stderr)")
  worker.say("go")
  // Waits for the whole line: a reader may see its first bytes before the rest.
  let completeDoneLine = { (out: String) in
    out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().first { $0.hasPrefix("done ") }
  }
  #expect(worker.wait(seconds: 30) { out, _ in completeDoneLine(out) != nil }, "\(worker.stdout)\n\(worker.stderr)")
  let doneLine = try #require(completeDoneLine(worker.stdout), "\(worker.stdout)\n\(worker.stderr)")
  let table = try #require(
    try JSONSerialization.jsonObject(with: Data(doneLine.dropFirst(5).utf8)) as? [String: Double])
  var lived: [Int: Double] = [:]
  for (key, value) in table { lived[Int(key)!] = value }
  // Every close is announced at once; wait (up to 15 s on a loaded machine) until both ends of
  // every connection were read, and a second more, then stop.
  _ = events.wait(seconds: 15) { out, _ in
    out.components(separatedBy: "\"event\":\"close\"").count - 1 >= 2 * lived.count
  }
  usleep(1_000_000)
  kill(events.process.processIdentifier, SIGINT)
  events.finish()
  #expect(events.process.terminationStatus == 0, "\(events.stderr)")
  var closes: [[String: Any]] = []
  for line in events.stdout.split(separator: "\n") {
    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    if object["event"] as? String == "close" { closes.append(object) }
  }
  return (pid, lived, closes, events.stderr)
}

/// Checks that every end of every connection that lived at least `longer` seconds closed with
/// the child as its owner; returns how many such ends there were.
private func expectOwnersOfLongLived(
  _ result: (pid: Int, lived: [Int: Double], closes: [[String: Any]], stderr: String), listenPort: Int? = nil,
  longer: Double
) -> Int {
  var checked = 0
  var ends: [Int: Int] = [:]
  for close in result.closes where close["proto"] as? String == "tcp" {
    let local = port(close["local"]) ?? -1
    let remote = port(close["remote"]) ?? -1
    // The client end has the client port as local port, the server end as remote port.
    let client = result.lived[local] != nil ? local : remote
    guard let lifetime = result.lived[client] else { continue }
    ends[client, default: 0] += 1
    guard lifetime >= longer else { continue }
    checked += 1
    let process = (close["processes"] as? [[String: Any]])?.first
    #expect(close["owner"] as? String == "known", "lived \(lifetime) s: \(close)\n\(result.stderr)")
    #expect(process?["pid"] as? Int == result.pid, "\(close)")
    #expect(process?["command"] as? String == "python3", "\(close)")
  }
  // Both ends of every connection closed, and each was announced.
  #expect(ends.count == result.lived.count, "\(ends.count) of \(result.lived.count) connections announced")
  #expect(ends.values.allSatisfy { $0 == 2 })
  return checked
}

@Suite(.serialized, .enabled(if: runningAsRoot, "the destroy groups need CAP_NET_ADMIN"))
struct EventsOwnerChurnTests {
  /// A connection every 50 ms, each living 1.2 s, scans every 0.5 s: every close has its owner.
  @Test func asRootTheIteratorGivesEveryConnectionThatLivedAcrossAScanItsOwner() throws {
    let explained = try flowscope("events", "--explain", "--owners", "bpf").text
    #expect(explained.hasSuffix("owner source: bpf (root; the task-file iterator is loaded)\n"), "\(explained)")
    let result = try churn(owners: "bpf", interval: 0.5, lifetime: 1.2)
    #expect(!result.stderr.contains("owners read from /proc"), "\(result.stderr)")
    #expect(expectOwnersOfLongLived(result, longer: 1.2) >= 2 * 50)
  }

  @Test func unprivilegedEventsReadsOwnersFromProc() throws {
    let copy = try BinaryForNobody("events-owners")
    defer { withExtendedLifetime(copy) {} }
    let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    let explained = try run(nobody[0], Array(nobody.dropFirst()) + [copy.path, "events", "--explain"])
    #expect(explained.status == 0, "\(explained.stderr)")
    #expect(explained.text.hasSuffix("owner source: proc (bpf: not root)\n"), "\(explained.text)")
    let refused = try run(nobody[0], Array(nobody.dropFirst()) + [copy.path, "events", "--owners", "bpf"])
    #expect(refused.status == 1)
    #expect(refused.stderr == "Error: --owners bpf: not root\n", "\(refused.stderr)")
    // Kernel 6.18 lets any user join the destroy groups; elsewhere this part cannot run.
    let probe = try run(nobody[0], Array(nobody.dropFirst()) + [copy.path, "events", "-p", "udp", "--duration", "0.2"])
    guard probe.status == 0 else { return }
    let result = try churn(prefix: nobody, binary: copy.path, owners: "auto", interval: 0.5, lifetime: 1.2)
    #expect(expectOwnersOfLongLived(result, longer: 1.2) >= 2 * 50)
  }
}

struct EventsHelpTests {
  @Test func everyOptionOfEventsHelpIsInTheManPage() throws {
    let help = try flowscope("events", "--help").text
    let manual = try String(
      contentsOf: packageRoot.appendingPathComponent("man/flowscope.8"), encoding: .utf8)
    let options = Set(help.matches(of: /--([a-z0-9][a-z0-9-]*)/).map { String($0.output.1) })
    #expect(options.contains("scan-interval"))
    for option in options {
      #expect(manual.contains("Fl -\(option)"), "man/flowscope.8 lacks --\(option)")
    }
    #expect(manual.contains(".Sh EVENTS"))
  }

  @Test func stateFiltersAreRefused() throws {
    let outcome = try flowscope("events", "--state", "established", "--duration", "1")
    #expect(outcome.status == 64)
    #expect(outcome.stderr.contains("every socket ends in state CLOSE"))
  }
}

/// `events` in other network namespaces: a connection closed inside a test namespace is logged
/// with its owner and its namespace, when following every namespace and with `--netns`; with
/// `--netns`, one closed in the host's namespace is not.
@Suite(.serialized, .enabled(if: runningAsRoot, "entering namespaces and the destroy groups need root"))
struct EventsNamespaceTests {
  static let script = """
    import json, os, socket, sys
    lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
    print(json.dumps({'pid': os.getpid(), 'port': lst.getsockname()[1],
      'netns': os.stat('/proc/self/ns/net').st_ino}), flush=True)
    sys.stdin.readline()
    c = socket.create_connection(lst.getsockname()); s, _ = lst.accept()
    c.sendall(b'x' * 777); s.recv(1000)
    sys.stdin.readline()
    c.close(); s.close()
    sys.stdin.readline()
    """

  @Test(arguments: [false, true])
  func aCloseInsideATestNamespaceIsLoggedWithItsOwnerAndNamespace(byName: Bool) throws {
    let namespace = "fs-events-\(getpid())-\(byName ? 1 : 0)"
    #expect(shell("ip netns add \(namespace) && ip -n \(namespace) link set lo up").status == 0)
    defer { _ = shell("ip netns delete \(namespace)") }
    let peer = try Situation(Self.script, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
    defer { peer.say("done") }
    let port = peer.int("port")
    // With --netns, no port filter: the namespace narrows alone.
    let arguments =
      ["events", "--json", "--scan-interval", "0.3", "--count", "2", "--duration", "20"]
      + (byName ? ["--netns", namespace] : ["--port", String(port)])
    // The same connection in the host's namespace, closed first: not followed with --netns.
    let host = byName ? try Situation(Self.script) : nil
    defer { host?.say("done") }
    let events = try Spawned(flowscopeBinary, arguments)
    #expect(events.wait(seconds: 15) { _, err in err.contains("watching") }, "\(events.stderr)")
    peer.say("connect")
    host?.say("connect")
    // A scan sees the connection, and (following every namespace) opens that namespace's socket.
    // Ten scan intervals: on a host busy with other tests a scan of every namespace takes longer.
    usleep(3_000_000)
    host?.say("close")
    usleep(300_000)
    peer.say("close")
    events.finish()
    #expect(events.process.terminationStatus == 0, "\(events.stderr)")
    let objects = try events.stdout.split(separator: "\n").map {
      try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
    #expect(objects.count == 2, "\(events.stdout)\n\(events.stderr)")
    for object in objects {
      #expect(object["netns"] as? Int == peer.int("netns"), "\(object)")
      #expect(object["owner"] as? String == "known", "\(object)")
      #expect(((object["processes"] as? [[String: Any]])?.first?["pid"] as? Int) == Int(peer.pid))
    }
    #expect(objects.contains { ($0["bytes_out"] as? Int ?? 0) >= 777 })
  }
}
