import FlowModel

// The screen of `flowscope watch`: a status line, the flows or processes with their rates,
// and a line of keys, cut to the terminal's size. Pure: it turns a model into bytes (escape
// sequences included) and never touches the terminal.

/// Which table the screen shows.
public enum WatchView: Sendable, Equatable {
  case flows, processes
}

/// What the rows are ordered by. The rate fields and `flows` apply to both views; the rest to
/// the view whose column they name.
public enum WatchSortField: String, Sendable, CaseIterable {
  case rate
  case rateIn = "rate-in"
  case rateOut = "rate-out"
  case bytesIn = "bytes-in"
  case bytesOut = "bytes-out"
  case proto, local, remote, state, process
  case pid, command, flows

  /// The fields the `<`/`>` keys step through in a view, in column order.
  public static func cycle(_ view: WatchView) -> [WatchSortField] {
    switch view {
    case .flows: [.rate, .proto, .local, .remote, .state, .rateIn, .rateOut, .bytesIn, .bytesOut, .process]
    case .processes: [.rate, .pid, .command, .flows, .rateIn, .rateOut, .bytesIn, .bytesOut]
    }
  }
}

/// Everything one screen shows.
public struct WatchModel: Sendable {
  public var snapshot: Snapshot
  public var rates: RateTable
  /// Processes of the previous snapshot, to name the owners of closed flows.
  public var previousProcesses: [Int32: OwningProcess] = [:]
  public var view: WatchView = .flows
  public var sort: WatchSortField = .rate
  public var descending = true
  /// Byte columns show the bytes since the previous refresh instead of totals.
  public var showDeltas = false
  public var paused = false
  /// The `/` filter as typed: a query, as after the options.
  public var filter: [UInt8] = []
  /// The rows it keeps; nil while nothing valid was typed.
  public var rowFilter: WatchRowFilter? = nil
  /// Why the typed filter cannot be read, shown while it is edited.
  public var filterError: [UInt8] = []
  public var editingFilter = false
  public var showHelp = false
  /// The first row shown.
  public var scroll = 0
  public var rows = 24
  public var columns = 80
  public var interval: Double = 1
  public var color = false
  public var exactBytes = false
  /// The clock, as the caller formats it (local time).
  public var clock: [UInt8] = []
  /// A line for the user (an error, a hint), shown in place of the warnings.
  public var message: [UInt8] = []
  /// `listen-drops` of each namespace since the previous refresh, shown in place of the
  /// warnings (after a message).
  public var listenDrops: [Finding] = []
  /// The flow `x` asks to close, marked `x` on its row while the question is open.
  public var closing: Flow? = nil

  public init(snapshot: Snapshot, rates: RateTable) {
    self.snapshot = snapshot
    self.rates = rates
  }
}

/// Which rows the `/` filter keeps: the command builds it from a query (FlowQuery), so the
/// screen needs no parser.
public struct WatchRowFilter: Sendable {
  /// Whether a flow (current or closed) is kept, read with the processes of `snapshot`.
  public var keepsFlow: @Sendable (Flow, Snapshot) -> Bool
  /// The processes kept in the processes view.
  public var processes: @Sendable (Snapshot) -> Set<Int32>

  public init(
    keepsFlow: @escaping @Sendable (Flow, Snapshot) -> Bool,
    processes: @escaping @Sendable (Snapshot) -> Set<Int32>
  ) {
    self.keepsFlow = keepsFlow
    self.processes = processes
  }
}

/// One row of the table, in display order: a current flow, a closed one, or a process.
public enum WatchRow: Sendable, Equatable {
  case flow(Int)
  case closed(Int)
  case process(Int32)
}

public enum WatchScreen {
  /// Lines above the table (status, warnings-or-message, the table's header) and below (keys).
  static let linesAbove = 3
  static let linesBelow = 1

  /// Table rows that fit on the screen.
  public static func visibleRows(_ model: WatchModel) -> Int {
    max(1, model.rows - linesAbove - linesBelow)
  }

  // MARK: - Rows

