import FlowModel

// `flowscope check`: one line per problem, most serious first, and the findings about
// namespaces and the host; as a table or JSON, written as bytes. JSON contract: docs/json.md.

public enum CheckRenderer {
  /// One line per finding: `SEVERITY  FLAG  sentence`, aligned; names escaped for a terminal.
  /// Then, under a heading, the findings about namespaces and the host (`system`).
  public static func renderTable(
    _ findings: [Finding], system: [Finding] = [], namespaces: [UInt64: NetworkNamespace] = [:],
    thresholds: HealthThresholds, color: Bool, into out: inout OutputBuffer
  ) {
    appendLines(findings, namespaces: namespaces, thresholds: thresholds, color: color, into: &out)
    guard !system.isEmpty else { return }
    if !findings.isEmpty { out.append(UInt8(ascii: "\n")) }
    out.append("Namespaces and host:\n")
    appendLines(system, namespaces: namespaces, thresholds: thresholds, color: color, into: &out)
  }

  static func appendLines(
    _ findings: [Finding], namespaces: [UInt64: NetworkNamespace], thresholds: HealthThresholds,
    color: Bool, into out: inout OutputBuffer
  ) {
    for finding in findings {
      if color {
        out.append(
          finding.severity == .critical
            ? "\u{1b}[1;31m" : finding.severity == .warning ? "\u{1b}[31m" : "\u{1b}[33m")
      }
      var severity = finding.severity.rawValue.uppercased()
      out.append(utf8: severity)
      if color { out.append("\u{1b}[0m") }
      severity.withUTF8 { out.appendSpaces(10 - $0.count) }
      out.append(utf8: finding.flag.rawValue)
      out.appendSpaces(16 - finding.flag.rawValue.utf8.count)
      appendSentence(
        finding, namespaces: namespaces, thresholds: thresholds, sanitize: true, into: &out)
      out.append(UInt8(ascii: "\n"))
    }
  }

  /// `{"version":1,"host":…,"time":…,"problems":[…],"system_problems":[…],"warnings":[…]}`.
  public static func renderJSON(
    _ findings: [Finding], system: [Finding] = [], snapshot: Snapshot,
    thresholds: HealthThresholds, into out: inout OutputBuffer
  ) {
    var sentence = OutputBuffer(capacity: 512)
    JSONWriter.write(into: &out) { json in
      JSONRenderer.appendDocumentStart(snapshot, into: &json)
      json.key(.problems)
      json.beginArray()
      for finding in findings {
        json.beginObject(onNewLine: true)
        json.key(.severity)
        json.string(vocabulary: finding.severity.rawValue)
        json.key(.flag)
        json.string(vocabulary: finding.flag.rawValue)
        if let pid = finding.pid { json.field(.pid, Int64(pid)) } else { json.field(.pid, nil) }
        json.key(.command)
        if let process = finding.process {
          ProcessRenderer.appendCommand(process.command, into: &json)
        } else {
          json.null()
        }
        json.key(.user)
        json.string(finding.process?.user)
        json.field(.flows, UInt64(finding.flowCount))
        json.key(.endpoints)
        json.beginArray()
        for endpoint in finding.endpoints { JSONRenderer.appendEndpoint(endpoint, into: &json) }
        json.endArray()
        if finding.listener, let dropped = finding.dropped {
          json.field(.dropped, dropped)
          json.key(.dropIntervalS)
          json.value { appendSeconds(finding.dropSeconds ?? 0, into: &$0) }
        }
        if finding.flag == .unreachable { json.field(.synRetries, UInt64(finding.retries)) }
        json.key(.message)
        sentence.removeAll()
        appendSentence(
          finding, namespaces: snapshot.namespaces, thresholds: thresholds, sanitize: false,
          into: &sentence)
        sentence.withUnsafeBufferPointer { json.string($0) }
        json.endObject()
      }
      if !findings.isEmpty { json.breakLine() }
      json.endArray()
      json.key(.systemProblems)
      json.beginArray()
      appendSystemObjects(system, snapshot: snapshot, thresholds: thresholds, into: &json)
      JSONRenderer.appendWarningsAndClose(snapshot.warnings, into: &json)
    }
  }

  /// The objects of a `system_problems` list, one a line, and the line break before its `]`.
  static func appendSystemObjects(
    _ system: [Finding], snapshot: Snapshot, thresholds: HealthThresholds, into json: inout JSONWriter
  ) {
    for finding in system {
      json.beginObject(onNewLine: true)
      appendSystemFields(finding, snapshot: snapshot, thresholds: thresholds, into: &json)
      json.endObject()
    }
    if !system.isEmpty { json.breakLine() }
  }

