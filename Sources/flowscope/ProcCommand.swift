import ArgumentParser
import FlowInspector
import FlowModel
import FlowQuery
import FlowRender

#if canImport(Glibc)
  import Glibc
#endif

/// `flowscope proc`: one row per process that holds sockets.
struct ProcCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "proc",
    abstract: "Per process: fds against the limit, sockets by kind and state, bytes.",
    discussion: """
      Every socket of every protocol and state is counted, so the counts add up to
      the process's socket descriptors. The filters and the query choose
      processes: -P, -C and -u name them (-u by the process's user), as do process
      fields in the query ('fd_pct > 50'); -p, --state, -l, --port, --local,
      --remote, -I, -4, -6 and flow fields keep the processes holding at least one
      matching socket ('state == close-wait'). -a changes nothing here.

      Columns (-o): \(ProcessColumn.allCases.map(\.rawValue).joined(separator: ", ")).
      Sort fields (--sort): \(ProcessSortKey.allCases.map(\.rawValue).joined(separator: ", ")).

      Examples:
        sudo flowscope proc                      every process holding sockets
        flowscope proc --sort -fd-pct            closest to the open-file limit first
        flowscope proc -p tcp --state close-wait holders of flows the peer closed
        flowscope proc -P 1234 --json | jq .     one process as JSON
      """
  )

  @OptionGroup(title: "Filters") var filters: FilterOptions
  @OptionGroup(title: "Output") var output: OutputOptions
  @OptionGroup(title: "Health") var health: HealthOptions
  @OptionGroup var debug: DebugOptions

  @Option(
    help: ArgumentHelp(
      "Sum per group instead of per process: \(GroupBy.allCases.map(\.rawValue).joined(separator: ", ")).",
      valueName: "key"))
  var by: GroupBy?

  @Option(help: ArgumentHelp("With --by: the N largest groups, the rest summed as (other).", valueName: "n"))
  var top: Int?

  @Flag(help: "Processes under their parents, each with the sums of its subtree (like pstree).")
  var tree = false

  func validate() throws {
    _ = try CommandSelection(filters, scope: .processes, debug: debug)
    _ = try chosenColumns()
    if by != nil && (output.sort != nil || !output.columns.isEmpty) {
      throw ValidationError("--by lists its groups largest first, in its own columns: --sort and -o do not apply.")
    }
    if let top, top < 0 { throw ValidationError("--top must be at least 0.") }
    if top != nil && by == nil { throw ValidationError("--top goes with --by.") }
    if tree && (by != nil || output.sort != nil || !output.columns.isEmpty) {
      throw ValidationError("--tree shows processes under their parents: --by, --sort and -o do not apply.")
    }
    if let sort = output.sort, ProcessSort(sort) == nil {
      throw ValidationError(
        "cannot sort by '\(sort)'; known: " + ProcessSortKey.allCases.map(\.rawValue).joined(separator: ", "))
    }
    if let interval = output.interval, !(interval > 0) {
      throw ValidationError("--interval must be a positive number of seconds.")
    }
    if let count = output.count, count < 1 { throw ValidationError("--count must be at least 1.") }
  }

  func chosenColumns() throws -> [ProcessColumn] {
    do { return try ProcessColumn.chosen(output.columns).get() } catch { throw ValidationError(error.description) }
  }

  func run() throws {
    Terminal.ignoreBrokenPipeSignal()
    var selection = try CommandSelection(filters, scope: .processes, debug: debug)
    if try selection.explain(filters, what: "processes", debug: debug) { return }
    if try chosenColumns().contains(where: { $0 == .exe || $0 == .cmdline }) {
      selection.inspect.readCommandLine = true
    }
    // For the namespace and host flags under the table (and in the JSON).
    let readsCounters = output.effectiveFormat == .table || output.effectiveFormat == .json
    selection.inspect.readsKernelCounters = readsCounters
    selection.inspect.keepsNamespaceFlows = readsCounters
    let inspector = try makeFlowInspector(debug, named: selection.namedProtocols)
    let thresholds = health.thresholds
    let sort = output.sort.flatMap(ProcessSort.init)
    let repetitions = output.interval == nil ? 1 : (output.count ?? Int.max)
    var reported = Set<String>()
    var render = ProcessRenderOptions()
    render.columns = (try? chosenColumns()) ?? ProcessColumn.defaults
    render.header = !output.noHeader
    render.exactBytes = output.bytes
    render.color = output.color.enabled()

    do {
      for repetition in 0..<repetitions {
        if repetition > 0, let interval = output.interval { sleepSeconds(interval) }
        let snapshot = inspector.snapshot(selection.inspect)
        reportWarnings(snapshot, named: selection.namedProtocols, reported: &reported)
        let kept = selection.query.selectedProcesses(snapshot, thresholds: thresholds)
        let system =
          readsCounters
          ? Finding.findSystem(
            in: snapshot, thresholds: thresholds,
            relevantTo: selection.query.namesProcesses ? kept : nil) : []
        var summaries = ProcessSummary.summarize(snapshot, thresholds: thresholds)
        summaries.removeAll { !kept.contains($0.pid) }
        sort?.apply(to: &summaries)
        var buffer = streamingOutputBuffer()
        if tree {
          let rows = TreeRow.forest(summaries)
          switch output.effectiveFormat {
          case .json: GroupRenderer.renderTreeJSON(rows, snapshot: snapshot, into: &buffer)
          case .ndjson: GroupRenderer.renderTreeLines(rows, snapshot: snapshot, into: &buffer)
          case .table, .csv:
            if repetition > 0 { buffer.append(UInt8(ascii: "\n")) }
            GroupRenderer.renderTree(
              rows, snapshot: snapshot, header: !output.noHeader, exactBytes: output.bytes, into: &buffer)
          }
          try writeAll(buffer.bytes)
          continue
        }
        if let by {
          // The flows that count: those of the kept processes the query keeps, and unowned ones
          // when it names no process (as `check` counts them).
          var counted = snapshot
          selection.query.keepCheckedFlows(&counted, processes: kept, thresholds: thresholds)
          let groups = GroupSummary.group(summaries, snapshot: counted, by: by, thresholds: thresholds, top: top)
          switch output.effectiveFormat {
          case .table:
            if repetition > 0 { buffer.append(UInt8(ascii: "\n")) }
            GroupRenderer.renderTable(
              groups, by: by, snapshot: snapshot, header: !output.noHeader, exactBytes: output.bytes, into: &buffer)
          case .json: GroupRenderer.renderJSON(groups, by: by, snapshot: snapshot, into: &buffer)
          case .ndjson: GroupRenderer.renderLines(groups, by: by, snapshot: snapshot, into: &buffer)
          case .csv:
            GroupRenderer.renderCSV(
              groups, by: by, snapshot: snapshot, header: !output.noHeader && repetition == 0, into: &buffer)
          }
          try writeAll(buffer.bytes)
          continue
        }
        switch output.effectiveFormat {
        case .table:
          if repetition > 0 { buffer.append(UInt8(ascii: "\n")) }
          ProcessRenderer.renderTable(
            summaries, snapshot: snapshot, options: render, system: render.footer ? system : [],
            into: &buffer)
        case .json:
          ProcessRenderer.renderJSON(
            summaries, snapshot: snapshot, system: system, thresholds: thresholds, into: &buffer)
        case .ndjson: ProcessRenderer.renderLines(summaries, snapshot: snapshot, into: &buffer)
        case .csv:
          render.header = !output.noHeader && repetition == 0
          ProcessRenderer.renderCSV(summaries, snapshot: snapshot, options: render, into: &buffer)
        }
        try writeAll(buffer.bytes)
      }
    } catch is OutputClosed {
      return
    }
  }
}

extension GroupBy: ExpressibleByArgument {}
