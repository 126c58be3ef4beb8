// `flowscope check`: the health flags of a snapshot grouped into findings, one per process and
// flag, most serious first. Pure; the sentences are written by FlowRender's CheckRenderer.

/// One problem: a flag, the process it concerns (nil for sockets whose owner is not visible,
/// and for the namespace and host flags), and what is needed to explain it.
public struct Finding: Sendable {
  public var flag: HealthFlag
  public var severity: HealthSeverity
  public var pid: Int32?
  public var process: OwningProcess?
  /// `recv-backlog` on listening sockets (the accept queue) rather than on connections.
  public var listener = false
  /// Flows with the flag (0 for the process flags).
  public var flowCount = 0
  /// Of those, TCP ones (for `peer-closed`: CLOSE_WAIT) and UNIX ones.
  public var tcpCount = 0
  public var unixCount = 0
  /// Up to `maximumEndpoints` distinct endpoints: the remote end of connections, the local end of
  /// listeners and UNIX sockets; `endpointCount` is how many distinct ones there were in all.
  public var endpoints: [Endpoint] = []
  public var endpointCount = 0
  /// `recv-backlog`: bytes unread (connections) or connections waiting (listeners), summed;
  /// `backlog` is the largest backlog limit of those listeners.
  public var queued: UInt64 = 0
  public var backlog: UInt64 = 0
  /// `stalled`: the longest time without an acknowledgement; `idle`: the shortest idle time.
  public var milliseconds: UInt64 = 0
  /// `retransmitting`: the most retries of one flow; `unreachable`: the most SYN retries.
  public var retries = 0
  /// The namespace the problem is in: the namespace flags' own, a flow flag's first flow's.
  public var netns: UInt64?
  /// `recv-backlog` on listeners and `listen-drops`: connection attempts the kernel dropped in
  /// the namespace during the last `dropSeconds` (from two samples; nil from one).
  public var dropped: UInt64?
  public var dropSeconds: Double?
  /// `ports-exhausted`: distinct local ports in use towards `endpoints[0]` from `localAddress`,
  /// of them in TIME_WAIT, and the namespace's ip_local_port_range.
  public var portsInUse = 0
  public var timeWait = 0
  public var portRange: ClosedRange<UInt16>?
  public var localAddress: Endpoint?
  /// Of `flowCount`, unowned sockets in FIN_WAIT1, FIN_WAIT2, LAST_ACK or CLOSING: orphans, most
  /// likely, which their process closed (rather than sockets of a process flowscope cannot see).
  public var orphanedFlows = 0
  /// `orphans`: the kernel's count and its limit (`flowCount` is how many of them the dumps
  /// showed, unowned in FIN_WAIT1, FIN_WAIT2, LAST_ACK or CLOSING).
  public var orphans: UInt64 = 0
  public var orphanLimit: UInt64 = 0

  public static let maximumEndpoints = 3

  public init(flag: HealthFlag, pid: Int32?, process: OwningProcess?) {
    self.flag = flag
    self.severity = flag.severity
    self.pid = pid
    self.process = process
  }

  /// Drops per second, when known.
  public var dropRate: Double? {
    guard let dropped, let dropSeconds, dropSeconds > 0 else { return nil }
    return Double(dropped) / dropSeconds
  }

