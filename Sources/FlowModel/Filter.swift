/// An address prefix to match an endpoint against (`--local 127.0.0.0/8:80`).
public struct AddressMatch: Sendable, Equatable {
  public var address: IPAddress?
  public var prefixLength: Int
  public var port: UInt16?

  public init(address: IPAddress?, prefixLength: Int, port: UInt16?) {
    self.address = address
    self.prefixLength = prefixLength
    self.port = port
  }

  public func matches(_ endpoint: Endpoint) -> Bool {
    guard case .ip(let candidate, let candidatePort) = endpoint else { return false }
    if let port, port != candidatePort { return false }
    guard let address else { return true }
    switch (address, candidate) {
    case (.v4(let want), .v4(let have)):
      let bits = min(max(prefixLength, 0), 32)
      if bits == 0 { return true }
      let mask: UInt32 = bits == 32 ? .max : ~(UInt32.max >> UInt32(bits))
      return want & mask == have & mask
    case (.v6(let wantHigh, let wantLow), .v6(let haveHigh, let haveLow)):
      let bits = min(max(prefixLength, 0), 128)
      let highBits = min(bits, 64)
      let lowBits = bits - highBits
      let highMask: UInt64 = highBits == 0 ? 0 : (highBits == 64 ? .max : ~(UInt64.max >> UInt64(highBits)))
      let lowMask: UInt64 = lowBits == 0 ? 0 : (lowBits == 64 ? .max : ~(UInt64.max >> UInt64(lowBits)))
      return wantHigh & highMask == haveHigh & highMask && wantLow & lowMask == haveLow & lowMask
    default:
      return false
    }
  }
}

/// Which flows a user asked to see. Applied after collection to what the kernel could not filter.
public struct FlowFilter: Sendable {
  public var pids: Set<Int32>? = nil
  /// Substrings of the command name (any matches), or exact names with `exactCommand`.
  public var commands: [[UInt8]] = []
  public var exactCommand = false
  public var uids: Set<UInt32>? = nil
  public var protocols: Set<TransportProtocol>? = nil
  public var families: Set<AddressFamily>? = nil
  public var interfaces: Set<UInt32>? = nil
  public var states: Set<UInt8>? = nil
  /// Either end's port.
  public var ports: Set<UInt16> = []
  public var local: [AddressMatch] = []
  public var remote: [AddressMatch] = []

  public init() {}

  /// Whether every flow matches: no criterion was given.
  public var isEmpty: Bool {
    pids == nil && commands.isEmpty && uids == nil && protocols == nil && families == nil
      && interfaces == nil && states == nil && ports.isEmpty && local.isEmpty && remote.isEmpty
  }

  /// Whether the owner-based criteria apply at all (they need the process table).
  public var needsOwners: Bool { pids != nil || !commands.isEmpty }

  public func matches(_ flow: Flow, processes: [Int32: OwningProcess]) -> Bool {
    if let protocols, !protocols.contains(flow.proto) { return false }
    if let families, !families.contains(flow.family) { return false }
    if let states, !states.contains(flow.state) { return false }
    if let interfaces, !interfaces.contains(flow.interfaceIndex) { return false }
    if let uids {
      guard let uid = flow.uid, uids.contains(uid) else { return false }
    }
    if !ports.isEmpty {
      guard matchesPort(flow.local) || matchesPort(flow.remote) else { return false }
    }
    if !local.isEmpty, !local.contains(where: { $0.matches(flow.local) }) { return false }
    if !remote.isEmpty, !remote.contains(where: { $0.matches(flow.remote) }) { return false }
    if let pids, !flow.owners.contains(where: { pids.contains($0.pid) }) { return false }
    if !commands.isEmpty {
      let named = flow.owners.contains { owner in
        guard let command = processes[owner.pid]?.command else { return false }
        return commands.contains { matchesCommand(command, $0) }
      }
      if !named { return false }
    }
    return true
  }

  private func matchesPort(_ endpoint: Endpoint) -> Bool {
    if case .ip(_, let port) = endpoint { return ports.contains(port) }
    return false
  }

  private func matchesCommand(_ command: [UInt8], _ wanted: [UInt8]) -> Bool {
    if exactCommand { return command == wanted }
    if wanted.isEmpty { return true }
    guard command.count >= wanted.count else { return false }
    for start in 0...(command.count - wanted.count)
    where command[start..<(start + wanted.count)].elementsEqual(wanted) {
      return true
    }
    return false
  }
}

/// Named groups of states accepted by `--state`, as `ss` users know them.
public enum StateGroup {
  /// What `flowscope` lists without -a, -l or --state: connected sockets, except TIME-WAIT
  /// ones, which no process holds any more.
  public static let defaultStates: Set<UInt8> = {
    var states = Self.states(named: "connected")!
    states.remove(SocketState.timeWait.rawValue)
    return states
  }()

  public static func states(named name: String) -> Set<UInt8>? {
    let all = SocketState.allCases
    switch String(name.lowercased().map { $0 == "_" ? "-" : $0 }) {
    case "all": return Set(all.map(\.rawValue))
    // As ss(8) defines them: connected is every state but LISTEN and CLOSE.
    case "connected":
      return Set(all.filter { $0 != .listen && $0 != .close }.map(\.rawValue))
    case "synchronized":
      return Set(all.filter { $0 != .listen && $0 != .close && $0 != .synSent }.map(\.rawValue))
    case "listening": return [SocketState.listen.rawValue, SocketState.close.rawValue]
    case "bucket": return [SocketState.synReceived.rawValue, SocketState.timeWait.rawValue]
    case "big":
      return Set(all.filter { $0 != .synReceived && $0 != .timeWait }.map(\.rawValue))
    case "closing":
      return Set(
        [SocketState.finWait1, .finWait2, .timeWait, .closeWait, .lastAck, .closing].map(\.rawValue))
    default:
      let key = String(name.uppercased().map { $0 == "_" ? "-" : $0 })
      if let state = all.first(where: { $0.name == key || $0.kernelName.description == name.uppercased() }) {
        return [state.rawValue]
      }
      switch key {
      case "ESTABLISHED": return [SocketState.established.rawValue]
      case "UNCONNECTED", "CLOSE", "CLOSED": return [SocketState.close.rawValue]
      case "SYN-RECEIVED": return [SocketState.synReceived.rawValue]
      default: return nil
      }
    }
  }
}

extension SocketState {
  /// The name the kernel's headers use (`TCP_CLOSE_WAIT` → `CLOSE_WAIT`); the JSON uses these.
  public var kernelName: StaticString {
    switch self {
    case .established: "ESTABLISHED"
    case .synSent: "SYN_SENT"
    case .synReceived: "SYN_RECV"
    case .finWait1: "FIN_WAIT1"
    case .finWait2: "FIN_WAIT2"
    case .timeWait: "TIME_WAIT"
    case .close: "CLOSE"
    case .closeWait: "CLOSE_WAIT"
    case .lastAck: "LAST_ACK"
    case .listen: "LISTEN"
    case .closing: "CLOSING"
    case .newSynReceived: "NEW_SYN_RECV"
    case .boundInactive: "BOUND_INACTIVE"
    }
  }
}
