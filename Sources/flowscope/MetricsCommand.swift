import ArgumentParser
import FlowExport
import FlowInspector
import FlowModel
import FlowRender

/// `flowscope metrics`: one exposition, to stdout or to a node_exporter textfile.
struct MetricsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "metrics",
    abstract: "Print per-process network metrics once, in the Prometheus text format.",
    discussion: """
      The same exposition `flowscope serve` gives on /metrics, collected once:
      sockets by state, bytes, retransmitted segments, open and maximum file
      descriptors, flagged flows and processes, per group (--by). The filters and
      the query choose the sockets counted; every state is counted unless the
      selection names states.

      With --textfile DIR, writes DIR/flowscope.prom atomically (a temporary file,
      then rename) for node_exporter's textfile collector instead of printing.

      Examples:
        sudo flowscope metrics                      every process, grouped by command
        flowscope metrics --by user 'proto == tcp'  TCP only, one group per user
        sudo flowscope metrics --textfile /var/lib/node_exporter/textfile_collector
      """
  )

  @OptionGroup(title: "Filters") var filters: FilterOptions
  @OptionGroup(title: "Grouping") var export: ExportOptions
  @OptionGroup(title: "Health") var health: HealthOptions

  @Flag(help: "OpenMetrics instead of the Prometheus text format.")
  var openmetrics = false

  @Option(help: ArgumentHelp("Write DIR/flowscope.prom atomically instead of printing.", valueName: "dir"))
  var textfile: String?

  @OptionGroup var debug: DebugOptions

  func validate() throws {
    _ = try CommandSelection(ExportOptions.everyState(filters), scope: .flows, debug: debug)
    if let textfile, textfile.isEmpty { throw ValidationError("--textfile needs a directory.") }
  }

  func run() throws {
    var (options, selection) = try export.metricsOptions(filters, health: health, debug: debug)
    if try selection.explain(filters, what: "sockets counted", debug: debug, incremental: true) { return }
    if try export.grouping().isPerProcess { printError(perProcessWarning) }
    // One collection: no close can happen between two, so no destroy socket.
    options.destroyEvents = false
    selection.inspect = options.inspect
    let collector = MetricsCollector(options: options, inspector: try makeFlowInspector(debug, incremental: true))
    let report = collector.collect()
    let bytes = report.write(openmetrics ? .openMetrics : .prometheus).bytes
    if let textfile {
      if let problem = writeTextfile(bytes, directory: textfile) { throw RuntimeError(problem) }
      return
    }
    do {
      try writeAll(bytes)
    } catch is OutputClosed {}
  }
}

let perProcessWarning =
  "--by pid: one series per process and label set; on a busy host that is many series (--max-series bounds them)"
