import FlowModel

// The counters kept across collections, so that they never go backwards: each socket's last
// seen byte and retransmit counts are remembered by cookie, and only what grew since is added
// to its group. A closed socket's final counters (from the sock_diag destroy messages) add the
// bytes of its last interval; a socket that vanishes without one keeps what it had added. A
// group whose processes come and go keeps its counters. Pure: no I/O.

/// What a group's counters hold for one protocol.
public struct GroupCounters: Sendable, Equatable {
  public var receivedBytes: UInt64 = 0
  public var sentBytes: UInt64 = 0
  public var retransmittedSegments: UInt64 = 0
  /// Whether any socket of the group and protocol had byte counters (UDP, UNIX... have none).
  public var hasBytes = false
  /// Whether any had a retransmission count (TCP).
  public var hasRetransmits = false
  public init() {}
}

/// A group and a protocol: the key of the counters.
public struct CounterKey: Hashable, Sendable {
  public var group: GroupKey
  public var proto: TransportProtocol
  public init(group: GroupKey, proto: TransportProtocol) {
    self.group = group
    self.proto = proto
  }
}

public struct CounterLedger: Sendable {
  struct Tracked {
    /// Where its group's counters are in `totals`.
    var slot: Int
    var received: UInt64
    var sent: UInt64
    var retransmits: UInt64
    /// The collection that last saw it in a dump.
    var lastSeen: Int
    /// Closed by a destroy message: a later sighting of the cookie (the TIME_WAIT socket that
    /// inherits it) adds nothing.
    var closed: Bool
    /// Seen once with no owner, nothing added yet: the owner cache names the owners of a new
    /// socket of a known process one refresh later, so its counters wait for the next sighting
    /// (then go to the owner's group, or to `slot`, the unowned one).
    var pending = false
  }

  // The counters by slot: a flow's bytes are added by array index, not by hashing its group's
  // label values (100k flows per collection).
  private var slots: [CounterKey: Int] = [:]
  private var slotKeys: [CounterKey?] = []
  private var totals: [GroupCounters] = []
  private var lastActive: [Int] = []
  private var tracked: [UInt64: Tracked] = [:]
  /// Collections absorbed so far.
  public private(set) var collections = 0
  /// Closes whose final counters were added to a group.
  public private(set) var closesFolded: UInt64 = 0
  /// Closes of sockets no collection saw (born and gone between two): no group to add them to.
  public private(set) var closesUnattributed: UInt64 = 0
  /// Keeps at most this many groups' counters; beyond, the ones idle longest are forgotten.
  public var maximumGroups: Int

  public init(maximumGroups: Int = 100_000) { self.maximumGroups = maximumGroups }

  /// Sockets remembered now.
  public var trackedCount: Int { tracked.count }

  /// The group a socket's counters are kept under, if it was seen before.
  public func group(ofCookie cookie: UInt64) -> GroupKey? {
    tracked[cookie].flatMap { slotKeys[$0.slot]?.group }
  }

  /// Every group's counters.
  public var counters: [CounterKey: GroupCounters] {
    var all: [CounterKey: GroupCounters] = [:]
    for (slot, key) in slotKeys.enumerated() { if let key { all[key] = totals[slot] } }
    return all
  }

  /// Adds the growth of each flow's counters to its group. `group(index, flow)` is the group of
  /// `flows[index]`, nil to leave it out; it is asked only for flows seen for the first time: a
  /// flow already known keeps the group it was first counted under (an orphan finishing its FIN
  /// exchange has no owner any more).
  public mutating func absorb(_ flows: [Flow], group: (Int, Flow) -> GroupKey?) {
    collections += 1
    // Sockets known before and seen again: when that is every one, none went stale.
    var seenAgain = 0
    let knownBefore = tracked.count
    // Read in place: copying each 200-byte flow out of the array costs more than the sums.
    flows.withUnsafeBufferPointer { flows in
      for index in flows.indices where flows[index].cookie != 0 {
        let cookie = flows[index].cookie
        let counters = flows[index].counters
        let received = counters.bytesIn
        let sent = counters.bytesOut
        let retransmits = counters.retransmitsTotal.map(UInt64.init)
        // One hash per known socket: its entry is updated where it lies.
        if let position = tracked.index(forKey: cookie), tracked.values[position].pending {
          var entry = tracked.values[position]
          let flow = flows[index]
          if !flow.owners.isEmpty, let key = group(index, flow) {
            entry.slot = slot(of: CounterKey(group: key, proto: flow.proto))
          }
          entry.pending = false
          if entry.lastSeen < collections { seenAgain += 1 }
          entry.lastSeen = collections
          add(&entry, received: received, sent: sent, retransmits: retransmits)
          tracked[cookie] = entry
        } else if let position = tracked.index(forKey: cookie) {
          if tracked.values[position].lastSeen < collections { seenAgain += 1 }
          tracked.values[position].lastSeen = collections
          if !tracked.values[position].closed {
            Self.add(
              &tracked.values[position], totals: &totals, lastActive: &lastActive, collections: collections,
              received: received, sent: sent, retransmits: retransmits)
          }
        } else {
          let flow = flows[index]
          guard received != nil || sent != nil || retransmits != nil else { continue }
          guard let key = group(index, flow).map({ CounterKey(group: $0, proto: flow.proto) }) else { continue }
          var entry = Tracked(
            slot: slot(of: key), received: 0, sent: 0, retransmits: 0, lastSeen: collections, closed: false)
          if flow.owners.isEmpty {
            entry.pending = true
          } else {
            add(&entry, received: received, sent: sent, retransmits: retransmits)
          }
          tracked[cookie] = entry
        }
      }
    }
    // A socket gone from two collections in a row without a destroy message (UDP in another
    // namespace, a lost message): forget it; what it added stays added.
    // (Walking every socket to find none stale is skipped when all were seen again.)
    if seenAgain < knownBefore {
      let stale = tracked.compactMap { $0.value.lastSeen < collections - 1 ? $0.key : nil }
      for cookie in stale { tracked[cookie] = nil }
    }
    trimGroups()
  }