  /// The rows of the model's view after the text filter, in its sort order.
  public static func arrange(_ model: WatchModel) -> [WatchRow] {
    let snapshot = model.snapshot
    let processes = mergedProcesses(model)
    var rows: [WatchRow]
    switch model.view {
    case .flows:
      rows = snapshot.flows.indices.map { .flow($0) } + model.rates.closed.indices.map { .closed($0) }
    case .processes:
      rows = model.rates.processes.keys.sorted().map { .process($0) }
    }
    if let filter = model.rowFilter {
      // Closed flows are named with the processes of the refresh before.
      let named = Snapshot(
        time: snapshot.time, host: snapshot.host, flows: [], processes: processes, warnings: [])
      var withNames = named
      withNames.namespaces = snapshot.namespaces
      switch model.view {
      case .flows:
        rows.removeAll { row in
          switch row {
          case .flow(let index): !filter.keepsFlow(snapshot.flows[index], withNames)
          case .closed(let index): !filter.keepsFlow(model.rates.closed[index], withNames)
          case .process: false
          }
        }
      case .processes:
        var all = withNames
        all.flows = snapshot.flows + model.rates.closed
        let kept = filter.processes(all)
        rows.removeAll { row in
          if case .process(let pid) = row { return !kept.contains(pid) }
          return false
        }
      }
    }
    sortRows(&rows, model, processes)
    return rows
  }

  static func mergedProcesses(_ model: WatchModel) -> [Int32: OwningProcess] {
    var processes = model.snapshot.processes
    for flow in model.rates.closed {
      for owner in flow.owners where processes[owner.pid] == nil {
        if let process = model.previousProcesses[owner.pid] { processes[owner.pid] = process }
      }
    }
    return processes
  }

  private enum SortValue {
    case number(Double?)
    case text([UInt8])
  }

  private static func sortRows(_ rows: inout [WatchRow], _ model: WatchModel, _ processes: [Int32: OwningProcess]) {
    let snapshot = model.snapshot
    let rates = model.rates
    let sort = model.sort
    func value(_ row: WatchRow) -> SortValue {
      switch row {
      case .flow(let index), .closed(let index):
        let isClosed = if case .closed = row { true } else { false }
        let rate = isClosed ? rates.closedRate(at: index) : rates.flows[index]
        switch sort {
        case .rate, .flows: return .number(rate.rateTotal)
        case .rateIn: return .number(rate.rateIn)
        case .rateOut: return .number(rate.rateOut)
        default: break
        }
        // Only the other fields need the flow (a copy of a Flow is not free at 100k rows).
        let flow = isClosed ? rates.closed[index] : snapshot.flows[index]
        switch sort {
        case .rate, .flows, .rateIn, .rateOut: return .number(nil)
        case .bytesIn:
          return .number((model.showDeltas ? rate.deltaIn : flow.counters.bytesIn).map(Double.init))
        case .bytesOut:
          return .number((model.showDeltas ? rate.deltaOut : flow.counters.bytesOut).map(Double.init))
        case .proto: return .text(Array(flow.proto.rawValue.utf8))
        case .local, .remote:
          var out = OutputBuffer(capacity: 64)
          let endpoint = sort == .local ? flow.local : flow.remote
          if case .ip(let address, let port) = endpoint {
            // Numeric order of addresses, then ports.
            switch address {
            case .v4(let v): out.appendHex(UInt64(v), minDigits: 8)
            case .v6(let high, let low):
              out.appendHex(high, minDigits: 16)
              out.appendHex(low, minDigits: 16)
            }
            out.appendHex(UInt64(port), minDigits: 4)
          }
          return .text(out.bytes)
        case .state: return .number(Double(flow.state))
        case .process, .command:
          return .text(flow.owners.first.flatMap { processes[$0.pid]?.command } ?? [0xFF])
        case .pid: return .number(flow.owners.first.map { Double($0.pid) })
        }
      case .process(let pid):
        let rate = rates.processes[pid] ?? ProcessRate(pid: pid)
        switch sort {
        case .rate: return .number(rate.rateTotal)
        case .rateIn: return .number(rate.rateIn)
        case .rateOut: return .number(rate.rateOut)
        case .bytesIn: return .number((model.showDeltas ? rate.deltaIn : rate.bytesIn).map(Double.init))
        case .bytesOut: return .number((model.showDeltas ? rate.deltaOut : rate.bytesOut).map(Double.init))
        case .flows: return .number(Double(rate.flows))
        case .command, .process: return .text(processes[pid]?.command ?? [0xFF])
        default: return .number(Double(pid))
        }
      }
    }
    let descending = model.descending
    let keyed = rows.enumerated().map { (offset: $0.offset, value: value($0.element)) }
    let order = keyed.sorted { a, b in
      switch (a.value, b.value) {
      case (.number(let x), .number(let y)):
        switch (x, y) {
        case (nil, nil): return a.offset < b.offset
        case (nil, _): return false  // unknown last, either way
        case (_, nil): return true
        case (let x?, let y?):
          if x == y { return a.offset < b.offset }
          return descending ? x > y : x < y
        }
      case (.text(let x), .text(let y)):
        if x == y { return a.offset < b.offset }
        return descending ? y.lexicographicallyPrecedes(x) : x.lexicographicallyPrecedes(y)
      default: return a.offset < b.offset
      }
    }
    rows = order.map { rows[$0.offset] }
  }

