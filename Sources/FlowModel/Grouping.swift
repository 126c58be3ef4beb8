// `flowscope proc --by KEY`: processes (or connections) summed per group — per command, unit,
// container, user or network namespace, or per remote host — so that a host's sockets can be
// read by service rather than by pid. Sockets no process holds (TIME_WAIT, orphans, other
// users' when unprivileged) get a group of their own, so that the totals add up. Pure.

/// What `proc --by` groups by.
public enum GroupBy: String, Sendable, CaseIterable {
  case command, unit, container, user, netns
  /// The remote address and port of each connection.
  case remote
  /// The remote address alone: which hosts the processes talk to.
  case remoteHost = "remote-host"

  /// Whether the groups are of connections (by their remote end) rather than of processes.
  public var groupsConnections: Bool { self == .remote || self == .remoteHost }

  /// The group of a connection by its remote end (`remote`: address and port, `remote-host`:
  /// the address); nil for a flow with no remote end (a listener, an unconnected socket) or a
  /// key that does not group connections.
  public func connectionName(_ flow: borrowing Flow) -> [UInt8]? {
    guard groupsConnections, case .ip(let address, let port) = flow.remote, !address.isUnspecified, port != 0 else {
      return nil
    }
    return Array((self == .remote ? AddressText.endpoint(address, port) : AddressText.address(address)).utf8)
  }
}

/// One group's sums.
public struct GroupSummary: Sendable, Equatable {
  /// The group's name: a command, unit, address…; `GroupSummary.noOwner`, `none` or `other`.
  public var name: [UInt8]
  /// Distinct processes in the group.
  public var processes = 0
  /// Descriptors open, summed over the processes whose descriptors could be read.
  public var descriptors = 0
  public var sockets = SocketKindCounts()
  public var states = TCPStateCounts()
  public var bytesIn: UInt64?
  public var bytesOut: UInt64?
  public var flags = HealthFlags()

  /// The group of sockets no visible process holds.
  public static let noOwner = Array("(no owner)".utf8)
  /// The group of processes the key says nothing of (no unit, no container).
  public static let none = Array("(none)".utf8)
  /// The groups `--top` leaves out, summed.
  public static let other = Array("(other)".utf8)

  public init(name: [UInt8]) { self.name = name }

  public static func == (a: GroupSummary, b: GroupSummary) -> Bool {
    a.name == b.name && a.processes == b.processes && a.descriptors == b.descriptors
      && a.sockets == b.sockets && a.states == b.states && a.bytesIn == b.bytesIn
      && a.bytesOut == b.bytesOut && a.flags == b.flags
  }

  mutating func add(_ other: GroupSummary) {
    processes += other.processes
    descriptors += other.descriptors
    sockets.tcp += other.sockets.tcp
    sockets.udp += other.sockets.udp
    sockets.unix += other.sockets.unix
    sockets.other += other.sockets.other
    sockets.unlisted += other.sockets.unlisted
    states.established += other.states.established
    states.listen += other.states.listen
    states.closeWait += other.states.closeWait
    states.other += other.states.other
    if let bytes = other.bytesIn { bytesIn = (bytesIn ?? 0) &+ bytes }
    if let bytes = other.bytesOut { bytesOut = (bytesOut ?? 0) &+ bytes }
    flags.formUnion(other.flags)
  }

  /// One socket counted in by its kind, state, bytes and flags.
  mutating func count(_ flow: Flow, flags flowFlags: HealthFlags) {
    switch flow.proto {
    case .tcp:
      sockets.tcp += 1
      switch flow.socketState {
      case .established?: states.established += 1
      case .listen?: states.listen += 1
      case .closeWait?: states.closeWait += 1
      default: states.other += 1
      }
    case .udp: sockets.udp += 1
    case .unix: sockets.unix += 1
    default: sockets.other += 1
    }
    if let bytes = flow.counters.bytesIn { bytesIn = (bytesIn ?? 0) &+ bytes }
    if let bytes = flow.counters.bytesOut { bytesOut = (bytesOut ?? 0) &+ bytes }
    flags.formUnion(flowFlags)
  }
}

