import FlowModel

/// `flowscope proc --by KEY`: one row per group (`GroupSummary`), as a table, CSV or JSON.
public enum GroupRenderer {
  enum Column: CaseIterable {
    case name, processes, descriptors, sockets, tcp, udp, unix, other, established, listen
    case closeWait, bytesIn, bytesOut, flags

    func title(_ key: GroupBy) -> String {
      switch self {
      case .name:
        switch key {
        case .command: "Command"
        case .unit: "Unit"
        case .container: "Container"
        case .user: "User"
        case .netns: "NetNS"
        case .remote: "Remote"
        case .remoteHost: "Remote Host"
        }
      case .processes: "Procs"
      case .descriptors: "FDs"
      case .sockets: key.groupsConnections ? "Conns" : "Sockets"
      case .tcp: "TCP"
      case .udp: "UDP"
      case .unix: "UNIX"
      case .other: "Other"
      case .established: "ESTAB"
      case .listen: "LISTEN"
      case .closeWait: "CLOSE-WAIT"
      case .bytesIn: "In Bytes"
      case .bytesOut: "Out Bytes"
      case .flags: "Flags"
      }
    }

    var csvName: String {
      switch self {
      case .name: "name"
      case .processes: "processes"
      case .descriptors: "fds"
      case .sockets: "sockets"
      case .tcp: "tcp"
      case .udp: "udp"
      case .unix: "unix"
      case .other: "other"
      case .established: "estab"
      case .listen: "listen"
      case .closeWait: "close-wait"
      case .bytesIn: "bytes-in"
      case .bytesOut: "bytes-out"
      case .flags: "flags"
      }
    }

    var isNumeric: Bool { self != .name && self != .flags }

    /// The columns of `key`: connections have no descriptors, nor sockets of other kinds.
    static func of(_ key: GroupBy) -> [Column] {
      key.groupsConnections
        ? [.name, .processes, .sockets, .tcp, .udp, .established, .closeWait, .bytesIn, .bytesOut, .flags]
        : allCases
    }
  }