  // MARK: - Drawing

  /// The whole screen: from the top-left corner, every line cut to `model.columns`, the rest of
  /// each line and of the screen cleared. `rows` is `arrange(model)`; `model.scroll` must be
  /// within `0...max(0, rows.count - visibleRows(model))`.
  public static func render(_ model: WatchModel, rows: [WatchRow], into out: inout OutputBuffer) {
    let width = max(1, model.columns)
    out.append("\u{1b}[H")
    var line = OutputBuffer(capacity: 512)

    // 1. Status: left what is seen, right the state and the clock.
    statusLine(model, shown: rows.count, into: &line)
    emit(&line, width: width, style: model.color ? "\u{1b}[7m" : nil, fill: model.color, into: &out)

    // 2. A message, else connections dropped at listeners, else the first warning.
    var alarming = !model.message.isEmpty
    if !model.message.isEmpty {
      line.append(contentsOf: model.message)
    } else if let drops = model.listenDrops.first {
      alarming = true
      line.append("listen drops: ")
      CheckRenderer.appendNamespace(
        drops.netns, namespaces: model.snapshot.namespaces, sanitize: true, into: &line)
      line.append(" dropped ")
      CheckRenderer.appendDrops(drops.dropped ?? 0, seconds: drops.dropSeconds ?? 0, into: &line)
      if model.listenDrops.count > 1 {
        line.append(" (+")
        line.appendDecimal(UInt64(model.listenDrops.count - 1))
        line.append(" namespaces)")
      }
      line.append(": an accept queue is full (flowscope check -w 2 names it)")
    } else if let warning = model.snapshot.warnings.first {
      line.append("warning: ")
      var text = warning.description
      text.withUTF8 { appendSanitized($0, into: &line) }
      if model.snapshot.warnings.count > 1 {
        line.append(" (+")
        line.appendDecimal(UInt64(model.snapshot.warnings.count - 1))
        line.append(" more)")
      }
    }
    emit(&line, width: width, style: model.color && alarming ? "\u{1b}[33m" : nil, into: &out)

    let available = visibleRows(model)
    if model.showHelp {
      helpLines(model, into: &out, width: width, lines: available + 1)
    } else {
      table(model, rows: rows, available: available, width: width, into: &out)
    }

    // Last line: keys, or the filter being typed. No newline after it (that would scroll).
    keysLine(model, into: &line)
    emit(&line, width: width, style: model.color ? "\u{1b}[7m" : nil, fill: model.color, newline: false, into: &out)
    out.append("\u{1b}[J")
  }

  /// Copies `line` into `out` cut to `width` display cells, then clears the rest of the screen
  /// line and moves to the next. `style` wraps the text (reset after it).
  static func emit(
    _ line: inout OutputBuffer, width: Int, style: StaticString? = nil, fill: Bool = false,
    newline: Bool = true, into out: inout OutputBuffer
  ) {
    if let style { out.append(style) }
    let written = line.withUnsafeBufferPointer { p -> Int in
      let cells = displayWidth(p)
      if cells <= width {
        out.append(contentsOf: p)
        return cells
      }
      return appendTruncated(p, width: width, style: .end, into: &out)
    }
    if fill { out.appendSpaces(width - written) }
    if style != nil { out.append("\u{1b}[0m") }
    // Clearing from a full line's end would erase its last cell on some terminals.
    if written < width { out.append("\u{1b}[K") }
    if newline { out.append("\r\n") }
    line.removeAll()
  }

