import FlowModel

// `flowscope proc`: one row per process, as a table, CSV or JSON, written as bytes like the
// flow renderers (`check` has CheckRenderer.swift, `proc --by` GroupRenderer.swift). JSON
// contract: docs/json.md.

/// A column of `flowscope proc`; the raw value is the name `-o` accepts.
public enum ProcessColumn: String, CaseIterable, Sendable {
  case pid, command, user, uid, fds
  case fdLimit = "fd-limit"
  case fdHard = "fd-hard"
  case fdPercent = "fd-pct"
  case sockets, tcp, udp, unix, other, unlisted
  case established = "estab"
  case listen
  case closeWait = "close-wait"
  case otherTCP = "other-tcp"
  case bytesIn = "bytes-in"
  case bytesOut = "bytes-out"
  case flags
  case ppid, unit, container
  case containerName = "container-name"
  case exe, cmdline

  public var title: String {
    switch self {
    case .pid: "PID"
    case .command: "Command"
    case .user: "User"
    case .uid: "UID"
    case .fds: "FDs"
    case .fdLimit: "Limit"
    case .fdHard: "Hard"
    case .fdPercent: "FD%"
    case .sockets: "Sockets"
    case .tcp: "TCP"
    case .udp: "UDP"
    case .unix: "UNIX"
    case .other: "Other"
    case .unlisted: "Unlisted"
    case .established: "ESTAB"
    case .listen: "LISTEN"
    case .closeWait: "CLOSE-WAIT"
    case .otherTCP: "OtherTCP"
    case .bytesIn: "In Bytes"
    case .bytesOut: "Out Bytes"
    case .flags: "Flags"
    case .ppid: "PPID"
    case .unit: "Unit"
    case .container: "Container"
    case .containerName: "Container Name"
    case .exe: "Executable"
    case .cmdline: "Command Line"
    }
  }

  public var summary: String {
    switch self {
    case .pid: "process id"
    case .command: "command name (comm)"
    case .user: "user name of the process"
    case .uid: "effective uid of the process"
    case .fds: "descriptors open"
    case .fdLimit: "soft RLIMIT_NOFILE (unlimited when there is none)"
    case .fdHard: "hard RLIMIT_NOFILE"
    case .fdPercent: "descriptors open in percent of the soft limit"
    case .sockets: "socket descriptors"
    case .tcp: "TCP socket descriptors"
    case .udp: "UDP socket descriptors"
    case .unix: "UNIX socket descriptors"
    case .other: "other socket descriptors (netlink, packet, raw, protocols not named, …)"
    case .unlisted: "of these, sockets no kernel table lists (found through the descriptor only)"
    case .established: "TCP sockets in ESTABLISHED"
    case .listen: "TCP sockets in LISTEN"
    case .closeWait: "TCP sockets in CLOSE-WAIT (the peer closed)"
    case .otherTCP: "TCP sockets in any other state"
    case .bytesIn: "bytes received, summed over its TCP sockets"
    case .bytesOut: "bytes sent and acknowledged, summed over its TCP sockets"
    case .flags: "health flags, with how many flows carry each flow flag"
    case .ppid: "parent process id"
    case .unit: "systemd unit, from the cgroup path (nginx.service, session-3.scope)"
    case .container: "container, from the cgroup path (docker:0123456789ab, k8s:…)"
    case .containerName: "its name from the runtime's files (web, <namespace>/<pod>/<container>)"
    case .exe: "path of the executable (read when asked for)"
    case .cmdline: "command line (read when asked for)"
    }
  }

  public var isNumeric: Bool {
    switch self {
    case .command, .user, .flags, .unit, .container, .containerName, .exe, .cmdline: false
    default: true
    }
  }

  public static let defaults: [ProcessColumn] = [
    .pid, .command, .user, .fds, .fdLimit, .fdPercent, .tcp, .udp, .unix, .other, .unlisted, .established,
    .listen, .closeWait, .otherTCP, .bytesIn, .bytesOut, .flags,
  ]

