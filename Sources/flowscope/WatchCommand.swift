import ArgumentParser
import FlowInspector
import FlowKill
import FlowModel
import FlowQuery
import FlowRender
import FlowTerminal
import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

/// Set by SIGINT and SIGTERM in the NDJSON mode (from a signal handler: a plain flag).
nonisolated(unsafe) private var lineStreamStopRequested: sig_atomic_t = 0

/// `flowscope watch`: a live, full-screen view with rates; NDJSON records when not a terminal.
///
/// A subcommand rather than `flow --watch`: it has its own keys, screen and options (`--procs`),
/// and `flow -i SECONDS` already repeats a listing for scripts.
struct WatchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "watch",
    abstract: "A live view of flows and processes with their byte rates, like top.",
    discussion: """
      Refreshes every --interval seconds and shows, beside the totals, the bytes
      per second in and out of each flow and process since the last refresh. Flows
      that are new since then are marked +, flows that closed since then - (once).
      Takes the filters of `flow`.

      Keys: q or Ctrl-C quit; v or Tab switches flows/processes; < and > (or the
      left and right arrows) choose the sort column, s sorts by total rate, r
      reverses; p pauses; d shows bytes since the last refresh instead of totals;
      / filters by text (Esc clears); arrows, PgUp, PgDn, Home and End scroll; ?
      shows the keys.

      When standard output is not a terminal, or with --json (--format ndjson),
      nothing is drawn: each refresh writes NDJSON records, one per flow (or per process with
      --procs), flushed at once.

      Examples:
        sudo flowscope watch                  every process's connections, live
        flowscope watch -P 1234 -i 0.5        one process, twice a second
        flowscope watch --json --count 5 | jq .rate_in
      """
  )

  @OptionGroup(title: "Filters") var filters: FilterOptions

  @Option(
    name: [.customShort("i"), .long],
    help: ArgumentHelp("Seconds between refreshes (fractions allowed).", valueName: "seconds"))
  var interval: Double = 1

  @Option(help: "Stop after N refreshes.")
  var count: Int?

  /// Without either, the screen on a terminal and NDJSON otherwise.
  @OptionGroup var form: FormatOptions<StreamFormats>

  @Flag(help: "One record per process (NDJSON), or start in the processes view.")
  var procs = false

  @Option(
    help: ArgumentHelp(
      "Sort by: rate, rate-in, rate-out, bytes-in, bytes-out, proto, local, remote, state, process, pid, command, flows; a leading - sorts descending (default -rate).",
      valueName: "field"))
  var sort: String?

  @Flag(help: "Print exact byte counts instead of human units.")
  var bytes = false

  @Option(help: "Colour: auto (a terminal without NO_COLOR), always or never.")
  var color: OutputOptions.ColorMode = .auto

  @Option(
    help: ArgumentHelp(
      "With --replay: play the recording this many times faster than it was recorded.", valueName: "factor"))
  var speed: Double = 1

  @OptionGroup var debug: DebugOptions

  func validate() throws {
    if !(speed > 0) || !speed.isFinite { throw ValidationError("--speed must be a positive number.") }
    _ = try CommandSelection(filters, scope: .flows, debug: debug)
    if !(interval >= 0.05) || !interval.isFinite {
      throw ValidationError("--interval must be at least 0.05 seconds.")
    }
    if let count, count < 1 { throw ValidationError("--count must be at least 1.") }
    if let sort, WatchSortField.parse(sort) == nil {
      throw ValidationError(
        "cannot sort by '\(sort)'; known: " + WatchSortField.allCases.map(\.rawValue).joined(separator: ", "))
    }
  }

  func run() throws {
    Terminal.ignoreBrokenPipeSignal()
    var selection = try CommandSelection(filters, scope: .flows, debug: debug)
    if try selection.explain(filters, what: "flows", debug: debug, incremental: true) { return }
    let inspector = try makeFlowInspector(debug, named: selection.namedProtocols, incremental: true)
    let drawing = form.chosen.map { $0 == .table } ?? Terminal.stdoutIsTerminal
    if drawing && !Terminal.stdoutIsTerminal {
      throw ValidationError("--format table draws the screen, which needs a terminal; -J writes NDJSON records.")
    }
    // The screen shows counters, rates and states, nothing else the kernel could add: each
    // refresh asks for less. NDJSON records keep every field.
    if drawing {
      selection.askForCountersOnlyUnlessQueried()
      // Listen drops between refreshes, for the screen's second line.
      selection.inspect.readsKernelCounters = true
    }
    var collector = Collector(inspector: inspector, selection: selection)
    if let problem = collector.closeProblem { printError(problem) }
    // A replay steps through its snapshots, as far apart as they were recorded (over --speed),
    // and ends with the last.
    var played = self
    if let frames = inspector.recordedFrames, !frames.isEmpty {
      played.count = min(count ?? frames.count, frames.count)
      let gaps = zip(frames.dropFirst(), frames).map { $0.time - $1.time }.filter { $0 > 0 }.sorted()
      played.interval = max(0.05, (gaps.isEmpty ? interval : gaps[gaps.count / 2]) / speed)
    }
    if drawing {
      try played.runScreen(&collector)
    } else {
      try played.runLines(&collector)
    }
  }

  // MARK: - NDJSON

  private func runLines(_ collector: inout Collector) throws {
    let limit = count ?? Int.max
    var deadline = monotonicNow()
    var render = RenderOptions()
    render.terminalWidth = nil
    // Lines leave every 256 KiB: a refresh of 100k flows is never held whole.
    var out = streamingOutputBuffer()
    // Ctrl-C or SIGTERM ends the stream between refreshes, never inside a line.
    signal(SIGINT) { _ in lineStreamStopRequested = 1 }
    signal(SIGTERM) { _ in lineStreamStopRequested = 1 }
    do {
      for refresh in 1...limit {
        if refresh > 1 {
          deadline += interval
          let now = monotonicNow()
          if deadline > now {
            sleepSeconds(deadline - now) { lineStreamStopRequested != 0 }
          } else {
            deadline = now
          }
        }
        if lineStreamStopRequested != 0 { return }
        let (snapshot, rates, previousProcesses) = collector.refresh()
        render.interfaceNames = interfaceNames(of: snapshot.flows)
        out.removeAll()
        if procs {
          WatchScreen.renderProcessLines(
            snapshot, rates: rates, refresh: refresh, previousProcesses: previousProcesses, into: &out)
        } else {
          WatchScreen.renderFlowLines(
            snapshot, rates: rates, refresh: refresh, options: render,
            previousProcesses: previousProcesses, into: &out)
        }
        try writeAll(out.bytes)
      }
    } catch is OutputClosed {
      return
    }
  }

  // MARK: - The screen

  private func runScreen(_ collector: inout Collector) throws {
    // Keys come from standard input, or from the controlling terminal when it is redirected.
    var inputFD: Int32 = 0
    var openedInput = false
    if !isTerminal(0) {
      inputFD = open("/dev/tty", O_RDONLY | O_CLOEXEC)
      guard inputFD >= 0 else {
        throw RuntimeError("no terminal to read keys from; use --json for records instead")
      }
      openedInput = true
    }
    defer { if openedInput { close(inputFD) } }
    let session: TerminalSession
    do {
      session = try TerminalSession(inputFD: inputFD, outputFD: 1)
      try session.start()
    } catch {
      throw RuntimeError("cannot set up the terminal: \(error)")
    }
    // Every way out of here passes this: the one place the terminal is put back (the signal
    // and crash handlers and atexit call the same restore).
    defer { session.restore() }

    let chain = ProcAncestry.chain(from: getpid(), root: debug.procRoot)
    let guards = KillGuards(
      ownPID: getpid(), chain: chain.map { ($0.pid, $0.command, $0.sshConnection) },
      environmentSSHConnection: getenv("SSH_CONNECTION").map { String(cString: $0) },
      query: collector.selection.query)
    var screen = ScreenLoop(session: session, command: self, inspector: collector.inspector, guards: guards)
    try screen.run(&collector)
  }
}

