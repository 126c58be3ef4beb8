// One row per process for `flowscope proc`: its descriptors against its limit, its sockets by
// kind and state, bytes summed over its flows, and health flags. Pure.

/// Socket descriptors of a process by kind. They add up to the process's socket descriptors:
/// `other` holds every socket not counted in the three others (netlink, packet, raw… and any
/// whose protocol could not be told). A socket no dump returned is counted under its protocol
/// when its descriptor named it (`system.sockprotoname`), and also in `unlisted`.
public struct SocketKindCounts: Sendable, Equatable {
  public var tcp = 0
  public var udp = 0
  public var unix = 0
  public var other = 0
  /// Of all the above, the descriptors of sockets that no kernel table listed (found only
  /// through the process's descriptors). Not part of `total`.
  public var unlisted = 0
  public init(tcp: Int = 0, udp: Int = 0, unix: Int = 0, other: Int = 0, unlisted: Int = 0) {
    self.tcp = tcp
    self.udp = udp
    self.unix = unix
    self.other = other
    self.unlisted = unlisted
  }
  public var total: Int { tcp + udp + unix + other }
}

/// TCP socket descriptors of a process by state.
public struct TCPStateCounts: Sendable, Equatable {
  public var established = 0
  public var listen = 0
  public var closeWait = 0
  public var other = 0
  public init(established: Int = 0, listen: Int = 0, closeWait: Int = 0, other: Int = 0) {
    self.established = established
    self.listen = listen
    self.closeWait = closeWait
    self.other = other
  }
}

/// A process with its sockets summed up.
public struct ProcessSummary: Sendable, Equatable {
  public var process: OwningProcess
  public var sockets = SocketKindCounts()
  public var states = TCPStateCounts()
  /// Summed over the distinct sockets the process holds; nil when none has a counter (UDP,
  /// UNIX), so "unknown" is not "none".
  public var bytesIn: UInt64?
  public var bytesOut: UInt64?
  /// The process's own flags (`fd-pressure`, `fd-exhausted`) and every flag of its flows.
  public var flags = HealthFlags()
  /// How many of its flows carry each flow flag, in `HealthFlag.allCases` order, zeros left out.
  public var flowFlagCounts: [(flag: HealthFlag, count: Int)] = []

  public init(process: OwningProcess) { self.process = process }

  public var pid: Int32 { process.pid }

  public static func == (a: ProcessSummary, b: ProcessSummary) -> Bool {
    a.process == b.process && a.sockets == b.sockets && a.states == b.states
      && a.bytesIn == b.bytesIn && a.bytesOut == b.bytesOut && a.flags == b.flags
      && a.flowFlagCounts.elementsEqual(b.flowFlagCounts) { $0.flag == $1.flag && $0.count == $1.count }
  }

