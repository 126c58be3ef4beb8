// `flowscope check`: the health flags of a snapshot grouped into findings, one per process and
// flag, most serious first. Pure; the sentences are written by FlowRender's CheckRenderer.

/// One problem: a flag, the process it concerns (nil for sockets whose owner is not visible),
/// and what is needed to explain it.
public struct Finding: Sendable {
  public var flag: HealthFlag
  public var severity: HealthSeverity { flag.severity }
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
  /// `retransmitting`: the most retries of one flow.
  public var retries = 0

  public static let maximumEndpoints = 3

  public init(flag: HealthFlag, pid: Int32?, process: OwningProcess?) {
    self.flag = flag
    self.pid = pid
    self.process = process
  }

  /// Findings for `snapshot`: one per (process, flag) and one per flag for unowned sockets.
  /// Flows held by several processes count for each. `idle` is left out unless `includeIdle`.
  public static func find(
    in snapshot: Snapshot, thresholds: HealthThresholds, includeIdle: Bool,
    processes selected: Set<Int32>? = nil
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
      finding.flowCount += 1
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
