import Foundation
import SchemaCheck
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A python3 program that builds a situation, prints one JSON line describing it, and holds it
/// until its standard input closes (or 60 s pass). Killed and reaped on deinit.
final class Situation {
  let process = Process()
  private let input = Pipe()
  private let output = Pipe()
  let info: [String: Any]

  /// `prefix` runs the interpreter through another program (`ip netns exec NS`).
  init(_ script: String, prefix: [String] = []) throws {
    // The test runner may block SIGALRM in its children: unblock it, so the alarm ends a
    // forgotten situation (after 5 minutes: a loaded machine makes tests slow). Foundation gives
    // each child a socket to learn of its exit; closing it would make Foundation wait for this
    // child and stall every other one, so it stays, and `inherited` counts such descriptors for
    // the tests that count sockets.
    let program =
      "import os, signal; signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM]); signal.alarm(300)\n"
      + "inherited = len(os.listdir('/proc/self/fd')) - 4\n" + script
    let python = "/usr/bin/python3"
    if let first = prefix.first {
      process.executableURL = URL(fileURLWithPath: first)
      process.arguments = Array(prefix.dropFirst()) + [python, "-c", program]
    } else {
      process.executableURL = URL(fileURLWithPath: python)
      process.arguments = ["-c", program]
    }
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    var line = Data()
    while !line.contains(0x0a) {
      let chunk = output.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      line.append(chunk)
    }
    guard let object = try? JSONSerialization.jsonObject(with: line.prefix { $0 != 0x0a }),
      let info = object as? [String: Any]
    else {
      process.terminate()
      throw CocoaError(
        .executableLoad,
        userInfo: [NSLocalizedDescriptionKey: "situation did not start: \(String(decoding: line, as: UTF8.self))"])
    }
    self.info = info
  }

  var pid: Int32 { Int32(info["pid"] as? Int ?? 0) }
  func int(_ key: String) -> Int { info[key] as? Int ?? -1 }

  /// The next line the program prints, read as a JSON object (nil at its end).
  func nextInfo() -> [String: Any]? {
    var line = Data()
    while !line.contains(0x0a) {
      let chunk = output.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      line.append(chunk)
    }
    return (try? JSONSerialization.jsonObject(with: line.prefix { $0 != 0x0a })) as? [String: Any]
  }

  /// Sends a line to the program (a go signal).
  func say(_ text: String) {
    // A child that already ended (its alarm, on a machine so loaded that a test outlived it)
    // would answer with SIGPIPE, which ends the whole test run: the failed expectations say more.
    guard process.isRunning else { return }
    input.fileHandleForWriting.write(Data((text + "\n").utf8))
  }

  deinit {
    try? input.fileHandleForWriting.close()
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }
}

/// The JSON document of one run.
func document(_ outcome: Outcome) throws -> [String: Any] {
  try #require(try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any], "\(outcome.stderr)")
}

func flows(_ outcome: Outcome) throws -> [[String: Any]] {
  try #require(try document(outcome)["flows"] as? [[String: Any]])
}

/// The flags of the first flow with these ports (or, for UNIX sockets, this inode).
func flags(in flows: [[String: Any]], localPort: Int? = nil, remotePort: Int? = nil, inode: Int? = nil)
  -> [String]?
{
  let flow = flows.first { flow in
    if let inode { return flow["inode"] as? Int == inode }
    let local = (flow["local"] as? [String: Any])?["port"] as? Int
    let remote = (flow["remote"] as? [String: Any])?["port"] as? Int
    // Without a remote port, a connection: not a listener (remote port 0).
    return (localPort == nil || local == localPort)
      && (remotePort == nil ? remote != 0 : remote == remotePort)
  }
  return flow?["flags"] as? [String]
}

/// Polls `probe` until it gives true or about `seconds` have passed.
func within(seconds: Double, _ probe: () throws -> Bool) rethrows -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  repeat {
    if try probe() { return true }
    usleep(100_000)
  } while Date() < deadline
  return try probe()
}

