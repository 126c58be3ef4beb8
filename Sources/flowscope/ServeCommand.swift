import ArgumentParser
import FlowExport
import FlowInspector
import FlowModel

#if canImport(Glibc)
  import Glibc
#endif

/// `flowscope serve`: the metrics endpoint for Prometheus.
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve per-process network metrics to Prometheus on /metrics.",
    discussion: """
      Listens on 127.0.0.1:\(ServeCommand.defaultPort) unless told otherwise and serves
      /metrics (the Prometheus text format, or OpenMetrics when the scraper's Accept
      header asks for it) and / (a page that links to it). Each scrape collects
      anew, at most once per --min-interval; scrapes that arrive together share one
      collection, and none waits longer than --scrape-timeout (it then gets the
      last result).

      Byte and retransmit counters never go backwards: each closed connection's
      final counters are folded in from the kernel's destroy messages (root or
      CAP_NET_ADMIN), and a group keeps its counters while its processes come and
      go.

      Examples:
        sudo flowscope serve                          127.0.0.1:\(ServeCommand.defaultPort), by command
        sudo flowscope serve --listen 0.0.0.0:\(ServeCommand.defaultPort) --by user
        flowscope serve --listen 127.0.0.1:9999 'not (dport == 22)'
      """
  )

  /// Chosen for flowscope; documented in the man page and the README.
  static let defaultPort = 9847

  @OptionGroup(title: "Filters") var filters: FilterOptions
  @OptionGroup(title: "Grouping") var export: ExportOptions
  @OptionGroup(title: "Health") var health: HealthOptions

  @Option(
    help: ArgumentHelp(
      "Address and port to listen on: HOST:PORT, [IPv6]:PORT or a port alone (on 127.0.0.1; default 127.0.0.1:\(ServeCommand.defaultPort)).",
      valueName: "addr"))
  var listen: String = "127.0.0.1:\(ServeCommand.defaultPort)"

  @Option(
    name: .customLong("min-interval"),
    help: ArgumentHelp(
      "Collect at most once per this many seconds; scrapes in between get the last result (default 5).",
      valueName: "seconds"))
  var minInterval: Double = 5

  @Option(
    name: .customLong("scrape-timeout"),
    help: ArgumentHelp(
      "A scrape waits at most this long for a collection, then gets the last result (default 10).", valueName: "seconds"
    ))
  var scrapeTimeout: Double = 10

  @OptionGroup var debug: DebugOptions

  func validate() throws {
    _ = try CommandSelection(ExportOptions.everyState(filters), scope: .flows, debug: debug)
    _ = try Self.listenAddress(listen)
    if !(minInterval >= 0) || !minInterval.isFinite {
      throw ValidationError("--min-interval must be 0 or more seconds.")
    }
    if !(scrapeTimeout > 0) || !scrapeTimeout.isFinite {
      throw ValidationError("--scrape-timeout must be a positive number of seconds.")
    }
  }

  /// `--listen`, read by `ListenAddress`; a usage error when it cannot be.
  static func listenAddress(_ text: String) throws -> (host: String, port: Int) {
    do {
      let address = try ListenAddress(text)
      return (address.host, address.port)
    } catch {
      throw ValidationError("--listen: \(error)")
    }
  }

  func run() throws {
    let (options, selection) = try export.metricsOptions(filters, health: health, debug: debug)
    if try selection.explain(filters, what: "sockets counted", debug: debug, incremental: true) { return }
    if try export.grouping().isPerProcess { printError(perProcessWarning) }
    let (host, port) = try Self.listenAddress(listen)
    let collector = MetricsCollector(options: options, inspector: try makeFlowInspector(debug, incremental: true))
    if let problem = collector.destroyProblem { printError(problem) }
    let exporter = MetricsExporter(collector: collector, minInterval: minInterval, scrapeTimeout: scrapeTimeout)
    let server: MetricsHTTPServer
    do {
      server = try MetricsHTTPServer(exporter: exporter, host: host, port: port)
    } catch {
      throw RuntimeError("cannot listen on \(listen): \(error)")
    }
    printError("serving metrics on http://\(server.localAddress)/metrics")
    try server.wait()
  }
}
