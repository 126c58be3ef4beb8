import Dispatch
import FlowModel

/// The human table: aligned columns, two spaces apart, numbers right-aligned, names escaped
/// for the terminal, optionally fitted to the terminal (`ColumnFit`: the counters are left
/// out, the addresses and owners shortened by display width).
///
/// Two passes: every cell is written and measured, the column widths are settled, then every
/// cell is written again, padded. Nothing is kept between the passes: at 100k rows the kept
/// cells took 6 MB, and writing a cell costs little more than copying it (the names of
/// processes are made safe once per render, see `SharedTexts`). Large tables are measured on
/// two threads, half the rows each, and written on two threads, a chunk each at a time.
public enum TableRenderer {
  /// Below this many rows, a second thread costs more than it saves.
  static let rowsPerThread = 8192

  public static func render(
    _ snapshot: Snapshot, options: RenderOptions, into out: inout OutputBuffer
  ) {
    var columns = options.columns
    guard !columns.isEmpty else { return }
    let context = RenderContext(snapshot, options: options, mode: .table)
    // Flows are read through a pointer: a Flow copy retains its arrays and strings.
    snapshot.flows.withUnsafeBufferPointer { flows in
      // Pass 1: the widths.
      var columnWidths = columns.map {
        options.header ? displayWidth(of: ArraySlice($0.title.utf8)) : 0
      }
      for widths in cellWidths(flows, columns: columns, context: context) {
        for j in columnWidths.indices { columnWidths[j] = max(columnWidths[j], widths[j]) }
      }
      if !options.wide, let terminalWidth = options.terminalWidth {
        let plan = ColumnFit.plan(widths: columnWidths, gives: columns.map(\.give), into: terminalWidth)
        columns = plan.kept.map { columns[$0] }
        columnWidths = plan.widths
      }

      // Pass 2: the lines.
      if options.header {
        appendHeader(
          columns.map { ($0.title, $0.isNumeric) }, widths: columnWidths, color: options.color,
          into: &out)
      }
      let lines = Lines(
        flows: flows, columns: columns, columnWidths: columnWidths, context: context,
        color: options.color)
      out.appendChunked(count: flows.count, perChunk: rowsPerChunk) { rows, chunk in
        lines.append(rows, into: &chunk)
      }
    }
  }

  /// Lines per chunk of pass 2 (`appendChunked`): ~240 KB of table.
  static let rowsPerChunk = 2048

  /// Pass 2: writes the lines of some rows.
  struct Lines {
    let flows: UnsafeBufferPointer<Flow>
    let columns: [Column]
    let columnWidths: [Int]
    let context: RenderContext
    let color: Bool

    func append(_ rows: Range<Int>, into out: inout OutputBuffer) {
      var cell = OutputBuffer(capacity: 256)
      let numeric = columns.map(\.isNumeric)
      let last = columns.count - 1
      for row in rows {
        let flow = flows[row]  // once per row, not per cell
        // Spaces owed before the next cell: the padding after a left-aligned cell and the
        // separator, written at once with the padding before a right-aligned one.
        var spaces = 0
        for (j, column) in columns.enumerated() {
          if j > 0 { spaces += 2 }
          cell.removeAll()
          context.appendCell(column, of: flow, into: &cell)
          let colour = color && column == .state ? stateColour(flow) : nil
          cell.withUnsafeBufferPointer { p in
            appendPadded(
              p, columnWidth: columnWidths[j], numeric: numeric[j], last: j == last, colour: colour,
              style: { truncationStyle(column, flow: flow, cell: p) }, spaces: &spaces, into: &out)
          }
        }
        out.append(UInt8(ascii: "\n"))
      }
    }
  }