/// Each test builds a real situation with the problem and a healthy twin beside it, and checks
/// that the problem is flagged and the twin is not.
@Suite(.serialized)
struct HealthCommandTests {
  @Test func serverThatNeverReadsIsRecvBacklogAndItsPeerSeesAZeroWindow() throws {
    let situation = try Situation(
      """
      import socket, json, os, sys
      full = socket.socket(); full.bind(("127.0.0.1", 0)); full.listen(2)
      waiting = [socket.create_connection(full.getsockname()) for _ in range(3)]
      calm = socket.socket(); calm.bind(("127.0.0.1", 0)); calm.listen(8)
      deaf = socket.socket(); deaf.bind(("127.0.0.1", 0)); deaf.listen(1)
      client = socket.create_connection(deaf.getsockname()); server, _ = deaf.accept()
      client.setblocking(False)
      try:
          while True: client.send(b"x" * 65536)
      except BlockingIOError: pass
      fine = socket.socket(); fine.bind(("127.0.0.1", 0)); fine.listen(1)
      fclient = socket.create_connection(fine.getsockname()); fserver, _ = fine.accept()
      fclient.sendall(b"y" * 1000)
      got = 0
      while got < 1000: got += len(fserver.recv(1000 - got))
      print(json.dumps({"pid": os.getpid(), "full": full.getsockname()[1], "calm": calm.getsockname()[1],
          "deaf": deaf.getsockname()[1], "fine": fine.getsockname()[1]}), flush=True)
      sys.stdin.read()
      """)
    let pid = String(situation.pid)
    var listing: [[String: Any]] = []
    let settled = try within(seconds: 5) {
      listing = try flows(try flowscope("--json", "-a", "-p", "tcp", "-P", pid))
      return flags(in: listing, localPort: situation.int("deaf"), remotePort: nil)?.contains("recv-backlog") == true
        && flags(in: listing, remotePort: situation.int("deaf"))?.contains("zero-window") == true
    }
    #expect(settled)
    // The full accept queue (3 waiting, backlog 2) and the unread connection.
    let fullListener = flags(in: listing, localPort: situation.int("full"), remotePort: 0)
    #expect(fullListener == ["recv-backlog"])
    let unread = listing.first {
      ($0["local"] as? [String: Any])?["port"] as? Int == situation.int("deaf")
        && $0["state"] as? String == "ESTABLISHED"
    }
    #expect((unread?["flags"] as? [String])?.contains("recv-backlog") == true)
    #expect((unread?["recv_q"] as? Int ?? 0) >= 65536)
    #expect(flags(in: listing, remotePort: situation.int("deaf")) == ["zero-window"])
    // The healthy ones: an empty listener, the one whose connection was accepted and read.
    #expect(flags(in: listing, localPort: situation.int("calm"), remotePort: 0) == [])
    #expect(flags(in: listing, localPort: situation.int("fine"), remotePort: 0) == [])
    let fineOnes = listing.filter {
      ($0["local"] as? [String: Any])?["port"] as? Int == situation.int("fine")
        && $0["state"] as? String == "ESTABLISHED"
        || ($0["remote"] as? [String: Any])?["port"] as? Int == situation.int("fine")
    }
    #expect(fineOnes.count == 2)
    for flow in fineOnes { #expect(flow["flags"] as? [String] == []) }
    // The three clients waiting to be accepted are healthy too.
    let waiting = listing.filter { ($0["remote"] as? [String: Any])?["port"] as? Int == situation.int("full") }
    #expect(waiting.count == 3)
    for flow in waiting { #expect(flow["flags"] as? [String] == []) }

    // The Flags column says the same.
    let table = try flowscope(
      "-a", "-p", "tcp", "-P", pid, "--port", String(situation.int("full")), "-o", "local,state,flags")
    #expect(table.text.contains("LISTEN  recv-backlog"), "\(table.text)")

    // check explains both and exits 2.
    let check = try flowscope("check", "-P", pid)
    #expect(check.status == 2, "\(check.stderr)")
    #expect(check.text.contains("is not accepting connections on 127.0.0.1:\(situation.int("full"))"))
    #expect(check.text.contains("3 connections wait in the accept queue (backlog 2)"))
    #expect(check.text.contains("is not reading 1 connection"))
    #expect(check.text.contains("zero window"))

    // proc rolls the flags up, with how many flows carry each.
    let proc = try document(try flowscope("proc", "--json", "-P", pid))
    let process = try #require((proc["processes"] as? [[String: Any]])?.first)
    #expect(process["pid"] as? Int == Int(situation.pid))
    #expect(process["flags"] as? [String] == ["recv-backlog", "zero-window"])
    #expect((process["flag_counts"] as? [String: Int]) == ["recv-backlog": 2, "zero-window": 1])
    #expect((process["states"] as? [String: Int])?["listen"] == 4)
  }

  @Test func peerClosedOnTCPAndUNIXButNotOnTheirHealthyTwins() throws {
    let situation = try Situation(
      """
      import socket, json, os, sys
      l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
      stale = socket.create_connection(l.getsockname()); s, _ = l.accept(); s.close()
      fresh = socket.create_connection(l.getsockname()); f, _ = l.accept()
      a, b = socket.socketpair(); b.close()
      x, y = socket.socketpair()
      print(json.dumps({"pid": os.getpid(), "stale": stale.getsockname()[1], "fresh": fresh.getsockname()[1],
          "listener": l.getsockname()[1], "a": os.fstat(a.fileno()).st_ino, "inherited": inherited,
          "x": os.fstat(x.fileno()).st_ino, "y": os.fstat(y.fileno()).st_ino}), flush=True)
      sys.stdin.read()
      """)
    let pid = String(situation.pid)
    var listing: [[String: Any]] = []
    #expect(
      try within(seconds: 5) {
        listing = try flows(try flowscope("--json", "-a", "-p", "tcp,unix", "-P", pid))
        return flags(in: listing, localPort: situation.int("stale")) == ["peer-closed"]
      })
    #expect(listing.first { $0["inode"] as? Int == situation.int("a") }?["shutdown"] as? Int == 3)
    #expect(flags(in: listing, inode: situation.int("a")) == ["peer-closed"])
    #expect(flags(in: listing, inode: situation.int("x")) == [])
    #expect(flags(in: listing, inode: situation.int("y")) == [])
    #expect(flags(in: listing, localPort: situation.int("fresh")) == [])
    #expect(flags(in: listing, remotePort: situation.int("fresh")) == [])
    #expect(flags(in: listing, localPort: situation.int("listener"), remotePort: 0) == [])

    let check = try flowscope("check", "-P", pid)
    #expect(check.status == 2, "\(check.stderr)")
    let lines = check.text.split(separator: "\n")
    #expect(lines.count == 1, "\(check.text)")
    #expect(
      check.text.contains(
        "holds 2 sockets whose peer closed (1 TCP in CLOSE_WAIT, 1 UNIX) to 127.0.0.1:\(situation.int("listener"))"))
    #expect(check.text.hasPrefix("WARNING   peer-closed     python3.\(pid) "))

    let json = try flowscope("check", "--json", "-P", pid)
    #expect(json.status == 2)
    let checked = try document(json)
    #expect(try MiniSchema.load().validate(checked, against: "#/$defs/checkDocument") == [])
    let problem = try #require((checked["problems"] as? [[String: Any]])?.first)
    #expect(problem["flag"] as? String == "peer-closed")
    #expect(problem["severity"] as? String == "warning")
    #expect(problem["pid"] as? Int == Int(situation.pid))
    #expect(problem["flows"] as? Int == 2)

    let proc = try document(try flowscope("proc", "--json", "-P", pid))
    let process = try #require((proc["processes"] as? [[String: Any]])?.first)
    #expect((process["states"] as? [String: Int]) == ["established": 2, "listen": 1, "close_wait": 1, "other": 0])
    #expect((process["sockets"] as? [String: Int])?["unix"] == 3 + situation.int("inherited"))
  }

