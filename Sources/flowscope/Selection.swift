import ArgumentParser
import FlowInspector
import FlowModel
import FlowQuery

/// A command's query (its flags' shorthands and the expression after the options) and the
/// collection that serves it.
struct CommandSelection {
  var query: QueryExpression
  var plan: KernelPlan
  var inspect: InspectOptions
  /// The protocols the query named: only those deserve a word when this kernel lacks them.
  var namedProtocols: Set<TransportProtocol>

  init(_ options: FilterOptions, scope: QueryScope, debug: DebugOptions) throws {
    try options.validateNamespace(debug)
    let expression = try options.parsedExpression()
    let selection: Selection
    do {
      selection = try Selection(
        flags: options.selectionFlags, expression: expression, scope: scope, environment: .system)
    } catch {
      throw ValidationError(error.description)
    }
    query = selection.query
    namedProtocols = selection.namedProtocols
    // `proc` and `check` count every socket a process holds: everything is collected, and the
    // query chooses afterwards.
    plan = scope == .processes ? KernelPlan(.constant(true), candidates: Selection.candidates) : selection.plan
    inspect = InspectOptions(plan: plan)
    if scope == .processes {
      inspect.pids = selection.plan.pids
      // Every socket descriptor counts, whether a kernel table lists it or not.
      inspect.includeUnlisted = true
    }
    inspect.procRoot = debug.procRoot
    inspect.owners = debug.owners
    // The command line and executable are read only when something needs them.
    if query.mentions([.exe, .cmdline]) { inspect.readCommandLine = true }
    if options.hostNetns && options.netns != nil {
      throw ValidationError("--netns and --host-netns exclude each other.")
    }
    if let netns = options.netns {
      inspect.namespaces = .only(netns)
    } else if options.hostNetns {
      inspect.namespaces = .own
    }
  }

  /// Query fields that inet extensions beyond tcp_info give (congestion control, TOS, socket
  /// drops), and those the kernel adds unasked (mark, cgroup), kept here to be safe.
  static let fieldsBeyondCounters: Set<QueryField> = [.congestion, .tos, .drops, .mark, .cgroupID]

  /// Asks the kernel for tcp_info alone (counters, RTT, windows) unless the query needs more:
  /// an output that shows no more. At 500k sockets the rest is 0.19 s of the dump's kernel time.
  mutating func askForCountersOnlyUnlessQueried() {
    if !query.mentions(Self.fieldsBeyondCounters) { inspect.askForCountersOnly() }
  }

  /// With --explain: prints the plan, and where the owners come from and why, and says so
  /// (the command then stops). `incremental` as for `makeFlowInspector`.
  func explain(
    _ options: FilterOptions, what: String, debug: DebugOptions, incremental: Bool = false
  ) throws -> Bool {
    guard options.explain else { return false }
    let inspector = try makeFlowInspector(debug, named: namedProtocols, incremental: incremental)
    let owners: OwnerSourceDecision
    do {
      owners = try inspector.decideOwnerSource(inspect, incremental: incremental)
    } catch {
      throw RuntimeError(error.description)
    }
    try writeAll(Array((plan.explanation(of: query, scope: what) + owners.explanation + "\n").utf8))
    return true
  }
}

extension FilterOptions {
  /// The words after the options, joined with spaces, as one expression.
  var expressionText: String { expression.joined(separator: " ") }

  func parsedExpression() throws -> QueryExpression {
    do {
      return try QueryParser.parse(expressionText, environment: .system)
    } catch {
      throw ValidationError(error.rendered(query: expressionText, prefix: "bad query: "))
    }
  }

  var selectionFlags: SelectionFlags {
    var flags = SelectionFlags()
    flags.pids = pid
    flags.commands = command
    flags.exactCommand = exact
    flags.users = user
    flags.protocols = proto
    flags.ipv4Only = ipv4Only
    flags.ipv6Only = ipv6Only
    flags.interfaces = interface
    flags.states = state
    flags.ports = port
    flags.local = local
    flags.remote = remote
    flags.listening = listening
    flags.all = all
    return flags
  }
}