  /// Findings for `snapshot`: one per (process, flag) and one per flag for unowned sockets.
  /// Flows held by several processes count for each. `idle` is left out unless `includeIdle`.
  /// With `earlier` (a sample of the same namespaces some seconds before), listeners with a full
  /// accept queue say how many connection attempts their namespace dropped since.
  public static func find(
    in snapshot: Snapshot, thresholds: HealthThresholds, includeIdle: Bool,
    processes selected: Set<Int32>? = nil, earlier: Snapshot? = nil
  ) -> [Finding] {
    struct Key: Hashable {
      var flag: HealthFlag
      var pid: Int32?
      var listener: Bool
    }
    var findings: [Key: Finding] = [:]
    var seenEndpoints: [Key: Set<Endpoint>] = [:]

    func record(_ flow: Flow, _ flag: HealthFlag, pid: Int32?) {
      let listener = flag == .recvBacklog && flow.socketState == .listen
      let key = Key(flag: flag, pid: pid, listener: listener)
      var finding =
        findings[key]
        ?? Finding(flag: flag, pid: pid, process: pid.flatMap { snapshot.processes[$0] })
      finding.listener = listener
      if finding.flowCount == 0 { finding.netns = flow.netns }
      finding.flowCount += 1
      if pid == nil, flow.isOrphanState { finding.orphanedFlows += 1 }
      if flow.isTCPLike { finding.tcpCount += 1 }
      if flow.proto == .unix { finding.unixCount += 1 }
      let endpoint: Endpoint =
        listener || flow.proto == .unix ? flow.local : flow.remote
      if case .none = endpoint {
      } else if seenEndpoints[key, default: []].insert(endpoint).inserted {
        finding.endpointCount += 1
        if finding.endpoints.count < maximumEndpoints { finding.endpoints.append(endpoint) }
      }
      switch flag {
      case .recvBacklog:
        finding.queued += UInt64(flow.receiveQueue)
        if listener { finding.backlog = max(finding.backlog, UInt64(flow.sendQueue)) }
      case .stalled:
        finding.milliseconds = max(finding.milliseconds, UInt64(flow.tcp?.lastAckReceivedMs ?? 0))
      case .idle:
        let idle = UInt64(min(flow.tcp?.lastDataSentMs ?? 0, flow.tcp?.lastDataReceivedMs ?? 0))
        finding.milliseconds = finding.flowCount == 1 ? idle : min(finding.milliseconds, idle)
      case .retransmitting:
        finding.retries = max(finding.retries, flow.retryCount)
      case .unreachable:
        finding.retries = max(finding.retries, Int(flow.synRetries))
      default: break
      }
      findings[key] = finding
    }

    for flow in snapshot.flows {
      var flags = flow.health(thresholds)
      if !includeIdle { flags.rawValue &= ~HealthFlag.idle.bit }
      if flags.isEmpty { continue }
      var pids: [Int32] = []
      for owner in flow.owners where !pids.contains(owner.pid) { pids.append(owner.pid) }
      if let selected { pids.removeAll { !selected.contains($0) } }
      for flag in flags {
        if flow.owners.isEmpty {
          record(flow, flag, pid: nil)
        } else {
          for pid in pids { record(flow, flag, pid: pid) }
        }
      }
    }
    for (pid, process) in snapshot.processes where selected?.contains(pid) ?? true {
      for flag in process.health(thresholds) {
        findings[Key(flag: flag, pid: pid, listener: false)] = Finding(
          flag: flag, pid: pid, process: process)
      }
    }
    if let earlier {
      for (key, finding) in findings where key.listener {
        guard let netns = finding.netns,
          let drops = Self.drops(in: netns, snapshot, since: earlier)
        else { continue }
        findings[key]?.dropped = drops.dropped
        findings[key]?.dropSeconds = drops.seconds
      }
    }
    return findings.values.sorted { a, b in
      if a.flag != b.flag {
        return a.severity != b.severity ? a.severity < b.severity : a.flag < b.flag
      }
      let aCount = a.flag.isProcessFlag ? (a.process?.fdUsedPercent ?? 0) : Double(a.flowCount)
      let bCount = b.flag.isProcessFlag ? (b.process?.fdUsedPercent ?? 0) : Double(b.flowCount)
      if aCount != bCount { return aCount > bCount }
      return (a.pid ?? Int32.max, a.listener ? 0 : 1) < (b.pid ?? Int32.max, b.listener ? 0 : 1)
    }
  }
}