  static func statusLine(_ model: WatchModel, shown: Int, into line: inout OutputBuffer) {
    let snapshot = model.snapshot
    let rates = model.rates
    line.append("flowscope watch  ")
    var host = snapshot.host
    host.withUTF8 { appendSanitized($0, into: &line) }
    line.append("  ")
    if model.view == .flows {
      line.appendDecimal(UInt64(snapshot.flows.count))
      line.append(" flows")
    } else {
      line.appendDecimal(UInt64(rates.processes.count))
      line.append(" processes")
    }
    if shown != (model.view == .flows ? snapshot.flows.count + rates.closed.count : rates.processes.count) {
      line.append(" (")
      line.appendDecimal(UInt64(shown))
      line.append(" shown)")
    }
    line.append(" +")
    line.appendDecimal(UInt64(rates.newCount))
    line.append(" new -")
    line.appendDecimal(UInt64(rates.closed.count))
    line.append(" closed  in ")
    let totals = rates.totalRates
    appendRate(totals?.rateIn, exact: model.exactBytes, into: &line)
    line.append("/s out ")
    appendRate(totals?.rateOut, exact: model.exactBytes, into: &line)
    line.append("/s")
    // Right-aligned: the state and the clock.
    var right = OutputBuffer(capacity: 64)
    if model.paused { right.append("PAUSED  ") }
    right.append("sort ")
    right.append(utf8: model.sort.rawValue)
    right.append(model.descending ? "▼" : "▲")
    right.append("  every ")
    appendSeconds(model.interval, into: &right)
    right.append("  ")
    right.append(contentsOf: model.clock)
    let leftWidth = line.withUnsafeBufferPointer { displayWidth($0) }
    let rightWidth = right.withUnsafeBufferPointer { displayWidth($0) }
    let room = model.columns - rightWidth - 2
    if leftWidth > room && room >= 16 {
      // Too narrow for both: the left part gives way, the clock stays at the right edge.
      var cut = OutputBuffer(capacity: line.count)
      let written = line.withUnsafeBufferPointer { appendTruncated($0, width: room, style: .end, into: &cut) }
      cut.appendSpaces(room - written)
      line.removeAll()
      line.append(contentsOf: cut)
      line.appendSpaces(2)
    } else {
      line.appendSpaces(max(2, model.columns - leftWidth - rightWidth))
    }
    line.append(contentsOf: right)
  }

  static func appendSeconds(_ seconds: Double, into out: inout OutputBuffer) {
    let tenths = UInt64((seconds * 1000).rounded())
    out.appendDecimal(tenths / 1000)
    var fraction = tenths % 1000
    if fraction != 0 {
      out.append(UInt8(ascii: "."))
      var digits = 3
      while fraction % 10 == 0 {
        fraction /= 10
        digits -= 1
      }
      var text = String(fraction)
      while text.count < digits { text = "0" + text }
      out.append(utf8: text)
    }
    out.append(UInt8(ascii: "s"))
  }

  static func appendRate(_ rate: Double?, exact: Bool, into out: inout OutputBuffer) {
    guard let rate else { return out.append(UInt8(ascii: "-")) }
    let value = UInt64(max(0, rate).rounded())
    if exact { out.appendDecimal(value) } else { appendHumanBytes(value, into: &out) }
  }

  static func keysLine(_ model: WatchModel, into line: inout OutputBuffer) {
    if model.editingFilter {
      line.append("filter: ")
      appendSanitized(model.filter, into: &line)
      line.append("█  ")
      if model.filterError.isEmpty {
        line.append("(a query: Enter keeps it, Esc clears it)")
      } else {
        appendSanitized(model.filterError, into: &line)
      }
      return
    }
    if !model.filter.isEmpty {
      line.append("[/")
      appendSanitized(model.filter, into: &line)
      line.append("]  ")
    }
    line.append("q quit  v ")
    line.append(model.view == .flows ? "processes" : "flows")
    line.append("  </> sort  r reverse  p ")
    line.append(model.paused ? "resume" : "pause")
    line.append("  d ")
    line.append(model.showDeltas ? "totals" : "deltas")
    line.append("  / filter  ↑↓ PgUp PgDn scroll  x close  ? help")
  }

  /// The same socket in two snapshots: its namespace, inode and cookie.
  static func isSameSocket(_ a: Flow, _ b: Flow) -> Bool {
    a.cookie == b.cookie && a.inode == b.inode && a.netns == b.netns
  }

  /// What the message line asks before `x` closes `flow`: `Close tcp 127.0.0.1:5432 →
  /// 10.0.0.9:40000 (postgres.812)? [y/N]`.
  public static func closeQuestion(_ flow: Flow, processes: [Int32: OwningProcess]) -> [UInt8] {
    var out = OutputBuffer(capacity: 128)
    out.append("Close ")
    appendFlowIdentity(flow, processes: processes, into: &out)
    out.append("? [y/N]")
    return out.bytes
  }