  /// Parses a comma-separated `-o` list; a leading `+` appends to the defaults.
  public static func parseList(_ text: String) -> Result<[ProcessColumn], UnknownProcessColumn> {
    var names = Substring(text)
    var columns: [ProcessColumn] = []
    if names.hasPrefix("+") {
      names = names.dropFirst()
      columns = defaults
    }
    for name in names.split(separator: ",", omittingEmptySubsequences: true) {
      let trimmed = name.filter { $0 != " " }.lowercased()
      guard let column = ProcessColumn(rawValue: trimmed) else {
        return .failure(UnknownProcessColumn(name: trimmed))
      }
      if !columns.contains(column) { columns.append(column) }
    }
    return .success(columns)
  }
}

extension ProcessColumn {
  /// The columns of repeated `-o` lists, each adding the columns not there yet; the defaults
  /// when there is none.
  public static func chosen(_ lists: [String]) -> Result<[ProcessColumn], UnknownProcessColumn> {
    guard !lists.isEmpty else { return .success(defaults) }
    var chosen: [ProcessColumn] = []
    for list in lists {
      switch parseList(list) {
      case .success(let parsed): chosen += parsed.filter { !chosen.contains($0) }
      case .failure(let error): return .failure(error)
      }
    }
    return .success(chosen)
  }
}

public struct UnknownProcessColumn: Error, Sendable, CustomStringConvertible {
  public var name: String
  public var description: String {
    "unknown column '\(name)'; known: " + ProcessColumn.allCases.map(\.rawValue).joined(separator: ",")
  }
}

/// `peer-closed,retransmitting(3)`: on a flow the number in parentheses is the retry count.
func appendHealthFlags(_ flags: HealthFlags, retries: Int, into out: inout OutputBuffer) {
  var first = true
  for flag in flags {
    if !first { out.append(UInt8(ascii: ",")) }
    first = false
    out.append(utf8: flag.rawValue)
    if flag == .retransmitting && retries > 0 {
      out.append(UInt8(ascii: "("))
      out.appendDecimal(UInt64(retries))
      out.append(UInt8(ascii: ")"))
    }
  }
}

extension JSONRenderer {
  /// `["peer-closed","idle"]`, most serious first.
  static func appendFlagArray(_ flags: HealthFlags, into json: inout JSONWriter) {
    json.beginArray()
    for flag in flags { json.string(vocabulary: flag.rawValue) }
    json.endArray()
  }
}

public struct ProcessRenderOptions: Sendable {
  public var columns: [ProcessColumn] = ProcessColumn.defaults
  public var header = true
  public var exactBytes = false
  public var color = false
  /// Under the table, how to raise the limit when a process has `fd-pressure`/`fd-exhausted`.
  public var footer = true
  public init() {}
}

public enum ProcessRenderer {
  // MARK: table and CSV

