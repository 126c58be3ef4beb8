import FlowModel
import FlowQuery
import FlowRender

// One collection's figures, grouped, and their exposition. Pure: built from a snapshot (already
// filtered by the selection) and the counter ledger; written by `ExpositionWriter`.

/// What flowscope says about itself in every exposition.
public struct SelfMetrics: Sendable {
  public var version = ""
  /// Seconds the collection took.
  public var collectionSeconds = 0.0
  /// Processes whose descriptors could not be read.
  public var unreadableProcesses = 0
  public var seriesDropped: UInt64 = 0
  /// Per collector (`sock_diag`, `proc`, `destroy_events`): whether it worked this time, and
  /// its errors so far.
  public var collectorSuccess: [(name: String, ok: Bool)] = []
  public var scrapeErrors: [(name: String, count: UInt64)] = []
  public var closesFolded: UInt64 = 0
  public var closesUnattributed: UInt64 = 0
  public var destroyMessagesLost: UInt64 = 0
  public init() {}
}

/// The gauges of one group.
public struct GroupGauges: Sendable {
  /// Sockets by protocol and state name.
  public var sockets: [SocketSeries: Int] = [:]
  public var flaggedFlows: [HealthFlag: Int] = [:]
  public var flaggedProcesses: [HealthFlag: Int] = [:]
  public var processes = 0
  /// Sums over the group's processes whose descriptors were readable.
  public var openFDs = 0
  public var maxFDs: UInt64 = 0
  public var hasFDLimit = false
  /// The largest open/max of one process in the group.
  public var worstFDRatio: Double? = nil
  public init() {}

  /// How many series the group's gauges give.
  var seriesCount: Int {
    sockets.count + flaggedFlows.count + flaggedProcesses.count + (processes > 0 ? 2 : 0)
      + (hasFDLimit ? 1 : 0) + (worstFDRatio != nil ? 1 : 0)
  }
}

/// The state as a query names it (`established`, `close-wait`), made once per state.
private let stateLabels: [String] = (0...255).map { SocketState(rawValue: UInt8($0))?.queryName ?? String($0) }
func stateLabel(_ state: UInt8) -> String { stateLabels[Int(state)] }

public struct SocketSeries: Hashable, Sendable {
  public var proto: TransportProtocol
  /// The kernel's state number; `SocketSeries.stateless` for protocols without states.
  public var stateCode: UInt16
  static let stateless: UInt16 = 0x100
  /// The `state` label: as a query names it, `none` without states.
  public var state: String { stateCode == Self.stateless ? "none" : stateLabel(UInt8(stateCode)) }
}

public struct MetricsReport: Sendable {
  public var grouping: Grouping
  public var groups: [GroupKey: GroupGauges] = [:]
  public var counters: [(CounterKey, GroupCounters)] = []
  public var selfMetrics = SelfMetrics()
  /// Groups left out by `--max-series` in this report.
  public var droppedGroups = 0
  public var droppedSeries = 0

  public init(grouping: Grouping) { self.grouping = grouping }

  /// The gauges of `snapshot`'s flows (already filtered) and of the processes that own them.
  /// `groupOf` names a flow's group (its owner's, or the one its counters are kept under).
  public static func build(
    snapshot: Snapshot, grouping: Grouping, thresholds: HealthThresholds,
    groupOf: (Flow) -> GroupKey
  ) -> [GroupKey: GroupGauges] {
    var table = GroupTable(grouping: grouping, namespaces: snapshot.namespaces)
    let numbers = snapshot.flows.map { table.number(of: groupOf($0)) }
    return build(snapshot: snapshot, thresholds: thresholds, flowGroups: numbers, table: &table)
  }