  /// `tcp 127.0.0.1:5432 → 10.0.0.9:40000 (postgres.812)`.
  public static func appendFlowIdentity(
    _ flow: Flow, processes: [Int32: OwningProcess], into out: inout OutputBuffer
  ) {
    out.append(utf8: flow.proto.rawValue)
    if flow.family == .inet6 { out.append(UInt8(ascii: "6")) }
    out.append(UInt8(ascii: " "))
    EventRenderer.appendEndpointText(flow.local, into: &out)
    out.append(" → ")
    EventRenderer.appendEndpointText(flow.remote, into: &out)
    out.append(" (")
    KillRenderer.appendOwners(flow, processes, into: &out)
    out.append(UInt8(ascii: ")"))
  }

  static func helpLines(_ model: WatchModel, into out: inout OutputBuffer, width: Int, lines: Int) {
    let text: [StaticString] = [
      "flowscope watch: keys",
      "",
      "  q, Ctrl-C        quit",
      "  v, Tab           switch between flows and processes",
      "  < >              sort by the previous / next column",
      "  s                sort by total rate (in + out), busiest first",
      "  r                reverse the sort order",
      "  p, Space         pause / resume the refreshes",
      "  d                byte columns: bytes since the last refresh / totals",
      "  /                filter rows with a query, e.g. dport == 443 (Esc clears)",
      "  Esc              clear the filter",
      "  ↑ ↓, j k         scroll by a line",
      "  PgUp PgDn        scroll by a page",
      "  Home End         first / last row",
      "  x                close the flow on the first row shown (asks y/N; as flowscope kill)",
      "  ?                this help (any key closes it)",
      "",
      "Marks: + a flow new since the last refresh, - a flow closed since then (shown once).",
      "In/s and Out/s: bytes per second between the last two refreshes (TCP counters).",
    ]
    var line = OutputBuffer(capacity: 128)
    for index in 0..<lines {
      if index < text.count { line.append(text[index]) }
      emit(&line, width: width, into: &out)
    }
  }

  // MARK: - The table

  private enum Cell {
    case flow(Column)
    case rateIn, rateOut, bytesIn, bytesOut
    case pid, command, user, flows, new, closed
  }

  private static func title(_ cell: Cell, _ model: WatchModel) -> (String, WatchSortField?) {
    switch cell {
    case .flow(let column):
      let field: WatchSortField? =
        switch column {
        case .proto: .proto
        case .local: .local
        case .remote: .remote
        case .state: .state
        case .process: .process
        default: nil
        }
      return (column.title, field)
    case .rateIn: return ("In/s", .rateIn)
    case .rateOut: return ("Out/s", .rateOut)
    case .bytesIn: return (model.showDeltas ? "ΔIn" : "In Bytes", .bytesIn)
    case .bytesOut: return (model.showDeltas ? "ΔOut" : "Out Bytes", .bytesOut)
    case .pid: return ("PID", .pid)
    case .command: return ("Command", .command)
    case .user: return ("User", nil)
    case .flows: return ("Flows", .flows)
    case .new: return ("New", nil)
    case .closed: return ("Closed", nil)
    }
  }

  private static func isNumeric(_ cell: Cell) -> Bool {
    switch cell {
    case .flow: false
    case .command, .user: false
    default: true
    }
  }

  /// What each column does when the line is too wide (`ColumnFit`), in the order the man page
  /// gives under NARROW TERMINALS: the byte totals go first, then the counts of the processes
  /// view, then the rates; then the addresses and names are shortened; Proto goes last (as in
  /// the flow table). PID, State, the addresses and the owners stay.
  private static func give(_ cell: Cell) -> ColumnFit.Give {
    switch cell {
    case .flow(let column): column.give
    case .command: .shortened(comfortable: 15, minimum: 8)
    case .user: .shortened(comfortable: 8, minimum: 4)
    case .pid: .kept
    case .bytesOut: .leftOut(rank: 0)
    case .bytesIn: .leftOut(rank: 1)
    case .closed: .leftOut(rank: 2)
    case .new: .leftOut(rank: 3)
    case .flows: .leftOut(rank: 4)
    case .rateOut: .leftOut(rank: 5)
    case .rateIn: .leftOut(rank: 6)
    }
  }