  /// Under the rows, the flags of namespaces and the host (`system`, from
  /// `Finding.findSystem`), in one line.
  public static func renderTable(
    _ summaries: [ProcessSummary], snapshot: Snapshot, options: ProcessRenderOptions,
    system: [Finding] = [], into out: inout OutputBuffer
  ) {
    let columns = options.columns
    guard !columns.isEmpty else { return }
    var render = RenderOptions()
    render.exactBytes = options.exactBytes
    let context = RenderContext(snapshot, options: render, mode: .table, namingPeers: false)
    var arena = OutputBuffer(capacity: max(1 << 12, summaries.count * columns.count * 8))
    var starts: [Int] = []
    starts.reserveCapacity(summaries.count * columns.count + 1)
    var widths: [Int] = []
    widths.reserveCapacity(summaries.count * columns.count)
    var columnWidths = columns.map { options.header ? displayWidth(of: ArraySlice($0.title.utf8)) : 0 }
    for summary in summaries {
      for (j, column) in columns.enumerated() {
        let start = arena.count
        starts.append(start)
        appendCell(column, of: summary, context: context, into: &arena)
        let width = arena.withUnsafeBufferPointer {
          TableRenderer.cellWidth(UnsafeBufferPointer(rebasing: $0[start..<$0.count]))
        }
        widths.append(width)
        columnWidths[j] = max(columnWidths[j], width)
      }
    }
    starts.append(arena.count)
    let last = columns.count - 1
    if options.header {
      TableRenderer.appendHeader(
        columns.map { ($0.title, $0.isNumeric) }, widths: columnWidths, color: options.color,
        into: &out)
    }
    arena.withUnsafeBufferPointer { all in
      var cell = 0
      for summary in summaries {
        for (j, column) in columns.enumerated() {
          if j > 0 { out.append("  ") }
          let p = UnsafeBufferPointer(rebasing: all[starts[cell]..<starts[cell + 1]])
          let colour: StaticString? =
            options.color && column == .flags
            ? (summary.flags.mostSerious.map { $0.severity <= .warning } == true ? "\u{1b}[31m" : nil)
            : nil
          if let colour { out.append(colour) }
          TableRenderer.appendAligned(
            p, width: widths[cell], columnWidth: columnWidths[j], rightAligned: column.isNumeric,
            pad: j != last || column.isNumeric, style: .end, into: &out)
          if colour != nil { out.append("\u{1b}[0m") }
          cell += 1
        }
        out.append(UInt8(ascii: "\n"))
      }
    }
    if options.footer { appendLimitAdvice(summaries, into: &out) }
    CheckRenderer.appendSystemTotals(system, namespaces: snapshot.namespaces, into: &out)
  }

  /// The footer: how to raise RLIMIT_NOFILE, naming the processes that need it.
  public static func appendLimitAdvice(_ summaries: [ProcessSummary], into out: inout OutputBuffer) {
    let pressed = summaries.filter { $0.flags.contains(.fdPressure) || $0.flags.contains(.fdExhausted) }
    guard let example = pressed.first else { return }
    out.append("\n")
    out.appendDecimal(UInt64(pressed.count))
    out.append(
      " process(es) near or at their open-file limit (fd-pressure, fd-exhausted). To raise it:\n")
    out.append("  running process:  prlimit --pid ")
    out.appendDecimal(Int64(example.pid))
    out.append(" --nofile=SOFT:HARD   (up to the hard limit")
    if let hard = example.process.fdLimitHard {
      out.append(", ")
      out.appendDecimal(hard)
      out.append(" here")
    }
    out.append("; beyond it needs root)\n")
    out.append("  systemd service:  LimitNOFILE=N in its unit ([Service]), then restart it\n")
    out.append("  from a shell:     ulimit -n N before starting it; /etc/security/limits.conf for logins\n")
    out.append(
      "A limit that keeps being reached can also mean descriptors leak: look for sockets it never closes (flowscope -P PID -a).\n"
    )
  }

  public static func renderCSV(
    _ summaries: [ProcessSummary], snapshot: Snapshot, options: ProcessRenderOptions,
    into out: inout OutputBuffer
  ) {
    let columns = options.columns
    guard !columns.isEmpty else { return }
    let context = RenderContext(snapshot, options: RenderOptions(), mode: .csv, namingPeers: false)
    CSVRenderer.appendTable(
      summaries, columns: columns, header: options.header ? columns.map(\.rawValue) : nil, into: &out
    ) { column, summary, field in appendCell(column, of: summary, context: context, into: &field) }
  }

