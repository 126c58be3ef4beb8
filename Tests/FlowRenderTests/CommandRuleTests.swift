import FlowModel
import FlowRender
import Testing

/// Rules the commands use, tested without the binary.
@Suite struct CommandRuleTests {
  @Test func warningsAreSaidOnceAndWhatPrivilegeWouldShowInOneLine() {
    var reported = Set<String>()
    let warnings: [SnapshotWarning] = [
      .familyUnsupported("sctp"), .familyUnsupported("vsock"),
      .processesDenied(count: 3, samplePIDs: [1, 2]), .namespacesSkipped(count: 2, reason: "EPERM"),
    ]
    let lines = WarningNotes.lines(warnings, named: [.vsock], reported: &reported)
    // sctp was not asked for: nothing said; vsock was.
    #expect(lines.count == 2)
    #expect(lines[0] == SnapshotWarning.familyUnsupported("vsock").description)
    #expect(lines[1].hasPrefix(warnings[2].description + "; " + warnings[3].description + "; run with sudo"))
    // Said once per run.
    #expect(WarningNotes.lines(warnings, named: [.vsock], reported: &reported) == [])
    #expect(reported.count == 4)
    // Root refused: the line says so and does not suggest sudo.
    var again = Set<String>()
    let asRoot = WarningNotes.lines(warnings, named: [], reported: &again, asRoot: true)
    #expect(
      asRoot == [
        warnings[2].description + "; " + warnings[3].description
          + "; denied to root as well (another user namespace's process, or a security module)"
      ])
  }

  @Test func watchSortTakesALeadingMinusForDescending() {
    #expect(WatchSortField.parse("-rate")! == (.rate, true))
    #expect(WatchSortField.parse("bytes-in")! == (.bytesIn, false))
    #expect(WatchSortField.parse("-inode") == nil)
    #expect(WatchSortField.parse("") == nil)
  }

  @Test func theNamespaceColumnComesSecondOnce() {
    var options = RenderOptions()
    options.columns = [.proto, .local]
    options.addNamespaceColumn()
    #expect(options.columns == [.proto, .netns, .local])
    options.addNamespaceColumn()
    #expect(options.columns == [.proto, .netns, .local])
    options.columns = []
    options.addNamespaceColumn()
    #expect(options.columns == [.netns])
  }

  /// `flow` and `kill`: the NetNS column comes with flows of several namespaces shown, however
  /// many namespaces were read, and never into columns the user chose.
  @Test func theNamespaceColumnComesWithFlowsOfSeveralNamespaces() throws {
    let flows = Sample.snapshot().flows
    let first = try #require(flows.first)
    var other = first
    other.netns = first.netns &+ 1
    var options = RenderOptions()
    options.addNamespaceColumn(ifSeveralIn: [first, first], columnsChosen: false)
    #expect(!options.columns.contains(.netns))
    options.addNamespaceColumn(ifSeveralIn: [], columnsChosen: false)
    #expect(!options.columns.contains(.netns))
    options.addNamespaceColumn(ifSeveralIn: [first, other], columnsChosen: true)
    #expect(!options.columns.contains(.netns))
    options.addNamespaceColumn(ifSeveralIn: [first, other], columnsChosen: false)
    #expect(options.columns == [.proto, .netns] + Column.defaults.dropFirst())
  }

  @Test func repeatedColumnListsAddWhatIsNew() throws {
    #expect(try Column.chosen([]).get() == nil)
    #expect(try Column.chosen(["proto,local", "local,state"]).get() == [.proto, .local, .state])
    #expect(try Column.chosen(["+inode"]).get() == Column.defaults + [.inode])
    #expect(throws: UnknownColumn.self) { try Column.chosen(["proto", "bogus"]).get() }
    #expect(try ProcessColumn.chosen([]).get() == ProcessColumn.defaults)
    #expect(try ProcessColumn.chosen(["pid,command", "command,fds"]).get() == [.pid, .command, .fds])
    #expect(throws: UnknownProcessColumn.self) { try ProcessColumn.chosen(["nope"]).get() }
  }

  @Test func aFormatACommandDoesNotWriteIsRefusedWithTheKnownOnes() {
    #expect(ListingFormats.refusal(of: .csv) == nil)
    #expect(ReportFormats.refusal(of: .json) == nil)
    #expect(ReportFormats.refusal(of: .ndjson) == "--format ndjson does not apply here; known: table, json.")
    #expect(
      StreamFormats.refusal(of: .json)
        == "--format json does not apply here; known: table, ndjson (this command streams: its JSON form is ndjson, as -J gives)."
    )
    #expect(StreamFormats.jsonForm == .ndjson && ListingFormats.jsonForm == .json && ReportFormats.jsonForm == .json)
  }
}
