import FlowModel

// `flowscope proc` (one row per process) and `flowscope check` (one line per problem): table,
// CSV and JSON, written as bytes like the flow renderers. JSON contract: docs/json.md.

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
  case ppid, unit, container, exe, cmdline

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
    case .exe: "path of the executable (read when asked for)"
    case .cmdline: "command line (read when asked for)"
    }
  }

  public var isNumeric: Bool {
    switch self {
    case .command, .user, .flags, .unit, .container, .exe, .cmdline: false
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
  static func appendFlagArray(_ flags: HealthFlags, into out: inout OutputBuffer) {
    out.append(UInt8(ascii: "["))
    var first = true
    for flag in flags {
      out.append(first ? "\"" : ",\"")
      first = false
      out.append(utf8: flag.rawValue)
      out.append(UInt8(ascii: "\""))
    }
    out.append(UInt8(ascii: "]"))
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
    out.append("A limit that keeps being reached can also mean descriptors leak: look for sockets it never closes (flowscope -P PID -a).\n")
  }

  public static func renderCSV(
    _ summaries: [ProcessSummary], snapshot: Snapshot, options: ProcessRenderOptions,
    into out: inout OutputBuffer
  ) {
    let columns = options.columns
    guard !columns.isEmpty else { return }
    let context = RenderContext(snapshot, options: RenderOptions(), mode: .csv, namingPeers: false)
    if options.header {
      for (j, column) in columns.enumerated() {
        if j > 0 { out.append(UInt8(ascii: ",")) }
        out.append(utf8: column.rawValue)
      }
      out.append("\r\n")
    }
    var field = OutputBuffer(capacity: 256)
    for summary in summaries {
      for (j, column) in columns.enumerated() {
        if j > 0 { out.append(UInt8(ascii: ",")) }
        field.removeAll()
        appendCell(column, of: summary, context: context, into: &field)
        CSVRenderer.appendField(field.bytes, into: &out)
      }
      out.append("\r\n")
    }
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
    case .unit, .container:
      guard let name = column == .unit ? process.unit : process.container else {
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
    out.append("{\"version\":")
    out.appendDecimal(UInt64(JSONRenderer.formatVersion))
    out.append(",\"host\":")
    out.appendJSONString(snapshot.host)
    out.append(",\"time\":\"")
    appendRFC3339(snapshot.time, into: &out)
    out.append("\",\"processes\":[")
    for (index, summary) in summaries.enumerated() {
      out.append(index == 0 ? "\n{" : ",\n{")
      appendProcessFields(summary, namespaces: snapshot.namespaces, into: &out)
      out.append(UInt8(ascii: "}"))
    }
    if !summaries.isEmpty { out.append(UInt8(ascii: "\n")) }
    out.append("],\"system_problems\":[")
    for (index, finding) in system.enumerated() {
      out.append(index == 0 ? "\n{" : ",\n{")
      CheckRenderer.appendSystemFields(finding, snapshot: snapshot, thresholds: thresholds, into: &out)
      out.append(UInt8(ascii: "}"))
    }
    if !system.isEmpty { out.append(UInt8(ascii: "\n")) }
    JSONRenderer.appendWarningsAndClose(snapshot.warnings, into: &out)
  }

  /// NDJSON: one line per process, `{"version":1,"time":…,"host":…,"pid":…}`, then one per warning.
  public static func renderLines(
    _ summaries: [ProcessSummary], snapshot: Snapshot, into out: inout OutputBuffer
  ) {
    let prefix = JSONRenderer.linePrefix(snapshot)
    for summary in summaries {
      out.append(contentsOf: prefix)
      appendProcessFields(summary, namespaces: snapshot.namespaces, into: &out)
      out.append("}\n")
    }
    for warning in snapshot.warnings {
      out.append(contentsOf: prefix)
      out.append("\"warning\":")
      out.appendJSONString(warning.description)
      out.append("}\n")
    }
  }

  static func appendProcessFields(
    _ summary: ProcessSummary, namespaces: [UInt64: NetworkNamespace], into out: inout OutputBuffer
  ) {
    let process = summary.process
    out.append("\"pid\":")
    out.appendDecimal(Int64(process.pid))
    out.append(",\"command\":")
    appendCommand(process.command, into: &out)
    out.append(",\"user\":")
    if let user = process.user { out.appendJSONString(user) } else { out.append("null") }
    out.append(",\"uid\":")
    out.appendDecimal(UInt64(process.uid))
    SharedTexts.appendJSONOrigin(of: process, into: &out)
    out.append(",\"netns\":")
    JSONRenderer.appendOptional(process.netns, into: &out)
    out.append(",\"netns_name\":")
    JSONRenderer.appendNamespaceName(process.netns, namespaces, into: &out)
    out.append(",\"fd_count\":")
    JSONRenderer.appendOptional(
      process.descriptorsReadable ? UInt64(process.descriptorCount) : nil, into: &out)
    out.append(",\"fd_limit_soft\":")
    JSONRenderer.appendOptional(process.fdLimitSoft, into: &out)
    out.append(",\"fd_limit_hard\":")
    JSONRenderer.appendOptional(process.fdLimitHard, into: &out)
    appendSocketSums(
      sockets: summary.sockets, unconnected: process.unconnectedSockets, states: summary.states,
      bytesIn: summary.bytesIn, bytesOut: summary.bytesOut, flags: summary.flags, into: &out)
    out.append(",\"flag_counts\":{")
    for (index, entry) in summary.flowFlagCounts.enumerated() {
      out.append(index == 0 ? "\"" : ",\"")
      out.append(utf8: entry.flag.rawValue)
      out.append("\":")
      out.appendDecimal(UInt64(entry.count))
    }
    out.append(UInt8(ascii: "}"))
  }

  /// `,"sockets":{…},"states":{…},"bytes_in":…,"bytes_out":…,"flags":[…]`: what a process
  /// row and a group row (`proc --by`) both sum.
  static func appendSocketSums(
    sockets: SocketKindCounts, unconnected: UnconnectedSockets? = nil, states: TCPStateCounts,
    bytesIn: UInt64?, bytesOut: UInt64?, flags: HealthFlags, into out: inout OutputBuffer
  ) {
    out.append(",\"sockets\":{\"tcp\":")
    out.appendDecimal(UInt64(sockets.tcp))
    out.append(",\"udp\":")
    out.appendDecimal(UInt64(sockets.udp))
    out.append(",\"unix\":")
    out.appendDecimal(UInt64(sockets.unix))
    out.append(",\"other\":")
    out.appendDecimal(UInt64(sockets.other))
    out.append(",\"unlisted\":")
    out.appendDecimal(UInt64(sockets.unlisted))
    if let unconnected {
      out.append("},\"unconnected\":{\"tcp\":")
      out.appendDecimal(UInt64(unconnected.tcp))
      out.append(",\"udp\":")
      out.appendDecimal(UInt64(unconnected.udp))
    }
    out.append("},\"states\":{\"established\":")
    out.appendDecimal(UInt64(states.established))
    out.append(",\"listen\":")
    out.appendDecimal(UInt64(states.listen))
    out.append(",\"close_wait\":")
    out.appendDecimal(UInt64(states.closeWait))
    out.append(",\"other\":")
    out.appendDecimal(UInt64(states.other))
    out.append("},\"bytes_in\":")
    JSONRenderer.appendOptional(bytesIn, into: &out)
    out.append(",\"bytes_out\":")
    JSONRenderer.appendOptional(bytesOut, into: &out)
    out.append(",\"flags\":")
    JSONRenderer.appendFlagArray(flags, into: &out)
  }

  /// `"name"`, plus `,"command_bytes":"…"` when the name is not valid UTF-8 (as in flows).
  static func appendCommand(_ command: [UInt8], into out: inout OutputBuffer) {
    if !out.appendJSONString(command) {
      out.append(",\"command_bytes\":\"")
      out.appendHexBytes(command)
      out.append(UInt8(ascii: "\""))
    }
  }
}

// MARK: - check

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
    out.append("{\"version\":")
    out.appendDecimal(UInt64(JSONRenderer.formatVersion))
    out.append(",\"host\":")
    out.appendJSONString(snapshot.host)
    out.append(",\"time\":\"")
    appendRFC3339(snapshot.time, into: &out)
    out.append("\",\"problems\":[")
    var sentence = OutputBuffer(capacity: 512)
    for (index, finding) in findings.enumerated() {
      out.append(index == 0 ? "\n{\"severity\":\"" : ",\n{\"severity\":\"")
      out.append(utf8: finding.severity.rawValue)
      out.append("\",\"flag\":\"")
      out.append(utf8: finding.flag.rawValue)
      out.append("\",\"pid\":")
      if let pid = finding.pid { out.appendDecimal(Int64(pid)) } else { out.append("null") }
      out.append(",\"command\":")
      if let process = finding.process {
        ProcessRenderer.appendCommand(process.command, into: &out)
      } else {
        out.append("null")
      }
      out.append(",\"user\":")
      if let user = finding.process?.user { out.appendJSONString(user) } else { out.append("null") }
      out.append(",\"flows\":")
      out.appendDecimal(UInt64(finding.flowCount))
      out.append(",\"endpoints\":[")
      for (i, endpoint) in finding.endpoints.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        JSONRenderer.appendEndpoint(endpoint, into: &out)
      }
      out.append("]")
      if finding.listener, let dropped = finding.dropped {
        out.append(",\"dropped\":")
        out.appendDecimal(dropped)
        out.append(",\"drop_interval_s\":")
        appendSeconds(finding.dropSeconds ?? 0, into: &out)
      }
      if finding.flag == .unreachable {
        out.append(",\"syn_retries\":")
        out.appendDecimal(UInt64(finding.retries))
      }
      out.append(",\"message\":")
      sentence.removeAll()
      appendSentence(
        finding, namespaces: snapshot.namespaces, thresholds: thresholds, sanitize: false,
        into: &sentence)
      _ = out.appendJSONString(sentence.bytes)
      out.append(UInt8(ascii: "}"))
    }
    if !findings.isEmpty { out.append(UInt8(ascii: "\n")) }
    out.append("],\"system_problems\":[")
    for (index, finding) in system.enumerated() {
      out.append(index == 0 ? "\n{" : ",\n{")
      appendSystemFields(finding, snapshot: snapshot, thresholds: thresholds, into: &out)
      out.append(UInt8(ascii: "}"))
    }
    if !system.isEmpty { out.append(UInt8(ascii: "\n")) }
    JSONRenderer.appendWarningsAndClose(snapshot.warnings, into: &out)
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
        if i > 0 { out.append(i == finding.endpoints.count - 1 && finding.endpointCount == finding.endpoints.count ? " and " : ", ") }
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
      out.append(" --nofile=N:N now, LimitNOFILE= in its systemd unit or ulimit -n where it starts) or look for descriptors it leaks")
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
        out.append(finding.flowCount == 1 ? "it; its next request on it will fail" : "them; its next request on them will fail")
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
      out.append(" whose peer accepts no more data (zero window): the application at the other end is not reading, so sending blocks")
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
      out.append("): the peer is not answering; a firewall drops the SYNs, the host is down, or its listener's queue is full")
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