  @Test func checkExitsZeroAndSaysNothingForAHealthyProcess() throws {
    let child = try calmProcess()
    let check = try flowscope("check", "-P", String(child.pid))
    #expect(check.status == 0, "\(check.stderr)")
    #expect(check.stdout.isEmpty)
    let json = try flowscope("check", "--json", "-P", String(child.pid))
    #expect(json.status == 0)
    #expect((try document(json)["problems"] as? [Any])?.isEmpty == true)
    // A usage error stays 64, a real error 1.
    #expect(try flowscope("check", "--idle", "0").status == 64)
    #expect(try flowscope("check", "--replay", "/nonexistent/recording").status == 1)
  }

  /// A healthy process: one TCP listener and nothing else. (Not `Child`: a child spawned from
  /// the test runner inherits the runner's descriptors, among them Foundation's sockets to
  /// earlier children, which are peer-closed once those children are gone.)
  func calmProcess() throws -> Situation {
    try Situation(
      """
      import socket, json, os, sys
      l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
      print(json.dumps({"pid": os.getpid()}), flush=True)
      sys.stdin.read()
      """)
  }

  /// A python3 process whose RLIMIT_NOFILE is 64, holding `udp` UDP sockets and `pairs` UNIX
  /// socket pairs, or as many UDP sockets as it can when `exhaust`.
  func limitedProcess(udp: Int, pairs: Int, exhaust: Bool) throws -> Situation {
    try Situation(
      """
      import socket, json, os, sys, resource, errno
      # Inherited descriptors numbered 64 and up stay open past the limit and count on top of it.
      above = len([fd for fd in os.listdir('/proc/self/fd') if int(fd) >= 64])
      resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
      held = []
      for _ in range(\(udp)):
          u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); held.append(u)
      for _ in range(\(pairs)):
          held.extend(socket.socketpair())
      hit = False
      if \(exhaust ? "True" : "False"):
          try:
              while True: held.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
          except OSError as e:
              hit = e.errno == errno.EMFILE
      print(
          json.dumps({"pid": os.getpid(), "emfile": hit, "inherited": inherited, "above": above}),
          flush=True)
      sys.stdin.read()
      """)
  }