  static func appendCell(
    _ column: ProcessColumn, of summary: ProcessSummary, context: RenderContext,
    into out: inout OutputBuffer
  ) {
    let process = summary.process
    switch column {
    case .pid: out.appendDecimal(Int64(process.pid))
    case .command: context.appendName(process.command, into: &out)
    case .user:
      if let user = process.user {
        context.appendName(user, into: &out)
      } else {
        out.appendDecimal(UInt64(process.uid))
      }
    case .uid: out.appendDecimal(UInt64(process.uid))
    case .ppid: out.appendDecimal(Int64(process.ppid))
    case .unit, .container, .containerName:
      guard let name = column == .unit ? process.unit : column == .container ? process.container : process.containerName
      else {
        return context.appendMissing(into: &out)
      }
      context.appendName(name, into: &out)
    case .exe, .cmdline:
      guard let text = column == .exe ? process.executable : process.commandLine.map(RenderContext.joined) else {
        return context.appendMissing(into: &out)
      }
      context.appendName(text, into: &out)
    case .fds:
      context.appendNumber(
        process.descriptorsReadable ? UInt64(process.descriptorCount) : nil, into: &out)
    case .fdLimit: appendLimit(process.fdLimitSoft, context: context, into: &out)
    case .fdHard: appendLimit(process.fdLimitHard, context: context, into: &out)
    case .fdPercent:
      guard let percent = process.fdUsedPercent else { return context.appendMissing(into: &out) }
      out.appendDecimal(UInt64(percent.rounded(.down)))
      if context.mode == .table { out.append(UInt8(ascii: "%")) }
    case .sockets: out.appendDecimal(UInt64(summary.sockets.total))
    case .tcp: out.appendDecimal(UInt64(summary.sockets.tcp))
    case .udp: out.appendDecimal(UInt64(summary.sockets.udp))
    case .unix: out.appendDecimal(UInt64(summary.sockets.unix))
    case .other: out.appendDecimal(UInt64(summary.sockets.other))
    case .unlisted: out.appendDecimal(UInt64(summary.sockets.unlisted))
    case .established: out.appendDecimal(UInt64(summary.states.established))
    case .listen: out.appendDecimal(UInt64(summary.states.listen))
    case .closeWait: out.appendDecimal(UInt64(summary.states.closeWait))
    case .otherTCP: out.appendDecimal(UInt64(summary.states.other))
    case .bytesIn: context.appendBytes(summary.bytesIn, into: &out)
    case .bytesOut: context.appendBytes(summary.bytesOut, into: &out)
    case .flags:
      if summary.flags.isEmpty { return context.appendMissing(into: &out) }
      // Process flags as they are; flow flags with how many flows carry them.
      var first = true
      for flag in summary.flags {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        out.append(utf8: flag.rawValue)
        if flag == .socketLeak {
          out.append(UInt8(ascii: "("))
          out.appendDecimal(UInt64(process.unconnectedSockets.total))
          out.append(UInt8(ascii: ")"))
        } else if let count = summary.flowFlagCounts.first(where: { $0.flag == flag })?.count {
          out.append(UInt8(ascii: "("))
          out.appendDecimal(UInt64(count))
          out.append(UInt8(ascii: ")"))
        }
      }
    }
  }

  static func appendLimit(_ limit: UInt64?, context: RenderContext, into out: inout OutputBuffer) {
    if let limit { out.appendDecimal(limit) } else { out.append("unlimited") }
  }

  // MARK: JSON

  /// `{"version":1,"host":…,"time":…,"processes":[…],"system_problems":[…],"warnings":[…]}`,
  /// one process per line; `system_problems` as in `check`.
  public static func renderJSON(
    _ summaries: [ProcessSummary], snapshot: Snapshot, system: [Finding] = [],
    thresholds: HealthThresholds = HealthThresholds(), into out: inout OutputBuffer
  ) {
    JSONWriter.write(into: &out) { json in
      JSONRenderer.appendDocumentStart(snapshot, into: &json)
      json.key(.processes)
      json.beginArray()
      for summary in summaries {
        json.beginObject(onNewLine: true)
        appendProcessFields(summary, namespaces: snapshot.namespaces, into: &json)
        json.endObject()
      }
      if !summaries.isEmpty { json.breakLine() }
      json.endArray()
      json.key(.systemProblems)
      json.beginArray()
      CheckRenderer.appendSystemObjects(system, snapshot: snapshot, thresholds: thresholds, into: &json)
      JSONRenderer.appendWarningsAndClose(snapshot.warnings, into: &json)
    }
  }

