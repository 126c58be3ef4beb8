import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

// Real sockets and processes for the tests: every helper makes the kernel object it names.

struct SocketFailure: Error, CustomStringConvertible {
  var description: String
  init(_ operation: String) { description = "\(operation): \(String(cString: strerror(errno)))" }
}

/// A descriptor closed when the test no longer holds it.
final class OwnedFD {
  let fd: Int32
  init(_ fd: Int32) { self.fd = fd }
  deinit { close(fd) }

  /// The socket's inode, as /proc/<pid>/fd shows it and sock_diag reports it.
  var inode: UInt64 {
    var info = stat()
    fstat(fd, &info)
    return UInt64(info.st_ino)
  }

  var localPort: UInt16 {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
    }
    return withUnsafeBytes(of: storage) { raw in
      UInt16(raw[2]) << 8 | UInt16(raw[3])  // sin_port and sin6_port sit at offset 2, big-endian
    }
  }
}

enum IPFamily { case v4, v6 }

/// A socket bound to the loopback address of `family` on an ephemeral port.
func loopbackSocket(_ family: IPFamily, type: Int32) throws -> OwnedFD {
  let domain = family == .v4 ? AF_INET : AF_INET6
  let fd = socket(domain, type | Int32(SOCK_CLOEXEC.rawValue), 0)
  guard fd >= 0 else { throw SocketFailure("socket") }
  let owned = OwnedFD(fd)
  var one: Int32 = 1
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
  try bindOrConnect(fd, family, port: 0, connect: false)
  return owned
}

/// binds or connects `fd` to the loopback address on `port`.
func bindOrConnect(_ fd: Int32, _ family: IPFamily, port: UInt16, connect doConnect: Bool) throws {
  let result: Int32
  if family == .v4 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    result = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        doConnect
          ? connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
          : bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
  } else {
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_port = port.bigEndian
    address.sin6_addr = in6addr_loopback
    result = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        doConnect
          ? connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
          : bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
      }
    }
  }
  guard result == 0 else { throw SocketFailure(doConnect ? "connect" : "bind") }
}

/// A listening TCP socket, a client connected to it and the accepted server end.
struct TCPConnection {
  let listener: OwnedFD
  let client: OwnedFD
  let server: OwnedFD

  init(_ family: IPFamily) throws {
    listener = try loopbackSocket(family, type: Int32(SOCK_STREAM.rawValue))
    guard listen(listener.fd, 16) == 0 else { throw SocketFailure("listen") }
    let clientFD = socket(
      family == .v4 ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard clientFD >= 0 else { throw SocketFailure("socket") }
    client = OwnedFD(clientFD)
    try bindOrConnect(clientFD, family, port: listener.localPort, connect: true)
    let accepted = accept(listener.fd, nil, nil)
    guard accepted >= 0 else { throw SocketFailure("accept") }
    server = OwnedFD(accepted)
  }
}

func sendAll(_ fd: Int32, count: Int) throws {
  let bytes = [UInt8](repeating: 0x61, count: count)
  var offset = 0
  while offset < count {
    let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, count - offset, 0) }
    guard sent > 0 else { throw SocketFailure("send") }
    offset += sent
  }
}

func receiveExactly(_ fd: Int32, count: Int) throws {
  var buffer = [UInt8](repeating: 0, count: count)
  var offset = 0
  while offset < count {
    let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
    guard got > 0 else { throw SocketFailure("recv") }
    offset += got
  }
}

/// A child process (`sleep`) that holds `fd` as its descriptor 3; killed and reaped on deinit.
final class ChildHolding {
  let pid: pid_t

  init(_ fd: Int32, seconds: Int = 60) throws {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fd, 3)
    var pid: pid_t = 0
    let arguments = ["sleep", String(seconds)]
    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let status = posix_spawn(&pid, "/bin/sleep", &actions, nil, argv, environ)
    guard status == 0 else {
      errno = status
      throw SocketFailure("posix_spawn")
    }
    self.pid = pid
  }

  /// Whether the child sleeps: its loader and libc have closed the files they opened, so its
  /// descriptor table holds still. (Its comm is "sleep" from the exec on, before those.)
  var asleep: Bool {
    ((try? String(contentsOfFile: "/proc/\(pid)/wchan")) ?? "").contains("nanosleep")
  }

  deinit {
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
  }
}

/// Polls `condition` until it holds or about two seconds have passed.
func eventually(_ condition: () -> Bool) -> Bool {
  for _ in 0..<200 {
    if condition() { return true }
    usleep(10_000)
  }
  return condition()
}

let runningAsRoot = geteuid() == 0
