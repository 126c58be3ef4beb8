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
  // The sockets remembered, in the order of the last dump (then the ones it no longer had): the
  // kernel dumps its sockets in the same order from one collection to the next, so each flow is
  // matched with the entry at a cursor, as `RateTable` matches flows, and only the flows that do
  // not match there go through a hash of cookies (100k of them cost ~10 % of a collection).
  // A socket's cookie is unique: it is in one dump at most once.
  private var cookies: [UInt64] = []
  private var entries: [Tracked] = []
  // Cookie to position in `cookies`, built only after a few lookups (closes, orphans) in one
  // collection; the first few scan the array.
  private var lookupIndex: [UInt64: Int] = [:]
  private var lookupIndexBuilt = false
  private var lookups = 0
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
  public var trackedCount: Int { entries.count }

  /// The group a socket's counters are kept under, if it was seen before.
  public mutating func group(ofCookie cookie: UInt64) -> GroupKey? {
    position(of: cookie).flatMap { slotKeys[entries[$0].slot]?.group }
  }

  /// Where a cookie's entry is: a scan for the first few lookups between two collections, then
  /// a hash built once.
  private mutating func position(of cookie: UInt64) -> Int? {
    if !lookupIndexBuilt {
      lookups += 1
      if lookups <= 16 { return cookies.firstIndex(of: cookie) }
      lookupIndex.removeAll(keepingCapacity: true)
      lookupIndex.reserveCapacity(cookies.count)
      for (position, cookie) in cookies.enumerated() { lookupIndex[cookie] = position }
      lookupIndexBuilt = true
    }
    return lookupIndex[cookie]
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
    lookups = 0
    lookupIndexBuilt = false
    lookupIndex.removeAll(keepingCapacity: true)
    let known = cookies.count
    // For each flow, the position of its entry among the known ones (-1: none).
    var match = [Int](repeating: -1, count: flows.count)
    // For each known entry, whether a flow of this dump matched it.
    var taken = [Bool](repeating: false, count: known)
    var unmatched = 0
    var matched = 0
    flows.withUnsafeBufferPointer { flows in
      cookies.withUnsafeBufferPointer { cookies in
        var cursor = 0
        for index in flows.indices {
          let cookie = flows[index].cookie
          guard cookie != 0 else { continue }
          // The entry at the cursor, or one of the few after it (sockets closed in between).
          var probe = cursor
          while probe < known && probe < cursor + 4 {
            if !taken[probe] && cookies[probe] == cookie { break }
            probe += 1
          }
          if probe < known && probe < cursor + 4 {
            match[index] = probe
            taken[probe] = true
            matched += 1
            cursor = probe + 1
          } else {
            unmatched += 1
          }
        }
      }
    }
    // The rest through a hash of the entries not matched yet (sockets opened since, or dumped
    // in another order). (Flows without a cookie are neither: counted apart, they would hide
    // entries left to match.)
    if unmatched > 0 && matched < known {
      var rest: [UInt64: Int] = [:]
      rest.reserveCapacity(known - matched)
      for position in 0..<known where !taken[position] { rest[cookies[position]] = position }
      flows.withUnsafeBufferPointer { flows in
        for index in flows.indices where match[index] < 0 && flows[index].cookie != 0 {
          if let position = rest[flows[index].cookie], !taken[position] {
            match[index] = position
            taken[position] = true
          }
        }
      }
    }

    var newCookies: [UInt64] = []
    var newEntries: [Tracked] = []
    newCookies.reserveCapacity(max(known, flows.count))
    newEntries.reserveCapacity(max(known, flows.count))
    // Read in place: copying each 200-byte flow out of the array costs more than the sums.
    flows.withUnsafeBufferPointer { flows in
      for index in flows.indices where flows[index].cookie != 0 {
        let cookie = flows[index].cookie
        let counters = flows[index].counters
        let received = counters.bytesIn
        let sent = counters.bytesOut
        let retransmits = counters.retransmitsTotal.map(UInt64.init)
        let position = match[index]
        if position >= 0 {
          var entry = entries[position]
          if entry.pending {
            let flow = flows[index]
            if !flow.owners.isEmpty, let key = group(index, flow) {
              entry.slot = slot(of: CounterKey(group: key, proto: flow.proto))
            }
            entry.pending = false
            entry.lastSeen = collections
            add(&entry, received: received, sent: sent, retransmits: retransmits)
          } else {
            entry.lastSeen = collections
            if !entry.closed {
              Self.add(
                &entry, totals: &totals, lastActive: &lastActive, collections: collections,
                received: received, sent: sent, retransmits: retransmits)
            }
          }
          newCookies.append(cookie)
          newEntries.append(entry)
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
          newCookies.append(cookie)
          newEntries.append(entry)
        }
      }
    }
    // A socket gone from two collections in a row without a destroy message (UDP in another
    // namespace, a lost message): forget it; what it added stays added. One gone from this
    // collection only is kept, after the ones seen.
    for position in 0..<known where !taken[position] && entries[position].lastSeen >= collections - 1 {
      newCookies.append(cookies[position])
      newEntries.append(entries[position])
    }
    cookies = newCookies
    entries = newEntries
    trimGroups()
  }

  /// The final counters of a closed socket (from a destroy message). Adds what grew since the
  /// last collection to the group it was counted under. Returns whether the socket was known.
  @discardableResult
  public mutating func close(_ flow: Flow) -> Bool {
    guard let position = position(of: flow.cookie) else {
      closesUnattributed += 1
      return false
    }
    var entry = entries[position]
    guard !entry.closed else { return false }
    // A pending socket's counters go to the group it waits in (the unowned one).
    entry.pending = false
    add(
      &entry, received: flow.counters.bytesIn, sent: flow.counters.bytesOut,
      retransmits: flow.counters.retransmitsTotal.map(UInt64.init))
    entry.closed = true
    entries[position] = entry
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
    let live = Set(entries.map(\.slot))
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
    for position in entries.indices { entries[position].slot = renumbered[entries[position].slot] }
  }
}
