import FlowModel
import Testing

@testable import FlowRender

/// A streamed table keeps its rows as the bytes of their cells and writes them at the end: the
/// lines are the ones the whole-snapshot renderer writes, whatever the columns, the terminal's
/// width (cells cut, columns left out), colours and the NetNS column decided on the rows.
@Suite struct StreamedTableTests {
  /// The table of `snapshot` as the streamed writer makes it, one flow at a time.
  func streamed(_ snapshot: Snapshot, options: RenderOptions, provisionalNamespaceColumn: Bool = false) -> String {
    var start = snapshot
    start.flows = []
    var writer = StreamedFlowWriter(
      .table, start: start, options: options, provisionalNamespaceColumn: provisionalNamespaceColumn)
    return Sample.text { out in
      writer.begin(start, into: &out)
      for flow in snapshot.flows { writer.write(flow, into: &out) }
      writer.end(warnings: snapshot.warnings, into: &out)
    }
  }

  func collected(_ snapshot: Snapshot, options: RenderOptions) -> String {
    Sample.text { TableRenderer.render(snapshot, options: options, into: &$0) }
  }

  /// The sample's flows; without UNIX ones when `remote` names peers (not streamed then).
  func sample(columns: [Column]) -> Snapshot {
    var snapshot = Sample.snapshot()
    if !StreamedFlowWriter.canStream(columns: columns, protocols: Set(snapshot.flows.map(\.proto))) {
      snapshot.flows.removeAll { $0.family == .unix }
    }
    return snapshot
  }

  @Test(arguments: [
    Column.defaults,
    Column.allCases.filter { $0 != .remote },
    [.process, .local, .remote, .state, .cmdline, .exe, .user, .flags],
  ])
  func linesAreTheCollectedTablesLines(columns: [Column]) {
    let snapshot = sample(columns: columns)
    #expect(snapshot.flows.count >= 7)
    for width in [nil, 200, 120, 80, 50, 20] as [Int?] {
      for (color, exact, header) in [(false, false, true), (true, true, true), (false, false, false)] {
        var options = Sample.options
        options.columns = columns
        options.terminalWidth = width
        options.color = color
        options.exactBytes = exact
        options.header = header
        let expected = collected(snapshot, options: options)
        #expect(streamed(snapshot, options: options) == expected, "width \(String(describing: width)), color \(color)")
        #expect(expected.split(separator: "\n").count == snapshot.flows.count + (header ? 1 : 0))
      }
    }
  }

  /// A NetNS column added in case the flows are of several namespaces stays only if they are.
  @Test func provisionalNamespaceColumnStaysOnlyForSeveralNamespaces() {
    var snapshot = sample(columns: Column.defaults)
    var options = Sample.options
    options.addNamespaceColumn()
    // One namespace: the table without the column.
    #expect(
      streamed(snapshot, options: options, provisionalNamespaceColumn: true)
        == collected(snapshot, options: Sample.options))
    // Two: the column, where addNamespaceColumn put it.
    snapshot.flows[1].netns = 4_026_532_000
    let withColumn = streamed(snapshot, options: options, provisionalNamespaceColumn: true)
    #expect(withColumn == collected(snapshot, options: options))
    #expect(withColumn.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)[1] == "NetNS")
  }

  /// No flows: the header alone, as the collected table.
  @Test func noFlowsIsTheHeaderAlone() {
    var snapshot = Sample.snapshot()
    snapshot.flows = []
    let text = streamed(snapshot, options: Sample.options)
    #expect(text == collected(snapshot, options: Sample.options))
    #expect(text.hasPrefix("Proto") && text.split(separator: "\n").count == 1)
  }

  /// Rows fill several blocks of storage, and a cell longer than 127 bytes takes a two-byte
  /// length: both read back as written.
  @Test func rowsAcrossBlocksAndLongCells() {
    var snapshot = Sample.snapshot()
    snapshot.flows.removeAll { $0.family == .unix }
    let longPath = Array(repeating: UInt8(ascii: "p"), count: 300)
    var flows: [Flow] = []
    for index in 0..<(RowStorage.blockSize / 40) {
      var flow = snapshot.flows[index % snapshot.flows.count]
      flow.inode = UInt64(index)
      if index % 1000 == 7 { flow.local = .unixPath(longPath) }
      flows.append(flow)
    }
    snapshot.flows = flows
    var options = Sample.options
    options.columns = [.inode, .local, .process]
    let text = streamed(snapshot, options: options)
    #expect(text == collected(snapshot, options: options))
    #expect(text.contains(String(decoding: longPath, as: UTF8.self)))
  }
}