/// Snapshots in a row, with the owner cache between them and the rates of each; the final
/// counters of the TCP connections that closed in between (destroy messages) folded in.
struct Collector {
  let inspector: FlowInspector
  private(set) var selection: CommandSelection
  let cache = OwnerCache()
  var previous: Snapshot? = nil
  /// Connection attempts dropped at listeners since the previous refresh, per namespace (when
  /// the snapshots carry their counters).
  var drops: [Finding] = []
  /// The closes of flowscope's own namespace; nil for a replay, unprivileged, or without TCP.
  let feed: CloseFeed?
  var fold: CloseFold
  /// Why the closes are not followed, said once by the caller.
  private(set) var closeProblem: String?

  init(inspector: FlowInspector, selection: CommandSelection) {
    self.inspector = inspector
    self.selection = selection
    var feed: CloseFeed? = nil
    if inspector.recordedFrames == nil {
      do {
        feed = try CloseFeed(selection.inspect, udp: false)
      } catch {
        closeProblem = CloseFeed.problem(
          error, missing: "the bytes a connection moves after the last refresh before it closes are not counted")
      }
    }
    self.feed = feed
    fold = CloseFold(enabled: feed != nil)
  }

  /// From the next refresh on, the kernel gives what `filter` (the screen's `/` filter) needs
  /// beyond the counters the screen asked for.
  mutating func provide(for filter: QueryExpression) {
    if filter.mentions(CommandSelection.fieldsBeyondCounters) { selection.inspect.askForEveryExtension() }
  }

