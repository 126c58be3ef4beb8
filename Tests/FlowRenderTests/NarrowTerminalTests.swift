import FlowModel
import Testing

@testable import FlowRender

/// A table wider than the terminal keeps the columns that identify a flow (Process, State,
/// Local, Remote) and leaves out the counters first, in the order of the man page (NARROW
/// TERMINALS); `--wide` and pipes (no terminal width) are untouched.
@Suite struct NarrowTerminalTests {
  func table(
    _ snapshot: Snapshot = Sample.snapshot(), width: Int?, _ configure: (inout RenderOptions) -> Void = { _ in }
  ) -> [Substring] {
    var options = Sample.options
    options.terminalWidth = width
    configure(&options)
    let text = Sample.text { TableRenderer.render(snapshot, options: options, into: &$0) }
    return text.split(separator: "\n")
  }

  func cells(_ line: Substring) -> Int { displayWidth(of: ArraySlice(Array(line.utf8))) }

  /// The screen's lines without the escape sequences that clear and position them.
  func screen(width: Int, view: WatchView = .flows, snapshot: Snapshot = Sample.snapshot()) -> [String] {
    var model = WatchModel(snapshot: snapshot, rates: RateTable.compute(previous: nil, current: snapshot))
    model.columns = width
    model.rows = 16
    model.view = view
    let text = Sample.text { WatchScreen.render(model, rows: WatchScreen.arrange(model), into: &$0) }
    return text.replacing("\u{1b}[K", with: "").replacing("\u{1b}[H", with: "").replacing("\u{1b}[J", with: "")
      .split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
  }

  // MARK: - The plan

