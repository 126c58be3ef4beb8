import Foundation
import SchemaCheck
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A connected loopback TCP pair held by this test process, and a thread that moves data
/// through it while `sending` is set.
private final class Pair: @unchecked Sendable {
  let listener: Listener
  let client: Int32
  let server: Int32
  private let lock = NSLock()
  private var running = false
  private var thread: Thread?

  init() throws {
    listener = try Listener()
    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    self.client = client
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    address.sin_port = listener.port.bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else { throw CocoaError(.fileWriteUnknown) }
    let server = accept(listener.fd, nil, nil)
    self.server = server
    guard server >= 0 else { throw CocoaError(.fileReadUnknown) }
  }

  /// Sends 64 KiB every 20 ms from the client, reading it on the server side.
  func startSending() {
    lock.lock()
    running = true
    lock.unlock()
    let thread = Thread { [self] in
      var chunk = [UInt8](repeating: 0x78, count: 65536)
      var sink = [UInt8](repeating: 0, count: 65536)
      while isRunning {
        _ = chunk.withUnsafeMutableBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        while sink.withUnsafeMutableBytes({ recv(server, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }) > 0 {}
        usleep(20_000)
      }
    }
    self.thread = thread
    thread.start()
  }

  private var isRunning: Bool {
    lock.lock()
    defer { lock.unlock() }
    return running
  }

  func stopSending() {
    lock.lock()
    running = false
    lock.unlock()
    usleep(50_000)
  }

  deinit {
    stopSending()
    close(client)
    close(server)
  }
}

private func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// `flowscope watch` in a tmux pane of its own, on a tmux server of its own (`-L`), started
/// through a shell that records the terminal's mode before and after it, and its exit status.
/// (Shared with NarrowTerminalCommandTests.)
final class Pane {
  let name: String
  let directory: String

  init(_ arguments: [String], columns: Int = 120, rows: Int = 40) throws {
    name = "fs-watch-\(getpid())-\(Int.random(in: 0..<1_000_000))"
    directory = NSTemporaryDirectory() + name
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let quoted = ([flowscopeBinary] + arguments).map(quote).joined(separator: " ")
    let script = """
      stty -a > \(directory)/before
      timeout --foreground -s TERM 120 sh -c 'echo $$ > \(directory)/pid; exec "$0" "$@"' \(quoted)
      echo "EXIT=$?"
      stty -a > \(directory)/after
      sleep 60
      """
    try script.write(toFile: directory + "/run.sh", atomically: true, encoding: .utf8)
    let started = tmuxCommand(
      ["new-session", "-d", "-s", name, "-x", String(columns), "-y", String(rows), "sh \(directory)/run.sh"])
    guard started.status == 0 else { throw CocoaError(.executableLoad) }
  }

  deinit {
    _ = tmuxCommand(["kill-server"])
    try? FileManager.default.removeItem(atPath: directory)
  }

  func tmuxCommand(_ arguments: [String]) -> (status: Int32, output: String) {
    shell((["/usr/bin/tmux", "-L", name] + arguments).map(quote).joined(separator: " "))
  }

  var screen: [String] {
    tmuxCommand(["capture-pane", "-p", "-t", name]).output
      .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
  }

  func keys(_ keys: String...) { _ = tmuxCommand(["send-keys", "-t", name] + keys) }