extension GroupSummary {
  /// The groups of `summaries` (one per process, from `ProcessSummary.summarize`) by `key`,
  /// largest first (by sockets, then name), with the sockets of no visible owner in a group of
  /// their own. With `top`, the groups past the first `top` are summed into one `(other)`.
  public static func group(
    _ summaries: [ProcessSummary], snapshot: Snapshot, by key: GroupBy, thresholds: HealthThresholds,
    top: Int? = nil
  ) -> [GroupSummary] {
    var groups: [[UInt8]: GroupSummary] = [:]
    if key.groupsConnections {
      var members: [[UInt8]: Set<Int32>] = [:]
      for flow in snapshot.flows {
        guard let name = key.connectionName(flow) else { continue }
        groups[name, default: GroupSummary(name: name)].count(flow, flags: flow.health(thresholds))
        for owner in flow.owners { members[name, default: []].insert(owner.pid) }
      }
      for (name, pids) in members { groups[name]?.processes = pids.count }
    } else {
      for summary in summaries {
        let name = groupName(summary.process, key: key, snapshot: snapshot)
        var group = groups[name] ?? GroupSummary(name: name)
        group.processes += 1
        if summary.process.descriptorsReadable { group.descriptors += summary.process.descriptorCount }
        var member = GroupSummary(name: name)
        member.sockets = summary.sockets
        member.states = summary.states
        member.bytesIn = summary.bytesIn
        member.bytesOut = summary.bytesOut
        member.flags = summary.flags
        group.add(member)
        groups[name] = group
      }
      // So that the totals add up: the sockets no visible process holds.
      var unowned = GroupSummary(name: noOwner)
      for flow in snapshot.flows where flow.owners.isEmpty {
        unowned.count(flow, flags: flow.health(thresholds))
      }
      if unowned.sockets.total > 0 { groups[noOwner] = unowned }
    }
    var ordered = groups.values.sorted {
      $0.sockets.total != $1.sockets.total
        ? $0.sockets.total > $1.sockets.total : $0.name.lexicographicallyPrecedes($1.name)
    }
    if let top, top >= 0, ordered.count > top {
      var rest = GroupSummary(name: other)
      for group in ordered[top...] { rest.add(group) }
      ordered = Array(ordered[..<top]) + [rest]
    }
    return ordered
  }

  /// The names of the `top` largest groups of connections by `key` (`remote` or
  /// `remote-host`), as `group(_:snapshot:by:thresholds:top:)` ranks them: what `serve --by
  /// remote --top N` labels, the rest going to one `other`.
  public static func largestConnectionGroups(
    _ snapshot: Snapshot, by key: GroupBy, thresholds: HealthThresholds, top: Int
  ) -> Set<[UInt8]> {
    let ranked = group([], snapshot: snapshot, by: key, thresholds: thresholds, top: top)
    return Set(ranked.prefix(top).map(\.name))
  }

  static func groupName(_ process: OwningProcess, key: GroupBy, snapshot: Snapshot) -> [UInt8] {
    switch key {
    case .command: return process.command
    case .unit: return process.unit.map { Array($0.utf8) } ?? none
    case .container: return process.container.map { Array($0.utf8) } ?? none
    case .user: return Array((process.user ?? String(process.uid)).utf8)
    case .netns:
      guard let inode = process.netns else { return none }
      return Array((snapshot.namespaces[inode]?.label ?? String(inode)).utf8)
    case .remote, .remoteHost: return none
    }
  }
}

extension IPAddress {
  /// 0.0.0.0 or ::, the address of a socket with no peer.
  var isUnspecified: Bool {
    switch self {
    case .v4(let value): value == 0
    case .v6(let high, let low): high == 0 && low == 0
    }
  }
}

/// Addresses as group names: as `IPAddress.text`, but an IPv4-mapped address as the IPv4
/// address it is, so that both forms of one host make one group.
enum AddressText {
  static func address(_ address: IPAddress) -> String {
    if case .v6(0, let low) = address, low >> 32 == 0xffff { return IPAddress.v4(UInt32(truncatingIfNeeded: low)).text }
    return address.text
  }

  static func endpoint(_ address: IPAddress, _ port: UInt16) -> String {
    let text = self.address(address)
    return text.contains(":") ? "[\(text)]:\(port)" : "\(text):\(port)"
  }
}