  /// The same, with each flow's group number in `flowGroups` (`table`'s numbers).
  public static func build(
    snapshot: Snapshot, thresholds: HealthThresholds, flowGroups: [Int], table: inout GroupTable
  ) -> [GroupKey: GroupGauges] {
    var gauges: [GroupGauges] = []
    var used: [Bool] = []
    func grow() {
      while gauges.count < table.keys.count {
        gauges.append(GroupGauges())
        used.append(false)
      }
    }
    grow()
    var owners = Set<Int32>()
    owners.reserveCapacity(snapshot.processes.count)
    // Each group's sockets by series in a short list searched from its end (a group has a
    // few protocol and state pairs), not a dictionary hashed per flow; flows read in place.
    var series: [[(SocketSeries, Int)]] = Array(repeating: [], count: gauges.count)
    snapshot.flows.withUnsafeBufferPointer { flows in
      var lastPID: Int32 = -1
      for index in flows.indices {
        let number = flowGroups[index]
        let proto = flows[index].proto
        let key = SocketSeries(
          proto: proto, stateCode: proto.hasConnectionStates ? UInt16(flows[index].state) : SocketSeries.stateless)
        used[number] = true
        if let at = series[number].lastIndex(where: { $0.0 == key }) {
          series[number][at].1 += 1
        } else {
          series[number].append((key, 1))
        }
        let flags = flows[index].health(thresholds)
        if !flags.isEmpty {
          for flag in flags { gauges[number].flaggedFlows[flag, default: 0] += 1 }
        }
        for owner in flows[index].owners where owner.pid != lastPID {
          owners.insert(owner.pid)
          lastPID = owner.pid
        }
      }
    }
    for number in series.indices {
      for (key, count) in series[number] { gauges[number].sockets[key] = count }
    }
    // Grouped by remote end, a process's sockets fall into several groups: no process families.
    if table.grouping.connection != nil { owners.removeAll() }
    for pid in owners {
      guard let process = snapshot.processes[pid] else { continue }
      let number = table.number(of: process)
      grow()
      used[number] = true
      var group = gauges[number]
      group.processes += 1
      if process.descriptorsReadable {
        group.openFDs += process.descriptorCount
        if let soft = process.fdLimitSoft {
          group.maxFDs &+= soft
          group.hasFDLimit = true
        }
        if let ratio = process.fdUsedRatio {
          group.worstFDRatio = max(group.worstFDRatio ?? 0, ratio)
        }
      }
      for flag in process.health(thresholds) { group.flaggedProcesses[flag, default: 0] += 1 }
      gauges[number] = group
    }
    var groups: [GroupKey: GroupGauges] = [:]
    for number in gauges.indices where used[number] { groups[table.keys[number]] = gauges[number] }
    return groups
  }

  /// Keeps the groups with the most sockets until `maximum` series are used; counts the rest.
  public mutating func limitSeries(to maximum: Int) {
    var perGroup: [GroupKey: Int] = [:]
    for (key, gauges) in groups { perGroup[key] = gauges.seriesCount }
    for (key, totals) in counters {
      perGroup[key.group, default: 0] += (totals.hasBytes ? 2 : 0) + (totals.hasRetransmits ? 1 : 0)
    }
    guard perGroup.values.reduce(0, +) > maximum else { return }
    func weight(_ key: GroupKey) -> Int { groups[key]?.sockets.values.reduce(0, +) ?? 0 }
    let order = perGroup.keys.sorted { a, b in
      let (x, y) = (weight(a), weight(b))
      return x != y ? x > y : a < b
    }
    var used = 0
    var kept = Set<GroupKey>()
    for key in order {
      let cost = perGroup[key]!
      if used + cost <= maximum {
        used += cost
        kept.insert(key)
      } else {
        droppedGroups += 1
        droppedSeries += cost
      }
    }
    groups = groups.filter { kept.contains($0.key) }
    counters = counters.filter { kept.contains($0.0.group) }
  }