  func tmux(_ arguments: String...) -> String {
    tmuxCommand(arguments).output.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Waits up to `seconds` for the screen to satisfy `condition`; returns the last screen.
  @discardableResult
  func wait(_ seconds: Double = 10, until condition: ([String]) -> Bool) -> [String]? {
    let deadline = Date().addingTimeInterval(seconds)
    repeat {
      let lines = screen
      if condition(lines) { return lines }
      usleep(100_000)
    } while Date() < deadline
    return nil
  }

  func file(_ name: String) -> String? { try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) }
}

/// The fields of the table rows that show `port`, without the +/- mark.
private func rows(_ screen: [String], port: UInt16) -> [[Substring]] {
  screen.filter { $0.contains("127.0.0.1:\(port)") }.map { line in
    var fields = line.split(separator: " ")
    if fields.first == "+" || fields.first == "-" { fields.removeFirst() }
    return fields
  }
}

@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "needs tmux"))
struct WatchScreenTests {
  // Each pane shows only the test's pair (--port): other suites run in this process at the same
  // time, and their hundreds of connections would push the pair's rows off the screen.
  @Test func showsOwnFlowsRatesFollowsResizeAndRestoresTheTerminal() throws {
    let pair = try Pair()
    let pane = try Pane(
      [
        "watch", "-P", String(getpid()), "--port", String(pair.listener.port), "-i", "0.3", "--bytes", "--color",
        "never",
      ])

    // Our two ends of the connection, owned by this process.
    let shown = pane.wait { rows($0, port: pair.listener.port).count == 2 }
    #expect(shown != nil, "the screen never showed the test's flows: \(pane.screen.joined(separator: "\n"))")
    #expect(pane.tmux("display-message", "-p", "-t", pane.name, "#{alternate_on}") == "1")
    let first = pane.screen[0]
    #expect(first.hasPrefix("flowscope watch"))
    #expect(first.count == 120, "the clock is right-aligned at the terminal's width")

    // Rates (In/s, Out/s: the 5th and 6th fields) become non-zero while data moves.
    pair.startSending()
    let moving = pane.wait { screen in
      rows(screen, port: pair.listener.port).contains { fields in
        fields.count >= 6 && ((UInt64(fields[4]) ?? 0) > 0 || (UInt64(fields[5]) ?? 0) > 0)
      }
    }
    pair.stopSending()
    #expect(moving != nil, "no non-zero rate: \(pane.screen.joined(separator: "\n"))")

    // The processes view names this process.
    pane.keys("v")
    let processes = pane.wait {
      $0.contains { $0.contains("Command") }
        && $0.contains { $0.contains(" \(getpid()) ") || $0.hasPrefix("  \(getpid())") }
    }
    #expect(processes != nil)
    pane.keys("v")

    // A narrower terminal: the next screen is drawn to 80 columns.
    _ = pane.tmux("resize-window", "-t", pane.name, "-x", "80")
    let narrow = pane.wait { screen in
      screen[0].hasPrefix("flowscope watch") && screen[0].count == 80
        && screen.allSatisfy { $0.count <= 80 }
    }
    #expect(narrow != nil, "not redrawn at 80 columns: \(pane.screen.joined(separator: "\n"))")

    // q: exit 0, the main screen back, the terminal's mode as it was.
    pane.keys("q")
    let exited = pane.wait { $0.contains("EXIT=0") }
    #expect(exited != nil, "did not exit on q: \(pane.screen.joined(separator: "\n"))")
    _ = pane.wait { _ in pane.file("after") != nil }
    #expect(pane.tmux("display-message", "-p", "-t", pane.name, "#{alternate_on}") == "0")
    let before = try #require(pane.file("before")).split(separator: "\n").dropFirst()  // line 1: size
    let after = try #require(pane.file("after")).split(separator: "\n").dropFirst()
    #expect(Array(before) == Array(after))
    #expect(before.joined().contains("icanon") && before.joined().contains(" echo"))
  }

  /// A listener that never accepts, in a test namespace, with clients retrying their SYNs: the
  /// second line says how many connection attempts its namespace dropped since the last refresh.
  @Test(.enabled(if: runningAsRoot, "network namespaces need root"))
  func listenDropsBetweenRefreshesAreOnTheSecondLine() throws {
    let namespace = try TestNamespace("watch")
    defer { namespace.remove() }
    let deaf = try namespace.situation(IncidentCommandTests.deafServer)
    let pane = try Pane(["watch", "-P", String(deaf.pid), "-i", "1", "--color", "never"])
    let shown = pane.wait(8) { screen in
      screen.count > 1 && screen[1].hasPrefix("listen drops: namespace \(namespace.name) dropped ")
    }
    #expect(shown != nil, "\(pane.screen.joined(separator: "\n"))")
    let line = shown?[1] ?? ""
    #expect(line.contains(" connection attempts in 1."), "\(line)")
    #expect(line.contains("/s): an accept queue is full"), "\(line)")
    pane.keys("q")
    #expect(pane.wait { $0.contains("EXIT=0") } != nil)
  }

