import FlowModel
import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

/// The socket inode → owner map, kept between the refreshes of `flowscope watch`, so a refresh
/// re-reads only the processes that changed instead of every descriptor of every process.
///
/// Each refresh lists the pids (one directory read of /proc, or the pids asked for) and probes
/// each process cheaply: its start time (`/proc/<pid>/stat`, so a reused pid is a new process)
/// and its number of open descriptors (`st_size` of `/proc/<pid>/fd`, which Linux ≥ 6.2 fills
/// in). A process is re-read (its fds, status, limits) when it is new, when its start time or
/// descriptor count changed, and its entries are dropped when it is gone. After the dump, a
/// socket whose owner is still unknown (a process swapped one descriptor for another between
/// two refreshes, so its count did not move) triggers a full re-read of every process, at
/// most once per `fullRescanInterval`; sockets no full re-read could place (the kernel's own,
/// or those of processes we may not read) are remembered and trigger nothing more.
///
/// Used by one refresh at a time (the inspector's `snapshot`), from one thread at a time.
public final class OwnerCache: @unchecked Sendable {
  struct Entry {
    var record: ProcessRecord
    var startTime: UInt64
    /// `st_size` of the fd directory when the record was read; -1 when it could not be read.
    var descriptorSize: Int64
    var denied: Bool
  }

  /// What the last refresh did, for `--debug`-style reporting and tests.
  public struct Statistics: Sendable, Equatable {
    public var processesListed = 0
    public var processesRead = 0
    public var fullRescan = false
    public var unknownSockets = 0
    public var refreshes = 0
    public var fullRescans = 0
    /// Reads whose descriptors came from one pass of the iterator (`wholePass`).
    public var passes = 0
    public init() {}
  }

  public let fullRescanInterval: Double
  public private(set) var statistics = Statistics()
  private var entries: [Int32: Entry] = [:]
  /// inode → owners, sorted by (pid, fd).
  private var ownersByInode: [UInt64: FlowOwners] = [:]
  /// Counts the changes to `ownersByInode`.
  private(set) var generation = 0
  /// The flows of the last refresh, with their owners as `ownersByInode` gave them at
  /// `flowsGeneration`: the next refresh finds each socket in them again (`PreviousFlows`).
  private(set) var flows: [Flow] = []
  private(set) var flowsGeneration = -1
  /// Sockets the last full re-read could not place.
  private var unresolvable: Set<UInt64> = []
  private var lastFullRescan = -Double.infinity
  /// Whether this refresh's `update` read every process (the first refresh does).
  private var readEveryProcess = false

  public init(fullRescanInterval: Double = 5) {
    self.fullRescanInterval = fullRescanInterval
  }

  /// Phase 1, in place of `scanner.scan()`: list and probe the processes, re-read those that
  /// are new or changed, forget those that are gone. Returns every known process.
  /// `wholePass`, when given, gives every process's descriptors at once (the BPF iterator): the
  /// first refresh reads them from it rather than from each fd directory.
  func update(_ scanner: ProcScanner, wholePass: (() -> KnownDescriptors?)? = nil) -> ProcScanResult {
    statistics.refreshes += 1
    statistics.fullRescan = false
    statistics.processesRead = 0
    let root = scanner.options.root
    let pids: [Int32] = scanner.options.pids.map { $0.filter { $0 > 0 }.sorted() } ?? listPIDs(root)
    statistics.processesListed = pids.count
    let first = entries.isEmpty
    readEveryProcess = first
    var stale: [Int32] = []
    var probes: [Int32: (start: UInt64, size: Int64)] = [:]
    var present = Set<Int32>()
    present.reserveCapacity(pids.count)
    for pid in pids {
      guard let probe = probe(root, pid) else { continue }  // gone already
      present.insert(pid)
      if let entry = entries[pid], entry.startTime == probe.start,
        entry.denied || entry.descriptorSize == probe.size
      {
        if entry.record.command != probe.command { entries[pid]!.record.command = probe.command }
        continue
      }
      stale.append(pid)
      probes[pid] = (probe.start, probe.size)
    }
    for pid in Array(entries.keys) where !present.contains(pid) { forget(pid) }
    if !stale.isEmpty { read(stale, probes: probes, scanner, descriptors: first ? wholePass : nil) }
    if first { lastFullRescan = monotonicNow() }
    return result()
  }