extension Finding {
  /// Connection attempts dropped in namespace `netns` between `earlier` and `snapshot`.
  static func drops(in netns: UInt64, _ snapshot: Snapshot, since earlier: Snapshot) -> (
    dropped: UInt64, seconds: Double
  )? {
    guard let now = snapshot.namespaceCounters[netns], let then = earlier.namespaceCounters[netns],
      let dropped = now.droppedConnections(since: then)
    else { return nil }
    return (dropped, max(0, snapshot.time - earlier.time))
  }

  /// `listen-drops` for every namespace whose listeners dropped at least `minimum` connection
  /// attempts between `earlier` and `snapshot`, whatever its listeners show (`watch`), in
  /// namespace order; none when `minimum` is 0.
  public static func listenDrops(in snapshot: Snapshot, since earlier: Snapshot, minimum: UInt64)
    -> [Finding]
  {
    guard minimum > 0 else { return [] }
    var results: [Finding] = []
    for netns in snapshot.namespaceCounters.keys.sorted() {
      guard let drops = drops(in: netns, snapshot, since: earlier), drops.dropped >= minimum
      else { continue }
      var finding = Finding(flag: .listenDrops, pid: nil, process: nil)
      finding.netns = netns
      finding.dropped = drops.dropped
      finding.dropSeconds = drops.seconds
      results.append(finding)
    }
    return results
  }

