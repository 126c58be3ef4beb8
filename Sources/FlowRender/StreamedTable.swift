import FlowModel

/// The rows of a table whose flows are streamed. A table's column widths depend on every row,
/// so its rows wait for the last flow; they wait as the bytes of their cells, written once as
/// each flow comes (about 90 bytes a row with the default columns), not as flows (264 bytes
/// each): at 500k sockets, 45 MB instead of 130. `append` then writes the lines those bytes
/// make, the same bytes `TableRenderer.render` writes for the same flows.
struct StreamedTableRows {
  private let context: RenderContext
  private let columns: [Column]
  /// The widest cell of each column so far (the titles' widths to start with).
  private var widths: [Int]
  /// The index of a NetNS column added in case the flows are of several namespaces; it is left
  /// out when they turn out to be of one (`RenderOptions.addNamespaceColumn(ifSeveralIn:)`).
  private let provisionalNamespaceColumn: Int?
  private var firstNamespace: UInt64? = nil
  private var severalNamespaces = false
  /// The rows. Each row is its raw state (0 when its protocol has none) for the colour, its
  /// local and remote `EndpointKind`s for cutting them, then each cell as its length (LEB128)
  /// and bytes.
  private let storage = RowStorage()
  private var cell = OutputBuffer(capacity: 256)
  private var row = OutputBuffer(capacity: 1024)

  init(context: RenderContext, provisionalNamespaceColumn: Bool) {
    self.context = context
    columns = context.options.columns
    widths = columns.map {
      context.options.header ? displayWidth(of: ArraySlice($0.title.utf8)) : 0
    }
    self.provisionalNamespaceColumn = provisionalNamespaceColumn ? columns.firstIndex(of: .netns) : nil
  }

  mutating func add(_ flow: Flow) {
    if let first = firstNamespace {
      if flow.netns != first { severalNamespaces = true }
    } else {
      firstNamespace = flow.netns
    }
    row.removeAll()
    row.append(flow.proto.hasConnectionStates ? flow.state : 0)
    row.append(
      TableRenderer.EndpointKind(flow.local).rawValue | TableRenderer.EndpointKind(flow.remote).rawValue << 4)
    for (j, column) in columns.enumerated() {
      cell.removeAll()
      context.appendCell(column, of: flow, into: &cell)
      cell.withUnsafeBufferPointer { p in
        let width = TableRenderer.cellWidth(p)
        if width > widths[j] { widths[j] = width }
        var length = p.count
        while length >= 0x80 {
          row.append(UInt8(truncatingIfNeeded: length) | 0x80)
          length >>= 7
        }
        row.append(UInt8(length))
        row.append(contentsOf: p)
      }
    }
    row.withUnsafeBufferPointer { storage.store(UnsafeRawBufferPointer($0)) }
  }

  /// The header and every line.
  func append(into out: inout OutputBuffer) {
    let options = context.options
    // Columns by position among the cells; those left out are skipped.
    var kept = Array(columns.indices)
    if let hidden = provisionalNamespaceColumn, !severalNamespaces { kept.remove(at: hidden) }
    var keptWidths = kept.map { widths[$0] }
    if !options.wide, let terminalWidth = options.terminalWidth {
      let plan = ColumnFit.plan(widths: keptWidths, gives: kept.map { columns[$0].give }, into: terminalWidth)
      kept = plan.kept.map { kept[$0] }
      keptWidths = plan.widths
    }
    if options.header {
      TableRenderer.appendHeader(
        kept.map { (columns[$0].title, columns[$0].isNumeric) }, widths: keptWidths,
        color: options.color, into: &out)
    }
    // For each cell position: its place among the kept columns, or -1.
    var place = [Int](repeating: -1, count: columns.count)
    for (k, j) in kept.enumerated() { place[j] = k }
    let lines = Lines(
      storage: storage, columns: columns, numeric: columns.map(\.isNumeric), place: place,
      widths: keptWidths, lastKept: kept.last ?? -1, color: options.color)
    out.appendChunked(count: storage.rowCount, perChunk: RowStorage.rowsPerChunk) { rows, chunk in
      lines.append(rows, into: &chunk)
    }
  }