  /// Gives `flows` their owners: all of them when the map changed since the last refresh's
  /// flows were kept, else only those at `fresh` (the others kept the owners they had).
  func attachOwners(to flows: inout [Flow], fresh: [Int]) {
    if generation == flowsGeneration {
      for index in fresh {
        if let owners = ownersByInode[flows[index].inode] { flows[index].owners = owners }
      }
    } else {
      for index in flows.indices {
        flows[index].owners = ownersByInode[flows[index].inode] ?? []
      }
    }
  }

  /// Keeps a refresh's flows (after `attachOwners`) for the next one.
  func keep(_ flows: [Flow]) {
    self.flows = flows
    flowsGeneration = generation
  }

  /// Phase 2, after the dumps and `attachOwners`: when sockets of unknown owner remain and the
  /// last full re-read is old enough, re-read every process (from `wholePass` when given).
  /// Returns the new result if it did (and the owners must be attached again).
  func resolve(
    _ flows: [Flow], _ scanner: ProcScanner, wholePass: (() -> KnownDescriptors?)? = nil
  ) -> ProcScanResult? {
    var unknown = 0
    for index in flows.indices where flows[index].owners.isEmpty {
      let inode = flows[index].inode
      if inode != 0 && !unresolvable.contains(inode) { unknown += 1 }
    }
    statistics.unknownSockets = unknown
    guard unknown > 0 else { return nil }
    // This refresh read every process already (the first one): what it could not place, no
    // re-read would.
    if readEveryProcess {
      rememberUnresolvable(flows)
      return nil
    }
    guard monotonicNow() - lastFullRescan >= fullRescanInterval else { return nil }
    let root = scanner.options.root
    var probes: [Int32: (start: UInt64, size: Int64)] = [:]
    var pids: [Int32] = []
    for pid in entries.keys.sorted() {
      guard let probe = probe(root, pid) else {
        forget(pid)
        continue
      }
      probes[pid] = (probe.start, probe.size)
      pids.append(pid)
    }
    read(pids, probes: probes, scanner, descriptors: wholePass)
    lastFullRescan = monotonicNow()
    statistics.fullRescan = true
    statistics.fullRescans += 1
    rememberUnresolvable(flows)
    return result()
  }

  /// After every process was read: the sockets still without an owner trigger nothing more.
  private func rememberUnresolvable(_ flows: [Flow]) {
    unresolvable = []
    for flow in flows where flow.inode != 0 && ownersByInode[flow.inode] == nil {
      unresolvable.insert(flow.inode)
    }
    statistics.unknownSockets = 0
  }

  // MARK: sockets no dump listed

  /// The protocol of each socket the last refresh found in no dump, named once (one getxattr)
  /// for as long as it stays unlisted.
  private(set) var unlistedKinds: [UInt64: SocketProtocolName] = [:]
  /// The TCP and UDP sockets a dump reading their whole table missed at the last refresh; nil
  /// before a refresh looked. Missed again a refresh later, such a socket is in no table: it
  /// was not merely created or connected while one dump ran.
  private(set) var unlistedCandidates: Set<UInt64>? = nil

  /// The sockets of known processes that none of `flows` is: one hash of every flow's inode,
  /// made only when fewer flows have owners than there are owned sockets.
  func unmatched(by flows: [Flow]) -> [UnmatchedSocket] {
    var owned = 0
    for index in flows.indices where !flows[index].owners.isEmpty { owned += 1 }
    guard owned < ownersByInode.count else { return [] }
    var listed = Set<UInt64>(minimumCapacity: flows.count)
    for index in flows.indices { listed.insert(flows[index].inode) }
    var unmatched: [UnmatchedSocket] = []
    for (inode, owners) in ownersByInode where !listed.contains(inode) {
      unmatched.append(UnmatchedSocket(inode: inode, owners: owners))
    }
    // Scan order, as a listing's join gives them: by first owner.
    unmatched.sort { ($0.owners[0].pid, $0.owners[0].fd) < ($1.owners[0].pid, $1.owners[0].fd) }
    return unmatched
  }