  /// A new snapshot (filtered as `flow` filters), its rates against the previous one, and the
  /// previous one's processes (to name the owners of closed flows).
  mutating func refresh() -> (Snapshot, RateTable, [Int32: OwningProcess]) {
    var snapshot = inspector.snapshot(selection.inspect, ownerCache: cache)
    selection.query.filter(&snapshot, thresholds: HealthThresholds())
    // Families missing from this kernel matter only to whoever asked for them by name.
    snapshot.warnings.removeAll { warning in
      guard case .familyUnsupported(let family) = warning else { return false }
      return !selection.namedProtocols.contains { family.hasPrefix($0.rawValue) }
    }
    // After the dump: every socket it missed because it had closed has its message queued.
    if let feed { fold.arrive(feed.drain().flows, netns: inspector.ownNetworkNamespace) }
    let query = selection.query
    let namespaces = snapshot.namespaces
    // A flow that opened and closed between two refreshes is judged as the connection it was
    // (its final state is CLOSE, which the default states leave out), with no owner.
    let rates = RateTable.compute(previous: previous, current: snapshot, fold: &fold) { flow in
      var connected = flow
      connected.state = SocketState.established.rawValue
      return query.matches(connected, QueryContext(processes: [:], namespaces: namespaces))
    }
    drops = previous.map { Finding.listenDrops(in: snapshot, since: $0, minimum: 1) } ?? []
    let previousProcesses = previous?.processes ?? [:]
    previous = snapshot
    return (snapshot, rates, previousProcesses)
  }
}

/// The keyboard-and-timer loop of the screen.
struct ScreenLoop {
  let session: TerminalSession
  let command: WatchCommand
  /// What `x` closes through, and the guards it respects (those of `flowscope kill`).
  let inspector: FlowInspector
  let guards: KillGuards
  var decoder = KeyDecoder()
  var model: WatchModel
  var rows: [WatchRow] = []
  var quit = false
  var out = OutputBuffer(capacity: 1 << 16)
  /// The last valid `/` filter typed, until the collector is told what it needs.
  var typedFilter: QueryExpression? = nil

  init(session: TerminalSession, command: WatchCommand, inspector: FlowInspector, guards: KillGuards) {
    self.session = session
    self.command = command
    self.inspector = inspector
    self.guards = guards
    let empty = Snapshot(time: 0, host: "", flows: [], processes: [:], warnings: [])
    model = WatchModel(snapshot: empty, rates: RateTable.compute(previous: nil, current: empty))
    model.interval = command.interval
    model.exactBytes = command.bytes
    model.view = command.procs ? .processes : .flows
    if let sort = command.sort, let (field, descending) = WatchSortField.parse(sort) {
      model.sort = field
      model.descending = descending
    }
    // The screen is a terminal, whatever stdout was.
    model.color = command.color.enabled(terminal: true)
    let size = session.size
    model.rows = size.rows
    model.columns = size.columns
  }

  mutating func run(_ collector: inout Collector) throws {
    let limit = command.count ?? Int.max
    var refreshes = 0
    var nextRefresh = monotonicNow()
    while !quit {
      if !model.paused && monotonicNow() >= nextRefresh {
        if refreshes >= limit { break }
        if let filter = typedFilter {
          collector.provide(for: filter)
          typedFilter = nil
        }
        let (snapshot, rates, previousProcesses) = collector.refresh()
        refreshes += 1
        model.snapshot = snapshot
        model.rates = rates
        model.previousProcesses = previousProcesses
        model.listenDrops = collector.drops
        model.clock = clock(snapshot.time)
        nextRefresh += command.interval
        let now = monotonicNow()
        if nextRefresh < now { nextRefresh = now + command.interval }
        rearrange()
      }
      try draw()
      if refreshes >= limit && !model.paused {
        // Wait out the last interval so the last screen can be seen, keys still working.
        if monotonicNow() >= nextRefresh { break }
      }
      var timeout: Double? = model.paused ? nil : max(0, nextRefresh - monotonicNow())
      if decoder.hasPending { timeout = min(timeout ?? 0.05, 0.05) }
      let ready = waitForInput([session.inputFD, session.signalFD], timeout: timeout)
      if ready.contains(session.signalFD) {
        for signal in session.pendingSignals() {
          if signal == SIGWINCH {
            let size = session.size
            model.rows = size.rows
            model.columns = size.columns
            session.write(TerminalCode.clearScreen)
          } else {
            quit = true  // SIGINT, SIGTERM, SIGHUP, SIGQUIT
          }
        }
      }
      if ready.contains(session.inputFD) {
        guard let input = session.readInput() else {
          quit = true  // the terminal is gone
          break
        }
        for key in decoder.feed(input) { handle(key) }
      } else if ready.isEmpty && decoder.hasPending {
        for key in decoder.flush() { handle(key) }
      }
    }
  }

