import ArgumentParser
import FlowInspector
import FlowKill
import FlowModel
import FlowQuery
import FlowRender
import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

/// `flowscope kill`: closes the sockets a query selects, after showing them.
struct KillCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kill",
    abstract: "Close the TCP, UDP and UDP-Lite sockets a query selects (SOCK_DESTROY).",
    discussion: """
      Lists what the query selects, asks (--yes without a terminal), then has
      the kernel abort each socket: its owner's next call fails with
      ECONNABORTED, and a TCP peer gets a reset. An expression is required.

      Left open unless --force: flowscope's own sockets, the SSH connection it
      runs under, and listeners when the query does not name the listen state.
      Exit status: 0 all closed, 2 some were not, 1 error, 64 usage.

      Examples:
        sudo flowscope kill 'dst == 10.0.0.5'         connections to a host that moved
        sudo flowscope kill --dry-run 'dport == 5432' what would be closed
        sudo flowscope kill --yes 'command == app and state == close-wait'
        sudo flowscope kill 'state == listen and sport == 8080'
      """
  )

  @OptionGroup(title: "Filters") var filters: FilterOptions
  @OptionGroup(title: "Output") var output: KillOutputOptions
  @OptionGroup(title: "Health") var health: HealthOptions

  @Flag(name: [.short, .long], help: "Close without asking.")
  var yes = false

  @Flag(help: "List what would be closed, and close nothing.")
  var dryRun = false

  @Flag(
    help: "Also close flowscope's own sockets, the SSH connection it runs under, and listeners the query does not name."
  )
  var force = false

  @OptionGroup var debug: DebugOptions

  func validate() throws {
    if filters.expressionText.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\n" }) {
      throw ValidationError(
        "kill needs an expression that selects the sockets to close, e.g. 'dst == 10.0.0.5'.")
    }
    _ = try CommandSelection(filters, scope: .kill, debug: debug)
    _ = try output.chosenColumns()
    if let sort = output.sort, FlowSort(sort) == nil {
      throw ValidationError(
        "cannot sort by '\(sort)'; known: " + FlowSortKey.allCases.map(\.rawValue).joined(separator: ", "))
    }
  }

  func run() throws {
    Terminal.ignoreBrokenPipeSignal()
    let selection = try CommandSelection(filters, scope: .kill, debug: debug)
    if try selection.explain(filters, what: "sockets to close", debug: debug) { return }
    let inspector = try makeFlowInspector(debug)
    var snapshot = inspector.snapshot(selection.inspect)
    selection.query.filter(&snapshot, thresholds: health.thresholds)
    output.sort.flatMap(FlowSort.init)?.apply(to: &snapshot.flows, processes: snapshot.processes)
    var reported = Set<String>()
    reportWarnings(snapshot, named: selection.namedProtocols, reported: &reported)

    let chain = ProcAncestry.chain(from: getpid(), root: debug.procRoot)
    let guards = KillGuards(
      ownPID: getpid(), chain: chain.map { ($0.pid, $0.command, $0.sshConnection) },
      environmentSSHConnection: getenv("SSH_CONNECTION").map { String(cString: $0) },
      query: selection.query)
    let plan = KillPlan(snapshot, guards: guards, force: force)
    let json = output.form.effective == .json
    var render = output.renderOptions(health: health.thresholds)
    render.interfaceNames = interfaceNames(of: snapshot.flows)
    render.addNamespaceColumn(ifSeveralIn: snapshot.flows, columnsChosen: !output.columns.isEmpty)

    let step = KillStep.after(
      listing: plan.closableCount, dryRun: dryRun, yes: yes, inputIsTerminal: isatty(0) == 1)
    // The listing: on stdout as a table; with --json, on stderr and only to ask about it.
    if !json {
      try list(plan, render, to: 1)
    } else if step == .ask {
      render.color = false
      try list(plan, render, to: 2)
    }

    let report: KillReport
    switch step {
    case .refuse(let reason):
      throw ValidationError(reason)
    case .stop, .nothingToClose:
      report = plan.run(dryRun: dryRun) { _ in .notDestroyable }
    case .ask:
      writeToStandardError(KillStep.question(plan.closableCount))
      guard let answer = readLine(), KillStep.isYes(answer) else {
        printError("nothing closed")
        Glibc.exit(1)
      }
      report = plan.run(dryRun: false, destroy: inspector.destroy)
    case .close:
      report = plan.run(dryRun: false, destroy: inspector.destroy)
    }

    var buffer = OutputBuffer()
    if json {
      KillRenderer.renderJSON(report, options: render, into: &buffer)
    } else if step == .stop || step == .nothingToClose {
      // The table showed the sockets: those that would be left open, and the counts, are new.
      KillRenderer.renderText(report, only: { $0 != .selected }, into: &buffer)
    } else {
      if !snapshot.flows.isEmpty { buffer.append(UInt8(ascii: "\n")) }
      KillRenderer.renderText(report, into: &buffer)
    }
    do {
      try buffer.withUnsafeBufferPointer { try writeAll(UnsafeRawBufferPointer($0)) }
    } catch is OutputClosed {}
    Glibc.exit(report.exitStatus)
  }

  /// The selected sockets as `flow` shows them; nothing when none matches.
  private func list(_ plan: KillPlan, _ render: RenderOptions, to fd: Int32) throws {
    guard !plan.snapshot.flows.isEmpty else { return }
    var buffer = OutputBuffer()
    TableRenderer.render(plan.snapshot, options: render, into: &buffer)
    do {
      try buffer.withUnsafeBufferPointer { try writeAll(UnsafeRawBufferPointer($0), to: fd) }
    } catch is OutputClosed {}
  }
}
