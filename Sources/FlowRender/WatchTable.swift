import FlowModel

// The table of `flowscope watch`: the columns of each view, their titles with the sort mark,
// their cells, and how they give way on a narrow terminal.

extension WatchScreen {

  enum Cell {
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

  static func table(
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
}
