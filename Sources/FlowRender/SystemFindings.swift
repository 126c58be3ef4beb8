import FlowModel

// `flowscope check`'s findings about a namespace or the host (`ports-exhausted`, `orphans`,
// `listen-drops`): their sentences and JSON fields. JSON contract: docs/json.md.

extension CheckRenderer {
  /// `127.0.0.1:5432: 95 of 100 local ports in use (TIME_WAIT 0) in namespace blue: …`.
  static func appendSystemSentence(
    _ finding: Finding, namespaces: [UInt64: NetworkNamespace], sanitize: Bool,
    into out: inout OutputBuffer
  ) {
    func namespace() {
      appendNamespace(finding.netns, namespaces: namespaces, sanitize: sanitize, into: &out)
    }
    switch finding.flag {
    case .portsExhausted:
      if let destination = finding.endpoints.first {
        appendEndpointText(destination, sanitize: sanitize, into: &out)
      }
      out.append(": ")
      out.appendDecimal(UInt64(finding.portsInUse))
      out.append(" of ")
      let size = finding.portRange.map { Int($0.upperBound) - Int($0.lowerBound) + 1 } ?? 0
      out.appendDecimal(UInt64(size))
      out.append(" local ports in use (TIME_WAIT ")
      out.appendDecimal(UInt64(finding.timeWait))
      out.append(")")
      if case .ip(let address, _) = finding.localAddress {
        out.append(" from ")
        formatAddress(address, into: &out)
      }
      out.append(" in ")
      namespace()
      if finding.portsInUse >= size {
        out.append(": connect() to it fails now with EADDRNOTAVAIL (\"Cannot assign requested address\")")
      } else {
        out.append(
          ": connect() to it will fail with EADDRNOTAVAIL (\"Cannot assign requested address\") once all are taken")
      }
      out.append("; reuse connections (keep-alive, a pool), widen net.ipv4.ip_local_port_range (now ")
      if let range = finding.portRange {
        out.appendDecimal(UInt64(range.lowerBound))
        out.append(UInt8(ascii: "-"))
        out.appendDecimal(UInt64(range.upperBound))
      }
      out.append("), or connect from more local addresses")
    case .orphans:
      out.append("host: ")
      out.appendDecimal(finding.orphans)
      out.append(" orphaned TCP sockets (closed by their process, still closing) of the ")
      out.appendDecimal(finding.orphanLimit)
      out.append(" net.ipv4.tcp_max_orphans allows (")
      appendPercent(Double(finding.orphans) * 100 / Double(max(1, finding.orphanLimit)), into: &out)
      out.append(")")
      if finding.flowCount > 0 {
        out.append("; ")
        out.appendDecimal(UInt64(finding.flowCount))
        out.append(" seen in FIN_WAIT1/FIN_WAIT2/LAST_ACK/CLOSING")
        if let first = finding.endpoints.first {
          out.append(", most to ")
          appendEndpointText(first, sanitize: sanitize, into: &out)
        }
        if finding.netns != nil {
          out.append(" in ")
          namespace()
        }
      }
      out.append(
        ": past the limit the kernel resets connections (\"too many orphaned sockets\"). Their peers stop reading or answering; look at them, or lower net.ipv4.tcp_orphan_retries"
      )
    case .listenDrops:
      namespace()
      out.append(": the kernel dropped ")
      appendDrops(finding.dropped ?? 0, seconds: finding.dropSeconds ?? 0, into: &out)
      out.append(
        " at listeners whose accept queue was full: clients time out or wait for SYN retries. A server there accepts too slowly (its listener's Recv-Q reaches its Send-Q in flowscope -l)"
      )
    default:
      break
    }
  }

  /// `proc`'s totals line: `Namespaces and host: ports-exhausted (127.0.0.1:5432 in namespace
  /// blue), orphans (host): flowscope check explains them.`; nothing when there are none.
  public static func appendSystemTotals(
    _ findings: [Finding], namespaces: [UInt64: NetworkNamespace], into out: inout OutputBuffer
  ) {
    guard !findings.isEmpty else { return }
    out.append("\nNamespaces and host: ")
    for (index, finding) in findings.enumerated() {
      if index > 0 { out.append(", ") }
      out.append(utf8: finding.flag.rawValue)
      out.append(" (")
      if finding.flag == .portsExhausted, let destination = finding.endpoints.first {
        appendEndpointText(destination, sanitize: true, into: &out)
        out.append(" ")
      }
      if finding.flag.scope == .host {
        out.append("host")
      } else {
        out.append("in ")
        appendNamespace(finding.netns, namespaces: namespaces, sanitize: true, into: &out)
      }
      out.append(")")
    }
    out.append(": flowscope check explains ")
    out.append(findings.count == 1 ? "it.\n" : "them.\n")
  }