  /// The exposition of this report.
  public func write(_ format: ExpositionFormat) -> OutputBuffer {
    var writer = ExpositionWriter(format: format)
    let names = grouping.dimensions.map(\.rawValue)
    let sortedGroups = groups.sorted { $0.key < $1.key }

    writer.family(
      "flowscope_sockets", .gauge,
      help: "Sockets the selection keeps, by protocol and state (none for protocols without states).")
    for (key, gauges) in sortedGroups {
      let series = gauges.sockets.sorted {
        $0.key.proto != $1.key.proto ? $0.key.proto.rawValue < $1.key.proto.rawValue : $0.key.state < $1.key.state
      }
      for (socket, count) in series {
        writer.sample(
          group: names, key.values,
          [("proto", Array(socket.proto.rawValue.utf8)), ("state", Array(socket.state.utf8))], UInt64(count))
      }
    }

    writer.family(
      "flowscope_received_bytes_total", .counter, unit: "bytes",
      help: "Bytes received (TCP bytes_received), closed connections included.")
    for (key, totals) in counters where totals.hasBytes {
      writer.sample(group: names, key.group.values, [("proto", Array(key.proto.rawValue.utf8))], totals.receivedBytes)
    }
    writer.family(
      "flowscope_sent_bytes_total", .counter, unit: "bytes",
      help: "Bytes sent and acknowledged (TCP bytes_acked), closed connections included.")
    for (key, totals) in counters where totals.hasBytes {
      writer.sample(group: names, key.group.values, [("proto", Array(key.proto.rawValue.utf8))], totals.sentBytes)
    }
    writer.family(
      "flowscope_retransmitted_segments_total", .counter,
      help: "TCP segments retransmitted (tcp_info total_retrans), closed connections included.")
    for (key, totals) in counters where totals.hasRetransmits {
      writer.sample(
        group: names, key.group.values, [("proto", Array(key.proto.rawValue.utf8))], totals.retransmittedSegments)
    }

    writer.family("flowscope_processes", .gauge, help: "Processes holding the selected sockets.")
    for (key, gauges) in sortedGroups where gauges.processes > 0 {
      writer.sample(group: names, key.values, [], UInt64(gauges.processes))
    }
    writer.family(
      "flowscope_open_fds", .gauge, help: "Open file descriptors of those processes (readable ones), summed.")
    for (key, gauges) in sortedGroups where gauges.processes > 0 {
      writer.sample(group: names, key.values, [], UInt64(gauges.openFDs))
    }
    writer.family(
      "flowscope_max_fds", .gauge, help: "Soft RLIMIT_NOFILE of those processes, summed.")
    for (key, gauges) in sortedGroups where gauges.hasFDLimit {
      writer.sample(group: names, key.values, [], gauges.maxFDs)
    }
    writer.family(
      "flowscope_fd_usage_ratio", .gauge,
      help: "Open descriptors over the soft limit of the group's worst process (1 is exhausted).")
    for (key, gauges) in sortedGroups {
      if let ratio = gauges.worstFDRatio { writer.sample(group: names, key.values, [], ratio) }
    }
    writer.family(
      "flowscope_flagged_flows", .gauge,
      help: "Flows with a health flag (peer-closed, recv-backlog, stalled, zero-window, retransmitting, idle).")
    for (key, gauges) in sortedGroups {
      for (flag, count) in gauges.flaggedFlows.sorted(by: { $0.key < $1.key }) {
        writer.sample(group: names, key.values, [("flag", Array(flag.rawValue.utf8))], UInt64(count))
      }
    }
    writer.family(
      "flowscope_flagged_processes", .gauge,
      help: "Processes with a health flag (fd-pressure, fd-exhausted, socket-leak).")
    for (key, gauges) in sortedGroups {
      for (flag, count) in gauges.flaggedProcesses.sorted(by: { $0.key < $1.key }) {
        writer.sample(group: names, key.values, [("flag", Array(flag.rawValue.utf8))], UInt64(count))
      }
    }

    // About flowscope itself.
    let metrics = selfMetrics
    writer.family(
      "flowscope_unreadable_processes", .gauge,
      help: "Processes whose descriptors could not be read (privileges): their sockets count as owner ?.")
    writer.sample(UInt64(metrics.unreadableProcesses))
    writer.family(
      "flowscope_closed_flows_total", .counter,
      help: "Closed TCP/UDP sockets announced by the kernel, by whether their final counters found a group.")
    writer.sample([("attributed", Array("true".utf8))], metrics.closesFolded)
    writer.sample([("attributed", Array("false".utf8))], metrics.closesUnattributed)
    writer.family(
      "flowscope_destroy_messages_lost_total", .counter,
      help: "Destroy messages the kernel dropped (receive buffer full): their last bytes are not counted.")
    writer.sample(metrics.destroyMessagesLost)
    writer.family(
      "flowscope_collector_success", .gauge, help: "Whether each part of the last collection worked (1) or not (0).")
    for (name, ok) in metrics.collectorSuccess {
      writer.sample([("collector", Array(name.utf8))], UInt64(ok ? 1 : 0))
    }
    writer.family(
      "flowscope_scrape_errors_total", .counter, help: "Errors of each collector since flowscope started.")
    for (name, count) in metrics.scrapeErrors {
      writer.sample([("collector", Array(name.utf8))], count)
    }
    writer.family(
      "flowscope_series_dropped_total", .counter,
      help: "Series left out by --max-series, summed over collections.")
    writer.sample(metrics.seriesDropped)
    writer.family(
      "flowscope_scrape_duration_seconds", .gauge, unit: "seconds",
      help: "Seconds the last collection took.")
    writer.sample(metrics.collectionSeconds)
    writer.family("flowscope_build_info", .info, help: "flowscope's version.")
    writer.sample([("version", Array(metrics.version.utf8))], UInt64(1))
    writer.finish()
    return writer.out
  }
}