  /// Appends one cell of a line after the `spaces` owed before it, and sets `spaces` to what
  /// is owed after it: the padding of a left-aligned cell is written with the next cell's
  /// separator, at once with the padding before a right-aligned one. A cell too wide for its
  /// column (fitted to a terminal) is cut as `style` says.
  @inline(__always)
  static func appendPadded(
    _ p: UnsafeBufferPointer<UInt8>, columnWidth: Int, numeric: Bool, last: Bool,
    colour: StaticString?, style: () -> TruncationStyle, spaces: inout Int,
    into out: inout OutputBuffer
  ) {
    let width = cellWidth(p)
    if colour == nil && width <= columnWidth {
      if numeric { spaces += columnWidth - width }
      out.append(spaces: spaces, then: p)
      spaces = numeric || last ? 0 : columnWidth - width
      return
    }
    // Coloured, or cut to fit the terminal.
    out.appendSpaces(spaces)
    spaces = 0
    if let colour { out.append(colour) }
    appendAligned(
      p, width: width, columnWidth: columnWidth, rightAligned: numeric,
      pad: (!last || numeric) && colour == nil,
      style: width > columnWidth ? style() : .end, into: &out)
    if colour != nil {
      out.append("\u{1b}[0m")
      if !last { out.appendSpaces(columnWidth - width) }
    }
  }

  /// The header line (bold with colours): each title padded to its column's width, numeric
  /// ones right-aligned. Shared by the flow and process tables.
  static func appendHeader(
    _ titles: [(title: String, numeric: Bool)], widths: [Int], color: Bool,
    into out: inout OutputBuffer
  ) {
    if color { out.append("\u{1b}[1m") }
    for (j, column) in titles.enumerated() {
      if j > 0 { out.append("  ") }
      var title = column.title
      title.withUTF8 { p in
        appendAligned(
          p, width: displayWidth(p), columnWidth: widths[j], rightAligned: column.numeric,
          pad: j != titles.count - 1 || column.numeric, style: .end, into: &out)
      }
    }
    if color { out.append("\u{1b}[0m") }
    out.append(UInt8(ascii: "\n"))
  }

  /// The widest cell of each column: over all rows, or over two halves on two threads.
  static func cellWidths(
    _ flows: UnsafeBufferPointer<Flow>, columns: [Column], context: RenderContext
  ) -> [[Int]] {
    guard flows.count >= 2 * rowsPerThread else {
      return [cellWidths(flows.indices, of: flows, columns: columns, context: context)]
    }
    let half = flows.count / 2
    let halves = [0..<half, half..<flows.count]
    var widths = [[Int]](repeating: [], count: 2)
    widths.withUnsafeMutableBufferPointer { slots in
      let work = WidthWork(flows: flows, slots: slots.baseAddress!, columns: columns, context: context)
      DispatchQueue.concurrentPerform(iterations: 2) { k in
        // Each thread reads the flows and writes only its own slot.
        work.slots[k] = cellWidths(halves[k], of: work.flows, columns: work.columns, context: work.context)
      }
    }
    return widths
  }

  /// What the two threads share: read-only inputs and one output slot each.
  private struct WidthWork: @unchecked Sendable {
    let flows: UnsafeBufferPointer<Flow>
    let slots: UnsafeMutablePointer<[Int]>
    let columns: [Column]
    let context: RenderContext
  }

  static func cellWidths(
    _ rows: Range<Int>, of flows: UnsafeBufferPointer<Flow>, columns: [Column],
    context: RenderContext
  ) -> [Int] {
    var widths = [Int](repeating: 0, count: columns.count)
    var cell = OutputBuffer(capacity: 256)
    for row in rows {
      // Passing `flows[row]` copies it at each call: once per row, not once per cell.
      let flow = flows[row]
      for (j, column) in columns.enumerated() {
        let width: Int
        if let known = context.tableCellWidth(column, of: flow) {
          width = known
        } else {
          cell.removeAll()
          context.appendCell(column, of: flow, into: &cell)
          width = cell.withUnsafeBufferPointer { cellWidth($0) }
        }
        if width > widths[j] { widths[j] = width }
      }
    }
    return widths
  }

  /// Lines `flowscope: warning: …` for the snapshot's warnings, for standard error.
  public static func renderWarnings(_ snapshot: Snapshot, into out: inout OutputBuffer) {
    for warning in snapshot.warnings {
      out.append("flowscope: warning: ")
      var text = warning.description
      text.withUTF8 { appendSanitized($0, into: &out) }
      out.append(UInt8(ascii: "\n"))
    }
  }