  /// Writes the lines of some rows (read only: two threads write a chunk each).
  private struct Lines {
    let storage: RowStorage
    let columns: [Column]
    let numeric: [Bool]
    let place: [Int]
    let widths: [Int]
    let lastKept: Int
    let color: Bool

    /// `rows` starts a chunk of `RowStorage.rowsPerChunk` rows.
    func append(_ rows: Range<Int>, into out: inout OutputBuffer) {
      guard !rows.isEmpty else { return }
      var (blockIndex, offset) = storage.chunkStarts[rows.lowerBound / RowStorage.rowsPerChunk]
      for _ in rows {
        if offset == storage.used[blockIndex] {
          blockIndex += 1
          offset = 0
        }
        let bytes = UnsafeBufferPointer(
          start: storage.blocks[blockIndex].baseAddress!.assumingMemoryBound(to: UInt8.self),
          count: storage.used[blockIndex])
        let state = bytes[offset]
        let local = TableRenderer.EndpointKind(rawValue: bytes[offset + 1] & 0xF) ?? .other
        let remote = TableRenderer.EndpointKind(rawValue: bytes[offset + 1] >> 4) ?? .other
        offset += 2
        var spaces = 0
        var first = true
        for j in columns.indices {
          var length = 0
          var shift = 0
          while true {
            let byte = bytes[offset]
            offset += 1
            length |= Int(byte & 0x7F) << shift
            if byte < 0x80 { break }
            shift += 7
          }
          let p = UnsafeBufferPointer(rebasing: bytes[offset..<offset + length])
          offset += length
          let k = place[j]
          guard k >= 0 else { continue }
          if !first { spaces += 2 }
          first = false
          let column = columns[j]
          let colour = color && column == .state ? TableRenderer.stateColour(state) : nil
          TableRenderer.appendPadded(
            p, columnWidth: widths[k], numeric: numeric[j], last: j == lastKept, colour: colour,
            style: {
              TableRenderer.truncationStyle(
                column, endpoint: column == .local ? local : column == .remote ? remote : .other, cell: p)
            }, spaces: &spaces, into: &out)
        }
        out.append(UInt8(ascii: "\n"))
      }
    }
  }
}

/// Rows in blocks of bytes that are never moved, so storing a row never copies the rows
/// before it. Where every chunk of `rowsPerChunk` rows starts is kept, so the chunks can be
/// read apart.
final class RowStorage: @unchecked Sendable {
  private(set) var blocks: [UnsafeMutableRawBufferPointer] = []
  /// How many bytes of each block hold rows.
  private(set) var used: [Int] = []
  private(set) var rowCount = 0
  /// The block and offset of rows 0, `rowsPerChunk`, 2 × `rowsPerChunk`...
  private(set) var chunkStarts: [(block: Int, offset: Int)] = []
  static let blockSize = 1 << 20
  static let rowsPerChunk = TableRenderer.rowsPerChunk

  deinit { blocks.forEach { $0.deallocate() } }

  func store(_ bytes: UnsafeRawBufferPointer) {
    if blocks.isEmpty || used[used.count - 1] + bytes.count > blocks[blocks.count - 1].count {
      blocks.append(.allocate(byteCount: max(Self.blockSize, bytes.count), alignment: 1))
      used.append(0)
    }
    let start = used[used.count - 1]
    UnsafeMutableRawBufferPointer(rebasing: blocks[blocks.count - 1][start..<start + bytes.count])
      .copyMemory(from: bytes)
    used[used.count - 1] += bytes.count
    if rowCount % Self.rowsPerChunk == 0 { chunkStarts.append((blocks.count - 1, start)) }
    rowCount += 1
  }
}
