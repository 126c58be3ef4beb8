// The vocabulary of selections: address prefixes, state groups and state names. The query
// language (FlowQuery) builds on these.

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
    guard case .ip(var candidate, let candidatePort) = endpoint else { return false }
    if let port, port != candidatePort { return false }
    guard let address else { return true }
    // As the kernel's filter does: an IPv4 prefix also matches an IPv4-mapped IPv6 address
    // (::ffff:a.b.c.d), so a filter gives the same answer in the kernel and here.
    if case .v4 = address, case .v6(0, let low) = candidate, low >> 32 == 0xffff {
      candidate = .v4(UInt32(truncatingIfNeeded: low))
    }
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
      // Any case, with or without `-` and `_`: `close-wait`, `CLOSE_WAIT`, `fin-wait-1`.
      func squeezed(_ text: String) -> String {
        String(text.uppercased().filter { $0 != "-" && $0 != "_" })
      }
      let key = squeezed(name)
      if let state = all.first(where: { squeezed($0.name) == key || squeezed($0.kernelName.description) == key }) {
        return [state.rawValue]
      }
      switch key {
      case "UNCONNECTED", "CLOSED": return [SocketState.close.rawValue]
      case "SYNRECEIVED": return [SocketState.synReceived.rawValue]
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