  /// The sentence a non-expert can act on: what is wrong, and what to do.
  public static func appendSentence(
    _ finding: Finding, namespaces: [UInt64: NetworkNamespace] = [:], thresholds: HealthThresholds,
    sanitize: Bool, into out: inout OutputBuffer
  ) {
    if finding.flag.isSystemFlag {
      return appendSystemSentence(finding, namespaces: namespaces, sanitize: sanitize, into: &out)
    }
    func name(_ bytes: [UInt8]) {
      if sanitize { appendSanitized(bytes, into: &out) } else { out.append(contentsOf: bytes) }
    }
    func who() {
      if let process = finding.process {
        name(process.command)
        out.append(UInt8(ascii: "."))
        out.appendDecimal(Int64(process.pid))
      } else if let pid = finding.pid {
        out.append("process ")
        out.appendDecimal(Int64(pid))
      } else if finding.flowCount > 0 && finding.orphanedFlows == finding.flowCount {
        out.append("the kernel, for orphaned sockets their process closed,")
      } else {
        out.append("a process flowscope may not see (run with sudo to name it)")
      }
    }
    func count(_ n: Int, _ one: StaticString, _ many: StaticString) {
      out.appendDecimal(UInt64(n))
      out.append(UInt8(ascii: " "))
      out.append(n == 1 ? one : many)
    }
    func endpoints(_ preposition: StaticString) {
      guard !finding.endpoints.isEmpty else { return }
      out.append(preposition)
      for (i, endpoint) in finding.endpoints.enumerated() {
        if i > 0 {
          out.append(
            i == finding.endpoints.count - 1 && finding.endpointCount == finding.endpoints.count ? " and " : ", ")
        }
        appendEndpointText(endpoint, sanitize: sanitize, into: &out)
      }
      if finding.endpointCount > finding.endpoints.count {
        out.append(" and ")
        out.appendDecimal(UInt64(finding.endpointCount - finding.endpoints.count))
        out.append(" more")
      }
    }
    func seconds(_ milliseconds: UInt64) {
      out.appendDecimal(milliseconds / 1000)
      out.append(" s")
    }
    let process = finding.process
    switch finding.flag {
    case .fdExhausted, .fdPressure:
      who()
      let used = UInt64(process?.descriptorCount ?? 0)
      let soft = process?.fdLimitSoft ?? 0
      if finding.flag == .fdExhausted {
        out.append(" has used all ")
        out.appendDecimal(soft)
        out.append(" file descriptors its limit allows")
        if used > soft {
          out.append(" (")
          out.appendDecimal(used)
          out.append(" open)")
        }
        out.append(": opening a file or a connection now fails with \"Too many open files\"")
      } else {
        out.append(" uses ")
        out.appendDecimal(used)
        out.append(" of the ")
        out.appendDecimal(soft)
        out.append(" file descriptors its limit allows (")
        out.appendDecimal(UInt64((process?.fdUsedPercent ?? 0).rounded(.down)))
        out.append(" %): at the limit it will fail with \"Too many open files\"")
      }
      out.append("; raise the limit (prlimit --pid ")
      out.appendDecimal(Int64(finding.pid ?? 0))
      out.append(
        " --nofile=N:N now, LimitNOFILE= in its systemd unit or ulimit -n where it starts) or look for descriptors it leaks"
      )
    case .socketLeak:
      // "leaky.4242 holds 50 TCP sockets that are not connected (failed connects never
      // closed?): each holds a descriptor; 55 of its limit of 1024 are in use; …"
      who()
      let counts = process?.unconnectedSockets ?? UnconnectedSockets()
      out.append(" holds ")
      if counts.udp == 0 {
        count(counts.tcp, "TCP socket that is not connected", "TCP sockets that are not connected")
        out.append(" (failed connects never closed?)")
      } else if counts.tcp == 0 {
        count(counts.udp, "UDP socket", "UDP sockets")
        out.append(counts.udp == 1 ? " that is" : " that are")
        out.append(" neither bound nor connected (created and never used or closed?)")
      } else {
        out.appendDecimal(UInt64(counts.tcp))
        out.append(" TCP and ")
        out.appendDecimal(UInt64(counts.udp))
        out.append(" UDP sockets that are neither bound nor connected (failed connects never closed?)")
      }
      out.append(": each holds a descriptor; ")
      if let process, process.descriptorsReadable {
        out.appendDecimal(UInt64(process.descriptorCount))
        if let soft = process.fdLimitSoft {
          out.append(" of its limit of ")
          out.appendDecimal(soft)
          out.append(" are in use")
        } else {
          out.append(" are in use (no limit)")
        }
      } else {
        out.append("its descriptors could not be counted")
      }
      out.append(". The app must close a socket whose connect failed; flowscope -a -P ")
      out.appendDecimal(Int64(finding.pid ?? 0))
      out.append(" lists them")
    case .peerClosed:
      who()
      out.append(" holds ")
      if finding.unixCount == 0 {
        count(finding.flowCount, "connection the peer closed", "connections the peer closed")
        out.append(" (CLOSE_WAIT)")
        endpoints(" to ")
        out.append(": the app must close ")
        out.append(
          finding.flowCount == 1 ? "it; its next request on it will fail" : "them; its next request on them will fail")
      } else if finding.tcpCount == 0 {
        count(finding.flowCount, "UNIX socket whose peer hung up", "UNIX sockets whose peer hung up")
        endpoints(" on ")
        out.append(": the app must close ")
        out.append(finding.flowCount == 1 ? "it; writing to it will fail" : "them; writing to them will fail")
      } else {
        count(finding.flowCount, "socket whose peer closed", "sockets whose peer closed")
        out.append(" (")
        out.appendDecimal(UInt64(finding.tcpCount))
        out.append(" TCP in CLOSE_WAIT, ")
        out.appendDecimal(UInt64(finding.unixCount))
        out.append(" UNIX)")
        endpoints(" to ")
        out.append(": the app must close them; using them again will fail")
      }
    case .recvBacklog:
      who()
      if finding.listener {
        out.append(" is not accepting connections")
        endpoints(" on ")
        out.append(": ")
        count(Int(finding.queued), "connection waits", "connections wait")
        out.append(" in the accept queue (backlog ")
        out.appendDecimal(finding.backlog)
        out.append(")")
        if let dropped = finding.dropped, dropped > 0, dropped >= thresholds.listenDropsMinimum {
          out.append("; the kernel dropped ")
          appendDrops(dropped, seconds: finding.dropSeconds ?? 0, into: &out)
          out.append(" in its namespace: clients time out or wait for SYN retries")
        } else {
          out.append("; new clients will time out or be refused")
        }
        out.append(". The app is stuck or too slow to accept them")
      } else {
        out.append(" is not reading ")
        count(finding.flowCount, "connection", "connections")
        endpoints(" from ")
        out.append(": ")
        appendHumanBytes(finding.queued, into: &out)
        out.append(" wait unread; the app is stuck or too slow, and its peers will stall")
      }
    case .stalled:
      who()
      out.append(" has ")
      count(finding.flowCount, "connection", "connections")
      endpoints(" to ")
      out.append(" whose sent data has not been acknowledged for ")
      seconds(finding.milliseconds)
      out.append(": the peer or the network path is not answering; requests on ")
      out.append(finding.flowCount == 1 ? "it" : "them")
      out.append(" will hang until they time out")
    case .zeroWindow:
      who()
      out.append(" has ")
      count(finding.flowCount, "connection", "connections")
      endpoints(" to ")
      out.append(
        " whose peer accepts no more data (zero window): the application at the other end is not reading, so sending blocks"
      )
    case .retransmitting:
      who()
      out.append(" is retransmitting on ")
      count(finding.flowCount, "connection", "connections")
      endpoints(" to ")
      out.append(" (")
      count(finding.retries, "retry", "retries")
      out.append("): packets to the peer are being lost or not answered; expect slowness, and a failure if it goes on")
    case .unreachable:
      who()
      out.append(" has ")
      count(finding.flowCount, "connection", "connections")
      endpoints(" to ")
      out.append(" stuck in SYN_SENT (")
      count(finding.retries, "SYN retry", "SYN retries")
      out.append(
        "): the peer is not answering; a firewall drops the SYNs, the host is down, or its listener's queue is full")
    case .portsExhausted, .orphans, .listenDrops:
      break
    case .idle:
      who()
      out.append(" has ")
      count(finding.flowCount, "connection", "connections")
      endpoints(" to ")
      out.append(" idle for over ")
      seconds(thresholds.idleMs)
      out.append(": a firewall or NAT may drop ")
      out.append(finding.flowCount == 1 ? "it" : "them")
      out.append(" silently; enable TCP keep-alive, or close idle connections")
    }
  }

  static func appendEndpointText(_ endpoint: Endpoint, sanitize: Bool, into out: inout OutputBuffer) {
    switch endpoint {
    case .ip(let address, let port):
      if case .v6 = address { out.append(UInt8(ascii: "[")) }
      formatAddress(address, into: &out)
      if case .v6 = address { out.append(UInt8(ascii: "]")) }
      out.append(UInt8(ascii: ":"))
      out.appendDecimal(UInt64(port))
    case .unixPath(let path):
      if sanitize { appendSanitized(path, into: &out) } else { out.append(contentsOf: path) }
    case .unixAbstract(let name):
      out.append(UInt8(ascii: "@"))
      let shown = name.map { $0 == 0 ? UInt8(ascii: "@") : $0 }
      if sanitize { appendSanitized(shown, into: &out) } else { out.append(contentsOf: shown) }
    case .packet, .netlink, .vsock, .none:
      out.append("-")
    }
  }
}
