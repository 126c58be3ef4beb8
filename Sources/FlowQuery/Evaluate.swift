// Evaluation of a parsed query over one flow and the processes holding it, or over one process
// and its flows (`proc`, `check`). A missing value (a UDP socket's RTT, a packet socket's
// state) makes every comparison false; `!=` is `not ==`, so it is true there.

import FlowModel

/// What a query reads beyond the flow itself.
public struct QueryContext: Sendable {
  public var processes: [Int32: OwningProcess]
  public var thresholds: HealthThresholds
  public var namespaces: [UInt64: NetworkNamespace]

  public init(
    processes: [Int32: OwningProcess], thresholds: HealthThresholds = HealthThresholds(),
    namespaces: [UInt64: NetworkNamespace] = [:]
  ) {
    self.processes = processes
    self.thresholds = thresholds
    self.namespaces = namespaces
  }
}

extension QueryExpression {
  /// Whether `flow` matches; owner fields are true when any owner matches.
  public func matches(_ flow: borrowing Flow, _ context: QueryContext) -> Bool {
    evaluate(flow, context, owner: nil)
  }

  /// Whether `process` matches, in the scope of `proc` and `check`: a query that reads only
  /// process fields is tested on the process; one that reads flow fields keeps the process
  /// when at least one of its flows matches with the process as its owner.
  public func matches(
    process: OwningProcess, flows: some Sequence<Flow>, _ context: QueryContext
  ) -> Bool {
    if readsOnlyProcesses { return evaluate(process: process, context) }
    return flows.contains { flow in
      flow.owners.contains { $0.pid == process.pid } && evaluate(flow, context, owner: process.pid)
    }
  }

  /// Whether `flow` counts for `process` (`check`'s flows): the query with that process as the
  /// owner.
  public func matches(_ flow: borrowing Flow, owner: Int32, _ context: QueryContext) -> Bool {
    evaluate(flow, context, owner: owner)
  }

  /// Whether no test reads the flow (only the owning processes).
  public var readsOnlyProcesses: Bool {
    tests.allSatisfy { $0.field.isProcessField || ($0.field == .flags && $0.readsOnlyProcessFlags) }
  }

  func evaluate(_ flow: borrowing Flow, _ context: QueryContext, owner: Int32?) -> Bool {
    switch self {
    case .constant(let value): value
    case .test(let test): test.evaluate(flow, context, owner: owner)
    case .and(let a, let b): a.evaluate(flow, context, owner: owner) && b.evaluate(flow, context, owner: owner)
    case .or(let a, let b): a.evaluate(flow, context, owner: owner) || b.evaluate(flow, context, owner: owner)
    case .not(let a): !a.evaluate(flow, context, owner: owner)
    }
  }

  func evaluate(process: OwningProcess, _ context: QueryContext) -> Bool {
    switch self {
    case .constant(let value): value
    case .test(let test): test.evaluate(process: process, context)
    case .and(let a, let b): a.evaluate(process: process, context) && b.evaluate(process: process, context)
    case .or(let a, let b): a.evaluate(process: process, context) || b.evaluate(process: process, context)
    case .not(let a): !a.evaluate(process: process, context)
    }
  }
}

extension QueryTest {
  var readsOnlyProcessFlags: Bool {
    guard case .member(let values) = comparison else { return false }
    return values.allSatisfy { HealthFlag.allCases[Int($0)].isProcessFlag }
  }

