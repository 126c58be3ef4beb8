import Dispatch
import FlowModel
import ProcFS

/// Socket inode → the descriptors holding it, built once from a /proc scan for the join of a
/// one-shot listing.
///
/// Open addressing with linear probing and a multiplicative hash over the inode. A slot holds
/// the inode and its first owner, so the lookup of a socket with one owner (nearly all) is one
/// cache miss: flows come in the kernel's hash order, each lookup lands anywhere in the table.
/// Further owners of an inode are chained through `more`. Socket inodes are 32-bit (sockfs
/// numbers them with an unsigned int, sock_diag reports a u32). At 100k sockets this takes
/// 4 MB where a `[UInt64: FlowOwners]` takes 8.4 MB, and it hashes without a seeded SipHash.
struct OwnerJoin {
  private struct Slot {
    /// 0 marks an empty slot (no descriptor refers to inode 0).
    var inode: UInt32 = 0
    var first = FlowOwner(pid: 0, fd: -1)
    /// The index in `more` of the inode's last-added further owner (-1: none).
    var newest: Int32 = -1
  }
  private var slots: [Slot]
  /// Each further owner and the index of the one added before it for the same inode (-1: none).
  private var more: [(owner: FlowOwner, previous: Int32)] = []
  private let mask: Int

  init(_ scan: ProcScanResult) {
    let count = scan.processes.reduce(0) { $0 + $1.sockets.count }
    // At most four entries in five slots: short probes, as the inodes are near-sequential.
    var size = 16
    while size < count + count / 4 { size <<= 1 }
    slots = [Slot](repeating: Slot(), count: size)
    mask = size - 1
    for record in scan.processes {
      for socket in record.sockets where socket.inode != 0 && socket.inode <= UInt32.max {
        let inode = UInt32(socket.inode)
        let slot = self.slot(inode)
        let owner = FlowOwner(pid: record.pid, fd: socket.fd)
        if slots[slot].inode == 0 {
          slots[slot].inode = inode
          slots[slot].first = owner
        } else {
          more.append((owner, slots[slot].newest))
          slots[slot].newest = Int32(truncatingIfNeeded: more.count - 1)
        }
      }
    }
  }

  /// The slot holding `inode`, or the empty one where it would go.
  @inline(__always) private func slot(_ inode: UInt32) -> Int {
    var slot = Int(truncatingIfNeeded: (UInt64(inode) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    while slots[slot].inode != 0 && slots[slot].inode != inode { slot = (slot + 1) & mask }
    return slot
  }

  /// Gives every flow its owners. A large listing does it on two threads, half the flows each:
  /// the lookups are cache misses, and the join runs while the other core has nothing to do.
  ///
  /// Returns, when `unmatched` is asked for, the sockets of the scan that no flow claimed: one
  /// entry per inode with its owners, in scan order. The lookup marks the slot it found in a
  /// byte per slot (each thread its own flows' slots; a socket is one flow), so finding them
  /// costs one pass over the slots, not a lookup per flow.
  @discardableResult
  func attach(to flows: inout [Flow], unmatched: Bool = false) -> [UnmatchedSocket] {
    let matched = unmatched ? UnsafeMutableBufferPointer<UInt8>.allocate(capacity: slots.count) : nil
    matched?.initialize(repeating: 0)
    defer { matched?.deallocate() }
    flows.withUnsafeMutableBufferPointer { all in
      guard all.count >= 2 * 8192 else { return attach(to: all, all.indices, marking: matched) }
      let half = all.count / 2
      let halves = [0..<half, half..<all.count]
      let shared = FlowsForThreads(flows: all, matched: matched)
      DispatchQueue.concurrentPerform(iterations: 2) { k in
        // Each thread writes only the flows of its half.
        attach(to: shared.flows, halves[k], marking: shared.matched)
      }
    }
    guard let matched else { return [] }
    var found: [UnmatchedSocket] = []
    for slot in slots.indices where slots[slot].inode != 0 && matched[slot] == 0 {
      found.append(UnmatchedSocket(inode: UInt64(slots[slot].inode), owners: owners(inSlot: slot) ?? []))
    }
    found.sort { ($0.owners[0].pid, $0.owners[0].fd) < ($1.owners[0].pid, $1.owners[0].fd) }
    return found
  }

  private func attach(
    to flows: UnsafeMutableBufferPointer<Flow>, _ rows: Range<Int>,
    marking matched: UnsafeMutableBufferPointer<UInt8>?
  ) {
    for index in rows {
      let inode = flows[index].inode
      guard inode != 0, inode <= UInt32.max else { continue }
      let slot = self.slot(UInt32(inode))
      if let matched, slots[slot].inode != 0 { matched[slot] = 1 }
      if let owners = owners(inSlot: slot) { flows[index].owners = owners }
    }
  }

  /// The owners of `inode` in scan order (process by process, descriptor by descriptor).
  func owners(of inode: UInt64) -> FlowOwners? {
    guard inode != 0, inode <= UInt32.max else { return nil }
    return owners(inSlot: slot(UInt32(inode)))
  }

  /// Gives one flow its owners, as `attach(to:)` does for a whole listing (a streamed one
  /// joins each flow as it is decoded).
  @inline(__always) func attach(to flow: inout Flow) {
    let inode = flow.inode
    guard inode != 0, inode <= UInt32.max else { return }
    if let owners = owners(inSlot: slot(UInt32(inode))) { flow.owners = owners }
  }

  @inline(__always) private func owners(inSlot slot: Int) -> FlowOwners? {
    let found = slots[slot]
    guard found.inode != 0 else { return nil }
    var owners = FlowOwners(only: found.first)
    guard found.newest >= 0 else { return owners }
    var chain: [FlowOwner] = []
    var index = found.newest
    while index >= 0 {
      chain.append(more[Int(index)].owner)
      index = more[Int(index)].previous
    }
    for owner in chain.reversed() { owners.append(owner) }
    return owners
  }
}

/// The flows the two threads of `OwnerJoin.attach` share, each writing its own half (and the
/// bytes of its flows' slots).
private struct FlowsForThreads: @unchecked Sendable {
  let flows: UnsafeMutableBufferPointer<Flow>
  let matched: UnsafeMutableBufferPointer<UInt8>?
}

/// A socket some process holds that no dump returned: its inode and every descriptor holding
/// it, in scan order.
struct UnmatchedSocket {
  var inode: UInt64
  /// Inline for one owner: a process with 100k descriptors no flow claimed makes no array each.
  var owners: FlowOwners
}
