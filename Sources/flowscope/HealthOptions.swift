import ArgumentParser
import FlowInspector
import FlowModel

/// Where the health flags start. Shared by `flow` (the Flags column), `proc` and `check`.
struct HealthOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Flag established TCP connections with no data either way for this long as idle (default 300).",
      valueName: "seconds"))
  var idle: Double?

  @Option(
    help: ArgumentHelp(
      "Flag connections whose queued data has had no acknowledgement for this long as stalled (default 5).",
      valueName: "seconds"))
  var stall: Double?

  @Option(
    name: .customLong("recv-backlog"),
    help: ArgumentHelp(
      "Flag connections with at least this many unread bytes as recv-backlog (default 65536).",
      valueName: "bytes"))
  var recvBacklog: UInt64?

  @Option(
    name: .customLong("fd-threshold"),
    help: ArgumentHelp(
      "Flag processes using at least this percent of their open-file limit as fd-pressure (default 80).",
      valueName: "percent"))
  var fdThreshold: Double?

  @Option(
    name: .customLong("syn-retries"),
    help: ArgumentHelp(
      "Flag connections in SYN_SENT that retried their SYN this many times as unreachable (default 2).",
      valueName: "n"))
  var synRetries: UInt8?

  @Option(
    name: .customLong("ports-threshold"),
    help: ArgumentHelp(
      "Flag a destination using this percent of the namespace's local port range as ports-exhausted (default 80).",
      valueName: "percent"))
  var portsThreshold: Double?

  @Option(
    name: .customLong("orphans-threshold"),
    help: ArgumentHelp(
      "Flag the host when orphaned TCP sockets reach this percent of tcp_max_orphans (default 50).",
      valueName: "percent"))
  var orphansThreshold: Double?

  @Option(
    name: .customLong("listen-drops"),
    help: ArgumentHelp(
      "With two samples (check -w): flag this many connection attempts dropped at listeners (default 1).",
      valueName: "n"))
  var listenDrops: UInt64?

  func validate() throws {
    if let synRetries, synRetries == 0 { throw ValidationError("--syn-retries must be at least 1.") }
    if let portsThreshold, !(portsThreshold > 0 && portsThreshold <= 100) {
      throw ValidationError("--ports-threshold must be a percentage above 0, at most 100.")
    }
    if let orphansThreshold, !(orphansThreshold > 0 && orphansThreshold <= 100) {
      throw ValidationError("--orphans-threshold must be a percentage above 0, at most 100.")
    }
    if let listenDrops, listenDrops == 0 { throw ValidationError("--listen-drops must be at least 1.") }
    if let idle, !(idle > 0) { throw ValidationError("--idle must be a positive number of seconds.") }
    if let stall, !(stall > 0) { throw ValidationError("--stall must be a positive number of seconds.") }
    if let recvBacklog, recvBacklog == 0 { throw ValidationError("--recv-backlog must be at least 1.") }
    if let fdThreshold, !(fdThreshold > 0 && fdThreshold <= 100) {
      throw ValidationError("--fd-threshold must be a percentage above 0, at most 100.")
    }
  }

  var thresholds: HealthThresholds {
    var thresholds = HealthThresholds()
    if let idle { thresholds.idleMs = UInt64((idle * 1000).rounded()) }
    if let stall { thresholds.stalledMs = UInt64((stall * 1000).rounded()) }
    if let recvBacklog { thresholds.recvBacklogBytes = recvBacklog }
    if let fdThreshold { thresholds.fdPressurePercent = fdThreshold }
    if let synRetries { thresholds.unreachableSynRetries = synRetries }
    if let portsThreshold { thresholds.portsPercent = portsThreshold }
    if let orphansThreshold { thresholds.orphansPercent = orphansThreshold }
    if let listenDrops { thresholds.listenDropsMinimum = listenDrops }
    return thresholds
  }
}

/// The filters of `proc` and `check`, which look at processes. Their counts need every socket
/// a process holds, so collection asks for every protocol and state and no kernel filter; the
/// options then choose processes:
/// - `-P`, `-C`, `-u` name processes (`-u` the process's user, not the socket's);
/// - the flow criteria (`-p`, `--state`, `-l`, `--port`, `--local`, `--remote`, `-I`, `-4`, `-6`)
///   keep the processes holding at least one matching flow (and, for `check`, those flows);
/// - `-a` changes nothing: every state is always counted.
struct ProcessSelection {
  var inspect: InspectOptions
  var namedProtocols: Set<TransportProtocol>
  /// Flow criteria, or nil when none was given.
  private var flowCriteria: Selection?
  private var pids: Set<Int32>?
  private var commands: FlowFilter
  private var uids: Set<UInt32>?

  init(_ options: FilterOptions, debug: DebugOptions) throws {
    var base = try Selection(options, debug: debug)
    namedProtocols = base.namedProtocols
    inspect = base.inspect
    inspect.protocols = InspectOptions.defaultProtocols
    inspect.states = 0xffff_ffff
    inspect.kernelFilter = nil
    inspect.ipv4 = true
    inspect.ipv6 = true
    pids = base.filter.pids
    uids = base.filter.uids
    // The command criteria are FlowFilter's, applied to a process through a flow it owns.
    commands = FlowFilter()
    commands.commands = base.filter.commands
    commands.exactCommand = base.filter.exactCommand
    let explicitStates = !options.state.isEmpty || options.listening
    let flowLevel =
      !options.proto.isEmpty || explicitStates || options.ipv4Only || options.ipv6Only
      || !options.interface.isEmpty || !options.port.isEmpty || !options.local.isEmpty
      || !options.remote.isEmpty
    if flowLevel {
      base.filter.pids = nil
      base.filter.uids = nil
      base.filter.commands = []
      if !explicitStates { base.statesOfStatefulSockets = nil }
      // `flow` leaves protocols to the kernel request; here every protocol is collected.
      if !options.proto.isEmpty { base.filter.protocols = try Selection.protocols(options.proto).all }
      flowCriteria = base
    }
  }

  func keepsProcess(_ process: OwningProcess) -> Bool {
    if let pids, !pids.contains(process.pid) { return false }
    if let uids, !uids.contains(process.uid) { return false }
    if !commands.commands.isEmpty {
      var probe = Flow(
        proto: .tcp, family: .inet, state: 0, socketType: 1, local: .none, remote: .none, inode: 0,
        netns: 0)
      probe.owners = [FlowOwner(pid: process.pid, fd: 0)]
      if !commands.matches(probe, processes: [process.pid: process]) { return false }
    }
    return true
  }

  /// Whether the flow counts for `check` (always true without flow criteria).
  func keepsFlow(_ flow: Flow, processes: [Int32: OwningProcess]) -> Bool {
    flowCriteria?.keeps(flow, processes: processes) ?? true
  }

  var hasFlowCriteria: Bool { flowCriteria != nil }

  /// The processes of `snapshot` this selection keeps: by name, pid and user, and, with flow
  /// criteria, holding a matching flow.
  func selectedProcesses(_ snapshot: Snapshot) -> Set<Int32> {
    var kept = Set(snapshot.processes.values.filter(keepsProcess).map(\.pid))
    if let flowCriteria {
      var holding = Set<Int32>()
      for flow in snapshot.flows where flowCriteria.keeps(flow, processes: snapshot.processes) {
        for owner in flow.owners where kept.contains(owner.pid) { holding.insert(owner.pid) }
      }
      kept = holding
    }
    return kept
  }

  /// Whether unowned flows belong in `check`: only when no process was named.
  var includesUnownedFlows: Bool { pids == nil && uids == nil && commands.commands.isEmpty }
}
