import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

// `flowscope serve` scraped by a real Prometheus (Debian's `prometheus`, installed by
// scripts/ensure-test-deps), started by the test on loopback with a configuration written to a
// temporary directory, and asked through its HTTP API; `flowscope metrics` checked by promtool.

/// A python3 child named `name` (prctl PR_SET_NAME), told what to do on stdin:
/// `sink` mode listens on 127.0.0.1 and reads every connection to its end (prints the port);
/// `peer PORT` mode obeys lines `open`, `send N BYTES`, `close N`, each answered with `ok`.
private let peerScript = #"""
  import ctypes, signal, socket, sys, threading
  signal.alarm(180)
  ctypes.CDLL(None).prctl(15, sys.argv[1].encode('latin-1'), 0, 0, 0)
  if sys.argv[2] == 'sink':
      server = socket.socket()
      server.bind(('127.0.0.1', 0))
      server.listen(16)
      print(server.getsockname()[1], flush=True)
      def drain(connection):
          while connection.recv(65536):
              pass
          connection.close()
      while True:
          connection, _ = server.accept()
          threading.Thread(target=drain, args=(connection,), daemon=True).start()
  else:
      port = int(sys.argv[3])
      connections = []
      for line in sys.stdin:
          words = line.split()
          if not words:
              continue
          if words[0] == 'open':
              connections.append(socket.create_connection(('127.0.0.1', port)))
          elif words[0] == 'send':
              connections[int(words[1])].sendall(b'x' * int(words[2]))
          elif words[0] == 'close':
              connections[int(words[1])].close()
          elif words[0] == 'leak':
              # Connects refused and never closed: sockets in no kernel table.
              probe = socket.socket()
              probe.bind(('127.0.0.1', 0))
              refusing = probe.getsockname()[1]
              probe.close()
              for _ in range(int(words[1])):
                  leaked = socket.socket()
                  try:
                      leaked.connect(('127.0.0.1', refusing))
                  except ConnectionRefusedError:
                      pass
                  connections.append(leaked)
          print('ok', flush=True)
  """#

/// A free loopback TCP port (bound, read and released).
func freeLoopbackPort() -> UInt16 {
  let listener = try! Listener()
  return listener.port
}

/// GET `path` from 127.0.0.1:`port` with a plain HTTP/1.0 request; nil on failure.
func httpGet(port: UInt16, _ path: String, accept: String? = nil) -> (status: Int, headers: String, body: Data)? {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
  guard fd >= 0 else { return nil }
  defer { close(fd) }
  var timeout = timeval(tv_sec: 15, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = port.bigEndian
  address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
  }
  guard connected == 0 else { return nil }
  var request = "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n"
  if let accept { request += "Accept: \(accept)\r\n" }
  request += "\r\n"
  let bytes = Array(request.utf8)
  guard write(fd, bytes, bytes.count) == bytes.count else { return nil }
  var response = Data()
  var buffer = [UInt8](repeating: 0, count: 65536)
  while true {
    let count = read(fd, &buffer, buffer.count)
    if count <= 0 { break }
    response.append(contentsOf: buffer[0..<count])
  }
  guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { return nil }
  let head = String(decoding: response[..<split.lowerBound], as: UTF8.self)
  let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
  return (status, head, Data(response[split.upperBound...]))
}

/// Percent-encodes a query for a URL.
func urlQuery(_ text: String) -> String {
  text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
}

/// A Prometheus server on loopback scraping `target` every second, with its data in a
/// temporary directory; stopped (by pid) and removed by `stop`.
final class PrometheusServer {
  let port = freeLoopbackPort()
  let directory: String
  let server: Spawned

  init(scraping target: String) throws {
    directory = NSTemporaryDirectory() + "fs-prometheus-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
    let configuration = """
      global:
        scrape_interval: 1s
        scrape_timeout: 1s
        evaluation_interval: 1s
      scrape_configs:
        - job_name: flowscope
          static_configs:
            - targets: ['\(target)']

      """
    try configuration.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
    server = try Spawned(
      "/usr/bin/prometheus",
      [
        "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
        "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
      ])
  }

  /// The result vector of an instant query: (labels, value) pairs.
  func query(_ promql: String) -> [([String: String], Double)]? {
    guard let (status, _, body) = httpGet(port: port, "/api/v1/query?query=" + urlQuery(promql)), status == 200,
      let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
      let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
    else { return nil }
    return result.compactMap { item in
      guard let metric = item["metric"] as? [String: String], let value = item["value"] as? [Any],
        value.count == 2, let text = value[1] as? String, let number = Double(text)
      else { return nil }
      return (metric, number)
    }
  }

  /// Waits until `promql` gives a result `accept` likes; returns the last result.
  @discardableResult
  func wait(
    seconds: Double, for promql: String, until accept: ([([String: String], Double)]) -> Bool
  ) -> [([String: String], Double)]? {
    let end = Date().addingTimeInterval(seconds)
    var last: [([String: String], Double)]? = nil
    while Date() < end {
      last = query(promql)
      if let last, accept(last) { return last }
      usleep(250_000)
    }
    return last
  }

  func stop() {
    server.stop()
    try? FileManager.default.removeItem(atPath: directory)
  }
}

let prometheusInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus")
let promtoolInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool")
let python3Installed = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

/// Starts `flowscope serve` on a free loopback port; returns it and its address.
func startServe(_ extra: [String] = []) throws -> (Spawned, UInt16) {
  let port = freeLoopbackPort()
  let serve = try Spawned(flowscopeBinary, ["serve", "--listen", "127.0.0.1:\(port)"] + extra)
  _ = serve.wait(seconds: 10) { _, err in err.contains("serving metrics on") }
  return (serve, port)
}

@Suite(.serialized) struct ServeCommandTests {
  @Test(.enabled(if: prometheusInstalled && python3Installed))
  func prometheusScrapesSocketsAndBytesAndCountersSurviveACloseBetweenScrapes() throws {
    let name = "fsp\(UInt32.random(in: 100_000...999_999))"
    // Hostile: a quote, a backslash and a newline in a process name.
    let hostile = "ev\"l\\\n\(UInt8.random(in: 10...99))"
    let sink = try Spawned("/usr/bin/python3", ["-c", peerScript, "fssink", "sink"])
    defer { sink.stop() }
    #expect(sink.wait(seconds: 10) { out, _ in out.hasSuffix("\n") })
    let sinkPort = sink.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let peer = try Spawned("/usr/bin/python3", ["-c", peerScript, name, "peer", sinkPort])
    defer { peer.stop() }
    let evil = try Spawned("/usr/bin/python3", ["-c", peerScript, hostile, "peer", sinkPort])
    defer { evil.stop() }
    #expect(peer.command("open", expectOKs: 1))
    #expect(peer.command("send 0 100000", expectOKs: 2))
    #expect(peer.command("open", expectOKs: 3))
    #expect(peer.command("send 1 50000", expectOKs: 4))
    #expect(evil.command("open", expectOKs: 1))

    // Whatever else runs on the host (another load of 100k sockets), scrapes answer within
    // Prometheus' 1 s timeout: with the last collection when a new one takes longer.
    let (serve, servePort) = try startServe(["--min-interval", "0.5", "--scrape-timeout", "0.5"])
    defer { serve.stop() }
    #expect(serve.stderr.contains("serving metrics on http://127.0.0.1:\(servePort)/metrics"), "\(serve.stderr)")
    let prometheus = try PrometheusServer(scraping: "127.0.0.1:\(servePort)")
    defer { prometheus.stop() }

    // Two established TCP sockets of the peer, as Prometheus stored them.
    let sockets = prometheus.wait(seconds: 60, for: "flowscope_sockets{command=\"\(name)\"}") { !$0.isEmpty }
    #expect(sockets?.count == 1, "\(String(describing: sockets)) \(prometheus.server.stderr)")
    #expect(sockets?.first?.0["state"] == "established")
    #expect(sockets?.first?.0["proto"] == "tcp")
    #expect(sockets?.first?.1 == 2)
    // Bytes sent: what the peer wrote, plus the SYN that bytes_acked counts on the connecting side.
    let sent = prometheus.wait(seconds: 20, for: "flowscope_sent_bytes_total{command=\"\(name)\"}") {
      $0.first?.1 == 150_002
    }
    #expect(sent?.first?.1 == 150_002, "\(String(describing: sent))")
    let received = prometheus.query("flowscope_received_bytes_total{command=\"\(name)\"}")
    #expect(received?.first?.1 == 0)

    // The hostile name arrives in Prometheus as the table shows it: the newline as \x0a and the
    // backslash doubled.
    let shown = hostile.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\x0a")
    let evilSockets = prometheus.query("flowscope_sockets{command=~\"ev.*\", state=\"established\"}")
    #expect(
      evilSockets?.contains { $0.0["command"] == shown && $0.1 == 1 } == true, "\(String(describing: evilSockets))")

    // A close between two scrapes: the counter keeps its bytes (and, with the destroy messages
    // of root, gains the FIN that bytes_acked counts at the end).
    #expect(peer.command("close 1", expectOKs: 5))
    prometheus.wait(seconds: 30, for: "flowscope_sockets{command=\"\(name)\"}") { $0.first?.1 == 1 }
    // Two more collections, so the close's destroy message is read.
    prometheus.wait(seconds: 30, for: "flowscope_closed_flows_total{attributed=\"true\"}") {
      ($0.first?.1 ?? 0) >= 1 || !runningAsRoot
    }
    usleep(3_000_000)
    let resets = prometheus.query("resets(flowscope_sent_bytes_total{command=\"\(name)\"}[5m])")
    #expect(resets?.count == 1)
    #expect(resets?.first?.1 == 0, "\(String(describing: resets))")
    let after = prometheus.query("flowscope_sent_bytes_total{command=\"\(name)\"}")?.first?.1 ?? 0
    if runningAsRoot {
      #expect(after == 150_003, "the close's FIN folded in from the destroy message")
      let folded = prometheus.query("flowscope_closed_flows_total{attributed=\"true\"}")?.first?.1 ?? 0
      #expect(folded >= 1)
    } else {
      #expect(after >= 150_002)
    }
    // Prometheus read every scrape.
    let up = prometheus.query("up{job=\"flowscope\"}")
    #expect(up?.first?.1 == 1, "serve: \(serve.stderr) prometheus: \(prometheus.server.stderr)")
    // The README's three questions run.
    let readme = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
    let block = try #require(
      readme.components(separatedBy: "```promql\n").dropFirst().first?.components(separatedBy: "```").first)
    let questions = block.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
    #expect(questions.count == 3)
    for question in questions {
      #expect(prometheus.query(question) != nil, "Prometheus refused the README's \(question)")
    }
    // The dashboard's queries are valid PromQL.
    for expression in try dashboardExpressions().runnable {
      let result = prometheus.query(expression)
      #expect(result != nil, "Prometheus refused the dashboard's \(expression)")
    }
  }

  @Test(.enabled(if: promtoolInstalled && python3Installed))
  func promtoolAcceptsTheExpositionWithAHostileName() throws {
    let hostile = "x\"y\\z\n\u{1}\(UInt8.random(in: 10...99))"
    let holder = try Spawned("/usr/bin/python3", ["-c", peerScript, hostile, "sink"])
    defer { holder.stop() }
    #expect(holder.wait(seconds: 10) { out, _ in out.hasSuffix("\n") })
    let outcome = try flowscope("metrics")
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let shown = hostile.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\x0a")
      .replacingOccurrences(of: "\u{1}", with: "\\x01")
    // In the exposition, that value is escaped once more.
    let escaped = shown.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    #expect(outcome.text.contains("flowscope_sockets{command=\"\(escaped)\",proto=\"tcp\",state=\"listen\"} 1\n"))
    let file = NSTemporaryDirectory() + "fs-metrics-\(getpid()).prom"
    defer { unlink(file) }
    try outcome.stdout.write(to: URL(fileURLWithPath: file))
    let check = shell("/usr/bin/promtool check metrics < \(file) 2>&1")
    #expect(check.status == 0, "\(check.output)")
  }

  @Test func servesTheIndexOpenMetricsOnAcceptAnd404() throws {
    let (serve, port) = try startServe()
    defer { serve.stop() }
    let index = httpGet(port: port, "/")
    #expect(index?.status == 200)
    let page = String(decoding: index?.body ?? Data(), as: UTF8.self)
    #expect(page.contains("href=\"/metrics\""))
    let text = httpGet(port: port, "/metrics")
    #expect(text?.headers.contains("text/plain; version=0.0.4") == true)
    let plain = String(decoding: text?.body ?? Data(), as: UTF8.self)
    #expect(plain.contains("# TYPE flowscope_sent_bytes_total counter"))
    let open = httpGet(port: port, "/metrics", accept: "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    #expect(open?.headers.contains("application/openmetrics-text; version=1.0.0") == true)
    let body = String(decoding: open?.body ?? Data(), as: UTF8.self)
    #expect(body.contains("# UNIT flowscope_sent_bytes bytes"))
    #expect(body.hasSuffix("# EOF\n"))
    #expect(httpGet(port: port, "/nothing")?.status == 404)
  }

  @Test func scrapesWithinTheMinimumIntervalShareOneCollection() throws {
    let (serve, port) = try startServe(["--min-interval", "30"])
    defer { serve.stop() }
    // Eight scrapes at once, then more: one collection serves them all (same duration figure).
    final class Results: @unchecked Sendable {
      let lock = NSLock()
      var lines: [String] = []
    }
    let results = Results()
    DispatchQueue.concurrentPerform(iterations: 8) { _ in
      let body = httpGet(port: port, "/metrics")?.body ?? Data()
      let line =
        String(decoding: body, as: UTF8.self)
        .split(separator: "\n").first { $0.hasPrefix("flowscope_scrape_duration_seconds ") }.map(String.init) ?? ""
      results.lock.lock()
      results.lines.append(line)
      results.lock.unlock()
    }
    let later =
      String(decoding: httpGet(port: port, "/metrics")?.body ?? Data(), as: UTF8.self)
      .split(separator: "\n").first { $0.hasPrefix("flowscope_scrape_duration_seconds ") }.map(String.init) ?? ""
    #expect(!later.isEmpty)
    #expect(Set(results.lines) == [later])
  }

  /// A sink to connect to, and a peer named `name` that takes commands (`peerScript`).
  func startPeerAndSink(_ name: String) throws -> (sink: Spawned, peer: Spawned) {
    let sink = try Spawned("/usr/bin/python3", ["-c", peerScript, "fssink", "sink"])
    #expect(sink.wait(seconds: 10) { out, _ in out.hasSuffix("\n") })
    do {
      let peer = try Spawned(
        "/usr/bin/python3",
        ["-c", peerScript, name, "peer", sink.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
      return (sink, peer)
    } catch {
      sink.stop()
      throw error
    }
  }

  /// A long-lived process closes one connection and opens another between two scrapes (its
  /// descriptor count does not move): the new connection's bytes are still its group's.
  @Test(.enabled(if: python3Installed))
  func aKnownProcessesNewConnectionIsCountedUnderItsGroup() throws {
    let name = "fsq\(UInt32.random(in: 100_000...999_999))"
    let (sink, peer) = try startPeerAndSink(name)
    defer {
      peer.stop()
      sink.stop()
    }
    #expect(peer.command("open", expectOKs: 1))
    #expect(peer.command("send 0 100", expectOKs: 2))
    let (serve, port) = try startServe(["--min-interval", "0"])
    defer { serve.stop() }
    func sent() -> Double? {
      let body = String(decoding: httpGet(port: port, "/metrics")?.body ?? Data(), as: UTF8.self)
      let line = body.split(separator: "\n").first { $0.hasPrefix("flowscope_sent_bytes_total{command=\"\(name)\"") }
      return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }
    #expect(sent() == 101)
    #expect(peer.command("close 0", expectOKs: 3))
    #expect(peer.command("open", expectOKs: 4))
    #expect(peer.command("send 1 7777", expectOKs: 5))
    usleep(200_000)
    _ = sent()
    let total = sent() ?? 0
    // 101 + 7778 (its SYN), and as root the first connection's FIN from its destroy message.
    #expect(total == (runningAsRoot ? 7880 : 7879), "\(serve.stderr)")
  }

  /// Failed connects never closed: sockets in no kernel table, which only the descriptors show.
  /// serve counts them (state close) and flags their process socket-leak, from the first
  /// collection on; a socket leaked later is counted once two collections in a row missed it.
  @Test(.enabled(if: python3Installed))
  func socketsInNoTableAreCountedAndTheirProcessFlaggedSocketLeak() throws {
    let name = "fsl\(UInt32.random(in: 100_000...999_999))"
    let (sink, peer) = try startPeerAndSink(name)
    defer {
      peer.stop()
      sink.stop()
    }
    #expect(peer.command("leak 20", expectOKs: 1))
    let (serve, port) = try startServe(["--min-interval", "0"])
    defer { serve.stop() }
    /// The peer group's closed TCP sockets and its socket-leak processes, in one collection.
    func collect() -> (closed: Double?, leaking: Double?) {
      let body = String(decoding: httpGet(port: port, "/metrics")?.body ?? Data(), as: UTF8.self)
      func value(_ prefix: String) -> Double? {
        body.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap {
          Double($0.split(separator: " ").last ?? "")
        }
      }
      return (
        value("flowscope_sockets{command=\"\(name)\",proto=\"tcp\",state=\"close\"} "),
        value("flowscope_flagged_processes{command=\"\(name)\",flag=\"socket-leak\"} ")
      )
    }
    let first = collect()
    #expect(first.closed == 20, "\(serve.stderr)")
    #expect(first.leaking == 1)
    #expect(peer.command("leak 5", expectOKs: 2))
    // Missed by one collection: perhaps only created while its dump ran.
    #expect(collect().closed == 20)
    let third = collect()
    #expect(third.closed == 25)
    #expect(third.leaking == 1)
    // Closed: gone at once.
    #expect(peer.command("close 0", expectOKs: 3))
    #expect(collect().closed == 24)
    // Below the threshold (16): counted, not flagged.
    for index in 1...10 { #expect(peer.command("close \(index)", expectOKs: 3 + index)) }
    let fewer = collect()
    #expect(fewer.closed == 14)
    #expect(fewer.leaking == nil)
  }

  @Test func textfileIsWrittenWhole() throws {
    let directory = NSTemporaryDirectory() + "fs-textfile-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let outcome = try flowscope("metrics", "--textfile", directory)
    #expect(outcome.status == 0, "\(outcome.stderr)")
    #expect(outcome.stdout.isEmpty)
    let written = try String(contentsOfFile: directory + "/flowscope.prom", encoding: .utf8)
    #expect(written.contains("flowscope_build_info{version="))
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["flowscope.prom"])
  }

  @Test func badOptionsAreUsageErrors() throws {
    for arguments in [
      ["serve", "--listen", "nonsense"], ["serve", "--listen", "127.0.0.1:70000"], ["metrics", "--by", "colour"],
      ["metrics", "--by", "units"], ["metrics", "--max-series", "0"], ["serve", "--scrape-timeout", "0"],
    ] {
      let outcome = try run(flowscopeBinary, arguments)
      #expect(outcome.status == 64, "\(arguments): \(outcome.stderr)")
      #expect(outcome.stdout.isEmpty)
    }
  }
}