  private static func table(
    _ model: WatchModel, rows: [WatchRow], available: Int, width: Int, into out: inout OutputBuffer
  ) {
    var cells: [Cell] =
      switch model.view {
      case .flows:
        [
          .flow(.proto), .flow(.local), .flow(.remote), .flow(.state), .rateIn, .rateOut, .bytesIn, .bytesOut,
          .flow(.process),
        ]
      case .processes: [.pid, .command, .user, .flows, .new, .closed, .rateIn, .rateOut, .bytesIn, .bytesOut]
      }
    let processes = mergedProcesses(model)
    var render = RenderOptions()
    render.exactBytes = model.exactBytes
    let context = RenderContext(
      Snapshot(
        time: model.snapshot.time, host: model.snapshot.host, flows: model.snapshot.flows, processes: processes,
        warnings: []),
      options: render, mode: .table, namingPeers: false)
    let first = min(max(0, model.scroll), max(0, rows.count - available))
    let shown = rows[first..<min(rows.count, first + available)]

    // The cells of the rows shown, one arena; the mark of each row before them.
    var arena = OutputBuffer(capacity: 4096)
    var bounds: [(start: Int, end: Int, width: Int)] = []
    var titles: [[UInt8]] = []
    var columnWidths: [Int] = []
    for cell in cells {
      let (name, field) = title(cell, model)
      var bytes = Array(name.utf8)
      if let field, field == model.sort || (model.sort == .rate && (field == .rateIn || field == .rateOut)) {
        bytes += Array((model.descending ? "▼" : "▲").utf8)
      }
      titles.append(bytes)
      columnWidths.append(displayWidth(of: bytes[...]))
    }
    for row in shown {
      for (j, cell) in cells.enumerated() {
        let start = arena.count
        appendCell(cell, row: row, model: model, context: context, into: &arena)
        let cellWidth = arena.withUnsafeBufferPointer {
          TableRenderer.cellWidth(UnsafeBufferPointer(rebasing: $0[start..<$0.count]))
        }
        bounds.append((start, arena.count, cellWidth))
        columnWidths[j] = max(columnWidths[j], cellWidth)
      }
    }
    // Fit (with the mark before each line): the counters give way first, then the addresses
    // and names are shortened.
    let plan = ColumnFit.plan(widths: columnWidths, gives: cells.map(give), extra: 2, into: width)
    if plan.kept.count < cells.count {
      // Each row's cells are in `bounds`, a row after the other: keep those of kept columns.
      let all = bounds
      bounds = []
      for row in 0..<shown.count {
        for j in plan.kept { bounds.append(all[row * cells.count + j]) }
      }
      titles = plan.kept.map { titles[$0] }
      cells = plan.kept.map { cells[$0] }
    }
    columnWidths = plan.widths

    var line = OutputBuffer(capacity: 512)
    line.append("  ")
    for (j, cell) in cells.enumerated() {
      if j > 0 { line.append("  ") }
      titles[j].withUnsafeBufferPointer { p in
        TableRenderer.appendAligned(
          p, width: displayWidth(p), columnWidth: columnWidths[j], rightAligned: isNumeric(cell),
          pad: j < cells.count - 1, style: .end, into: &line)
      }
    }
    emit(&line, width: width, style: model.color ? "\u{1b}[1m" : nil, into: &out)

    arena.withUnsafeBufferPointer { all in
      var index = 0
      for row in shown {
        var style: StaticString? = nil
        switch row {
        case .flow(let k) where model.closing.map({ isSameSocket($0, model.snapshot.flows[k]) }) == true:
          line.append("x ")
          style = model.color ? "\u{1b}[7m" : nil
        case .flow(let k) where model.rates.flows[k].change == .new:
          line.append("+ ")
          style = model.color ? "\u{1b}[32m" : nil
        case .closed:
          line.append("- ")
          style = model.color ? "\u{1b}[31m" : nil
        default: line.append("  ")
        }
        for (j, cell) in cells.enumerated() {
          if j > 0 { line.append("  ") }
          let bound = bounds[index]
          let p = UnsafeBufferPointer(rebasing: all[bound.start..<bound.end])
          // Cut as the flow table cuts it: a port or pid kept, a UNIX path's end kept.
          var truncation = TruncationStyle.end
          if bound.width > columnWidths[j], case .flow(let column) = cell {
            switch row {
            case .flow(let k):
              truncation = TableRenderer.truncationStyle(column, flow: model.snapshot.flows[k], cell: p)
            case .closed(let k):
              truncation = TableRenderer.truncationStyle(column, flow: model.rates.closed[k], cell: p)
            case .process: break
            }
          }
          TableRenderer.appendAligned(
            p, width: bound.width, columnWidth: columnWidths[j], rightAligned: isNumeric(cell),
            pad: j < cells.count - 1, style: truncation, into: &line)
          index += 1
        }
        emit(&line, width: width, style: style, into: &out)
      }
    }
    for _ in shown.count..<available { emit(&line, width: width, into: &out) }
  }