  private mutating func rearrange() {
    rows = WatchScreen.arrange(model)
    clampScroll()
  }

  private mutating func clampScroll() {
    model.scroll = min(max(0, model.scroll), max(0, rows.count - WatchScreen.visibleRows(model)))
  }

  private mutating func draw() throws {
    clampScroll()
    out.removeAll()
    WatchScreen.render(model, rows: rows, into: &out)
    if !session.write(out.bytes) {
      throw RuntimeError("cannot write to the terminal: \(String(cString: strerror(errno)))")
    }
  }

  /// HH:MM:SS in local time.
  private func clock(_ time: Double) -> [UInt8] {
    var seconds = time_t(time)
    var parts = tm()
    // localtime_r(3)
    localtime_r(&seconds, &parts)
    func two(_ value: Int32) -> [UInt8] { [UInt8(48 + value / 10), UInt8(48 + value % 10)] }
    return two(parts.tm_hour) + [58] + two(parts.tm_min) + [58] + two(parts.tm_sec)
  }

  /// `x`: asks about the flow on the first row shown, unless a guard of `kill` keeps it.
  mutating func askToClose() {
    guard model.view == .flows else {
      model.message = Array("x closes a flow: v shows the flows".utf8)
      return
    }
    guard model.scroll >= 0, model.scroll < rows.count, case .flow(let index) = rows[model.scroll] else {
      model.message = Array("no open flow on the first row to close".utf8)
      return
    }
    let flow = model.snapshot.flows[index]
    if let reason = guards.guardOf(flow) {
      model.message = closeMessage(.guarded(reason), flow)
    } else if !TransportProtocol.closable.contains(flow.proto) {
      model.message = closeMessage(
        KillPlan(
          Snapshot(time: 0, host: "", flows: [flow], processes: [:], warnings: []), guards: guards, force: false
        ).run(dryRun: true) { _ in .notDestroyable }.outcomes[0], flow)
    } else {
      model.closing = flow
      model.message = WatchScreen.closeQuestion(flow, processes: model.snapshot.processes)
    }
  }

  /// `closed tcp 127.0.0.1:5432 → 10.0.0.9:40000 (postgres.812)`, and why when it was not.
  func closeMessage(_ outcome: KillOutcome, _ flow: Flow) -> [UInt8] {
    var out = OutputBuffer(capacity: 160)
    out.append(utf8: outcome.words)
    out.append(UInt8(ascii: " "))
    WatchScreen.appendFlowIdentity(flow, processes: model.snapshot.processes, into: &out)
    if let detail = outcome.detail {
      out.append(": ")
      out.append(utf8: detail)
    }
    return out.bytes
  }

  /// Reads the typed `/` filter as a query: a valid one replaces the rows' filter at once; an
  /// invalid one leaves the last valid filter in place and says why on the keys line.
  mutating func applyFilter() {
    let text = String(decoding: model.filter, as: UTF8.self)
    do {
      let query = try QueryParser.parse(text, environment: .system)
      typedFilter = query
      model.filterError = []
      model.rowFilter =
        query == .constant(true)
        ? nil
        : WatchRowFilter(
          keepsFlow: { flow, snapshot in
            query.matches(flow, QueryContext(processes: snapshot.processes, namespaces: snapshot.namespaces))
          },
          processes: { query.selectedProcesses($0, thresholds: HealthThresholds()) })
    } catch {
      model.filterError = Array("\(error.message) (at column \(error.range.lowerBound + 1))".utf8)
    }
  }

  /// A key: the model changes as `WatchModel.handle` says, then what it asks of the loop.
  mutating func handle(_ key: Key) {
    switch model.handle(key, rowCount: rows.count) {
    case .none: break
    case .quit: quit = true
    case .rearrange: rearrange()
    case .refilter:
      applyFilter()
      rearrange()
    case .askToClose: askToClose()
    case .close(let flow): close(flow)
    case .clearScreen: session.write(TerminalCode.clearScreen)
    }
  }

  /// `y` to `x`'s question: closes the flow as `kill` would, and says what became of it.
  private mutating func close(_ flow: Flow) {
    let single = Snapshot(
      time: model.snapshot.time, host: model.snapshot.host, flows: [flow],
      processes: model.snapshot.processes, warnings: [])
    let outcome = KillPlan(single, guards: guards, force: false).run(dryRun: false, destroy: inspector.destroy)
      .outcomes[0]
    model.message = closeMessage(outcome, flow)
  }
}
