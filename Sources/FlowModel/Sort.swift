/// What `--sort` orders flows by. A leading `-` in the option sorts descending.
public enum FlowSortKey: String, Sendable, CaseIterable {
  case proto, local, remote, state, process, pid, inode, rtt, retrans, netns
  case bytesIn = "bytes-in"
  case bytesOut = "bytes-out"
  case packetsIn = "pkts-in"
  case packetsOut = "pkts-out"
  case recvQ = "recv-q"
  case sendQ = "send-q"
}

public struct FlowSort: Sendable {
  public var key: FlowSortKey
  public var descending: Bool

  /// Parses `bytes-in` or `-bytes-in`; nil for an unknown field.
  public init?(_ text: String) {
    let descending = text.hasPrefix("-")
    guard let key = FlowSortKey(rawValue: String(text.dropFirst(descending ? 1 : 0))) else {
      return nil
    }
    self.key = key
    self.descending = descending
  }

  /// Sorts stably; unknown values (nil counters) sort last in either direction.
  public func apply(to flows: inout [Flow], processes: [Int32: OwningProcess]) {
    let decorated = flows.enumerated().map { (index: $0.offset, key: sortValue($0.element, processes)) }
    let order = decorated.sorted { left, right in
      let order = compare(left.key, right.key)
      return order == 0 ? left.index < right.index : (descending ? order > 0 : order < 0)
    }
    flows = order.map { flows[$0.index] }
  }

  private enum Value {
    case number(UInt64?)
    case bytes([UInt8])
  }

  private func compare(_ left: Value, _ right: Value) -> Int {
    switch (left, right) {
    case (.number(let a), .number(let b)):
      switch (a, b) {
      case (nil, nil): return 0
      // nil last whichever way the sort goes.
      case (nil, _): return descending ? -1 : 1
      case (_, nil): return descending ? 1 : -1
      case (let a?, let b?): return a == b ? 0 : (a < b ? -1 : 1)
      }
    case (.bytes(let a), .bytes(let b)):
      return a.lexicographicallyPrecedes(b) ? -1 : (a == b ? 0 : 1)
    default: return 0
    }
  }

  private func sortValue(_ flow: Flow, _ processes: [Int32: OwningProcess]) -> Value {
    switch key {
    case .proto: .bytes(Array(flow.proto.rawValue.utf8))
    case .local: .bytes(endpointKey(flow.local))
    case .remote: .bytes(endpointKey(flow.remote))
    case .state: .number(UInt64(flow.state))
    case .process: .bytes(flow.owners.first.flatMap { processes[$0.pid]?.command } ?? [0xff])
    case .pid: .number(flow.owners.first.map { UInt64($0.pid) })
    case .inode: .number(flow.inode)
    case .rtt: .number(flow.tcp.map { UInt64($0.rttMicros) })
    case .retrans: .number(flow.counters.bytesRetransmitted)
    case .netns: .number(flow.netns)
    case .bytesIn: .number(flow.counters.bytesIn)
    case .bytesOut: .number(flow.counters.bytesOut)
    case .packetsIn: .number(flow.counters.packetsIn)
    case .packetsOut: .number(flow.counters.packetsOut)
    case .recvQ: .number(UInt64(flow.receiveQueue))
    case .sendQ: .number(UInt64(flow.sendQueue))
    }
  }

  /// Orders endpoints by family, address bytes, then port.
  private func endpointKey(_ endpoint: Endpoint) -> [UInt8] {
    func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }
    switch endpoint {
    case .ip(.v4(let address), let port):
      return [4] + bigEndian(UInt64(address) << 32).prefix(4) + [UInt8(port >> 8), UInt8(port & 0xff)]
    case .ip(.v6(let high, let low), let port):
      return [6] + bigEndian(high) + bigEndian(low) + [UInt8(port >> 8), UInt8(port & 0xff)]
    case .unixPath(let path): return [1] + path
    case .unixAbstract(let name): return [2] + name
    default: return [0xff]
    }
  }
}