  /// NDJSON: one line per process, `{"version":1,"time":…,"host":…,"pid":…}`, then one per warning.
  public static func renderLines(
    _ summaries: [ProcessSummary], snapshot: Snapshot, into out: inout OutputBuffer
  ) {
    let prefix = JSONRenderer.linePrefix(snapshot)
    JSONWriter.write(into: &out) { json in
      for summary in summaries {
        json.reopen(prefix)
        appendProcessFields(summary, namespaces: snapshot.namespaces, into: &json)
        json.endObject()
        json.endLine()
      }
      JSONRenderer.appendWarningLines(snapshot.warnings, prefix: prefix, into: &json)
    }
  }

  static func appendProcessFields(
    _ summary: ProcessSummary, namespaces: [UInt64: NetworkNamespace], into json: inout JSONWriter
  ) {
    let process = summary.process
    json.field(.pid, Int64(process.pid))
    json.key(.command)
    appendCommand(process.command, into: &json)
    json.key(.user)
    json.string(process.user)
    json.field(.uid, UInt64(process.uid))
    SharedTexts.appendJSONOrigin(of: process, into: &json)
    json.field(.netns, process.netns)
    json.key(.netnsName)
    JSONRenderer.appendNamespaceName(process.netns, namespaces, into: &json)
    json.field(.fdCount, process.descriptorsReadable ? UInt64(process.descriptorCount) : nil)
    json.field(.fdLimitSoft, process.fdLimitSoft)
    json.field(.fdLimitHard, process.fdLimitHard)
    appendSocketSums(
      sockets: summary.sockets, unconnected: process.unconnectedSockets, states: summary.states,
      bytesIn: summary.bytesIn, bytesOut: summary.bytesOut, flags: summary.flags, into: &json)
    json.key(.flagCounts)
    json.beginObject()
    for entry in summary.flowFlagCounts {
      json.key(data: entry.flag.rawValue)
      json.number(UInt64(entry.count))
    }
    json.endObject()
  }

  /// `"sockets":{…},"states":{…},"bytes_in":…,"bytes_out":…,"flags":[…]`: what a process
  /// row and a group row (`proc --by`) both sum.
  static func appendSocketSums(
    sockets: SocketKindCounts, unconnected: UnconnectedSockets? = nil, states: TCPStateCounts,
    bytesIn: UInt64?, bytesOut: UInt64?, flags: HealthFlags, into json: inout JSONWriter
  ) {
    json.key(.sockets)
    json.beginObject()
    json.field(.tcp, UInt64(sockets.tcp))
    json.field(.udp, UInt64(sockets.udp))
    json.field(.unix, UInt64(sockets.unix))
    json.field(.other, UInt64(sockets.other))
    json.field(.unlisted, UInt64(sockets.unlisted))
    json.endObject()
    if let unconnected {
      json.key(.unconnected)
      json.beginObject()
      json.field(.tcp, UInt64(unconnected.tcp))
      json.field(.udp, UInt64(unconnected.udp))
      json.endObject()
    }
    json.key(.states)
    json.beginObject()
    json.field(.established, UInt64(states.established))
    json.field(.listen, UInt64(states.listen))
    json.field(.closeWait, UInt64(states.closeWait))
    json.field(.other, UInt64(states.other))
    json.endObject()
    json.field(.bytesIn, bytesIn)
    json.field(.bytesOut, bytesOut)
    json.key(.flags)
    JSONRenderer.appendFlagArray(flags, into: &json)
  }

  /// `"name"`, plus `,"command_bytes":"…"` when the name is not valid UTF-8 (as in flows).
  static func appendCommand(_ command: [UInt8], into json: inout JSONWriter) {
    json.string(command, exactIn: .commandBytes)
  }
}
