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
    stableSort(&flows, descending: descending) { sortValue($0, processes) }
  }

  private func sortValue(_ flow: Flow, _ processes: [Int32: OwningProcess]) -> SortValue {
    switch key {
    case .proto: .bytes(Array(flow.proto.rawValue.utf8))
    case .local: .bytes(endpointKey(flow.local))
    case .remote: .bytes(endpointKey(flow.remote))
    case .state: .count(UInt64(flow.state))
    case .process: .bytes(flow.owners.first.flatMap { processes[$0.pid]?.command } ?? [0xff])
    case .pid: .count(flow.owners.first.map { UInt64($0.pid) })
    case .inode: .count(flow.inode)
    case .rtt: .count(flow.tcp.map { UInt64($0.rttMicros) })
    case .retrans: .count(flow.counters.bytesRetransmitted)
    case .netns: .count(flow.netns)
    case .bytesIn: .count(flow.counters.bytesIn)
    case .bytesOut: .count(flow.counters.bytesOut)
    case .packetsIn: .count(flow.counters.packetsIn)
    case .packetsOut: .count(flow.counters.packetsOut)
    case .recvQ: .count(UInt64(flow.receiveQueue))
    case .sendQ: .count(UInt64(flow.sendQueue))
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

/// What one row sorts by: a number (nil when unknown) or bytes compared lexicographically.
enum SortValue {
  case number(Double?)
  case bytes([UInt8])

  /// Counters, inodes and ports: exact in a Double up to 2^53, plenty to order them.
  static func count(_ value: UInt64?) -> SortValue { .number(value.map(Double.init)) }
}

/// Sorts `items` stably by `value`; unknown numbers go last whichever way the sort goes.
func stableSort<Item>(_ items: inout [Item], descending: Bool, by value: (Item) -> SortValue) {
  func compare(_ left: SortValue, _ right: SortValue) -> Int {
    switch (left, right) {
    case (.number(let a), .number(let b)):
      switch (a, b) {
      case (nil, nil): return 0
      case (nil, _): return descending ? -1 : 1
      case (_, nil): return descending ? 1 : -1
      case (let a?, let b?): return a == b ? 0 : (a < b ? -1 : 1)
      }
    case (.bytes(let a), .bytes(let b)):
      return a.lexicographicallyPrecedes(b) ? -1 : (a == b ? 0 : 1)
    default: return 0
    }
  }
  let keyed = items.enumerated().map { (index: $0.offset, value: value($0.element)) }
  let order = keyed.sorted { left, right in
    let c = compare(left.value, right.value)
    return c == 0 ? left.index < right.index : (descending ? c > 0 : c < 0)
  }
  items = order.map { items[$0.index] }
}