  static func appendCell(
    _ column: Column, of group: GroupSummary, context: RenderContext, into out: inout OutputBuffer
  ) {
    switch column {
    case .name: context.appendName(group.name, into: &out)
    case .processes: out.appendDecimal(UInt64(group.processes))
    case .descriptors: out.appendDecimal(UInt64(group.descriptors))
    case .sockets: out.appendDecimal(UInt64(group.sockets.total))
    case .tcp: out.appendDecimal(UInt64(group.sockets.tcp))
    case .udp: out.appendDecimal(UInt64(group.sockets.udp))
    case .unix: out.appendDecimal(UInt64(group.sockets.unix))
    case .other: out.appendDecimal(UInt64(group.sockets.other))
    case .established: out.appendDecimal(UInt64(group.states.established))
    case .listen: out.appendDecimal(UInt64(group.states.listen))
    case .closeWait: out.appendDecimal(UInt64(group.states.closeWait))
    case .bytesIn: context.appendBytes(group.bytesIn, into: &out)
    case .bytesOut: context.appendBytes(group.bytesOut, into: &out)
    case .flags:
      if group.flags.isEmpty { return context.appendMissing(into: &out) }
      for (index, flag) in group.flags.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        out.append(utf8: flag.rawValue)
      }
    }
  }

  public static func renderTable(
    _ groups: [GroupSummary], by key: GroupBy, snapshot: Snapshot, header: Bool, exactBytes: Bool,
    into out: inout OutputBuffer
  ) {
    let columns = Column.of(key)
    var render = RenderOptions()
    render.exactBytes = exactBytes
    let context = RenderContext(snapshot, options: render, mode: .table, namingPeers: false)
    var cells: [[UInt8]] = []
    var widths = columns.map { header ? displayWidth(of: ArraySlice($0.title(key).utf8)) : 0 }
    var cell = OutputBuffer(capacity: 64)
    for group in groups {
      for (j, column) in columns.enumerated() {
        cell.removeAll()
        appendCell(column, of: group, context: context, into: &cell)
        cells.append(cell.bytes)
        widths[j] = max(widths[j], cell.withUnsafeBufferPointer { TableRenderer.cellWidth($0) })
      }
    }
    if header {
      TableRenderer.appendHeader(
        columns.map { ($0.title(key), $0.isNumeric) }, widths: widths, color: false, into: &out)
    }
    let last = columns.count - 1
    for row in 0..<groups.count {
      for (j, column) in columns.enumerated() {
        if j > 0 { out.append("  ") }
        cells[row * columns.count + j].withUnsafeBufferPointer { p in
          TableRenderer.appendAligned(
            p, width: TableRenderer.cellWidth(p), columnWidth: widths[j], rightAligned: column.isNumeric,
            pad: j != last || column.isNumeric, style: .end, into: &out)
        }
      }
      out.append(UInt8(ascii: "\n"))
    }
  }

  /// `proc --tree`: each process under its parent, drawn with branches, with the sums of its
  /// subtree.
  public static func renderTree(
    _ rows: [TreeRow], snapshot: Snapshot, header: Bool, exactBytes: Bool, into out: inout OutputBuffer
  ) {
    var groups: [GroupSummary] = []
    var pids: [Int32] = []
    let context = RenderContext(snapshot, options: RenderOptions(), mode: .table, namingPeers: false)
    var name = OutputBuffer(capacity: 64)
    for row in rows {
      name.removeAll()
      for open in row.openBranches.dropFirst() { name.append(open ? "│  " : "   ") }
      if row.depth > 0 { name.append(row.isLast ? "└─ " : "├─ ") }
      context.appendName(row.summary.process.command, into: &name)
      var group = row.total
      group.name = name.bytes
      groups.append(group)
      pids.append(row.summary.pid)
    }
    var table = OutputBuffer(capacity: 4096)
    renderTable(groups, by: .command, snapshot: snapshot, header: header, exactBytes: exactBytes, into: &table)
    // The pid before each line (the header's first).
    let pidWidth = max(3, pids.map { String($0).count }.max() ?? 3)
    var lineIndex = header ? -1 : 0
    for line in table.bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
      let label = lineIndex < 0 ? "PID" : String(pids[lineIndex])
      out.append(utf8: String(repeating: " ", count: pidWidth - label.count) + label + "  ")
      out.append(contentsOf: Array(line))
      out.append(UInt8(ascii: "\n"))
      lineIndex += 1
    }
  }

  /// The tree as JSON: `{"version":1,…,"tree":[{"pid","ppid","command","depth","total":{…}}]}`.
  public static func renderTreeJSON(_ rows: [TreeRow], snapshot: Snapshot, into out: inout OutputBuffer) {
    JSONWriter.write(into: &out) { json in
      JSONRenderer.appendDocumentStart(snapshot, into: &json)
      json.key(.tree)
      json.beginArray()
      for row in rows {
        json.beginObject(onNewLine: true)
        appendTreeFields(row, into: &json)
        json.endObject()
      }
      if !rows.isEmpty { json.breakLine() }
      JSONRenderer.appendWarningsAndClose(snapshot.warnings, into: &json)
    }
  }

  /// The tree as NDJSON: one line per row, `{"version":1,"time":…,"host":…,"pid":…,"ppid":…,
  /// "command":…,"depth":…,"total":{…}}`, in the tree's order, then one line per warning.
  public static func renderTreeLines(_ rows: [TreeRow], snapshot: Snapshot, into out: inout OutputBuffer) {
    let prefix = JSONRenderer.linePrefix(snapshot)
    JSONWriter.write(into: &out) { json in
      for row in rows {
        json.reopen(prefix)
        appendTreeFields(row, into: &json)
        json.endObject()
        json.endLine()
      }
      JSONRenderer.appendWarningLines(snapshot.warnings, prefix: prefix, into: &json)
    }
  }

  /// A tree row's fields, in a document's array or on an NDJSON line.
  static func appendTreeFields(_ row: TreeRow, into json: inout JSONWriter) {
    json.field(.pid, Int64(row.summary.pid))
    json.field(.ppid, Int64(row.summary.process.ppid))
    json.key(.command)
    ProcessRenderer.appendCommand(row.summary.process.command, into: &json)
    json.field(.depth, UInt64(row.depth))
    json.key(.total)
    json.beginObject()
    json.field(.processes, UInt64(row.total.processes))
    json.field(.fdCount, UInt64(row.total.descriptors))
    ProcessRenderer.appendSocketSums(
      sockets: row.total.sockets, states: row.total.states, bytesIn: row.total.bytesIn,
      bytesOut: row.total.bytesOut, flags: row.total.flags, into: &json)
    json.endObject()
  }

  public static func renderCSV(
    _ groups: [GroupSummary], by key: GroupBy, snapshot: Snapshot, header: Bool, into out: inout OutputBuffer
  ) {
    let columns = Column.of(key)
    let context = RenderContext(snapshot, options: RenderOptions(), mode: .csv, namingPeers: false)
    CSVRenderer.appendTable(groups, columns: columns, header: header ? columns.map(\.csvName) : nil, into: &out) {
      column, group, field in appendCell(column, of: group, context: context, into: &field)
    }
  }

  /// `{"version":1,"host":…,"time":…,"by":"unit","groups":[{…}],"warnings":[…]}`.
  public static func renderJSON(
    _ groups: [GroupSummary], by key: GroupBy, snapshot: Snapshot, into out: inout OutputBuffer
  ) {
    JSONWriter.write(into: &out) { json in
      JSONRenderer.appendDocumentStart(snapshot, into: &json)
      json.key(.by)
      json.string(vocabulary: key.rawValue)
      json.key(.groups)
      json.beginArray()
      for group in groups {
        json.beginObject(onNewLine: true)
        appendGroupFields(group, by: key, into: &json)
        json.endObject()
      }
      if !groups.isEmpty { json.breakLine() }
      JSONRenderer.appendWarningsAndClose(snapshot.warnings, into: &json)
    }
  }

  /// NDJSON: one line per group, largest first, `{"version":1,"time":…,"host":…,"by":"unit",
  /// "name":…,…}` (the document's group object with the key it groups by), then one line per
  /// warning.
  public static func renderLines(
    _ groups: [GroupSummary], by key: GroupBy, snapshot: Snapshot, into out: inout OutputBuffer
  ) {
    let prefix = JSONRenderer.linePrefix(snapshot)
    JSONWriter.write(into: &out) { json in
      for group in groups {
        json.reopen(prefix)
        json.key(.by)
        json.string(vocabulary: key.rawValue)
        appendGroupFields(group, by: key, into: &json)
        json.endObject()
        json.endLine()
      }
      JSONRenderer.appendWarningLines(snapshot.warnings, prefix: prefix, into: &json)
    }
  }

  /// A group's fields, in a document's array or on an NDJSON line.
  static func appendGroupFields(_ group: GroupSummary, by key: GroupBy, into json: inout JSONWriter) {
    json.key(.name)
    json.string(group.name, exactIn: .nameBytes)
    json.field(.processes, UInt64(group.processes))
    json.field(.fdCount, key.groupsConnections || group.processes == 0 ? nil : UInt64(group.descriptors))
    ProcessRenderer.appendSocketSums(
      sockets: group.sockets, states: group.states, bytesIn: group.bytesIn, bytesOut: group.bytesOut,
      flags: group.flags, into: &json)
  }
}
