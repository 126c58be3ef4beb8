import ProcFS

/// The records of `bpf/socket_owners.bpf.c`, decoded: pure, no I/O, so that any bytes can be
/// fed to it.
///
/// Each record is 16 bytes in host byte order: pid (u32), descriptor (u32), socket inode (u64,
/// 0 for a file that is not a socket). A pass lists a process's descriptors together, in fd
/// order; a process holding none is not in it.
public struct DescriptorRecords {
  public static let recordSize = 16

  private var processes: [Int32: KnownDescriptors.Process] = [:]
  private var currentPID: Int32 = -1
  private var current = KnownDescriptors.Process()
  /// Bytes read past the last whole record, kept for the next chunk.
  private var partial: [UInt8] = []

  public init() {}

  /// Adds the records in `bytes` (any chunk of the output; a record cut at its end is
  /// completed by the next chunk).
  public mutating func add(_ bytes: UnsafeRawBufferPointer) {
    var start = 0
    if !partial.isEmpty {
      let need = Self.recordSize - partial.count
      partial += bytes.prefix(need)
      if partial.count < Self.recordSize { return }
      partial.withUnsafeBytes { addWhole($0) }
      partial.removeAll()
      start = need
    }
    let whole = (bytes.count - start) / Self.recordSize * Self.recordSize
    addWhole(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + whole)]))
    partial += bytes[(start + whole)...]
  }

  private mutating func addWhole(_ bytes: UnsafeRawBufferPointer) {
    var offset = 0
    while offset + Self.recordSize <= bytes.count {
      let pid = Int32(bitPattern: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
      let fd = Int32(bitPattern: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
      let inode = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
      offset += Self.recordSize
      if pid != currentPID {
        flush()
        currentPID = pid
        current = processes.removeValue(forKey: pid) ?? KnownDescriptors.Process()
      }
      current.count += 1
      if inode != 0 { current.sockets.append(SocketDescriptor(fd: fd, inode: inode)) }
    }
  }

  private mutating func flush() {
    if currentPID > 0 { processes[currentPID] = current }
    currentPID = -1
    current = KnownDescriptors.Process()
  }

  /// Every process's descriptors; the sockets of each in ascending fd order. `trailingBytes`
  /// says how many bytes at the end made no whole record (0 for a well-formed pass).
  public mutating func finish() -> (descriptors: KnownDescriptors, trailingBytes: Int) {
    flush()
    for pid in processes.keys where !Self.isSorted(processes[pid]!.sockets) {
      processes[pid]!.sockets.sort { $0.fd < $1.fd }
    }
    return (KnownDescriptors(processes: processes), partial.count)
  }

  private static func isSorted(_ sockets: [SocketDescriptor]) -> Bool {
    var previous = Int32.min
    for socket in sockets {
      if socket.fd < previous { return false }
      previous = socket.fd
    }
    return true
  }
}