  /// The final counters of a closed socket (from a destroy message). Adds what grew since the
  /// last collection to the group it was counted under. Returns whether the socket was known.
  @discardableResult
  public mutating func close(_ flow: Flow) -> Bool {
    guard var entry = tracked[flow.cookie], !entry.closed else {
      if tracked[flow.cookie] == nil { closesUnattributed += 1 }
      return false
    }
    // A pending socket's counters go to the group it waits in (the unowned one).
    entry.pending = false
    add(
      &entry, received: flow.counters.bytesIn, sent: flow.counters.bytesOut,
      retransmits: flow.counters.retransmitsTotal.map(UInt64.init))
    entry.closed = true
    tracked[flow.cookie] = entry
    closesFolded += 1
    return true
  }

  /// The counters of the groups that had any, in group order.
  public func sorted() -> [(CounterKey, GroupCounters)] {
    counters.sorted { a, b in
      a.key.group != b.key.group ? a.key.group < b.key.group : a.key.proto.rawValue < b.key.proto.rawValue
    }
  }

  private mutating func slot(of key: CounterKey) -> Int {
    if let slot = slots[key] { return slot }
    slotKeys.append(key)
    totals.append(GroupCounters())
    lastActive.append(collections)
    slots[key] = totals.count - 1
    return totals.count - 1
  }

  private mutating func add(_ entry: inout Tracked, received: UInt64?, sent: UInt64?, retransmits: UInt64?) {
    Self.add(
      &entry, totals: &totals, lastActive: &lastActive, collections: collections, received: received, sent: sent,
      retransmits: retransmits)
  }

  private static func add(
    _ entry: inout Tracked, totals: inout [GroupCounters], lastActive: inout [Int], collections: Int,
    received: UInt64?, sent: UInt64?, retransmits: UInt64?
  ) {
    let slot = entry.slot
    // A counter smaller than last time (a TIME_WAIT socket reports none) adds nothing.
    if let received {
      totals[slot].hasBytes = true
      if received > entry.received {
        totals[slot].receivedBytes &+= received - entry.received
        entry.received = received
      }
    }
    if let sent {
      totals[slot].hasBytes = true
      if sent > entry.sent {
        totals[slot].sentBytes &+= sent - entry.sent
        entry.sent = sent
      }
    }
    if let retransmits {
      totals[slot].hasRetransmits = true
      if retransmits > entry.retransmits {
        totals[slot].retransmittedSegments &+= retransmits - entry.retransmits
        entry.retransmits = retransmits
      }
    }
    lastActive[slot] = collections
  }

  /// Past `maximumGroups`, forgets the groups idle longest (their series then go stale; a
  /// bound on memory for `--by pid` under churn), and compacts the slots.
  private mutating func trimGroups() {
    guard slots.count > maximumGroups else { return }
    let live = Set(tracked.values.map(\.slot))
    let idle = slots.values.filter { !live.contains($0) }.sorted { lastActive[$0] < lastActive[$1] }
    for slot in idle.prefix(slots.count - maximumGroups) {
      if let key = slotKeys[slot] { slots[key] = nil }
      slotKeys[slot] = nil
    }
    // Compact: the kept slots renumbered in order.
    var renumbered = [Int](repeating: -1, count: slotKeys.count)
    var keys: [CounterKey?] = []
    var kept: [GroupCounters] = []
    var active: [Int] = []
    for (slot, key) in slotKeys.enumerated() where key != nil {
      renumbered[slot] = keys.count
      keys.append(key)
      kept.append(totals[slot])
      active.append(lastActive[slot])
    }
    slotKeys = keys
    totals = kept
    lastActive = active
    slots = [:]
    for (slot, key) in keys.enumerated() { slots[key!] = slot }
    for cookie in Array(tracked.keys) { tracked[cookie]!.slot = renumbered[tracked[cookie]!.slot] }
  }
}