  @Test func processNearItsOpenFileLimitHasFDPressure() throws {
    let pressed = try limitedProcess(udp: 40, pairs: 8, exhaust: false)
    let calm = try calmProcess()
    let outcome = try flowscope("proc", "--json", "-P", String(pressed.pid), "-P", String(calm.pid))
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let proc = try document(outcome)
    #expect(try MiniSchema.load().validate(proc, against: "#/$defs/processDocument") == [])
    let processes = try #require(proc["processes"] as? [[String: Any]])
    let hot = try #require(processes.first { $0["pid"] as? Int == Int(pressed.pid) })
    #expect(hot["fd_limit_soft"] as? Int == 64)
    #expect(hot["fd_limit_hard"] as? Int == 64)
    let inherited = pressed.int("inherited")
    #expect(hot["fd_count"] as? Int == 3 + inherited + 56)
    #expect(3 + inherited + 56 < 64)
    #expect(hot["flags"] as? [String] == ["fd-pressure"])
    #expect(
      (hot["sockets"] as? [String: Int]) == ["tcp": 0, "udp": 40, "unix": 16 + inherited, "other": 0, "unlisted": 0])
    let cold = try #require(processes.first { $0["pid"] as? Int == Int(calm.pid) })
    #expect(cold["flags"] as? [String] == [])
    #expect((cold["sockets"] as? [String: Int])?["tcp"] == 1)

