// Rates for `flowscope watch`: what changed between two snapshots. Pure.
//
// A flow is the same flow in both snapshots when its key matches: its network namespace and
// socket cookie (unique for the socket's life), or its inode when the kernel gave no cookie.
// Byte rates are counter deltas divided by the time between the snapshots. A counter that went
// backwards (a reused key) gives no rate rather than a huge one.

/// How a flow is recognised from one snapshot to the next.
public struct FlowKey: Sendable, Hashable {
  public var netns: UInt64
  /// The cookie, or the inode with the top bit set when the cookie is 0.
  public var id: UInt64

  public init(_ flow: Flow) {
    self.init(netns: flow.netns, cookie: flow.cookie, inode: flow.inode)
  }

  /// From the fields alone, so hot loops need not copy the whole flow.
  @inline(__always)
  public init(netns: UInt64, cookie: UInt64, inode: UInt64) {
    self.netns = netns
    id = cookie != 0 ? cookie : (inode | (1 << 63))
  }
}

/// Whether a flow is new, gone, or was there both times.
public enum FlowChange: Sendable, Equatable {
  case continuing
  /// Not in the previous snapshot (and there was one).
  case new
  /// In the previous snapshot, not in this one: shown once, with its last counters.
  case closed
}

/// One flow's movement since the previous snapshot.
public struct FlowRate: Sendable, Equatable {
  public var change: FlowChange
  /// Bytes since the previous snapshot; nil without counters, without a previous snapshot, or
  /// for a closed flow. A new flow counts all its bytes (it began within the interval).
  public var deltaIn: UInt64?
  public var deltaOut: UInt64?
  /// Bytes per second over the interval; nil when the delta is.
  public var rateIn: Double?
  public var rateOut: Double?

  public init(
    change: FlowChange = .continuing, deltaIn: UInt64? = nil, deltaOut: UInt64? = nil,
    rateIn: Double? = nil, rateOut: Double? = nil
  ) {
    self.change = change
    self.deltaIn = deltaIn
    self.deltaOut = deltaOut
    self.rateIn = rateIn
    self.rateOut = rateOut
  }

  /// In and out together, for sorting; nil when neither is known.
  public var rateTotal: Double? {
    if rateIn == nil && rateOut == nil { return nil }
    return (rateIn ?? 0) + (rateOut ?? 0)
  }
}

/// One process's flows summed up.
public struct ProcessRate: Sendable, Equatable {
  public var pid: Int32
  /// Open flows the process holds (in this snapshot), new ones among them, and its flows that
  /// closed since the previous snapshot.
  public var flows = 0
  public var newFlows = 0
  public var closedFlows = 0
  /// Totals over its open flows; nil when none has a counter.
  public var bytesIn: UInt64?
  public var bytesOut: UInt64?
  public var deltaIn: UInt64?
  public var deltaOut: UInt64?
  public var rateIn: Double?
  public var rateOut: Double?

  public init(pid: Int32) { self.pid = pid }

  public var rateTotal: Double? {
    if rateIn == nil && rateOut == nil { return nil }
    return (rateIn ?? 0) + (rateOut ?? 0)
  }
}

/// What changed between two snapshots.
public struct RateTable: Sendable {
  /// Seconds between the snapshots; nil for the first one.
  public var seconds: Double?
  /// One entry per flow of the current snapshot, in its order.
  public var flows: [FlowRate]
  /// Flows of the previous snapshot that are gone, in their order there (with a `CloseFold`,
  /// also flows that opened and closed between the two snapshots, last).
  public var closed: [Flow]
  /// The movement of each closed flow, in the order of `closed`: its last bytes when its final
  /// counters are known (a `CloseFold`); empty when none is (read through `closedRate(at:)`).
  public var closedRates: [FlowRate] = []
  /// Per process (of the current snapshot's owners, and the owners of closed flows), by pid.
  public var processes: [Int32: ProcessRate]

  public var newCount: Int { flows.reduce(0) { $0 + ($1.change == .new ? 1 : 0) } }

  /// The movement of `closed[index]`: no delta unless its final counters were folded in.
  public func closedRate(at index: Int) -> FlowRate {
    index < closedRates.count ? closedRates[index] : FlowRate(change: .closed)
  }

