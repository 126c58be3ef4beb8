import FlowModel

#if canImport(Glibc)
  import Glibc
#endif

/// The lines of `flowscope events`: a table line per event (header once), or an NDJSON line per
/// event (docs/json.md, "Events"; `$defs/eventLine` of docs/flowscope.schema.json).
public enum EventRenderer {
  public struct Options: Sendable {
    /// Exact byte counts instead of human units in the table.
    public var exactBytes = false
    /// Host name for the JSON lines.
    public var host = ""
    public init() {}
  }

  // MARK: - Table

  /// Column widths with their separating space; the lines stream, so they are fixed rather
  /// than measured. A longer cell still gets one space.
  static let widths = [13, 6, 6, 24, 24, 11, 10, 9, 9, 7, 8]

  public static func appendHeader(into out: inout OutputBuffer) {
    let titles: [StaticString] = [
      "Time", "Event", "Proto", "Local", "Remote", "State", "Lifetime", "In", "Out", "Retr", "RTT",
    ]
    for (title, width) in zip(titles, widths) {
      let start = out.count
      out.append(title)
      pad(from: start, to: width, into: &out)
    }
    out.append("Process\n")
  }

  public static func appendTableLine(
    _ event: FlowEvent, options: Options, into out: inout OutputBuffer
  ) {
    let flow = event.flow
    var start = out.count
    appendLocalTime(event.time, into: &out)
    pad(from: start, to: widths[0], into: &out)

    start = out.count
    out.append(utf8: event.kind.rawValue)
    pad(from: start, to: widths[1], into: &out)

    start = out.count
    out.append(utf8: flow.proto.rawValue)
    if flow.family == .inet6 { out.append(UInt8(ascii: "6")) }
    pad(from: start, to: widths[2], into: &out)

    start = out.count
    appendEndpointText(flow.local, into: &out)
    pad(from: start, to: widths[3], into: &out)

    start = out.count
    appendEndpointText(flow.remote, into: &out)
    pad(from: start, to: widths[4], into: &out)

    start = out.count
    // A destroyed socket is in CLOSE; `ss` would call an unconnected one UNCONN, which says
    // less here.
    if let state = flow.socketState {
      out.append(utf8: state == .close ? "CLOSE" : state.name)
    } else {
      out.appendDecimal(UInt64(flow.state))
    }
    pad(from: start, to: widths[5], into: &out)

    start = out.count
    var extraWidth = 0
    if let lifetime = event.lifetimeAtLeast {
      out.append("≥")  // 3 bytes, 1 column
      extraWidth = 2
      appendDuration(micros: UInt64(lifetime * 1e6), into: &out)
    } else {
      out.append(UInt8(ascii: "?"))
    }
    pad(from: start, to: widths[6] + extraWidth, into: &out)

    let counters = flow.counters
    for (value, width) in [
      (counters.bytesIn, widths[7]), (counters.bytesOut, widths[8]),
      (counters.bytesRetransmitted, widths[9]),
    ] {
      start = out.count
      if let value {
        if options.exactBytes { out.appendDecimal(value) } else { appendHumanBytes(value, into: &out) }
      } else {
        out.append(UInt8(ascii: "-"))
      }
      pad(from: start, to: width, into: &out)
    }

    start = out.count
    if let rtt = flow.tcp?.rttMicros {
      appendDuration(micros: UInt64(rtt), into: &out)
    } else {
      out.append(UInt8(ascii: "-"))
    }
    pad(from: start, to: widths[10], into: &out)

    appendOwners(event, into: &out)
    out.append(UInt8(ascii: "\n"))
  }

  /// `command.pid` of each owner; `?` when no scan saw the flow, `-` when scans saw it without
  /// an owner they could read.
  static func appendOwners(_ event: FlowEvent, into out: inout OutputBuffer) {
    guard event.wasSeen else {
      out.append(UInt8(ascii: "?"))
      return
    }
    if event.flow.owners.isEmpty {
      out.append(UInt8(ascii: "-"))
      return
    }
    var seen = Set<Int32>()
    for owner in event.flow.owners where seen.insert(owner.pid).inserted {
      if seen.count > 1 { out.append(UInt8(ascii: ",")) }
      if let command = event.processes[owner.pid]?.command {
        appendSanitized(command, into: &out)
      } else {
        out.append(UInt8(ascii: "?"))
      }
      out.append(UInt8(ascii: "."))
      out.appendDecimal(Int64(owner.pid))
    }
  }

