import ArgumentParser
import FlowInspector
import FlowModel
import FlowQuery
import FlowRender
import NetlinkTransport

#if canImport(Glibc)
  import Glibc
#endif

/// `flowscope flow`: every socket with its owners, as a table or JSON.
struct FlowCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flow",
    abstract: "List flows per process (the default command).",
    discussion: """
      By default the IP protocols' connected sockets are listed; -a adds listening
      and unconnected ones, -p all adds UNIX, packet and netlink sockets.

      A query after the options selects flows (FILTERS in flowscope(8)):
        flowscope 'state == established and dport == 443 and dst in 10.0.0.0/8'
        flowscope 'rtt > 200ms and command == nginx'
        flowscope -a 'peer-closed or state == close-wait' --explain

      Examples:
        sudo flowscope                      connected flows and their processes
        flowscope -a -p tcp --state listen  TCP listeners
        flowscope -P 1234 --json | jq .     one process's flows as JSON
        flowscope --sort -bytes-in -i 2     busiest flows first, every 2 seconds
      """
  )

  @OptionGroup(title: "Filters") var filters: FilterOptions
  @OptionGroup(title: "Output") var output: OutputOptions
  @OptionGroup(title: "Health") var health: HealthOptions
  @OptionGroup var debug: DebugOptions

  func validate() throws {
    _ = try CommandSelection(filters, scope: .flows, debug: debug)
    _ = try output.chosenColumns()
    if let sort = output.sort, FlowSort(sort) == nil {
      throw ValidationError(
        "cannot sort by '\(sort)'; known: " + FlowSortKey.allCases.map(\.rawValue).joined(separator: ", "))
    }
    if let interval = output.interval, !(interval > 0) {
      throw ValidationError("--interval must be a positive number of seconds.")
    }
    if let count = output.count, count < 1 { throw ValidationError("--count must be at least 1.") }
  }

  func run() throws {
    Terminal.ignoreBrokenPipeSignal()
    var selection = try CommandSelection(filters, scope: .flows, debug: debug)
    if try selection.explain(filters, what: "flows", debug: debug) { return }
    if let columns = try? output.chosenColumns(), columns.contains(where: { $0 == .exe || $0 == .cmdline }) {
      selection.inspect.readCommandLine = true
    }
    let thresholds = health.thresholds
    let inspector = try makeFlowInspector(debug, named: selection.namedProtocols)
    var render = output.renderOptions(health: health.thresholds)
    // A table or CSV shows its columns alone: what neither they nor the query use, the kernel
    // need not gather. JSON and NDJSON carry every field.
    if [.table, .csv].contains(output.effectiveFormat), !render.columns.contains(where: \.needsMoreThanCounters) {
      selection.askForCountersOnlyUnlessQueried()
    }
    let columnsChosen = !output.columns.isEmpty
    let sort = output.sort.flatMap(FlowSort.init)
    let repetitions = output.interval == nil ? 1 : (output.count ?? Int.max)
    var reportedWarnings = Set<String>()
    // JSON and NDJSON stay numeric: they are for programs.
    let resolver =
      output.resolve && !output.numeric && [.table, .csv].contains(output.effectiveFormat)
      ? NameResolver() : nil

    // Unsorted listings are written as the flows are decoded (see `streamFlows`); the table
    // keeps its rows as bytes until the last one sets the widths.
    let columnsAllowStreaming = StreamedFlowWriter.canStream(
      columns: render.columns, protocols: selection.inspect.protocols)
    let streamed: StreamedFlowWriter.Format? =
      if sort != nil || resolver != nil || debug.noStream {
        nil
      } else {
        switch output.effectiveFormat {
        case .json: .json
        case .ndjson: .ndjson
        case .csv: columnsAllowStreaming ? .csv : nil
        case .table: columnsAllowStreaming ? .table : nil
        }
      }

    do {
      for repetition in 0..<repetitions {
        if repetition > 0, let interval = output.interval { sleepSeconds(interval) }
        if streamed == .csv { render.header = !output.noHeader && repetition == 0 }
        var snapshot: Snapshot
        if let streamed {
          guard
            var kept = try streamFlows(
              inspector, selection, as: streamed, options: render, columnsChosen: columnsChosen,
              afterAnother: repetition > 0, reported: &reportedWarnings)
          else { continue }
          // Not streamed after all (CSV whose columns depend on the namespaces): as below.
          selection.query.filter(&kept, thresholds: thresholds)
          snapshot = kept
        } else {
          snapshot = inspector.snapshot(selection.inspect)
          selection.query.filter(&snapshot, thresholds: thresholds)
        }
        sort?.apply(to: &snapshot.flows, processes: snapshot.processes)
        render.interfaceNames = interfaceNames(of: snapshot.flows)
        render.addNamespaceColumn(ifSeveralIn: snapshot.flows, columnsChosen: columnsChosen)
        if let resolver {
          (render.hostNames, render.serviceNames) = resolver.names(for: snapshot.flows)
        }
        reportWarnings(snapshot, named: selection.namedProtocols, reported: &reportedWarnings)
        var buffer = streamingOutputBuffer()
        switch output.effectiveFormat {
        case .table:
          if repetition > 0 { buffer.append(UInt8(ascii: "\n")) }
          TableRenderer.render(snapshot, options: render, into: &buffer)
        case .json: JSONRenderer.render(snapshot, options: render, into: &buffer)
        case .ndjson: JSONRenderer.renderLines(snapshot, options: render, into: &buffer)
        case .csv:
          render.header = !output.noHeader && repetition == 0
          CSVRenderer.render(snapshot, options: render, into: &buffer)
        }
        try buffer.withUnsafeBufferPointer { try writeAll(UnsafeRawBufferPointer($0)) }
      }
    } catch is OutputClosed {
      return
    }
    // The output is out: exit without releasing the snapshot piece by piece (at 100k sockets,
    // 10 ms of freeing flows, owners and scan records); the kernel takes the memory back whole.
    Glibc.exit(EXIT_SUCCESS)
  }

  /// One listing written as its flows are decoded: the start once the owners are known, each
  /// flow the query keeps, then the warnings. Memory stays flat however many sockets there are
  /// (a table keeps each row's cells: see `StreamedFlowWriter`). `afterAnother`: a table is
  /// set apart from the one before by an empty line.
  /// Returns the whole snapshot, unwritten, when the output turns out to need every flow first:
  /// a CSV listing of several namespaces gains a `netns` column, which only the flows decide.
  private func streamFlows(
    _ inspector: FlowInspector, _ selection: CommandSelection, as format: StreamedFlowWriter.Format,
    options: RenderOptions, columnsChosen: Bool, afterAnother: Bool, reported: inout Set<String>
  ) throws -> Snapshot? {
    var render = options
    var pipeline: StreamedFlowPipeline? = nil
    var context = QueryContext(processes: [:])
    let query = selection.query
    // Every flow of a query that is always true, or of a kind it always keeps, without evaluating it.
    let decided = DecidedKinds(query)
    let thresholds = health.thresholds
    let stream = FlowStream(
      begin: { start in
        if format == .csv, !columnsChosen, start.namespaces.count > 1,
          !render.columns.contains(.netns)
        {
          return false
        }
        // A table of several namespaces may need a NetNS column: it decides on its rows.
        let provisional =
          format == .table && !columnsChosen && start.namespaces.count > 1 && !render.columns.contains(.netns)
        if provisional { render.addNamespaceColumn() }
        render.interfaceNames = allInterfaceNames()
        context = QueryContext(
          processes: start.processes, thresholds: thresholds, namespaces: start.namespaces)
        let writer = StreamedFlowWriter(
          format, start: start, options: render, provisionalNamespaceColumn: provisional)
        var buffer = streamingOutputBuffer()
        if format == .table && afterAnother { buffer.append(UInt8(ascii: "\n")) }
        writer.begin(start, into: &buffer)
        // The flows are written on a helper thread while this one decodes the next.
        pipeline = StreamedFlowPipeline(writer: writer, out: buffer)
        return true
      },
      flow: { flow in
        guard decided.keep(flow) || query.matches(flow, context) else { return }
        pipeline?.add(flow)
      })
    let snapshot = inspector.snapshot(selection.inspect, streamingTo: stream)
    guard let pipeline else { return snapshot }
    let finished = pipeline.finish()
    var buffer = finished.out
    reportWarnings(snapshot, named: selection.namedProtocols, reported: &reported)
    finished.writer.end(warnings: snapshot.warnings, into: &buffer)
    try buffer.withUnsafeBufferPointer { try writeAll(UnsafeRawBufferPointer($0)) }
    return nil
  }
}