  @Test func everyColumnHasItsPlaceInTheOrder() {
    let kept = Column.allCases.filter { $0.give == .kept }
    #expect(kept == [.state, .pid])
    let shortened = Column.allCases.filter { if case .shortened = $0.give { true } else { false } }
    #expect(shortened == [.local, .remote, .process, .command])
    // Each other column is in one list, once.
    let listed = Column.leftOutFirst + Column.leftOutLast
    #expect(Set(listed).count == listed.count)
    #expect(Set(listed + kept + shortened) == Set(Column.allCases))
    #expect(Column.leftOutLast == [.netns, .proto])
    // The default columns' counters, in the order the man page gives.
    #expect(
      Column.leftOutFirst.filter(Column.defaults.contains)
        == [.retrans, .packetsOut, .packetsIn, .netif, .rtt, .bytesOut, .bytesIn])
  }

  /// As the terminal narrows, the columns left out are always the first ones of the order,
  /// and the identifying ones are never among them.
  @Test func columnsAreLeftOutInOrderAsTheTerminalNarrows() {
    let columns = Column.defaults + [.netns]
    // Widths as a listing of IPv4 loopback flows has them.
    let widths = [5, 15, 15, 8, 9, 7, 8, 7, 5, 6, 5, 13, 10]
    let order = (Column.leftOutFirst + Column.leftOutLast).filter(columns.contains)
    var previouslyLeftOut = 0
    for width in stride(from: 160, through: 20, by: -1) {
      let plan = ColumnFit.plan(widths: widths, gives: columns.map(\.give), into: width)
      let leftOut = columns.indices.filter { !plan.kept.contains($0) }.map { columns[$0] }
      #expect(Set(leftOut) == Set(order.prefix(leftOut.count)), "\(width): \(leftOut)")
      #expect(leftOut.count >= previouslyLeftOut)
      previouslyLeftOut = leftOut.count
      for identifying in [Column.local, .remote, .state, .process] {
        #expect(plan.kept.contains(columns.firstIndex(of: identifying)!))
      }
      let line = plan.widths.reduce(0, +) + 2 * (plan.kept.count - 1)
      // 4 kept columns at the floor: State 6 + 3 × 6 + 3 gaps.
      if width >= 30 { #expect(line <= width, "\(width)") }
      // Nothing is shortened while a counter is still there.
      if leftOut.count < 7 {
        #expect(zip(plan.kept, plan.widths).allSatisfy { widths[$0.0] == $0.1 }, "\(width)")
      }
    }
    #expect(previouslyLeftOut == order.count)
  }

  @Test func longAddressesAreShortenedBeforeAnyCounterGoes() {
    // An IPv6 address of 40 cells is shortened down to 21 (an IPv4 address and port) before
    // In Bytes is left out; below that, In Bytes goes first, then it is shortened further.
    let widths = [40, 15, 8, 6, 13]
    let gives = [Column.local, .remote, .bytesIn, .state, .process].map(\.give)
    let cases: [(width: Int, kept: [Int], widths: [Int])] = [
      (90, [0, 1, 2, 3, 4], [40, 15, 8, 6, 13]),
      (80, [0, 1, 2, 3, 4], [30, 15, 8, 6, 13]),
      (71, [0, 1, 2, 3, 4], [21, 15, 8, 6, 13]),
      (70, [0, 1, 3, 4], [30, 15, 6, 13]),
      (60, [0, 1, 3, 4], [20, 15, 6, 13]),
    ]
    for expected in cases {
      let plan = ColumnFit.plan(widths: widths, gives: gives, into: expected.width)
      #expect(plan.kept == expected.kept, "\(expected.width)")
      #expect(plan.widths == expected.widths, "\(expected.width)")
    }
  }

  @Test func theLastColumnStays() {
    let plan = ColumnFit.plan(widths: [8, 9], gives: [Column.bytesIn, .bytesOut].map(\.give), into: 5)
    #expect(plan.kept == [0])
  }

  // MARK: - The flow table

  @Test func defaultTableAt80Columns() {
    let lines = table(width: 80)
    #expect(lines.allSatisfy { cells($0) <= 80 }, "\(lines)")
    // Long IPv6 addresses take the room of the counters; every row keeps its owner.
    #expect(lines[0] == "Proto    Local Address       Remote Address      State       Process")
    #expect(lines[1] == "tcp      127.0.0.1:45678     127.0.0.1:5432      ESTAB       postgres.2001")
    #expect(lines[4] == "tcp      [2001:db8::1…]:443  [::ffff:19…]:50123  CLOSE-WAIT  nginx.1235")
    #expect(lines[3].hasSuffix("systemd-resol….5000"))
  }

  @Test func ipv4FlowsAt80ColumnsKeepTheirAddressesAndTheBytesIn() {
    let snapshot = Snapshot(
      time: 0, host: "h", flows: [Sample.flows()[0]], processes: Sample.processes, warnings: [])
    let lines = table(snapshot, width: 80)
    #expect(lines[0] == "Proto  Local Address    Remote Address  In Bytes  State  Process")
    #expect(lines[1] == "tcp    127.0.0.1:45678  127.0.0.1:5432   1.5 KiB  ESTAB  postgres.2001")
    // Wider, the counters come back in the reverse order: Out Bytes, then RTT.
    #expect(
      table(snapshot, width: 85)[0] == "Proto  Local Address    Remote Address  In Bytes  Out Bytes  State  Process")
    #expect(
      table(snapshot, width: 90)[0]
        == "Proto  Local Address    Remote Address  In Bytes  Out Bytes  State    RTT  Process")
  }

  @Test func defaultTableAt50Columns() {
    let lines = table(width: 50)
    #expect(lines.allSatisfy { cells($0) <= 50 }, "\(lines)")
    #expect(lines[0] == "Local Addre…  Remote Addr…  State       Process")
    // Addresses cut in the middle, by display width: the port stays, so does a path's end.
    #expect(lines[1] == "127.0…:45678  127.0.…:5432  ESTAB       post….2001")
    #expect(lines[4] == "[2001:…]:443  [::f…]:50123  CLOSE-WAIT  nginx.1235")
    #expect(lines[5] == "….PGSQL.5432  *             LISTEN      post….2001")
    #expect(lines[6] == "@flowscope@…  peer:f….4002  ESTAB       数据….3001")
  }

  @Test func pipesAndWideAreUnchanged() {
    let natural = table(width: nil)
    #expect(natural[0].hasPrefix("Proto    Local Address                  Remote Address"))
    #expect(natural[0].hasSuffix("Retrans  NetIf  State         RTT  Process"))
    for width in [30, 50, 80] {
      #expect(table(width: width) { $0.wide = true } == natural)
    }
  }

  // MARK: - The watch screen

  @Test func watchFlowsAt50Columns() {
    let lines = screen(width: 50)
    #expect(lines.allSatisfy { cells(Substring($0)) <= 50 }, "\(lines)")
    #expect(lines[2] == "  Local Addr…  Remote Add…  State       Process")
    #expect(lines[3] == "  127.…:45678  127.0…:5432  ESTAB       post….2001")
    #expect(lines[7] == "  …PGSQL.5432  *            LISTEN      post….2001")
  }

  @Test func watchFlowsAt80Columns() {
    let lines = screen(width: 80)
    #expect(lines.allSatisfy { cells(Substring($0)) <= 80 }, "\(lines)")
    #expect(lines[2] == "  Proto    Local Address      Remote Address      State       Process")
    #expect(lines[3] == "  tcp      127.0.0.1:45678    127.0.0.1:5432      ESTAB       postgres.2001")
  }

  @Test func watchKeepsTheRatesLongerThanTheTotals() {
    let snapshot = Snapshot(
      time: 0, host: "h", flows: [Sample.flows()[0]], processes: Sample.processes, warnings: [])
    #expect(
      screen(width: 100, snapshot: snapshot)[2]
        == "  Proto  Local Address    Remote Address  State  In/s▼  Out/s▼  In Bytes  Out Bytes  Process")
    #expect(
      screen(width: 90, snapshot: snapshot)[2]
        == "  Proto  Local Address    Remote Address  State  In/s▼  Out/s▼  In Bytes  Process")
    #expect(
      screen(width: 80, snapshot: snapshot)[2]
        == "  Proto  Local Address    Remote Address  State  In/s▼  Out/s▼  Process")
  }

  @Test func watchProcessesAt50And80Columns() {
    let narrow = screen(width: 50, view: .processes)
    #expect(narrow.allSatisfy { cells(Substring($0)) <= 50 }, "\(narrow)")
    #expect(narrow[2] == "   PID  Command          User        In/s▼  Out/s▼")
    #expect(narrow[3] == "  1234  nginx            root            -       -")
    let wider = screen(width: 80, view: .processes)
    #expect(wider.allSatisfy { cells(Substring($0)) <= 80 }, "\(wider)")
    #expect(wider[2] == "   PID  Command          User        Flows  New  Closed  In/s▼  Out/s▼  In Bytes")
  }
}