  /// The findings about namespaces and the host, most serious first: `ports-exhausted`,
  /// `orphans`, and (with `earlier`) `listen-drops` in namespaces where no listener shows a full
  /// accept queue. `snapshot` must hold every flow of its namespaces (the counts need the
  /// TIME_WAIT and unowned sockets too) and `namespaceCounters`/`hostCounters`.
  ///
  /// `relevantTo`: when processes were named, only the findings they take part in: a
  /// destination they connect to (or one only TIME_WAIT sockets of their namespace reach), a
  /// namespace where they listen; never `orphans`.
  public static func findSystem(
    in snapshot: Snapshot, thresholds: HealthThresholds, earlier: Snapshot? = nil,
    relevantTo selected: Set<Int32>? = nil
  ) -> [Finding] {
    var results: [Finding] = []

    // ports-exhausted: distinct local ports in the ephemeral range per (namespace, local
    // address, destination). connect() needs a free 4-tuple: towards one destination from one
    // address, the range is all there is.
    struct Destination: Hashable {
      var netns: UInt64
      var local: IPAddress
      var remote: Endpoint
    }
    struct Usage {
      var ports = Set<UInt16>()
      var timeWait = 0
      /// A selected process holds one of the connections; any process does.
      var relevant = false
      var owned = false
    }
    var usage: [Destination: Usage] = [:]
    var orphanedFlows: [Flow] = []
    var listenerNamespaces = Set<UInt64>()
    for flow in snapshot.flows where flow.isTCPLike {
      guard let state = flow.socketState else { continue }
      switch state {
      case .listen:
        if let selected, flow.owners.contains(where: { selected.contains($0.pid) }) {
          listenerNamespaces.insert(flow.netns)
        }
        continue
      case .close, .newSynReceived, .boundInactive: continue
      case .finWait1, .finWait2, .lastAck, .closing:
        if flow.owners.isEmpty { orphanedFlows.append(flow) }
      default: break
      }
      guard case .ip(let localAddress, let localPort) = flow.local, case .ip(_, let remotePort) = flow.remote,
        remotePort != 0,
        let range = snapshot.namespaceCounters[flow.netns]?.localPortRange, range.contains(localPort)
      else { continue }
      let key = Destination(netns: flow.netns, local: localAddress, remote: flow.remote)
      var entry = usage[key] ?? Usage()
      if entry.ports.insert(localPort).inserted, state == .timeWait { entry.timeWait += 1 }
      if !flow.owners.isEmpty { entry.owned = true }
      if let selected, !entry.relevant {
        entry.relevant = flow.owners.contains { selected.contains($0.pid) }
      }
      usage[key] = entry
    }
    // Short connections leave TIME_WAIT, which no process holds: a destination only those reach
    // counts for the selected processes of its namespace.
    let selectedNamespaces = Set(selected?.compactMap { snapshot.processes[$0]?.netns } ?? [])
    if thresholds.portsPercent > 0 {
      for (key, entry) in usage
      where selected == nil || entry.relevant
        || (!entry.owned && selectedNamespaces.contains(key.netns))
      {
        guard let range = snapshot.namespaceCounters[key.netns]?.localPortRange else { continue }
        let size = Int(range.upperBound) - Int(range.lowerBound) + 1
        guard Double(entry.ports.count) * 100 >= thresholds.portsPercent * Double(size) else {
          continue
        }
        var finding = Finding(flag: .portsExhausted, pid: nil, process: nil)
        finding.netns = key.netns
        finding.endpoints = [key.remote]
        finding.endpointCount = 1
        finding.localAddress = .ip(key.local, port: 0)
        finding.portsInUse = entry.ports.count
        finding.timeWait = entry.timeWait
        finding.portRange = range
        finding.flowCount = entry.ports.count
        if entry.ports.count >= size { finding.severity = .critical }
        results.append(finding)
      }
    }

    // orphans: the kernel's host-wide count against its host-wide limit.
    if selected == nil, thresholds.orphansPercent > 0, let host = snapshot.hostCounters,
      let orphans = host.orphans, let limit = host.maxOrphans, orphans > 0,
      Double(orphans) * 100 >= thresholds.orphansPercent * Double(limit)
    {
      var finding = Finding(flag: .orphans, pid: nil, process: nil)
      finding.orphans = orphans
      finding.orphanLimit = limit
      finding.flowCount = orphanedFlows.count
      var byRemote: [Endpoint: Int] = [:]
      var byNamespace: [UInt64: Int] = [:]
      for flow in orphanedFlows {
        byRemote[flow.remote, default: 0] += 1
        byNamespace[flow.netns, default: 0] += 1
      }
      let remotes = byRemote.sorted { $0.value != $1.value ? $0.value > $1.value : "\($0.key)" < "\($1.key)" }
      finding.endpoints = remotes.prefix(maximumEndpoints).map(\.key)
      finding.endpointCount = remotes.count
      finding.netns = byNamespace.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key
      if orphans >= limit { finding.severity = .critical }
      results.append(finding)
    }

    // listen-drops: drops in a namespace none of whose listeners is flagged (their own
    // recv-backlog finding says it otherwise).
    if let earlier {
      var flaggedListenerNamespaces = Set<UInt64>()
      for flow in snapshot.flows where flow.socketState == .listen && flow.isTCPLike {
        if flow.health(thresholds).contains(.recvBacklog) {
          flaggedListenerNamespaces.insert(flow.netns)
        }
      }
      results += listenDrops(in: snapshot, since: earlier, minimum: thresholds.listenDropsMinimum)
        .filter { finding in
          guard let netns = finding.netns else { return false }
          return !flaggedListenerNamespaces.contains(netns)
            && (selected == nil || listenerNamespaces.contains(netns))
        }
    }

    return results.sorted { a, b in
      if a.severity != b.severity { return a.severity < b.severity }
      if a.flag != b.flag { return a.flag < b.flag }
      if a.flowCount != b.flowCount { return a.flowCount > b.flowCount }
      return (a.netns ?? 0) < (b.netns ?? 0)
    }
  }
}

extension Flow {
  /// TCP in a state an orphan is in: FIN_WAIT1, FIN_WAIT2, LAST_ACK or CLOSING (the process
  /// closed it; the kernel finishes the close).
  var isOrphanState: Bool {
    guard isTCPLike, let state = socketState else { return false }
    return state == .finWait1 || state == .finWait2 || state == .lastAck || state == .closing
  }
}
