// The final counters of closed sockets, folded into `watch`'s rates. Pure.
//
// Between two refreshes a TCP connection can move bytes and close: the dump of the next
// refresh no longer has it, so the bytes of its last partial interval were never counted. The
// kernel's destroy messages (the machinery of `events` and `serve`) carry each closed socket's
// final counters; `CloseFold` keeps them until a refresh matches them by key (namespace and
// cookie) and `RateTable.compute(previous:current:fold:admitsUnseen:)` uses them:
//
// - a flow of the previous refresh gone from this one: its last bytes are final - last seen;
// - a flow now in TIME_WAIT (the kernel keeps the cookie, the counters are gone): the same;
// - a flow that opened and closed between the two refreshes: one closed line with all its bytes.
//
// A message can come after the refresh that found its socket gone (the kernel sends it from a
// work queue); such a flow is held back one refresh, then reported with or without it.

public struct CloseFold: Sendable {
  /// Whether destroy messages are read at all; without them the rates are as before.
  public let enabled: Bool
  /// The network namespace whose closes the messages report (the destroy socket's own).
  public var netns: UInt64

  /// Finals not matched yet, with the refresh they arrived before.
  var pending: [(flow: Flow, arrived: Int)] = []
  /// Flows gone without a final yet, from the last refresh.
  var held: [Flow] = []
  /// Keys reported closed without a final lately (a very late final must not count as a new
  /// flow's bytes), with the refresh.
  var reportedWithout: [FlowKey: Int] = [:]
  var refreshes = 0
  /// Finals used, and the flows they told of that no refresh saw.
  public internal(set) var finalsFolded: UInt64 = 0
  public internal(set) var unseenFlows: UInt64 = 0

  /// `enabled` false: no fold, today's rates.
  public init(enabled: Bool, netns: UInt64 = 0) {
    self.enabled = enabled
    self.netns = netns
  }

  /// Adds the final flows of closed sockets (decoded from destroy messages), to be matched by
  /// the next `RateTable.compute`, read in namespace `netns` (the destroy socket's).
  public mutating func arrive(_ finals: [Flow], netns: UInt64) {
    guard enabled else { return }
    self.netns = netns
    for var flow in finals where flow.cookie != 0 {
      flow.netns = netns
      pending.append((flow, refreshes))
    }
  }

  /// Whether a flow's close would come as a destroy message with counters worth waiting for.
  func waitsForFinal(_ flow: borrowing Flow) -> Bool {
    enabled && flow.proto == .tcp && flow.netns == netns && flow.cookie != 0
      && (flow.counters.bytesIn != nil || flow.counters.bytesOut != nil)
  }

  /// `final` with what the refreshes knew of its socket: owners, namespace, inode.
  static func merged(final: Flow, seen: Flow) -> Flow {
    var flow = final
    flow.owners = seen.owners
    flow.netns = seen.netns
    flow.inode = seen.inode
    if flow.tcp?.congestionControl == nil, let known = seen.tcp?.congestionControl {
      flow.tcp?.congestionControl = known
    }
    if flow.cgroupID == nil { flow.cgroupID = seen.cgroupID }
    return flow
  }
}

