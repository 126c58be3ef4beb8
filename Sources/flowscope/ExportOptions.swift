import ArgumentParser
import FlowExport
import FlowInspector
import FlowModel
import FlowQuery

/// What `metrics` and `serve` share: the grouping and the series limit. The selection is the
/// `FilterOptions` of every command.
struct ExportOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Group by: command (default), user, netns, pid, unit, container, remote, remote-host; comma-separated or repeated for several labels. pid gives a series per process; remote a series per remote end among the --top largest.",
      valueName: "label"))
  var by: [String] = []

  @Option(
    name: .customLong("max-series"),
    help: ArgumentHelp(
      "At most this many per-group series; the groups with fewest sockets are dropped and counted (default 10000).",
      valueName: "n"))
  var maxSeries: Int = 10_000

  @Option(
    help: ArgumentHelp(
      "With --by remote or remote-host: label the N remote ends (or hosts) with most sockets by name, the rest as other (default 10).",
      valueName: "n"))
  var top: Int?

  func validate() throws {
    let grouping = try grouping()
    if maxSeries < 1 { throw ValidationError("--max-series must be at least 1.") }
    if let top, top < 0 { throw ValidationError("--top must be at least 0.") }
    if top != nil && grouping.connection == nil { throw ValidationError("--top goes with --by remote or remote-host.") }
  }

  func grouping() throws -> Grouping {
    do {
      return try Grouping.parse(by)
    } catch {
      throw ValidationError(error.description)
    }
  }

  /// The collection's options: the selection's plan, every socket state unless the selection
  /// names states (a listener is part of a service's picture), the grouping.
  func metricsOptions(
    _ filters: FilterOptions, health: HealthOptions, debug: DebugOptions
  ) throws -> (MetricsOptions, CommandSelection) {
    var selection = try CommandSelection(Self.everyState(filters), scope: .flows, debug: debug)
    // The metrics need tcp_info alone (counters, the flags); a query may need more.
    selection.askForCountersOnlyUnlessQueried()
    var options = MetricsOptions(inspect: selection.inspect, query: selection.query)
    options.grouping = try grouping()
    options.thresholds = health.thresholds
    options.maxSeries = maxSeries
    options.top = top ?? 10
    options.version = flowscopeVersion
    return (options, selection)
  }

  /// `flow` shows connected sockets unless told otherwise; metrics count every state unless
  /// the selection says which.
  static func everyState(_ filters: FilterOptions) -> FilterOptions {
    var filters = filters
    if !filters.listening { filters.all = true }
    return filters
  }
}
