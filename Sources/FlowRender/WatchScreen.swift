import FlowModel

// The screen of `flowscope watch`: a status line, the flows or processes with their rates,
// and a line of keys, cut to the terminal's size. Pure: it turns a model into bytes (escape
// sequences included) and never touches the terminal.

public enum WatchScreen {
  /// Lines above the table (status, warnings-or-message, the table's header) and below (keys).
  static let linesAbove = 3
  static let linesBelow = 1

  /// Table rows that fit on the screen.
  public static func visibleRows(_ model: WatchModel) -> Int {
    max(1, model.rows - linesAbove - linesBelow)
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
      line.append(": an accept queue is full (flowscope check -i 2 names it)")
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
}