  /// Bytes per second in and out over every flow, the closed ones' last bytes included; nil
  /// for the first snapshot.
  public var totalRates: (rateIn: Double, rateOut: Double)? {
    guard seconds != nil else { return nil }
    var totalIn = 0.0
    var totalOut = 0.0
    for rate in flows {
      totalIn += rate.rateIn ?? 0
      totalOut += rate.rateOut ?? 0
    }
    for rate in closedRates {
      totalIn += rate.rateIn ?? 0
      totalOut += rate.rateOut ?? 0
    }
    return (totalIn, totalOut)
  }

  /// Compares `current` with `previous` (nil for the first refresh: no rates, nothing new).
  /// Both should hold the flows after the same filters.
  public static func compute(previous: Snapshot?, current: Snapshot) -> RateTable {
    compute(previous: previous, current: current, summarizing: true).table
  }

  /// `compute(previous:current:)`, with the match of each current flow in `previous`; the
  /// per-process sums only when `summarizing`.
  static func compute(
    previous: Snapshot?, current: Snapshot, summarizing: Bool
  ) -> (table: RateTable, earlier: [Int?]) {
    guard let previous else {
      let rates = Array(repeating: FlowRate(), count: current.flows.count)
      var table = RateTable(seconds: nil, flows: rates, closed: [], processes: [:])
      if summarizing { table.processes = summarize(current.flows, rates: rates, closed: []) }
      return (table, [Int?](repeating: nil, count: current.flows.count))
    }
    var rates: [FlowRate] = []
    rates.reserveCapacity(current.flows.count)
    let seconds = max(current.time - previous.time, 1e-6)
    let earlier = matchPrevious(previous.flows, current.flows)
    var seen = [Bool](repeating: false, count: previous.flows.count)
    // Indexing in place rather than copying flows: a Flow copy retains its arrays and strings.
    for position in current.flows.indices {
      var rate = FlowRate()
      let now = current.flows[position].counters
      if let index = earlier[position] {
        seen[index] = true
        let then = previous.flows[index].counters
        rate.deltaIn = delta(now.bytesIn, then.bytesIn)
        rate.deltaOut = delta(now.bytesOut, then.bytesOut)
      } else {
        rate.change = .new
        rate.deltaIn = now.bytesIn
        rate.deltaOut = now.bytesOut
      }
      rate.rateIn = rate.deltaIn.map { Double($0) / seconds }
      rate.rateOut = rate.deltaOut.map { Double($0) / seconds }
      rates.append(rate)
    }
    var closed: [Flow] = []
    for index in previous.flows.indices where !seen[index] { closed.append(previous.flows[index]) }
    var table = RateTable(seconds: seconds, flows: rates, closed: closed, processes: [:])
    if summarizing { table.processes = summarize(current.flows, rates: rates, closed: closed) }
    return (table, earlier)
  }

  /// For each current flow, the index of the same flow in `previous`, if it was there.
  ///
  /// The kernel dumps sockets in the same order from one refresh to the next, so most flows
  /// are found by walking both lists side by side (allowing a few closed flows in between);
  /// only the rest go through a hash index, built from the previous flows not matched yet.
  /// At 100k flows this avoids 200k random memory accesses per refresh.
  static func matchPrevious(_ previous: [Flow], _ current: [Flow]) -> [Int?] {
    @inline(__always) func key(_ flows: [Flow], _ index: Int) -> FlowKey {
      FlowKey(netns: flows[index].netns, cookie: flows[index].cookie, inode: flows[index].inode)
    }
    var match = [Int?](repeating: nil, count: current.count)
    var taken = [Bool](repeating: false, count: previous.count)
    var cursor = 0
    var unmatched = 0
    for position in current.indices {
      let wanted = key(current, position)
      // The next previous flow, or one of the few after it (flows closed in between).
      var probe = cursor
      while probe < previous.count && probe < cursor + 4 {
        if !taken[probe] && key(previous, probe) == wanted { break }
        probe += 1
      }
      if probe < previous.count && probe < cursor + 4 {
        match[position] = probe
        taken[probe] = true
        cursor = probe + 1
      } else {
        unmatched += 1
      }
    }
    guard unmatched > 0 else { return match }
    var index = FlowIndex(capacity: previous.count - (current.count - unmatched))
    for i in previous.indices where !taken[i] { index.insert(key(previous, i), i) }
    for position in current.indices where match[position] == nil {
      if let i = index.find(key(current, position)), !taken[i] {
        match[position] = i
        taken[i] = true
      }
    }
    return match
  }