  /// `namespace blue`, or `this namespace` for flowscope's own when it has no name.
  static func appendNamespace(
    _ inode: UInt64?, namespaces: [UInt64: NetworkNamespace], sanitize: Bool,
    into out: inout OutputBuffer
  ) {
    guard let inode else { return }
    if let known = namespaces[inode], known.isOwn, known.name == nil {
      out.append("this namespace")
      return
    }
    out.append("namespace ")
    let label = namespaces[inode]?.label ?? String(inode)
    if sanitize { appendSanitized(Array(label.utf8), into: &out) } else { out.append(utf8: label) }
  }

  /// `62 connection attempts in 2.0 s (31/s)`.
  static func appendDrops(_ dropped: UInt64, seconds: Double, into out: inout OutputBuffer) {
    out.appendDecimal(dropped)
    out.append(dropped == 1 ? " connection attempt in " : " connection attempts in ")
    appendOneDecimal(seconds, into: &out)
    out.append(" s")
    if seconds > 0 {
      out.append(" (")
      appendOneDecimal(Double(dropped) / seconds, into: &out)
      out.append("/s)")
    }
  }

  /// `12.5 %`, or `0.15 %` below 1.
  static func appendPercent(_ value: Double, into out: inout OutputBuffer) {
    if value < 1 {
      let hundredths = UInt64((value * 100).rounded())
      out.append("0.")
      if hundredths < 10 { out.append(UInt8(ascii: "0")) }
      out.appendDecimal(hundredths)
    } else {
      appendOneDecimal(value, into: &out)
    }
    out.append(" %")
  }

  /// A non-negative number with one decimal: `2.0`.
  static func appendOneDecimal(_ value: Double, into out: inout OutputBuffer) {
    let tenths = UInt64((max(0, value) * 10).rounded())
    out.appendDecimal(tenths / 10)
    out.append(UInt8(ascii: "."))
    out.appendDecimal(tenths % 10)
  }

  /// Seconds as a JSON number with millisecond precision.
  static func appendSeconds(_ value: Double, into out: inout OutputBuffer) {
    let millis = UInt64((max(0, value) * 1000).rounded())
    out.appendDecimal(millis / 1000)
    out.append(UInt8(ascii: "."))
    let rest = millis % 1000
    if rest < 100 { out.append(UInt8(ascii: "0")) }
    if rest < 10 { out.append(UInt8(ascii: "0")) }
    out.appendDecimal(rest)
  }

  /// The fields of one `system_problems` entry (docs/json.md).
  static func appendSystemFields(
    _ finding: Finding, snapshot: Snapshot, thresholds: HealthThresholds,
    into json: inout JSONWriter
  ) {
    json.key(.severity)
    json.string(vocabulary: finding.severity.rawValue)
    json.key(.flag)
    json.string(vocabulary: finding.flag.rawValue)
    json.key(.scope)
    json.string(vocabulary: finding.flag.scope.rawValue)
    json.field(.netns, finding.netns)
    json.key(.netnsName)
    JSONRenderer.appendNamespaceName(finding.netns, snapshot.namespaces, into: &json)
    switch finding.flag {
    case .portsExhausted:
      json.key(.destination)
      if let destination = finding.endpoints.first {
        JSONRenderer.appendEndpoint(destination, into: &json)
      } else {
        json.null()
      }
      json.key(.localAddress)
      if case .ip(let address, _) = finding.localAddress {
        json.quoted { formatAddress(address, into: &$0) }
      } else {
        json.null()
      }
      json.field(.portsInUse, UInt64(finding.portsInUse))
      json.field(.timeWait, UInt64(finding.timeWait))
      json.key(.portRange)
      json.beginArray()
      json.number(UInt64(finding.portRange?.lowerBound ?? 0))
      json.number(UInt64(finding.portRange?.upperBound ?? 0))
      json.endArray()
    case .orphans:
      json.field(.orphans, finding.orphans)
      json.field(.maxOrphans, finding.orphanLimit)
      json.field(.orphansSeen, UInt64(finding.flowCount))
      json.key(.endpoints)
      json.beginArray()
      for endpoint in finding.endpoints { JSONRenderer.appendEndpoint(endpoint, into: &json) }
      json.endArray()
    case .listenDrops:
      json.field(.dropped, finding.dropped ?? 0)
      json.key(.dropIntervalS)
      json.value { appendSeconds(finding.dropSeconds ?? 0, into: &$0) }
    default:
      break
    }
    json.key(.message)
    var sentence = OutputBuffer(capacity: 256)
    appendSystemSentence(finding, namespaces: snapshot.namespaces, sanitize: false, into: &sentence)
    sentence.withUnsafeBufferPointer { json.string($0) }
  }
}
