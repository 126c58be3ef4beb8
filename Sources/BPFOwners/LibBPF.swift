// Every libbpf and system call of BPFOwners goes through this file. Each wrapper names the C
// call it wraps, reads errno (or libbpf's negative error) at once, and returns
// `Result<_, BPFError>`; read(2) is retried on EINTR.

import CBPF

#if canImport(Glibc)
  import Glibc
#endif

/// A failed call while loading or running the BPF iterator: which call, and the errno it gave.
/// `description` reads like `bpf_object__load: Operation not permitted (EPERM)`.
public struct BPFError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The C call that failed, e.g. `"bpf_object__load"`, `"bpf_iter_create"`, `"read"`.
  public var operation: String
  public var errno: Int32

  public init(operation: String, errno: Int32) {
    self.operation = operation
    self.errno = errno
  }

  public var description: String {
    let text = strerror(errno).map { String(cString: $0) } ?? "error \(errno)"
    return "\(operation): \(text)" + (BPFError.names[errno].map { " (\($0))" } ?? "")
  }

  /// The names of the errors loading a program is known to give.
  static let names: [Int32: String] = [
    EPERM: "EPERM", EACCES: "EACCES", EINVAL: "EINVAL", ENOENT: "ENOENT", ENOMEM: "ENOMEM",
    ENOSYS: "ENOSYS", EOPNOTSUPP: "EOPNOTSUPP", E2BIG: "E2BIG", ESRCH: "ESRCH", EFAULT: "EFAULT",
  ]
}

enum LibBPF {
  /// Wraps `libbpf_set_print(NULL)`: libbpf says nothing on stderr; failures come back as errors.
  static func silence() {
    _ = libbpf_set_print(nil)
  }

  /// Wraps `bpf_object__open_mem(3)`: parses an ELF object held in memory (not loaded yet).
  static func openObject(_ bytes: UnsafeRawBufferPointer) -> Result<OpaquePointer, BPFError> {
    if let object = bpf_object__open_mem(bytes.baseAddress, bytes.count, nil) { return .success(object) }
    return .failure(BPFError(operation: "bpf_object__open_mem", errno: Glibc.errno))
  }

  /// Wraps `bpf_object__load(3)`: relocates against the kernel's BTF and loads every program.
  /// libbpf returns the negative errno.
  static func load(_ object: OpaquePointer) -> Result<Void, BPFError> {
    let result = bpf_object__load(object)
    return result == 0 ? .success(()) : .failure(BPFError(operation: "bpf_object__load", errno: -result))
  }

  /// Wraps `bpf_object__find_program_by_name(3)`.
  static func program(_ object: OpaquePointer, named name: String) -> Result<OpaquePointer, BPFError> {
    if let program = bpf_object__find_program_by_name(object, name) { return .success(program) }
    return .failure(BPFError(operation: "bpf_object__find_program_by_name \(name)", errno: ENOENT))
  }

  /// Wraps `bpf_program__attach_iter(3)` with no options (every task): the iterator's link.
  static func attachIterator(_ program: OpaquePointer) -> Result<OpaquePointer, BPFError> {
    if let link = bpf_program__attach_iter(program, nil) { return .success(link) }
    return .failure(BPFError(operation: "bpf_program__attach_iter", errno: Glibc.errno))
  }

  /// Wraps `bpf_link__fd(3)`.
  static func linkDescriptor(_ link: OpaquePointer) -> Int32 {
    bpf_link__fd(link)
  }

  /// Wraps `bpf_iter_create(3)`: a new pass of the iterator, read like a file. libbpf returns
  /// the negative errno.
  static func createIterator(_ linkFD: Int32) -> Result<Int32, BPFError> {
    let fd = bpf_iter_create(linkFD)
    return fd >= 0 ? .success(fd) : .failure(BPFError(operation: "bpf_iter_create", errno: -fd))
  }

  /// Wraps `read(2)`; EINTR is retried. 0 at the end of the pass.
  static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Result<Int, BPFError> {
    while true {
      let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
      if count >= 0 { return .success(count) }
      let error = Glibc.errno
      if error == EINTR { continue }
      return .failure(BPFError(operation: "read", errno: error))
    }
  }

  /// Wraps `stat(2)`: the inode of the file at `path` (following links).
  static func inode(of path: String) -> Result<UInt64, BPFError> {
    var info = stat()
    if stat(path, &info) == 0 { return .success(UInt64(info.st_ino)) }
    return .failure(BPFError(operation: "stat \(path)", errno: Glibc.errno))
  }

  /// Wraps `close(2)` (not retried: the descriptor is released even on EINTR).
  static func close(_ fd: Int32) {
    _ = Glibc.close(fd)
  }

  /// Wraps `bpf_link__destroy(3)`.
  static func destroy(link: OpaquePointer) {
    _ = bpf_link__destroy(link)
  }

  /// Wraps `bpf_object__close(3)`.
  static func close(object: OpaquePointer) {
    bpf_object__close(object)
  }
}
