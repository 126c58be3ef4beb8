import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

/// The BPF task-file iterator of `bpf/socket_owners.bpf.c`, loaded into the kernel once; each
/// `read()` is one pass over every process's open files, which gives every socket descriptor
/// (pid, fd, inode) and each process's descriptor count. See `LoadedIterator` for what loading
/// needs.
public final class SocketOwnerIterator: @unchecked Sendable {
  private let iterator: LoadedIterator

  /// The program's name in `socket_owners.bpf.c`.
  static let programName = "flowscope_descriptors"

  /// Opens, relocates, loads and attaches the program.
  public init() throws(BPFError) {
    iterator = try LoadedIterator(objectHex: socketOwnersObjectHex, program: Self.programName)
  }

  /// One pass: every process's descriptors, by pid.
  public func read() throws(BPFError) -> KnownDescriptors {
    var records = DescriptorRecords()
    try iterator.pass { records.add($0) }
    let (descriptors, trailing) = records.finish()
    if trailing != 0 { throw BPFError(operation: "read (a record cut short)", errno: EIO) }
    return descriptors
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