  private static func appendCell(
    _ cell: Cell, row: WatchRow, model: WatchModel, context: RenderContext, into out: inout OutputBuffer
  ) {
    switch row {
    case .flow(let index), .closed(let index):
      let isClosed = if case .closed = row { true } else { false }
      let flow = isClosed ? model.rates.closed[index] : model.snapshot.flows[index]
      let rate = isClosed ? model.rates.closedRate(at: index) : model.rates.flows[index]
      switch cell {
      case .flow(let column): context.appendCell(column, of: flow, into: &out)
      case .rateIn: appendRate(isClosed ? nil : rate.rateIn, exact: model.exactBytes, into: &out)
      case .rateOut: appendRate(isClosed ? nil : rate.rateOut, exact: model.exactBytes, into: &out)
      case .bytesIn:
        context.appendBytes(model.showDeltas ? rate.deltaIn : flow.counters.bytesIn, into: &out)
      case .bytesOut:
        context.appendBytes(model.showDeltas ? rate.deltaOut : flow.counters.bytesOut, into: &out)
      default: out.append(UInt8(ascii: "-"))
      }
    case .process(let pid):
      let rate = model.rates.processes[pid] ?? ProcessRate(pid: pid)
      let process = context.snapshot.processes[pid]
      switch cell {
      case .pid: out.appendDecimal(Int64(pid))
      case .command:
        if let process { context.appendName(process.command, into: &out) } else { out.append(UInt8(ascii: "?")) }
      case .user:
        if let user = process?.user {
          context.appendName(user, into: &out)
        } else if let uid = process?.uid {
          out.appendDecimal(UInt64(uid))
        } else {
          out.append(UInt8(ascii: "-"))
        }
      case .flows: out.appendDecimal(UInt64(rate.flows))
      case .new: out.appendDecimal(UInt64(rate.newFlows))
      case .closed: out.appendDecimal(UInt64(rate.closedFlows))
      case .rateIn: appendRate(model.rates.seconds == nil ? nil : rate.rateIn, exact: model.exactBytes, into: &out)
      case .rateOut: appendRate(model.rates.seconds == nil ? nil : rate.rateOut, exact: model.exactBytes, into: &out)
      case .bytesIn: context.appendBytes(model.showDeltas ? rate.deltaIn : rate.bytesIn, into: &out)
      case .bytesOut: context.appendBytes(model.showDeltas ? rate.deltaOut : rate.bytesOut, into: &out)
      case .flow: out.append(UInt8(ascii: "-"))
      }
    }
  }

  // MARK: - NDJSON

  /// One line per flow of the snapshot and per closed flow: the flow object of `flow --ndjson`
  /// followed by `refresh`, `interval`, `change`, `delta_in`, `delta_out`, `rate_in`,
  /// `rate_out`; then one line per warning. `refresh` counts from 1.
  public static func renderFlowLines(
    _ snapshot: Snapshot, rates: RateTable, refresh: Int, options: RenderOptions,
    previousProcesses: [Int32: OwningProcess] = [:], into out: inout OutputBuffer
  ) {
    let context = RenderContext(snapshot, options: options, mode: .csv, namingPeers: false)
    let prefix = JSONRenderer.linePrefix(snapshot)
    for (index, flow) in snapshot.flows.enumerated() {
      out.append(contentsOf: prefix)
      JSONRenderer.appendFlowFields(flow, context: context, into: &out)
      appendRateFields(rates.flows[index], refresh: refresh, seconds: rates.seconds, into: &out)
      out.append("}\n")
    }
    if !rates.closed.isEmpty {
      let closedContext = RenderContext(
        Snapshot(
          time: snapshot.time, host: snapshot.host, flows: rates.closed,
          processes: snapshot.processes.merging(previousProcesses) { current, _ in current },
          warnings: []),
        options: options, mode: .csv, namingPeers: false)
      for (index, flow) in rates.closed.enumerated() {
        out.append(contentsOf: prefix)
        JSONRenderer.appendFlowFields(flow, context: closedContext, into: &out)
        appendRateFields(rates.closedRate(at: index), refresh: refresh, seconds: rates.seconds, into: &out)
        out.append("}\n")
      }
    }
    appendWarningLines(snapshot, prefix: prefix, refresh: refresh, into: &out)
  }