  func evaluate(_ flow: borrowing Flow, _ context: QueryContext, owner: Int32?) -> Bool {
    if field.isProcessField || field == .fd {
      for candidate in flow.owners where owner == nil || candidate.pid == owner {
        if field == .fd {
          if compare(number: UInt64(bitPattern: Int64(candidate.fd))) { return true }
        } else if let process = context.processes[candidate.pid], evaluate(process: process, context) {
          return true
        }
      }
      return false
    }
    switch comparison {
    case .isTrue:
      return field == .owned ? flow.isOwned : !flow.proto.hasConnectionStates
    case .address(let matches):
      let endpoint = field == .localAddress ? flow.local : flow.remote
      return matches.contains { $0.matches(endpoint) }
    case .text(let match):
      let text: [UInt8]? =
        switch field {
        case .localPath: if case .unixPath(let path) = flow.local { path } else { nil }
        case .localAbstract: if case .unixAbstract(let name) = flow.local { name } else { nil }
        case .congestion: flow.tcp.flatMap { $0.congestion.isEmpty ? nil : $0.congestion.withBytes { Array($0) } }
        case .netnsName:
          context.namespaces[flow.netns].flatMap { ($0.name ?? $0.container).map { Array($0.utf8) } }
        default: nil
        }
      return text.map { match.matches($0) } ?? false
    case .member(let values):
      switch field {
      case .state:
        return flow.hasKnownState && values.contains(UInt64(flow.state))
      case .proto: return values.contains(flow.proto.queryValue)
      case .family: return values.contains(flow.family.queryValue)
      case .type: return values.contains(UInt64(flow.socketType))
      default:
        var flags = flow.health(context.thresholds)
        for candidate in flow.owners where owner == nil || candidate.pid == owner {
          if let process = context.processes[candidate.pid] { flags.formUnion(process.health(context.thresholds)) }
        }
        return values.contains { flags.contains(HealthFlag.allCases[Int($0)]) }
      }
    case .number, .numberIn:
      if field == .port {
        guard case .ip(_, let local) = flow.local, case .ip(_, let remote) = flow.remote else { return false }
        return compare(number: UInt64(local)) || compare(number: UInt64(remote))
      }
      guard let value = flow.number(field) else { return false }
      return compare(number: value)
    }
  }

  func evaluate(process: OwningProcess, _ context: QueryContext) -> Bool {
    switch comparison {
    case .text(let match):
      switch field {
      case .command: return match.matches(process.command)
      case .unit: return process.unit.map { match.matches(Array($0.utf8)) } ?? false
      case .container: return process.container.map { match.matches(Array($0.utf8)) } ?? false
      case .containerName: return process.containerName.map { match.matches(Array($0.utf8)) } ?? false
      case .exe: return process.executable.map { match.matches($0) } ?? false
      case .cmdline:
        return process.commandLine.map { match.matches(Array($0.joined(separator: [UInt8(ascii: " ")]))) } ?? false
      default: return false
      }
    case .member(let values):
      let flags = process.health(context.thresholds)
      return values.contains { flags.contains(HealthFlag.allCases[Int($0)]) }
    case .number, .numberIn:
      switch field {
      case .fdPercent:
        guard let percent = process.fdUsedPercent else { return false }
        return compare(real: percent)
      default:
        guard let value = process.number(field) else { return false }
        return compare(number: value)
      }
    default:
      return false
    }
  }

  func compare(number value: UInt64) -> Bool {
    switch comparison {
    case .number(let op, let literal):
      if let exact = literal.exact {
        switch op {
        case .equal: return value == exact
        case .notEqual: return value != exact
        case .less: return value < exact
        case .lessOrEqual: return value <= exact
        case .greater: return value > exact
        case .greaterOrEqual: return value >= exact
        }
      }
      return compare(real: Double(value))
    case .numberIn(let ranges):
      return ranges.contains { range in
        if let lower = range.lower.exact, let upper = range.upper.exact { return value >= lower && value <= upper }
        return Double(value) >= range.lower.value && Double(value) <= range.upper.value
      }
    default: return false
    }
  }

  func compare(real value: Double) -> Bool {
    switch comparison {
    case .number(let op, let literal):
      switch op {
      case .equal: return value == literal.value
      case .notEqual: return value != literal.value
      case .less: return value < literal.value
      case .lessOrEqual: return value <= literal.value
      case .greater: return value > literal.value
      case .greaterOrEqual: return value >= literal.value
      }
    case .numberIn(let ranges):
      return ranges.contains { value >= $0.lower.value && value <= $0.upper.value }
    default: return false
    }
  }
}

