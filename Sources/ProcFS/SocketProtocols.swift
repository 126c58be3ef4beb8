import Glibc
import SystemPackage

/// Reads the protocol name of socket descriptors from the `system.sockprotoname` extended
/// attribute of `<root>/<pid>/fd/<fd>`: `TCP`, `TCPv6`, `UDP`, `UNIX-STREAM`, `NETLINK`, `RAW`…
/// (the kernel's `struct proto` name; what lsof prints as `protocol:`). The kernel answers it
/// for any socket file, whether or not a sock_diag table lists the socket.
///
/// One `getxattr(2)` per call, with no I/O on the socket itself: the owner is not affected.
/// Meant for the few descriptors no dump returned; not for every descriptor of a scan. Keeps
/// its buffers between calls; one per thread.
public final class SocketProtocolReader {
  public let root: String
  private var path: [CChar] = []
  private let value = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)

  public init(root: String = "/proc") {
    self.root = root
  }

  deinit { value.deallocate() }

  /// The protocol name of the socket `fd` of `pid` (without the trailing NUL the kernel adds).
  /// ENOENT when the descriptor was closed (or the process exited) since the scan; ENODATA when
  /// the file is no longer a socket (the number was reused).
  public func protocolName(pid: Int32, fd: Int32) -> Result<[UInt8], ProcFSError> {
    path.removeAll(keepingCapacity: true)
    for byte in root.utf8 { path.append(CChar(bitPattern: byte)) }
    path.append(CChar(bitPattern: UInt8(ascii: "/")))
    appendDecimal(Int64(pid))
    for byte in "/fd/".utf8 { path.append(CChar(bitPattern: byte)) }
    appendDecimal(Int64(fd))
    path.append(0)
    let value = self.value
    let result = path.withUnsafeBufferPointer { p in
      Sys.getxattr(p.baseAddress!, "system.sockprotoname", value)
    }
    switch result {
    case .success(let count):
      return .success(ProcParsers.socketProtocolName(UnsafeRawBufferPointer(rebasing: value[0..<count])))
    case .failure(let errno):
      return .failure(
        ProcFSError(operation: "getxattr", path: "\(root)/\(pid)/fd/\(fd)", errno: errno))
    }
  }

  private func appendDecimal(_ value: Int64) {
    if value < 0 { path.append(CChar(bitPattern: UInt8(ascii: "-"))) }
    var v = value.magnitude
    let start = path.count
    repeat {
      path.append(CChar(bitPattern: UInt8(ascii: "0") + UInt8(v % 10)))
      v /= 10
    } while v > 0
    path[start...].reverse()
  }
}

extension ProcParsers {
  /// The bytes of a `system.sockprotoname` value up to its first NUL (the kernel counts the
  /// NUL in the value's length).
  public static func socketProtocolName(_ value: UnsafeRawBufferPointer) -> [UInt8] {
    var name: [UInt8] = []
    for byte in value {
      if byte == 0 { break }
      name.append(byte)
    }
    return name
  }
}