  static func appendEndpointText(_ endpoint: Endpoint, into out: inout OutputBuffer) {
    guard case .ip(let address, let port) = endpoint else {
      out.append(UInt8(ascii: "*"))
      return
    }
    if address.isUnspecified && port == 0 {
      out.append("*:*")
      return
    }
    switch address {
    case .v4:
      if address.isUnspecified { out.append(UInt8(ascii: "*")) } else { formatAddress(address, into: &out) }
    case .v6:
      out.append(UInt8(ascii: "["))
      formatAddress(address, into: &out)
      out.append(UInt8(ascii: "]"))
    }
    out.append(UInt8(ascii: ":"))
    if port == 0 { out.append(UInt8(ascii: "*")) } else { out.appendDecimal(UInt64(port)) }
  }

  /// Pads the cell that began at `start` with spaces to `width` bytes, and at least one space.
  static func pad(from start: Int, to width: Int, into out: inout OutputBuffer) {
    out.appendSpaces(max(1, width - (out.count - start)))
  }

  /// `HH:MM:SS.mmm` in local time.
  static func appendLocalTime(_ time: Double, into out: inout OutputBuffer) {
    var seconds = time_t(time.rounded(.down))
    var parts = tm()
    // localtime_r(3)
    localtime_r(&seconds, &parts)
    let millis = Int(((time - time.rounded(.down)) * 1000).rounded(.down))
    for (index, value) in [Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec)].enumerated() {
      if index > 0 { out.append(UInt8(ascii: ":")) }
      if value < 10 { out.append(UInt8(ascii: "0")) }
      out.appendDecimal(Int64(value))
    }
    out.append(UInt8(ascii: "."))
    if millis < 100 { out.append(UInt8(ascii: "0")) }
    if millis < 10 { out.append(UInt8(ascii: "0")) }
    out.appendDecimal(Int64(min(max(millis, 0), 999)))
  }

  // MARK: - NDJSON

  /// One event as one JSON line ending in `\n`. Every key is present, in a fixed order.
  public static func appendJSONLine(
    _ event: FlowEvent, options: Options, into out: inout OutputBuffer
  ) {
    let flow = event.flow
    JSONWriter.write(into: &out) { json in
      appendLinePrefix(kind: event.kind.rawValue, time: event.time, host: options.host, into: &json)
      json.key(.proto)
      json.string(vocabulary: flow.proto.rawValue)
      json.key(.family)
      json.string(vocabulary: flow.family.rawValue)
      json.key(.state)
      if let state = flow.socketState { json.string(vocabulary: state.kernelName) } else { json.null() }
      json.field(.stateCode, UInt64(flow.state))
      json.key(.local)
      JSONRenderer.appendEndpoint(flow.local, into: &json)
      json.key(.remote)
      JSONRenderer.appendEndpoint(flow.remote, into: &json)
      json.field(.cookie, flow.cookie)
      json.field(.uid, flow.uid.map(UInt64.init))
      json.field(.interface, UInt64(flow.interfaceIndex))
      json.field(.netns, flow.netns)
      json.key(.firstSeen)
      if let firstSeen = event.firstSeen {
        json.quoted { appendRFC3339(firstSeen, into: &$0) }
      } else {
        json.null()
      }
      json.field(.lifetimeMinMs, event.lifetimeAtLeast.map { UInt64(($0 * 1000).rounded(.down)) })
      JSONRenderer.appendCounterFields(flow.counters, into: &json)
      json.field(.rttUs, flow.tcp.map { UInt64($0.rttMicros) })
      json.field(.minRttUs, flow.tcp.map { UInt64($0.minRttMicros) })
      json.field(.cgroupId, flow.cgroupID)
      json.key(.owner)
      json.string(vocabulary: !event.wasSeen ? "unknown" : flow.owners.isEmpty ? "none" : "known")
      json.key(.processes)
      JSONRenderer.appendOwners(flow.owners, processes: event.processes, into: &json)
      json.endObject()
      json.endLine()
    }
  }

  /// The line that says destroy messages were dropped: `count` of them (null when the
  /// kernel's drop counter could not be read), and the receive buffer size now.
  public static func appendLostLine(
    count: UInt64?, bufferBytes: Int, time: Double, options: Options, into out: inout OutputBuffer
  ) {
    JSONWriter.write(into: &out) { json in
      appendLinePrefix(kind: "lost", time: time, host: options.host, into: &json)
      json.field(.count, count)
      json.field(.bufferBytes, UInt64(max(bufferBytes, 0)))
      json.endObject()
      json.endLine()
    }
  }

  /// `{"version":1,"event":…,"time":…,"host":…`, an open object.
  static func appendLinePrefix(
    kind: String, time: Double, host: String, into json: inout JSONWriter
  ) {
    json.beginObject()
    json.field(.version, UInt64(JSONRenderer.formatVersion))
    json.key(.event)
    json.string(vocabulary: kind)
    json.key(.time)
    json.quoted { appendRFC3339(time, into: &$0) }
    json.key(.host)
    json.string(host)
  }
}