    // The table says how to raise the limit.
    let table = try flowscope("proc", "-P", String(pressed.pid), "--color", "never")
    #expect(table.text.contains("fd-pressure"))
    #expect(table.text.contains("prlimit --pid \(pressed.pid) --nofile=SOFT:HARD"))
    #expect(table.text.contains("LimitNOFILE="))
    let calmTable = try flowscope("proc", "-P", String(calm.pid))
    #expect(!calmTable.text.contains("prlimit"))

    // A lower threshold flags what the default does not, and a higher one clears it.
    let strict = try document(try flowscope("proc", "--json", "-P", String(calm.pid), "--fd-threshold", "0.001"))
    #expect(((strict["processes"] as? [[String: Any]])?.first?["flags"] as? [String]) == ["fd-pressure"])
    let lax = try document(try flowscope("proc", "--json", "-P", String(pressed.pid), "--fd-threshold", "99"))
    #expect(((lax["processes"] as? [[String: Any]])?.first?["flags"] as? [String]) == [])

    let check = try flowscope("check", "-P", String(pressed.pid))
    #expect(check.status == 2)
    #expect(check.text.contains("of the 64 file descriptors its limit allows"))
  }

  @Test func processThatHitEMFILEIsFDExhausted() throws {
    let full = try limitedProcess(udp: 10, pairs: 0, exhaust: true)
    #expect(full.info["emfile"] as? Bool == true)
    let calm = try calmProcess()
    let proc = try document(try flowscope("proc", "--json", "-P", String(full.pid), "-P", String(calm.pid)))
    let processes = try #require(proc["processes"] as? [[String: Any]])
    let hot = try #require(processes.first { $0["pid"] as? Int == Int(full.pid) })
    #expect(hot["fd_count"] as? Int == 64 + full.int("above"))
    // What filled the table: UDP sockets created and never bound, the socket leak.
    #expect(hot["flags"] as? [String] == ["fd-exhausted", "socket-leak"])
    #expect(processes.first { $0["pid"] as? Int == Int(calm.pid) }?["flags"] as? [String] == [])

    let check = try flowscope("check", "-P", String(full.pid), "-P", String(calm.pid))
    #expect(check.status == 2)
    #expect(check.text.hasPrefix("CRITICAL  fd-exhausted    python3.\(full.pid) has used all 64 file descriptors"))
    let lines = check.text.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(lines.last?.hasPrefix("WARNING   socket-leak     python3.\(full.pid) holds ") == true)
  }

  @Test func idleConnectionIsFlaggedAndABusyOneIsNot() throws {
    let situation = try Situation(
      """
      import socket, json, os, sys, threading, time
      l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
      quiet = socket.create_connection(l.getsockname()); q, _ = l.accept()
      quiet.sendall(b"hello"); q.recv(5); q.sendall(b"world"); quiet.recv(5)
      busy = socket.create_connection(l.getsockname()); b, _ = l.accept()
      def chatter():
          while True:
              busy.sendall(b"ping"); b.recv(4); b.sendall(b"pong"); busy.recv(4); time.sleep(0.05)
      threading.Thread(target=chatter, daemon=True).start()
      print(json.dumps({"pid": os.getpid(), "quiet": quiet.getsockname()[1], "busy": busy.getsockname()[1]}), flush=True)
      sys.stdin.read()
      """)
    let pid = String(situation.pid)
    var listing: [[String: Any]] = []
    #expect(
      try within(seconds: 6) {
        listing = try flows(try flowscope("--json", "-p", "tcp", "-P", pid, "--idle", "1"))
        return flags(in: listing, localPort: situation.int("quiet")) == ["idle"]
          && flags(in: listing, remotePort: situation.int("quiet")) == ["idle"]
      })
    #expect(flags(in: listing, localPort: situation.int("busy")) == [])
    #expect(flags(in: listing, remotePort: situation.int("busy")) == [])
    // Not idle by the default (300 s).
    let byDefault = try flows(try flowscope("--json", "-p", "tcp", "-P", pid))
    #expect(flags(in: byDefault, localPort: situation.int("quiet")) == [])
    // check leaves idle out unless --idle is given.
    #expect(try flowscope("check", "-P", pid).status == 0)
    let check = try flowscope("check", "-P", pid, "--idle", "1")
    #expect(check.status == 2)
    #expect(check.text.hasPrefix("INFO      idle"))
    #expect(check.text.contains("idle for over 1 s"))
  }

  static let nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].first {
    FileManager.default.isExecutableFile(atPath: $0)
  }

  @Test(
    .enabled(if: runningAsRoot, "network namespaces need root"),
    .enabled(if: nft != nil, "needs nft (apt-get install nftables)"))
  func droppedPacketsMakeTheSenderRetransmitInATestNamespace() throws {
    let namespace = "flowscope-rt-\(getpid())"
    defer { _ = try? run("/usr/sbin/ip", ["netns", "del", namespace]) }
    #expect(try run("/usr/sbin/ip", ["netns", "add", namespace]).status == 0)
    #expect(try run("/usr/sbin/ip", ["-n", namespace, "link", "set", "lo", "up"]).status == 0)
    let situation = try Situation(
      """
      import socket, json, os, sys
      l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
      lossy = socket.create_connection(l.getsockname()); s, _ = l.accept()
      h = socket.socket(); h.bind(("127.0.0.1", 0)); h.listen(4)
      healthy = socket.create_connection(h.getsockname()); hs, _ = h.accept()
      print(json.dumps({"pid": os.getpid(), "server": l.getsockname()[1], "healthy": h.getsockname()[1]}), flush=True)
      sys.stdin.readline()
      lossy.setblocking(False); lossy.send(b"x" * 10000)
      healthy.sendall(b"y" * 10000); got = 0
      while got < 10000: got += len(hs.recv(10000))
      sys.stdin.read()
      """, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
    let port = situation.int("server")
    // Everything the server sends (its ACKs) is dropped: the client's data is never acknowledged.
    let nft = try #require(Self.nft)
    for command in [
      ["add", "table", "inet", "t"],
      ["add", "chain", "inet", "t", "out", "{", "type", "filter", "hook", "output", "priority", "0", ";", "}"],
      ["add", "rule", "inet", "t", "out", "tcp", "sport", String(port), "drop"],
    ] {
      let outcome = try run("/usr/sbin/ip", ["netns", "exec", namespace, nft] + command)
      #expect(outcome.status == 0, "nft \(command): \(outcome.stderr)")
    }
    situation.say("go")
    var listing: [[String: Any]] = []
    #expect(
      try within(seconds: 8) {
        listing = try flows(
          try run(
            "/usr/sbin/ip",
            ["netns", "exec", namespace, flowscopeBinary, "--json", "-p", "tcp", "-P", String(situation.pid)]))
        return flags(in: listing, remotePort: port)?.contains("retransmitting") == true
      })
    let client = listing.first { ($0["remote"] as? [String: Any])?["port"] as? Int == port }
    #expect((client?["retransmits"] as? Int ?? 0) > 0)
    // The server end only receives (its dropped ACKs are not retransmitted); the healthy pair is fine.
    #expect(flags(in: listing, localPort: port)?.contains("retransmitting") == false)
    #expect(flags(in: listing, remotePort: situation.int("healthy")) == [])
    #expect(flags(in: listing, localPort: situation.int("healthy")) == [])
    let table = try run(
      "/usr/sbin/ip",
      [
        "netns", "exec", namespace, flowscopeBinary, "-p", "tcp", "-P", String(situation.pid), "--remote", ":\(port)",
        "-o", "remote,flags", "-H",
      ])
    #expect(table.text.contains("retransmitting("))
  }

  /// `flowscope SUBCOMMAND --replay … --proc-root …` compared with a golden file (re-recorded with
  /// FLOWSCOPE_RECORD_GOLDEN=1).
  func checkGolden(
    _ name: String, _ arguments: [String], status: Int32 = 0, mask: (String) -> String = { $0 }
  ) throws {
    let golden = GoldenTests()
    try golden.withFakeProc { root in
      let outcome = try run(
        flowscopeBinary, [arguments[0], "--replay", golden.fixture, "--proc-root", root] + arguments.dropFirst())
      #expect(outcome.status == status, "\(outcome.stderr)")
      let text = mask(outcome.text)
      let file = packageRoot.appendingPathComponent("Tests/CommandTests/Golden/\(name)")
      if ProcessInfo.processInfo.environment["FLOWSCOPE_RECORD_GOLDEN"] == "1" {
        try text.write(to: file, atomically: true, encoding: .utf8)
        return
      }
      #expect(text == (try String(contentsOf: file, encoding: .utf8)), "\(name) differs from its golden file")
    }
  }

  @Test func procAndCheckOnTheReplayMatchTheirGoldenFiles() throws {
    try checkGolden("proc.txt", ["proc", "--color", "never", "--sort", "-fds"])
    try checkGolden(
      "proc.csv",
      ["proc", "--format", "csv", "-o", "pid,command,fds,fd-limit,tcp,udp,unix,other,estab,listen,close-wait,flags"])
    try checkGolden("proc.json", ["proc", "--json"], mask: GoldenTests.maskTimeAndHost)
    try checkGolden("check.txt", ["check", "--color", "never"], status: 2)
  }

  @Test func procFiltersChooseProcessesButCountEverySocket() throws {
    try GoldenTests().withFakeProc { root in
      let fixture = GoldenTests().fixture
      func pids(_ arguments: String...) throws -> [Int] {
        let outcome = try run(
          flowscopeBinary, ["proc", "--json", "--replay", fixture, "--proc-root", root] + arguments)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        return (try document(outcome)["processes"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
      }
      #expect(try pids() == [100, 200, 300])
      #expect(try pids("-C", "client") == [200])
      #expect(try pids("-u", "65534") == [200])
      #expect(try pids("-l", "-p", "tcp") == [100])
      #expect(try pids("-p", "udp") == [200, 300])
      let all = try document(
        try run(flowscopeBinary, ["proc", "--json", "-p", "unix", "--replay", fixture, "--proc-root", root]))
      // Asked for processes with a UNIX socket, each still counts its TCP and UDP ones.
      for process in all["processes"] as? [[String: Any]] ?? [] {
        let sockets = process["sockets"] as? [String: Int] ?? [:]
        #expect((sockets["unix"] ?? 0) > 0)
        // `unlisted` is a part of the others, not a kind of its own.
        #expect(sockets.filter { $0.key != "unlisted" }.values.reduce(0, +) == process["fd_count"] as? Int)
      }
    }
  }

  @Test func everyOptionInProcAndCheckHelpIsInTheManPage() throws {
    let manual = try String(contentsOf: packageRoot.appendingPathComponent("man/flowscope.8"), encoding: .utf8)
    for command in ["proc", "check"] {
      let help = try flowscope(command, "--help").text
      let options = Set(help.matches(of: /--([a-z0-9][a-z0-9-]*)/).map { String($0.output.1) })
      #expect(options.count > 10)
      for option in options {
        #expect(manual.contains("Fl -\(option)"), "man/flowscope.8 lacks --\(option) (\(command))")
      }
    }
    for section in ["Sh PROCESSES", "Sh CHECK", "Sh HEALTH FLAGS", "Cm proc", "Cm check"] {
      #expect(manual.contains(section))
    }
    for flag in [
      "peer-closed", "recv-backlog", "stalled", "zero-window", "retransmitting", "idle", "fd-pressure", "fd-exhausted",
    ] {
      #expect(manual.contains("It Cm \(flag)"), "man/flowscope.8 does not explain \(flag)")
    }
  }
}