/// Every interface of this namespace by index (a streamed listing knows its flows' indexes
/// only as they come; this holds the same names `interfaceNames(of:)` would find).
func allInterfaceNames() -> [UInt32: String] {
  var names: [UInt32: String] = [:]
  // if_nameindex(3)
  guard let list = if_nameindex() else { return names }
  defer { if_freenameindex(list) }
  var entry = list
  while entry.pointee.if_index != 0, let name = entry.pointee.if_name {
    names[entry.pointee.if_index] = String(cString: name)
    entry += 1
  }
  return names
}

/// Interface names for the indexes the flows use, looked up once per index.
func interfaceNames(of flows: [Flow]) -> [UInt32: String] {
  var names: [UInt32: String] = [:]
  var indexes = Set<UInt32>()
  for position in flows.indices where flows[position].interfaceIndex != 0 {
    indexes.insert(flows[position].interfaceIndex)
  }
  for index in indexes {
    var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
    // if_indextoname(3)
    if if_indextoname(index, &name) != nil {
      names[index] = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }
  return names
}

/// Sleeps `seconds`, resuming after signals unless `interrupted` says to stop.
func sleepSeconds(_ seconds: Double, unless interrupted: () -> Bool = { false }) {
  var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
  var remaining = timespec()
  // nanosleep(2)
  while nanosleep(&request, &remaining) != 0 && errno == EINTR && !interrupted() {
    request = remaining
  }
}

extension TableLook {
  /// How a table or document of flows is drawn, from these options (shared by `flow` and `kill`).
  func renderOptions(health thresholds: HealthThresholds) -> RenderOptions {
    var render = RenderOptions()
    if let columns = try? chosenColumns() { render.columns = columns }
    render.header = !noHeader
    render.wide = wide
    render.exactBytes = bytes
    render.health = thresholds
    let terminal = Terminal.stdoutIsTerminal
    render.terminalWidth = terminal ? Terminal.width : nil
    render.color = color.enabled(terminal: terminal)
    return render
  }
}