  /// One summary per process of `snapshot.processes` that holds at least one socket, in pid
  /// order. `flows` must be every flow of the snapshot (all protocols, all states), or the
  /// counts are short: what is not found among them is counted as `other`.
  public static func summarize(_ snapshot: Snapshot, thresholds: HealthThresholds)
    -> [ProcessSummary]
  {
    var summaries: [Int32: ProcessSummary] = [:]
    summaries.reserveCapacity(snapshot.processes.count)
    var flagCounts: [Int32: [Int]] = [:]
    let flagIndex = Dictionary(uniqueKeysWithValues: HealthFlag.allCases.enumerated().map { ($1, $0) })
    for flow in snapshot.flows where !flow.owners.isEmpty {
      let flags = flow.health(thresholds)
      var previousPID: Int32? = nil
      for (position, owner) in flow.owners.enumerated() {
        guard let process = snapshot.processes[owner.pid] else { continue }
        var summary = summaries[owner.pid] ?? ProcessSummary(process: process)
        switch flow.proto {
        case .tcp:
          summary.sockets.tcp += 1
          switch flow.socketState {
          case .established?: summary.states.established += 1
          case .listen?: summary.states.listen += 1
          case .closeWait?: summary.states.closeWait += 1
          default: summary.states.other += 1
          }
        case .udp: summary.sockets.udp += 1
        case .unix: summary.sockets.unix += 1
        default: break  // counted in `other` below, from the process's socket descriptors
        }
        if !flow.listedByKernel { summary.sockets.unlisted += 1 }
        // Bytes and flags once per socket and process, however many descriptors hold it.
        let firstForThisPID =
          owner.pid != previousPID && !flow.owners[..<position].contains { $0.pid == owner.pid }
        previousPID = owner.pid
        if firstForThisPID {
          if let bytes = flow.counters.bytesIn { summary.bytesIn = (summary.bytesIn ?? 0) &+ bytes }
          if let bytes = flow.counters.bytesOut { summary.bytesOut = (summary.bytesOut ?? 0) &+ bytes }
          if !flags.isEmpty {
            summary.flags.formUnion(flags)
            var counts = flagCounts[owner.pid] ?? Array(repeating: 0, count: HealthFlag.allCases.count)
            for flag in flags { counts[flagIndex[flag]!] += 1 }
            flagCounts[owner.pid] = counts
          }
        }
        summaries[owner.pid] = summary
      }
    }
    // Processes whose sockets the dump did not show at all still hold sockets.
    for (pid, process) in snapshot.processes where summaries[pid] == nil && process.socketCount > 0 {
      summaries[pid] = ProcessSummary(process: process)
    }
    var result: [ProcessSummary] = []
    result.reserveCapacity(summaries.count)
    for pid in summaries.keys.sorted() {
      var summary = summaries[pid]!
      let counted = summary.sockets.tcp + summary.sockets.udp + summary.sockets.unix
      summary.sockets.other = max(0, summary.process.socketCount - counted)
      summary.flags.formUnion(summary.process.health(thresholds))
      if let counts = flagCounts[pid] {
        summary.flowFlagCounts = HealthFlag.allCases.enumerated().compactMap { index, flag in
          counts[index] > 0 ? (flag, counts[index]) : nil
        }
      }
      result.append(summary)
    }
    return result
  }
}

/// What `--sort` orders `flowscope proc` by. A leading `-` sorts descending.
public enum ProcessSortKey: String, Sendable, CaseIterable {
  case pid, command, user
  case fds
  case fdPercent = "fd-pct"
  case sockets, tcp, udp, unix, other, unlisted
  case established = "estab"
  case listen
  case closeWait = "close-wait"
  case bytesIn = "bytes-in"
  case bytesOut = "bytes-out"
  /// Most serious flag first (with `-flags`), then the number of flags.
  case flags
}

public struct ProcessSort: Sendable {
  public var key: ProcessSortKey
  public var descending: Bool

  /// Parses `fds` or `-fds`; nil for an unknown field.
  public init?(_ text: String) {
    let descending = text.hasPrefix("-")
    guard let key = ProcessSortKey(rawValue: String(text.dropFirst(descending ? 1 : 0))) else {
      return nil
    }
    self.key = key
    self.descending = descending
  }

  /// Sorts stably (ties keep pid order); unknown values sort last in either direction.
  public func apply(to summaries: inout [ProcessSummary]) {
    stableSort(&summaries, descending: descending, by: value)
  }

  private func value(_ s: ProcessSummary) -> SortValue {
    switch key {
    case .pid: .number(Double(s.pid))
    case .command: .bytes(s.process.command)
    case .user: .bytes(Array((s.process.user ?? String(s.process.uid)).utf8))
    case .fds: .number(s.process.descriptorsReadable ? Double(s.process.descriptorCount) : nil)
    case .fdPercent: .number(s.process.fdUsedPercent)
    case .sockets: .number(Double(s.sockets.total))
    case .tcp: .number(Double(s.sockets.tcp))
    case .udp: .number(Double(s.sockets.udp))
    case .unix: .number(Double(s.sockets.unix))
    case .other: .number(Double(s.sockets.other))
    case .unlisted: .number(Double(s.sockets.unlisted))
    case .established: .number(Double(s.states.established))
    case .listen: .number(Double(s.states.listen))
    case .closeWait: .number(Double(s.states.closeWait))
    case .bytesIn: .number(s.bytesIn.map(Double.init))
    case .bytesOut: .number(s.bytesOut.map(Double.init))
    case .flags:
      // Severity weighs more than any count of lesser flags.
      .number(
        s.flags.reduce(0.0) { total, flag in
          total + Double(1 << (2 * (HealthFlag.allCases.count - 1 - HealthFlag.allCases.firstIndex(of: flag)!)))
        })
    }
  }
}