extension RateTable {
  /// `compute(previous:current:)` with the closes of `fold`: each closed TCP flow's last bytes
  /// count in the refresh that finds it closed, in its `closedRates` entry and its owners'
  /// deltas. `admitsUnseen` says whether a flow that opened and closed between the two
  /// refreshes (no owner known) passes the command's filters.
  public static func compute(
    previous: Snapshot?, current: Snapshot, fold: inout CloseFold, admitsUnseen: (Flow) -> Bool
  ) -> RateTable {
    guard fold.enabled, let previous else {
      fold.refreshes += 1
      fold.pending.removeAll()
      return compute(previous: previous, current: current)
    }
    var (table, earlier) = compute(previous: previous, current: current, summarizing: false)
    let seconds = table.seconds ?? 1e-6
    fold.refreshes += 1
    let refresh = fold.refreshes

    // The pending finals, indexed by key; each used at most once.
    var index = FlowIndex(capacity: fold.pending.count)
    for (position, entry) in fold.pending.enumerated() { index.insert(FlowKey(entry.flow), position) }
    var used = [Bool](repeating: false, count: fold.pending.count)
    var inCurrent = [Bool](repeating: false, count: fold.pending.count)
    func take(_ key: FlowKey) -> Flow? {
      guard let position = index.find(key), !used[position] else { return nil }
      used[position] = true
      return fold.pending[position].flow
    }
    func rate(_ change: FlowChange, final: Flow, since seen: FlowCounters?) -> FlowRate {
      var rate = FlowRate(change: change)
      rate.deltaIn = seen.map { delta(final.counters.bytesIn, $0.bytesIn) } ?? final.counters.bytesIn
      rate.deltaOut = seen.map { delta(final.counters.bytesOut, $0.bytesOut) } ?? final.counters.bytesOut
      rate.rateIn = rate.deltaIn.map { Double($0) / seconds }
      rate.rateOut = rate.deltaOut.map { Double($0) / seconds }
      return rate
    }

    // Current flows: a socket that left its counters behind (TIME_WAIT keeps the cookie) takes
    // its final here; one still counting died after the dump and waits for the next refresh.
    if !fold.pending.isEmpty {
      for position in current.flows.indices {
        let key = FlowKey(
          netns: current.flows[position].netns, cookie: current.flows[position].cookie,
          inode: current.flows[position].inode)
        guard let found = index.find(key), !used[found] else { continue }
        inCurrent[found] = true
        let counters = current.flows[position].counters
        guard counters.bytesIn == nil && counters.bytesOut == nil else { continue }
        let seen = earlier[position].map { previous.flows[$0].counters }
        if let seen, seen.bytesIn == nil && seen.bytesOut == nil { continue }
        let final = take(key)!
        table.flows[position] = rate(table.flows[position].change, final: final, since: seen)
        fold.finalsFolded += 1
      }
    }

    // Flows gone since the previous refresh: with their final, held back one refresh for it,
    // or as before.
    var closed: [Flow] = []
    var closedRates: [FlowRate] = []
    var held: [Flow] = []
    for flow in fold.held {
      if let final = take(FlowKey(flow)) {
        closed.append(CloseFold.merged(final: final, seen: flow))
        closedRates.append(rate(.closed, final: final, since: flow.counters))
        fold.finalsFolded += 1
      } else {
        closed.append(flow)
        closedRates.append(FlowRate(change: .closed))
        fold.reportedWithout[FlowKey(flow)] = refresh
      }
    }
    for flow in table.closed {
      if let final = take(FlowKey(flow)) {
        closed.append(CloseFold.merged(final: final, seen: flow))
        closedRates.append(rate(.closed, final: final, since: flow.counters))
        fold.finalsFolded += 1
      } else if fold.waitsForFinal(flow) {
        held.append(flow)
      } else {
        closed.append(flow)
        closedRates.append(FlowRate(change: .closed))
      }
    }

    // Finals of sockets no refresh saw: opened and closed in between, all their bytes. A final
    // of a socket still listed waits (two refreshes at most); a late one of a flow already
    // reported closed is dropped rather than counted twice.
    var kept: [(flow: Flow, arrived: Int)] = []
    for (position, entry) in fold.pending.enumerated() where !used[position] {
      let key = FlowKey(entry.flow)
      if inCurrent[position] {
        if refresh - entry.arrived <= 2 { kept.append(entry) }
      } else if fold.reportedWithout[key] != nil {
        continue
      } else if admitsUnseen(entry.flow) {
        closed.append(entry.flow)
        closedRates.append(rate(.closed, final: entry.flow, since: nil))
        fold.unseenFlows += 1
      }
    }
    fold.pending = kept
    fold.held = held
    fold.reportedWithout = fold.reportedWithout.filter { $0.value >= refresh - 2 }

    table.closed = closed
    table.closedRates = closedRates
    table.processes = summarize(current.flows, rates: table.flows, closed: closed, closedRates: closedRates)
    return table
  }
}