  @Test func sigtermRestoresTheTerminal() throws {
    let pair = try Pair()
    let pane = try Pane(["watch", "-P", String(getpid()), "--port", String(pair.listener.port), "-i", "0.2"])
    #expect(pane.wait { rows($0, port: pair.listener.port).count == 2 } != nil)
    let pid = try #require(pane.file("pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
    kill(pid, SIGTERM)
    #expect(
      pane.wait { $0.contains("EXIT=0") } != nil, "did not end on SIGTERM: \(pane.screen.joined(separator: "\n"))")
    _ = pane.wait { _ in pane.file("after") != nil }
    #expect(pane.tmux("display-message", "-p", "-t", pane.name, "#{alternate_on}") == "0")
    #expect(
      pane.file("before")?.split(separator: "\n").dropFirst() == pane.file("after")?.split(separator: "\n").dropFirst())
  }

  @Test func keysFilterSortPauseAndHelp() throws {
    let pair = try Pair()
    let pane = try Pane(
      ["watch", "-P", String(getpid()), "--port", String(pair.listener.port), "-i", "0.2", "--color", "never"])
    #expect(pane.wait { rows($0, port: pair.listener.port).count == 2 } != nil)
    pane.keys("?")
    #expect(pane.wait { $0.contains { $0.contains("flowscope watch: keys") } } != nil)
    pane.keys("x")  // any key closes the help
    #expect(pane.wait { rows($0, port: pair.listener.port).count == 2 } != nil)
    // The filter is a query: a bad one says why and stays open; one no row matches empties the
    // table; Escape clears it.
    pane.keys("/", "dprot == 1", "Enter")
    #expect(pane.wait { $0.contains { $0.contains("unknown field 'dprot' (did you mean 'dport'?)") } } != nil)
    pane.keys("C-u", "dport == 1 and proto == tcp", "Enter")
    #expect(
      pane.wait {
        rows($0, port: pair.listener.port).isEmpty && $0.contains { $0.contains("[/dport == 1 and proto == tcp]") }
      }
        != nil)
    pane.keys("Escape")
    #expect(pane.wait { rows($0, port: pair.listener.port).count == 2 } != nil)
    pane.keys(">")
    #expect(pane.wait { $0[0].contains("sort proto▲") } != nil)
    pane.keys("p")
    #expect(pane.wait { $0[0].contains("PAUSED") } != nil)
    pane.keys("C-c")
    #expect(pane.wait { $0.contains("EXIT=0") } != nil)
  }
}

extension WatchScreenTests {
  /// The screen asks the kernel for tcp_info alone, unless its query, or a filter typed later,
  /// names what only the other extensions give: the rows it should keep are still there.
  @Test func aQueryOrFilterOnTheCongestionControlStillFindsTheRows() throws {
    let pair = try Pair()
    let algorithm = try defaultCongestionControl()
    let queried = try Pane([
      "watch", "-P", String(getpid()), "-i", "0.2", "--color", "never",
      "port == \(pair.listener.port) and congestion == \(algorithm)",
    ])
    #expect(
      queried.wait { rows($0, port: pair.listener.port).count == 2 } != nil, "\(queried.screen.joined(separator: "\n"))"
    )
    queried.keys("q")
    #expect(queried.wait { $0.contains("EXIT=0") } != nil)

    let typed = try Pane(
      ["watch", "-P", String(getpid()), "--port", String(pair.listener.port), "-i", "0.2", "--color", "never"])
    #expect(typed.wait { rows($0, port: pair.listener.port).count == 2 } != nil)
    typed.keys("/", "congestion == none-such", "Enter")
    #expect(
      typed.wait { rows($0, port: pair.listener.port).isEmpty && $0.contains { $0.contains("[/congestion") } } != nil)
    typed.keys("/", "C-u", "congestion == \(algorithm)", "Enter")
    #expect(
      typed.wait { rows($0, port: pair.listener.port).count == 2 } != nil, "\(typed.screen.joined(separator: "\n"))")
    typed.keys("q")
    #expect(typed.wait { $0.contains("EXIT=0") } != nil)
  }
}