  // MARK: - Layout

  static func truncationStyle(_ column: Column, flow: Flow, cell: UnsafeBufferPointer<UInt8>)
    -> TruncationStyle
  {
    let endpoint: Endpoint? = column == .local ? flow.local : column == .remote ? flow.remote : nil
    return truncationStyle(column, endpoint: endpoint.map(EndpointKind.init) ?? .other, cell: cell)
  }

  /// What decides how an address cell is cut.
  enum EndpointKind: UInt8 {
    /// IP, vsock, netlink: `address:port`.
    case withPort
    case unixPath
    case other

    init(_ endpoint: Endpoint) {
      switch endpoint {
      case .ip, .vsock, .netlink: self = .withPort
      case .unixPath: self = .unixPath
      default: self = .other
      }
    }
  }

  static func truncationStyle(_ column: Column, endpoint: EndpointKind, cell: UnsafeBufferPointer<UInt8>)
    -> TruncationStyle
  {
    switch column {
    case .local, .remote:
      switch endpoint {
      case .withPort: return .keepingSuffix(from: UInt8(ascii: ":"))
      case .unixPath: return .start
      case .other:
        // UNIX remote: `peer:command.pid`.
        if cell.starts(with: "peer:".utf8) { return .keepingSuffix(from: UInt8(ascii: ".")) }
        return .end
      }
    case .process: return .keepingSuffix(from: UInt8(ascii: "."))
    default: return .end
    }
  }

  /// Appends a cell in a column of `columnWidth` cells: padded on the left or right, or cut
  /// (with `…`) when wider. With `pad` false (last text column), no trailing spaces.
  static func appendAligned(
    _ p: UnsafeBufferPointer<UInt8>, width: Int, columnWidth: Int, rightAligned: Bool, pad: Bool,
    style: TruncationStyle, into out: inout OutputBuffer
  ) {
    if width <= columnWidth {
      if rightAligned { out.appendSpaces(columnWidth - width) }
      out.append(contentsOf: p)
      if !rightAligned && pad { out.appendSpaces(columnWidth - width) }
      return
    }
    let written = appendTruncated(p, width: columnWidth, style: style, into: &out)
    // A wide character that did not fit leaves one cell to fill.
    if pad || rightAligned { out.appendSpaces(columnWidth - written) }
  }

  static func cellWidth(_ p: UnsafeBufferPointer<UInt8>) -> Int {
    guard let base = p.baseAddress else { return 0 }
    // Eight bytes at a time, then four, two and one: this runs on every cell, and most cells
    // are shorter than eight bytes.
    let raw = UnsafeRawPointer(base)
    var high: UInt64 = 0
    var i = 0
    while i &+ 8 <= p.count {
      high |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
      i &+= 8
    }
    if i &+ 4 <= p.count {
      high |= UInt64(raw.loadUnaligned(fromByteOffset: i, as: UInt32.self))
      i &+= 4
    }
    if i &+ 2 <= p.count {
      high |= UInt64(raw.loadUnaligned(fromByteOffset: i, as: UInt16.self))
      i &+= 2
    }
    if i < p.count { high |= UInt64(base[i]) }
    // ASCII (cells hold no controls): one column per byte.
    return high & 0x8080_8080_8080_8080 == 0 ? p.count : displayWidth(p)
  }

  static func stateColour(_ flow: Flow) -> StaticString? {
    stateColour(flow.proto.hasConnectionStates ? flow.state : 0)
  }

  /// The colour of a raw kernel state; 0, which no state has, for none.
  static func stateColour(_ rawState: UInt8) -> StaticString? {
    guard let state = SocketState(rawValue: rawState) else { return nil }
    switch state {
    case .established: return "\u{1b}[32m"  // green
    case .listen: return "\u{1b}[36m"  // cyan
    case .synSent, .synReceived, .newSynReceived, .finWait1, .finWait2, .timeWait, .closing,
      .lastAck:
      return "\u{1b}[33m"  // yellow: in transition
    case .closeWait: return "\u{1b}[31m"  // red: the peer closed and the process has not
    case .close, .boundInactive: return nil
    }
  }
}
