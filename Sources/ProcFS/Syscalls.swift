// Every system call of the ProcFS target goes through this file. Each wrapper calls the C
// function once per attempt, reads `errno` immediately, retries EINTR, and returns
// `Result<_, Errno>`. Nothing here formats, allocates Strings, or knows about /proc.

import Glibc
import SystemPackage

enum Sys {
  /// The one helper: runs `body` until it does not fail with EINTR; `-1` means failure and
  /// `errno` is read at once, before any other call can overwrite it.
  @inline(__always)
  static func valueOrErrno<I: FixedWidthInteger>(_ body: () -> I) -> Result<I, Errno> {
    while true {
      let r = body()
      if r != -1 { return .success(r) }
      let e = Glibc.errno
      if e == EINTR { continue }
      return .failure(Errno(rawValue: e))
    }
  }

  /// Wraps `openat(2)` with `dirfd` and a NUL-terminated relative (or absolute) path.
  @inline(__always)
  static func openat(_ dirfd: Int32, _ path: UnsafePointer<CChar>, _ flags: Int32) -> Result<
    Int32, Errno
  > {
    valueOrErrno { Glibc.openat(dirfd, path, flags) }
  }

  /// Wraps `openat(2)` with a Swift string path.
  static func openat(_ dirfd: Int32, _ path: String, _ flags: Int32) -> Result<Int32, Errno> {
    path.withCString { openat(dirfd, $0, flags) }
  }

  /// Wraps `close(2)`. Not retried on EINTR: on Linux the fd is released even then, and a
  /// retry could close an fd another thread just opened.
  @inline(__always)
  static func close(_ fd: Int32) {
    _ = Glibc.close(fd)
  }