extension IPAddress {
  /// The address as inet_ntop(3) writes it: dotted quads; RFC 5952 IPv6 (the longest run of
  /// two or more zero groups as `::`), with the last 32 bits dotted for IPv4-mapped
  /// (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) addresses.
  public var text: String {
    func dotted(_ value: UInt32) -> String {
      (0..<4).map { String((value >> (24 - 8 * UInt32($0))) & 0xff) }.joined(separator: ".")
    }
    switch self {
    case .v4(let value): return dotted(value)
    case .v6(let high, let low):
      let groups = (0..<8).map { index -> UInt16 in
        UInt16(truncatingIfNeeded: (index < 4 ? high : low) >> (48 - 16 * UInt64(index % 4)))
      }
      var best = (start: -1, length: 0)
      var run = (start: -1, length: 0)
      for (index, group) in groups.enumerated() {
        if group == 0 {
          run = run.start < 0 ? (index, 1) : (run.start, run.length + 1)
          if run.length > best.length { best = run }
        } else {
          run = (-1, 0)
        }
      }
      if best.start == 0 && (best.length == 6 || (best.length == 5 && groups[5] == 0xffff)) {
        return (best.length == 5 ? "::ffff:" : "::") + dotted(UInt32(truncatingIfNeeded: low))
      }
      func hex(_ range: Range<Int>) -> String { groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
      guard best.length >= 2 else { return hex(0..<8) }
      return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
    }
  }
}

/// One row of `proc --tree`: a process under its parent, with its own sockets and those of its
/// descendants rolled up.
public struct TreeRow: Sendable {
  public var summary: ProcessSummary
  /// 0 for a process whose parent holds no socket (or is not seen).
  public var depth: Int
  /// Whether it is its parent's last child shown (for the branch drawing).
  public var isLast: Bool
  /// At each depth above this row, whether the ancestor there still has children below.
  public var openBranches: [Bool]
  /// The process and its descendants: sockets, states, bytes, descriptors and flags summed.
  public var total: GroupSummary

  /// The processes of `summaries` as a forest: each under its parent when the parent is among
  /// them, children in pid order, roots in pid order.
  public static func forest(_ summaries: [ProcessSummary]) -> [TreeRow] {
    let byPID = Dictionary(summaries.map { ($0.pid, $0) }, uniquingKeysWith: { first, _ in first })
    var children: [Int32: [Int32]] = [:]
    var roots: [Int32] = []
    for summary in summaries.sorted(by: { $0.pid < $1.pid }) {
      let parent = summary.process.ppid
      if parent != summary.pid, byPID[parent] != nil {
        children[parent, default: []].append(summary.pid)
      } else {
        roots.append(summary.pid)
      }
    }
    var totals: [Int32: GroupSummary] = [:]
    var summing = Set<Int32>()
    func total(_ pid: Int32) -> GroupSummary {
      if let known = totals[pid] { return known }
      let summary = byPID[pid]!
      // In a parent cycle, a process already being summed adds nothing more.
      guard summing.insert(pid).inserted else { return GroupSummary(name: summary.process.command) }
      var sum = GroupSummary(name: summary.process.command)
      sum.processes = 1
      if summary.process.descriptorsReadable { sum.descriptors = summary.process.descriptorCount }
      sum.sockets = summary.sockets
      sum.states = summary.states
      sum.bytesIn = summary.bytesIn
      sum.bytesOut = summary.bytesOut
      sum.flags = summary.flags
      for child in children[pid] ?? [] { sum.add(total(child)) }
      totals[pid] = sum
      return sum
    }
    var rows: [TreeRow] = []
    var visited = Set<Int32>()
    func walk(_ pid: Int32, depth: Int, isLast: Bool, open: [Bool]) {
      // A pid cycle (a reused pid naming a younger process as its parent) is walked once.
      guard visited.insert(pid).inserted else { return }
      rows.append(
        TreeRow(summary: byPID[pid]!, depth: depth, isLast: isLast, openBranches: open, total: total(pid)))
      let kids = children[pid] ?? []
      for (index, child) in kids.enumerated() {
        walk(child, depth: depth + 1, isLast: index == kids.count - 1, open: open + [!isLast && depth > 0])
      }
    }
    for root in roots { walk(root, depth: 0, isLast: true, open: []) }
    // Processes in a parent cycle (pids reused) have no root: shown as roots themselves.
    for summary in summaries.sorted(by: { $0.pid < $1.pid }) where !visited.contains(summary.pid) {
      walk(summary.pid, depth: 0, isLast: true, open: [])
    }
    return rows
  }
}