  /// One line per process with flows (open or closed since the last refresh), by pid.
  public static func renderProcessLines(
    _ snapshot: Snapshot, rates: RateTable, refresh: Int, previousProcesses: [Int32: OwningProcess],
    into out: inout OutputBuffer
  ) {
    let prefix = JSONRenderer.linePrefix(snapshot)
    for pid in rates.processes.keys.sorted() {
      let rate = rates.processes[pid]!
      let process = snapshot.processes[pid] ?? previousProcesses[pid]
      out.append(contentsOf: prefix)
      out.append("\"pid\":")
      out.appendDecimal(Int64(pid))
      out.append(",\"command\":")
      if let process {
        ProcessRenderer.appendCommand(process.command, into: &out)
      } else {
        out.append("null")
      }
      out.append(",\"user\":")
      if let user = process?.user { out.appendJSONString(user) } else { out.append("null") }
      out.append(",\"uid\":")
      JSONRenderer.appendOptional(process.map { UInt64($0.uid) }, into: &out)
      out.append(",\"flows\":")
      out.appendDecimal(UInt64(rate.flows))
      out.append(",\"new_flows\":")
      out.appendDecimal(UInt64(rate.newFlows))
      out.append(",\"closed_flows\":")
      out.appendDecimal(UInt64(rate.closedFlows))
      out.append(",\"bytes_in\":")
      JSONRenderer.appendOptional(rate.bytesIn, into: &out)
      out.append(",\"bytes_out\":")
      JSONRenderer.appendOptional(rate.bytesOut, into: &out)
      out.append(",\"refresh\":")
      out.appendDecimal(UInt64(refresh))
      out.append(",\"interval\":")
      appendNumber(rates.seconds, into: &out)
      out.append(",\"delta_in\":")
      JSONRenderer.appendOptional(rates.seconds == nil ? nil : rate.deltaIn, into: &out)
      out.append(",\"delta_out\":")
      JSONRenderer.appendOptional(rates.seconds == nil ? nil : rate.deltaOut, into: &out)
      out.append(",\"rate_in\":")
      appendNumber(rates.seconds == nil ? nil : rate.rateIn, into: &out)
      out.append(",\"rate_out\":")
      appendNumber(rates.seconds == nil ? nil : rate.rateOut, into: &out)
      out.append("}\n")
    }
    appendWarningLines(snapshot, prefix: prefix, refresh: refresh, into: &out)
  }

  private static func appendWarningLines(
    _ snapshot: Snapshot, prefix: OutputBuffer, refresh: Int, into out: inout OutputBuffer
  ) {
    for warning in snapshot.warnings {
      out.append(contentsOf: prefix)
      out.append("\"warning\":")
      out.appendJSONString(warning.description)
      out.append("}\n")
    }
  }

  private static func appendRateFields(
    _ rate: FlowRate, refresh: Int, seconds: Double?, into out: inout OutputBuffer
  ) {
    out.append(",\"refresh\":")
    out.appendDecimal(UInt64(refresh))
    out.append(",\"interval\":")
    appendNumber(seconds, into: &out)
    out.append(",\"change\":")
    switch rate.change {
    case .new: out.append("\"new\"")
    case .closed: out.append("\"closed\"")
    case .continuing: out.append("null")
    }
    out.append(",\"delta_in\":")
    JSONRenderer.appendOptional(rate.deltaIn, into: &out)
    out.append(",\"delta_out\":")
    JSONRenderer.appendOptional(rate.deltaOut, into: &out)
    out.append(",\"rate_in\":")
    appendNumber(rate.rateIn, into: &out)
    out.append(",\"rate_out\":")
    appendNumber(rate.rateOut, into: &out)
  }

  /// A non-negative number with at most three decimals, or `null`.
  static func appendNumber(_ value: Double?, into out: inout OutputBuffer) {
    guard let value, value.isFinite else { return out.append("null") }
    let thousandths = UInt64((max(0, value) * 1000).rounded())
    out.appendDecimal(thousandths / 1000)
    let fraction = thousandths % 1000
    if fraction != 0 {
      out.append(UInt8(ascii: "."))
      if fraction < 100 { out.append(UInt8(ascii: "0")) }
      if fraction < 10 { out.append(UInt8(ascii: "0")) }
      var digits = fraction
      while digits % 10 == 0 { digits /= 10 }
      out.appendDecimal(digits)
    }
  }
}