  /// Wraps `read(2)` into `buffer`.
  @inline(__always)
  static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
    valueOrErrno { Glibc.read(fd, buffer.baseAddress, buffer.count) }
  }

  /// Wraps `readlinkat(2)`: the link target of `name` relative to `dirfd`, not NUL-terminated;
  /// returns the number of bytes written (equal to `buffer.count` when it may be truncated).
  @inline(__always)
  static func readlinkat(
    _ dirfd: Int32, _ name: UnsafePointer<CChar>, _ buffer: UnsafeMutableRawBufferPointer
  ) -> Result<Int, Errno> {
    valueOrErrno {
      Glibc.readlinkat(
        dirfd, name, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), buffer.count)
    }
  }

  /// Wraps `fstatat(2)`; `flags` such as `AT_SYMLINK_NOFOLLOW`, or 0 to follow (as for `ns/net`).
  static func fstatat(_ dirfd: Int32, _ path: UnsafePointer<CChar>, _ flags: Int32) -> Result<
    Glibc.stat, Errno
  > {
    var st = Glibc.stat()
    return valueOrErrno { Glibc.fstatat(dirfd, path, &st, flags) }.map { _ in st }
  }

  /// Wraps `fstat(2)`.
  static func fstat(_ fd: Int32) -> Result<Glibc.stat, Errno> {
    var st = Glibc.stat()
    return valueOrErrno { Glibc.fstat(fd, &st) }.map { _ in st }
  }

  /// Wraps `fcntl(2)` with `F_DUPFD_CLOEXEC`: a close-on-exec duplicate of `fd`.
  static func dupCloexec(_ fd: Int32) -> Result<Int32, Errno> {
    valueOrErrno { Glibc.fcntl(fd, F_DUPFD_CLOEXEC, 0) }
  }

  // MARK: getdents64

  typealias GetdentsFunction = @convention(c) (Int32, UnsafeMutableRawPointer?, Int) -> Int

  /// glibc's `getdents64` (2.30+) sits behind `_GNU_SOURCE`, which Swift's Glibc module does
  /// not define, and the variadic `syscall(2)` cannot be imported. So the (non-variadic) glibc
  /// function is looked up once with `dlsym` and called through a C function pointer.
  /// nil on a libc without it; callers then fall back to `readdir(3)`.
  struct GetdentsBox: @unchecked Sendable { let function: GetdentsFunction? }
  static let getdents64Function: GetdentsBox = {
    guard let handle = dlopen(nil, RTLD_LAZY | RTLD_LOCAL), let sym = dlsym(handle, "getdents64")
    else {
      return GetdentsBox(function: nil)
    }
    return GetdentsBox(function: unsafeBitCast(sym, to: GetdentsFunction.self))
  }()

  static var hasGetdents64: Bool { getdents64Function.function != nil }

  /// Wraps `getdents64(2)`: fills `buffer` with `struct linux_dirent64` records; 0 at the end.
  /// Fails with ENOSYS when the libc has no `getdents64`.
  @inline(__always)
  static func getdents64(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
    guard let f = getdents64Function.function else { return .failure(.noFunction) }
    return valueOrErrno { f(fd, buffer.baseAddress, buffer.count) }
  }

  // MARK: getxattr

  typealias GetxattrFunction =
    @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafeMutableRawPointer?, Int) -> Int

  /// glibc's `getxattr` is declared in `<sys/xattr.h>`, which Swift's Glibc module does not
  /// include: looked up once with `dlsym`, as `getdents64` is. nil on a libc without it.
  struct GetxattrBox: @unchecked Sendable { let function: GetxattrFunction? }
  static let getxattrFunction: GetxattrBox = {
    guard let handle = dlopen(nil, RTLD_LAZY | RTLD_LOCAL), let sym = dlsym(handle, "getxattr")
    else {
      return GetxattrBox(function: nil)
    }
    return GetxattrBox(function: unsafeBitCast(sym, to: GetxattrFunction.self))
  }()

  /// Wraps `getxattr(2)`: the value of extended attribute `name` of the file at `path`
  /// (following links, so `/proc/PID/fd/N` names the socket itself), up to `buffer.count` bytes;
  /// returns the number of bytes written. ERANGE when the value is larger than the buffer;
  /// ENOSYS when the libc has no `getxattr`.
  static func getxattr(
    _ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>, _ buffer: UnsafeMutableRawBufferPointer
  ) -> Result<Int, Errno> {
    guard let f = getxattrFunction.function else { return .failure(.noFunction) }
    return valueOrErrno { f(path, name, buffer.baseAddress, buffer.count) }
  }

  // MARK: readdir fallback

  /// Wraps `fdopendir(3)`. On success the `DIR` owns `fd`.
  static func fdopendir(_ fd: Int32) -> Result<OpaquePointer, Errno> {
    while true {
      if let d = Glibc.fdopendir(fd) { return .success(d) }
      let e = Glibc.errno
      if e == EINTR { continue }
      return .failure(Errno(rawValue: e))
    }
  }

  /// Wraps `readdir(3)`: `.success(nil)` at the end, errno distinguished by clearing it first.
  static func readdir(_ dir: OpaquePointer) -> Result<UnsafeMutablePointer<dirent>?, Errno> {
    while true {
      Glibc.errno = 0
      if let ent = Glibc.readdir(dir) { return .success(ent) }
      let e = Glibc.errno
      if e == 0 { return .success(nil) }
      if e == EINTR { continue }
      return .failure(Errno(rawValue: e))
    }
  }

  /// Wraps `closedir(3)` (closes the fd it owns).
  static func closedir(_ dir: OpaquePointer) {
    _ = Glibc.closedir(dir)
  }

  // MARK: users

  /// Wraps `getpwuid_r(3)`: the user name of `uid`, `.success(nil)` when there is none.
  /// (It returns the error number instead of setting errno.)
  static func getpwuidName(_ uid: UInt32) -> Result<[UInt8]?, Errno> {
    var size = 1024
    while true {
      var pwd = passwd()
      var out: UnsafeMutablePointer<passwd>? = nil
      let buf = UnsafeMutablePointer<CChar>.allocate(capacity: size)
      defer { buf.deallocate() }
      let rc = Glibc.getpwuid_r(uid, &pwd, buf, size, &out)
      if rc == EINTR { continue }
      if rc == ERANGE, size < 1 << 20 {
        size *= 4
        continue
      }
      if rc != 0 { return .failure(Errno(rawValue: rc)) }
      guard out != nil, let name = pwd.pw_name else { return .success(nil) }
      let len = strlen(name)
      return .success(Array(UnsafeRawBufferPointer(start: name, count: len)))
    }
  }

  /// A whole (small) file through openat(2)/read(2), up to `limit` bytes.
  static func readWhole(_ path: String, limit: Int = 1 << 20) -> Result<[UInt8], Errno> {
    let fd: Int32
    switch openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC) {
    case .success(let opened): fd = opened
    case .failure(let error): return .failure(error)
    }
    defer { close(fd) }
    var contents: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    while contents.count < limit {
      let result = chunk.withUnsafeMutableBytes { read(fd, $0) }
      switch result {
      case .success(0): return .success(contents)
      case .success(let count): contents.append(contentsOf: chunk[0..<count])
      case .failure(let error): return .failure(error)
      }
    }
    return .success(contents)
  }
}
