import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

/// The BPF task-file iterator of `bpf/socket_owners.bpf.c`, loaded into the kernel once; each
/// `read()` is one pass over every process's open files, which gives every socket descriptor
/// (pid, fd, inode) and each process's descriptor count.
///
/// Loading needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN), a kernel with BPF iterators
/// and its BTF (`/sys/kernel/btf/vmlinux`). Nothing is pinned: the link lives as long as this
/// object, and a pass is read through `bpf_iter_create`.
public final class SocketOwnerIterator: @unchecked Sendable {
  private let object: OpaquePointer
  private let link: OpaquePointer

  /// The program's name in `socket_owners.bpf.c`.
  static let programName = "flowscope_descriptors"

  /// Opens, relocates, loads and attaches the program.
  public init() throws(BPFError) {
    LibBPF.silence()
    let bytes = Self.objectBytes()
    let opened = bytes.withUnsafeBytes { LibBPF.openObject($0) }
    let object = try opened.get()
    do {
      try LibBPF.load(object).get()
      let program = try LibBPF.program(object, named: Self.programName).get()
      link = try LibBPF.attachIterator(program).get()
    } catch {
      LibBPF.close(object: object)
      throw error
    }
    self.object = object
  }

  deinit {
    LibBPF.destroy(link: link)
    LibBPF.close(object: object)
  }

  /// One pass: every process's descriptors, by pid.
  public func read() throws(BPFError) -> KnownDescriptors {
    let fd = try LibBPF.createIterator(LibBPF.linkDescriptor(link)).get()
    defer { LibBPF.close(fd) }
    // The kernel hands a pass out 8 pages at a time; a larger buffer saves no call.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    defer { buffer.deallocate() }
    var records = DescriptorRecords()
    while true {
      let count = try LibBPF.read(fd, buffer).get()
      if count == 0 { break }
      records.add(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }
    let (descriptors, trailing) = records.finish()
    if trailing != 0 { throw BPFError(operation: "read (a record cut short)", errno: EIO) }
    return descriptors
  }

  /// The object file compiled at build time (`SocketOwnersObject.swift`, generated).
  static func objectBytes() -> [UInt8] {
    decodeHex(socketOwnersObjectHex)
  }

  /// Hex digits, two per byte, into bytes; stops at the first character that is not one.
  static func decodeHex(_ text: StaticString) -> [UInt8] {
    text.withUTF8Buffer { digits in
      var bytes: [UInt8] = []
      bytes.reserveCapacity(digits.count / 2)
      var index = 0
      while index + 1 < digits.count {
        guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { break }
        bytes.append(high << 4 | low)
        index += 2
      }
      return bytes
    }
  }

  private static func nibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
  }
}

extension SocketOwnerIterator {
  /// Why the iterator cannot serve a scan of `procRoot` here, said before trying to load it
  /// (which costs a parse of the kernel's BTF); nil when it may.
  public static func obstacle(procRoot: String) -> String? {
    if procRoot != "/proc" { return "--proc-root is not /proc" }
    if geteuid() != 0 { return "not root" }
    // The iterator names processes by their pid in the initial pid namespace; /proc names
    // them by the pid in its own.
    if case .success(let inode) = LibBPF.inode(of: "/proc/self/ns/pid"), inode != initialPIDNamespaceInode {
      return "not in the initial pid namespace"
    }
    return nil
  }

  /// PROC_PID_INIT_INO of <linux/proc_ns.h>: the inode of the initial pid namespace.
  static let initialPIDNamespaceInode: UInt64 = 0xEFFF_FFFC
}