struct WatchLinesTests {
  func lines(_ outcome: Outcome) throws -> [[String: Any]] {
    try outcome.text.split(separator: "\n").map {
      try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
  }

  @Test func ndjsonRecordsPerFlowPerRefresh() throws {
    let pair = try Pair()
    pair.startSending()
    let outcome = try flowscope("watch", "--json", "--count", "3", "-i", "0.2", "-P", String(getpid()))
    pair.stopSending()
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let records = try lines(outcome)
    let schema = try MiniSchema.load()
    for record in records {
      #expect(schema.validate(record, against: "#/$defs/watchLine") == [], "\(record)")
    }
    let flows = records.filter { $0["proto"] != nil }
    let ours = flows.filter { record in
      let local = record["local"] as? [String: Any]
      let remote = record["remote"] as? [String: Any]
      return (local?["port"] as? Int) == Int(pair.listener.port) || (remote?["port"] as? Int) == Int(pair.listener.port)
    }
    // Both ends, in each of the three refreshes.
    #expect(ours.map { $0["refresh"] as? Int }.sorted { ($0 ?? 0) < ($1 ?? 0) } == [1, 1, 2, 2, 3, 3])
    #expect(
      ours.filter { $0["refresh"] as? Int == 1 }.allSatisfy { $0["interval"] is NSNull && $0["rate_in"] is NSNull })
    let later = ours.filter { ($0["refresh"] as? Int ?? 0) > 1 }
    #expect(later.allSatisfy { ($0["interval"] as? Double ?? 0) > 0.1 })
    #expect(later.contains { ($0["rate_in"] as? Double ?? 0) > 0 }, "no bytes moved: \(later)")
    #expect(later.contains { ($0["delta_out"] as? Int ?? 0) > 0 })
  }

  /// SIGTERM or Ctrl-C ends the record stream between refreshes: exit 0, whole lines only.
  @Test(arguments: [SIGTERM, SIGINT])
  func ndjsonStreamEndsCleanlyOnASignal(signal: Int32) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: flowscopeBinary)
    process.arguments = ["watch", "--json", "-i", "0.2", "-a", "-p", "all"]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    final class Collected: @unchecked Sendable {
      let lock = NSLock()
      var data = Data()
      var count: Int { lock.withLock { data.count } }
    }
    let collected = Collected()
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
      let handle = out.fileHandleForReading
      while case let chunk = handle.availableData, !chunk.isEmpty {
        collected.lock.withLock { collected.data.append(chunk) }
      }
      done.signal()
    }
    // The first records mean the handlers are in place (a slow, e.g. sanitized, build may still
    // be parsing its arguments after a second).
    let start = Date()
    while collected.count == 0 && Date().timeIntervalSince(start) < 30 { usleep(20_000) }
    usleep(300_000)
    kill(process.processIdentifier, signal)
    process.waitUntilExit()
    done.wait()
    #expect(process.terminationReason == .exit)
    #expect(process.terminationStatus == 0)
    let text = String(decoding: collected.lock.withLock { collected.data }, as: UTF8.self)
    #expect(text.hasSuffix("\n"))
    let records = text.split(separator: "\n")
    #expect(!records.isEmpty)
    for record in records {
      #expect((try? JSONSerialization.jsonObject(with: Data(record.utf8))) != nil, "\(record)")
    }
  }

  @Test func ndjsonRecordsPerProcess() throws {
    let pair = try Pair()
    let outcome = try flowscope("watch", "--json", "--procs", "--count", "2", "-i", "0.2", "-P", String(getpid()))
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let records = try lines(outcome)
    let schema = try MiniSchema.load()
    for record in records {
      #expect(schema.validate(record, against: "#/$defs/watchLine") == [], "\(record)")
    }
    let mine = records.filter { $0["pid"] as? Int == Int(getpid()) }
    #expect(mine.count == 2)
    #expect(mine.allSatisfy { ($0["flows"] as? Int ?? 0) >= 2 })
    _ = pair
  }

  @Test func notATerminalMeansRecords() throws {
    // Without --json, a pipe still gets records, not a screen.
    let outcome = try flowscope("watch", "--count", "1", "-i", "0.1", "-P", String(getpid()))
    #expect(outcome.status == 0)
    #expect(!outcome.text.contains("\u{1b}["))
  }

  @Test func rejectsBadOptions() throws {
    #expect(try flowscope("watch", "-i", "0").status == 64)
    #expect(try flowscope("watch", "--count", "0").status == 64)
    #expect(try flowscope("watch", "--sort", "nonsense").status == 64)
  }
}