extension TextMatch {
  func matches(_ text: [UInt8]) -> Bool {
    switch self {
    case .equals(let candidates): candidates.contains(text)
    case .contains(let needle): text.contains(subsequence: needle)
    case .regex(let regex): regex.matches(text)
    }
  }
}

extension Array where Element == UInt8 {
  func contains(subsequence needle: [UInt8]) -> Bool {
    if needle.isEmpty { return true }
    guard count >= needle.count else { return false }
    for start in 0...(count - needle.count) where self[start..<(start + needle.count)].elementsEqual(needle) {
      return true
    }
    return false
  }
}

extension Flow {
  /// The value of a number field of the socket; nil when unknown or not applicable.
  func number(_ field: QueryField) -> UInt64? {
    switch field {
    case .stateCode: return hasKnownState ? UInt64(state) : nil
    case .localPort: if case .ip(_, let port) = local { return UInt64(port) } else { return nil }
    case .remotePort: if case .ip(_, let port) = remote { return UInt64(port) } else { return nil }
    case .inode: return inode
    case .cookie: return listedByKernel ? cookie : nil
    case .uid: return uid.map(UInt64.init)
    case .netns: return netns
    case .interface: return listedByKernel ? UInt64(interfaceIndex) : nil
    case .bytesIn: return counters.bytesIn
    case .bytesOut: return counters.bytesOut
    case .packetsIn: return counters.packetsIn
    case .packetsOut: return counters.packetsOut
    case .retransBytes: return counters.bytesRetransmitted
    case .retransmitsTotal: return counters.retransmitsTotal.map(UInt64.init)
    // A socket no table listed has no queues, cookie or interface we know.
    case .recvQ: return listedByKernel ? UInt64(receiveQueue) : nil
    case .sendQ: return listedByKernel ? UInt64(sendQueue) : nil
    case .shutdown: return shutdown.map(UInt64.init)
    case .cgroupID: return cgroupID
    case .mark: return mark.map(UInt64.init)
    case .tos: return tos.map(UInt64.init)
    case .drops: return socketDrops.map(UInt64.init)
    case .protocol: return protocolNumber.map(UInt64.init)
    default: break
    }
    guard let tcp else { return nil }
    switch field {
    case .rttUs, .rtt: return UInt64(tcp.rttMicros)
    case .rttvarUs, .rttvar: return UInt64(tcp.rttVarMicros)
    case .minRttUs, .minRtt: return UInt64(tcp.minRttMicros)
    case .cwnd: return UInt64(tcp.congestionWindow)
    case .retransmits: return UInt64(tcp.retransmits)
    case .lost: return UInt64(tcp.lost)
    case .lastSendMs, .lastSend: return UInt64(tcp.lastDataSentMs)
    case .lastRecvMs, .lastRecv: return UInt64(tcp.lastDataReceivedMs)
    case .idleTime: return UInt64(Swift.min(tcp.lastDataSentMs, tcp.lastDataReceivedMs))
    default: return nil
    }
  }
}

extension OwningProcess {
  /// The value of a number field of the process; nil when unknown (limits of an unread
  /// process, an unlimited limit).
  func number(_ field: QueryField) -> UInt64? {
    switch field {
    case .pid: UInt64(bitPattern: Int64(pid))
    case .ppid: UInt64(bitPattern: Int64(ppid))
    case .user: UInt64(uid)
    case .fdCount: descriptorsReadable ? UInt64(descriptorCount) : nil
    case .fdLimit: fdLimitSoft
    case .fdLimitHard: fdLimitHard
    case .sockets: UInt64(socketCount)
    default: nil
    }
  }
}
