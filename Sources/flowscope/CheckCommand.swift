import ArgumentParser
import FlowInspector
import FlowModel
import FlowQuery
import FlowRender

#if canImport(Glibc)
  import Glibc
#endif

/// `flowscope check`: the health checks over the host or some processes; problems only.
struct CheckCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "Find stale connections, stuck readers, lossy paths, fd exhaustion.",
    discussion: """
      Prints one line per problem, most serious first, each saying what is wrong
      and what to do; nothing when all is well. Exit status: 0 nothing found, 2
      problems found, 1 an error, 64 a usage error, so it can run from a script or
      cron.

      Checked: fd-exhausted, fd-pressure, socket-leak, peer-closed, recv-backlog,
      stalled, zero-window, retransmitting, and idle only when --idle is given. The filters
      and the query choose processes and flows as for `flowscope proc`.

      Examples:
        sudo flowscope check                 the whole host
        flowscope check -P 1234              one process
        flowscope check --idle 600 --json    also flows idle for 10 minutes, as JSON
      """
  )

  @OptionGroup(title: "Filters") var filters: FilterOptions
  @OptionGroup(title: "Health") var health: HealthOptions
  @OptionGroup var debug: DebugOptions

  @Flag(name: [.customShort("J"), .long], help: "JSON output.")
  var json = false

  @Option(help: "Colour: auto (a terminal without NO_COLOR), always or never.")
  var color: OutputOptions.ColorMode = .auto

  /// The status when problems were found.
  static let problemsFound: Int32 = 2

  func validate() throws {
    _ = try CommandSelection(filters, scope: .processes, debug: debug)
  }

  func run() throws {
    Terminal.ignoreBrokenPipeSignal()
    let selection = try CommandSelection(filters, scope: .processes, debug: debug)
    if try selection.explain(filters, what: "processes, and the flows checked,") { return }
    let inspector = try makeFlowInspector(debug)
    let thresholds = health.thresholds
    var snapshot = inspector.snapshot(selection.inspect)
    var reported = Set<String>()
    reportWarnings(snapshot, named: selection.namedProtocols, reported: &reported)

    let kept = selection.query.selectedProcesses(snapshot, thresholds: thresholds)
    selection.query.keepCheckedFlows(&snapshot, processes: kept, thresholds: thresholds)
    let findings = Finding.find(
      in: snapshot, thresholds: thresholds, includeIdle: health.idle != nil, processes: kept)

    var buffer = OutputBuffer()
    if json {
      CheckRenderer.renderJSON(findings, snapshot: snapshot, thresholds: thresholds, into: &buffer)
    } else {
      let colour: Bool =
        switch color {
        case .always: true
        case .never: false
        case .auto: Terminal.stdoutIsTerminal && getenv("NO_COLOR").map { $0.pointee == 0 } ?? true
        }
      CheckRenderer.renderTable(findings, thresholds: thresholds, color: colour, into: &buffer)
      if findings.isEmpty && Terminal.stdoutIsTerminal { buffer.append("No problems found.\n") }
    }
    do {
      try writeAll(buffer.bytes)
    } catch is OutputClosed {}
    if !findings.isEmpty { throw ExitCode(Self.problemsFound) }
  }
}
