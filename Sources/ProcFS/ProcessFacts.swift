import Synchronization

/// What a scan read of each process besides its descriptors (uids, namespace pids, the
/// open-files limit, the command line, the cgroup), kept between the scans of one inspector by
/// pid and start time, so that a scan given its descriptors by a BPF pass
/// (`ProcScanOptions.descriptors`) reads only `stat` (the start time, the command, the state)
/// and the network namespace of a process it has seen before.
///
/// A pid whose start time changed is a new process: read again. Facts that change without an
/// exec or a new process (setuid, a move to another cgroup, setrlimit) are kept as first read
/// for as long as the process lives.
///
/// Shared by the threads of a scan: one lock around the map, taken once per process.
public final class ProcessFacts: Sendable {
  struct Entry: Sendable {
    var startTime: UInt64
    var record: ProcessRecord
    /// Whether the cgroup was read (only processes with sockets have it read).
    var cgroupRead: Bool
    var commandLineRead: Bool
  }

  private let entries = Mutex<[Int32: Entry]>([:])
  private let counts = Mutex<(hits: Int, misses: Int)>((0, 0))

  public init() {}

  /// Processes remembered now.
  public var count: Int { entries.withLock { $0.count } }

  /// Lookups that found the process (same pid and start time), and those that did not, since
  /// the cache was made.
  public var statistics: (hits: Int, misses: Int) { counts.withLock { $0 } }

  func lookup(_ pid: Int32, startTime: UInt64) -> Entry? {
    let found = entries.withLock { map -> Entry? in
      guard let entry = map[pid], entry.startTime == startTime else { return nil }
      return entry
    }
    counts.withLock {
      if found == nil { $0.misses += 1 } else { $0.hits += 1 }
    }
    return found
  }

  func store(_ record: ProcessRecord, cgroupRead: Bool, commandLineRead: Bool) {
    var kept = record
    kept.sockets = []
    kept.otherDescriptors = nil
    let entry = Entry(
      startTime: record.startTimeTicks, record: kept, cgroupRead: cgroupRead, commandLineRead: commandLineRead)
    entries.withLock { $0[record.pid] = entry }
  }

  /// Forgets every process not in `pids` (sorted): those gone since.
  func retain(sorted pids: [Int32]) {
    entries.withLock { map in
      for pid in Array(map.keys) {
        var low = 0
        var high = pids.count
        while low < high {
          let middle = (low + high) / 2
          if pids[middle] < pid { low = middle + 1 } else { high = middle }
        }
        if low == pids.count || pids[low] != pid { map[pid] = nil }
      }
    }
  }
}
