import Glibc
import SystemPackage
import Testing

@testable import ProcFS

/// `system.sockprotoname` of real descriptors of this process, and the typed error when the
/// descriptor is gone.
struct SocketProtocolTests {
  @Test func namesRealSocketsAndSaysWhichPathFailed() throws {
    let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    let udp6 = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
    let netlink = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue), 0)
    defer { [tcp, udp6, netlink].forEach { close($0) } }
    try #require(tcp >= 0 && udp6 >= 0 && netlink >= 0)
    let reader = SocketProtocolReader()
    let me = getpid()
    #expect(try reader.protocolName(pid: me, fd: tcp).get() == Array("TCP".utf8))
    #expect(try reader.protocolName(pid: me, fd: udp6).get() == Array("UDPv6".utf8))
    #expect(try reader.protocolName(pid: me, fd: netlink).get() == Array("NETLINK".utf8))

    // A file that is not a socket has no such attribute; a closed descriptor no link.
    let file = open("/dev/null", O_RDONLY)
    defer { close(file) }
    guard case .failure(let notSocket) = reader.protocolName(pid: me, fd: file) else {
      Issue.record("/dev/null has a socket protocol")
      return
    }
    #expect(notSocket.operation == "getxattr")
    #expect(notSocket.path == "/proc/\(me)/fd/\(file)")
    guard case .failure(let closed) = reader.protocolName(pid: me, fd: 1_000_000) else {
      Issue.record("fd 1000000 is open")
      return
    }
    #expect(closed.isVanished)
    #expect(closed.description == "getxattr /proc/\(me)/fd/1000000: \(Errno.noSuchFileOrDirectory.description)")
  }

  @Test func theKernelsTrailingNULIsNotPartOfTheName() {
    let value: [UInt8] = Array("TCPv6".utf8) + [0]
    #expect(value.withUnsafeBytes { ProcParsers.socketProtocolName($0) } == Array("TCPv6".utf8))
    #expect([UInt8]().withUnsafeBytes { ProcParsers.socketProtocolName($0) } == [])
  }
}