  /// `now - then` for a counter; nil when either is unknown or it went backwards.
  static func delta(_ now: UInt64?, _ then: UInt64?) -> UInt64? {
    guard let now, let then, now >= then else { return nil }
    return now - then
  }

  /// Sums per process, counting a socket once per process however many descriptors hold it.
  /// A closed flow's last bytes (`closedRates`, when known) add to its owners' deltas and rates.
  static func summarize(
    _ flows: [Flow], rates: [FlowRate], closed: [Flow], closedRates: [FlowRate] = []
  ) -> [Int32: ProcessRate] {
    var result: [Int32: ProcessRate] = [:]
    func add(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
      guard let b else { return a }
      return (a ?? 0) &+ b
    }
    func addRate(_ a: Double?, _ b: Double?) -> Double? {
      guard let b else { return a }
      return (a ?? 0) + b
    }
    for index in flows.indices where !flows[index].owners.isEmpty {
      let rate = rates[index]
      let owners = flows[index].owners
      let counters = flows[index].counters
      for (position, owner) in owners.enumerated()
      where position == 0 || !owners[..<position].contains(where: { $0.pid == owner.pid }) {
        result[owner.pid, default: ProcessRate(pid: owner.pid)].add(rate, counters, add, addRate)
      }
    }
    for (index, flow) in closed.enumerated() {
      let rate = index < closedRates.count ? closedRates[index] : nil
      for (position, owner) in flow.owners.enumerated()
      where !flow.owners[..<position].contains(where: { $0.pid == owner.pid }) {
        result[owner.pid, default: ProcessRate(pid: owner.pid)].closedFlows += 1
        if let rate, rate.deltaIn != nil || rate.deltaOut != nil {
          result[owner.pid]!.deltaIn = add(result[owner.pid]!.deltaIn, rate.deltaIn)
          result[owner.pid]!.deltaOut = add(result[owner.pid]!.deltaOut, rate.deltaOut)
          result[owner.pid]!.rateIn = addRate(result[owner.pid]!.rateIn, rate.rateIn)
          result[owner.pid]!.rateOut = addRate(result[owner.pid]!.rateOut, rate.rateOut)
        }
      }
    }
    return result
  }
}

extension ProcessRate {
  fileprivate mutating func add(
    _ rate: FlowRate, _ counters: FlowCounters, _ add: (UInt64?, UInt64?) -> UInt64?,
    _ addRate: (Double?, Double?) -> Double?
  ) {
    flows += 1
    if rate.change == .new { newFlows += 1 }
    bytesIn = add(bytesIn, counters.bytesIn)
    bytesOut = add(bytesOut, counters.bytesOut)
    deltaIn = add(deltaIn, rate.deltaIn)
    deltaOut = add(deltaOut, rate.deltaOut)
    rateIn = addRate(rateIn, rate.rateIn)
    rateOut = addRate(rateOut, rate.rateOut)
  }
}

/// FlowKey → index, open addressing with linear probing and a multiplicative hash: at 100k
/// flows per refresh, a Dictionary's seeded SipHash is most of the cost of the rates.
public struct FlowIndex {
  private var netns: [UInt64]
  private var ids: [UInt64]
  /// index + 1; 0 is an empty slot.
  private var slots: [Int32]
  private let mask: Int

  public init(capacity: Int) {
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    netns = [UInt64](repeating: 0, count: size)
    ids = [UInt64](repeating: 0, count: size)
    slots = [Int32](repeating: 0, count: size)
    mask = size - 1
  }

  @inline(__always) private func start(_ key: FlowKey) -> Int {
    let mixed = (key.id ^ (key.netns &* 0x9E37_79B9_7F4A_7C15)) &* 0xBF58_476D_1CE4_E5B9
    return Int(truncatingIfNeeded: mixed >> 32) & mask
  }

  /// Adds `key`; a key already present keeps its first index.
  public mutating func insert(_ key: FlowKey, _ index: Int) {
    var slot = start(key)
    while slots[slot] != 0 {
      if ids[slot] == key.id && netns[slot] == key.netns { return }
      slot = (slot + 1) & mask
    }
    slots[slot] = Int32(truncatingIfNeeded: index + 1)
    ids[slot] = key.id
    netns[slot] = key.netns
  }

  public func find(_ key: FlowKey) -> Int? {
    var slot = start(key)
    while slots[slot] != 0 {
      if ids[slot] == key.id && netns[slot] == key.netns { return Int(slots[slot]) - 1 }
      slot = (slot + 1) & mask
    }
    return nil
  }
}
