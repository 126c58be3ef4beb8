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
    abstract:
      "Find stale connections, stuck readers, lossy paths, unreachable peers, fd, port and orphan exhaustion.",
    discussion: """
      Prints one line per problem, most serious first, each saying what is wrong
      and what to do; nothing when all is well. Exit status: 0 nothing found, 2
      problems found, 1 an error, 64 a usage error, so it can run from a script or
      cron.

      Checked: fd-exhausted, fd-pressure, socket-leak, peer-closed, recv-backlog,
      stalled, zero-window, unreachable, retransmitting, and idle only when --idle is
      given. The filters and the query choose processes and flows as for `flowscope proc`.

      Under "Namespaces and host", findings no process owns: ports-exhausted (a
      destination using up a namespace's local port range), orphans (against
      tcp_max_orphans) and, with -i, listen-drops (connection attempts the kernel
      dropped at full accept queues between the two samples). When processes are
      named, only those they take part in are shown, and never orphans.

      Examples:
        sudo flowscope check                 the whole host
        flowscope check -P 1234              one process
        sudo flowscope check -i 2            two samples 2 s apart: also dropped connections
        flowscope check --idle 600 --json    also flows idle for 10 minutes, as JSON
      """
  )

  @OptionGroup(title: "Filters") var filters: FilterOptions
  @OptionGroup(title: "Health") var health: HealthOptions
  @OptionGroup var debug: DebugOptions

  @OptionGroup var form: FormatOptions<ReportFormats>

  @Option(help: "Colour: auto (a terminal without NO_COLOR), always or never.")
  var color: OutputOptions.ColorMode = .auto

  @Option(
    name: [.customShort("i"), .customLong("interval")],
    help: ArgumentHelp(
      "Take two samples this many seconds apart and also report what rose between them (connections dropped at listeners).",
      valueName: "seconds"))
  var given: Double?

  /// `-w`, the spelling of --interval before every command said `-i`: still read, not shown.
  @Option(name: .customShort("w"), help: .hidden)
  var formerSpelling: Double?

  var interval: Double? { given ?? formerSpelling }

  func validate() throws {
    _ = try CommandSelection(filters, scope: .processes, debug: debug)
    if let interval, !(interval > 0 && interval <= 3600) {
      throw ValidationError("--interval must be a positive number of seconds, at most 3600.")
    }
  }

  /// The status when problems were found.
  static let problemsFound: Int32 = 2

  func run() throws {
    Terminal.ignoreBrokenPipeSignal()
    var selection = try CommandSelection(filters, scope: .processes, debug: debug)
    if try selection.explain(filters, what: "processes, and the flows checked,", debug: debug) { return }
    selection.inspect.readsKernelCounters = true
    selection.inspect.keepsNamespaceFlows = true
    let inspector = try makeFlowInspector(debug, named: selection.namedProtocols)
    let thresholds = health.thresholds
    var earlier: Snapshot? = nil
    if let interval {
      earlier = inspector.snapshot(selection.inspect)
      sleepSeconds(interval)
    }
    var snapshot = inspector.snapshot(selection.inspect)
    var reported = Set<String>()
    reportWarnings(snapshot, named: selection.namedProtocols, reported: &reported)

    let kept = selection.query.selectedProcesses(snapshot, thresholds: thresholds)
    // Namespace and host findings count every socket, whoever holds it; unowned flows count
    // only when the query names no process.
    let system = Finding.findSystem(
      in: snapshot, thresholds: thresholds, earlier: earlier,
      relevantTo: selection.query.namesProcesses ? kept : nil)
    selection.query.keepCheckedFlows(&snapshot, processes: kept, thresholds: thresholds)
    let findings = Finding.find(
      in: snapshot, thresholds: thresholds, includeIdle: health.idle != nil, processes: kept,
      earlier: earlier)

    var buffer = OutputBuffer()
    if form.effective == .json {
      CheckRenderer.renderJSON(
        findings, system: system, snapshot: snapshot, thresholds: thresholds, into: &buffer)
    } else {
      let colour = color.enabled()
      CheckRenderer.renderTable(
        findings, system: system, namespaces: snapshot.namespaces, thresholds: thresholds,
        color: colour, into: &buffer)
      if findings.isEmpty && system.isEmpty && Terminal.stdoutIsTerminal {
        buffer.append("No problems found.\n")
      }
    }
    do {
      try writeAll(buffer.bytes)
    } catch is OutputClosed {}
    if !findings.isEmpty || !system.isEmpty { throw ExitCode(Self.problemsFound) }
  }
}