  /// Remembers what this refresh found unlisted, for the next one.
  func rememberUnlisted(kinds: [UInt64: SocketProtocolName], candidates: Set<UInt64>) {
    unlistedKinds = kinds
    unlistedCandidates = candidates
  }

  /// Every known process, sorted by pid, and those whose descriptors were denied.
  private func result() -> ProcScanResult {
    var result = ProcScanResult()
    result.processes.reserveCapacity(entries.count)
    for pid in entries.keys.sorted() {
      let entry = entries[pid]!
      result.processes.append(entry.record)
      if entry.denied { result.denied.append(pid) }
    }
    return result
  }

  /// Re-reads `pids` with the scanner's options (their descriptors from `descriptors` when it
  /// gives them) and replaces their entries.
  private func read(
    _ pids: [Int32], probes: [Int32: (start: UInt64, size: Int64)], _ scanner: ProcScanner,
    descriptors: (() -> KnownDescriptors?)? = nil
  ) {
    var options = scanner.options
    options.pids = Set(pids)
    var passed = false
    let scan = ProcScanner(options: options).scan(
      descriptors: descriptors.map { pass in
        {
          let known = pass()
          passed = known != nil
          return known
        }
      })
    if passed { statistics.passes += 1 }
    statistics.processesRead += pids.count
    for pid in pids { forget(pid) }
    let denied = Set(scan.denied)
    for record in scan.processes {
      let probe = probes[record.pid] ?? (record.startTimeTicks, -1)
      // A pid reused between the probe and the read: the record's own start time counts.
      let entry = Entry(
        record: record, startTime: record.startTimeTicks,
        descriptorSize: probe.start == record.startTimeTicks ? probe.size : -2,
        denied: denied.contains(record.pid) || !record.fdsReadable)
      entries[record.pid] = entry
      for socket in record.sockets { addOwner(FlowOwner(pid: record.pid, fd: socket.fd), socket.inode) }
    }
    // Denied without a record (the pid directory itself): remember it, so it is not re-read.
    for pid in denied where entries[pid] == nil {
      entries[pid] = Entry(
        record: ProcessRecord(pid: pid), startTime: probes[pid]?.start ?? 0, descriptorSize: -1,
        denied: true)
    }
  }

  private func addOwner(_ owner: FlowOwner, _ inode: UInt64) {
    generation &+= 1
    // Most sockets have one owner: one hash, no array made and thrown away.
    guard let known = ownersByInode[inode] else {
      ownersByInode[inode] = FlowOwners(only: owner)
      return
    }
    var owners = Array(known)
    let at =
      owners.firstIndex { $0.pid > owner.pid || ($0.pid == owner.pid && $0.fd > owner.fd) }
      ?? owners.count
    owners.insert(owner, at: at)
    ownersByInode[inode] = FlowOwners(owners)
  }

  private func forget(_ pid: Int32) {
    guard let entry = entries.removeValue(forKey: pid) else { return }
    for socket in entry.record.sockets {
      guard let position = ownersByInode.index(forKey: socket.inode) else { continue }
      let owners = ownersByInode.values[position]
      if owners.count == 1 && owners[0].pid == pid {
        ownersByInode.remove(at: position)
        generation &+= 1
        continue
      }
      let others = owners.filter { $0.pid != pid }
      ownersByInode[socket.inode] = others.isEmpty ? nil : FlowOwners(others)
      generation &+= 1
    }
  }

  // MARK: probing

  private var buffer = [UInt8](repeating: 0, count: 4096)

  /// Start time and command from `<root>/<pid>/stat`, and `st_size` of `<root>/<pid>/fd`
  /// (-1 when unreadable). nil when the process is gone.
  private func probe(_ root: String, _ pid: Int32) -> (start: UInt64, size: Int64, command: [UInt8])? {
    ProcScanner.probe(root: root, pid: pid, buffer: &buffer).map {
      ($0.startTimeTicks, $0.descriptorSize, $0.command)
    }
  }

  private func listPIDs(_ root: String) -> [Int32] { ProcScanner.listPIDs(root: root) }
}
