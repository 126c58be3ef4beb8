import CMnl
import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

/// The sock_diag multicast groups that announce destroyed sockets (`SKNLGRP_*` in
/// <linux/sock_diag.h>). Joining them needs CAP_NET_ADMIN in the socket's network namespace.
public enum DestroyGroup: UInt32, Sendable, CaseIterable {
  case tcp4 = 1  // SKNLGRP_INET_TCP_DESTROY
  case udp4 = 2  // SKNLGRP_INET_UDP_DESTROY
  case tcp6 = 3  // SKNLGRP_INET6_TCP_DESTROY
  case udp6 = 4  // SKNLGRP_INET6_UDP_DESTROY

  /// The dump query whose records have the same layout: decoding a destroy message needs the
  /// protocol, which the group implies (the inet_diag_msg itself names only the family).
  public var query: SockDiagQuery {
    switch self {
    case .tcp4: .inet(family: 2, proto: .tcp)
    case .udp4: .inet(family: 2, proto: .udp)
    case .tcp6: .inet(family: 10, proto: .tcp)
    case .udp6: .inet(family: 10, proto: .udp)
    }
  }

  /// The group a message was sent to, from the `nl_groups` mask the kernel puts in the source
  /// address of a multicast datagram (bit `group - 1`).
  public init?(mask: UInt32) {
    guard mask != 0, mask & (mask - 1) == 0 else { return nil }
    self.init(rawValue: UInt32(mask.trailingZeroBitCount) + 1)
  }
}

/// What one receive on the destroy socket gave.
public enum DestroyReceive {
  /// One datagram, valid until the next receive, and the group it was sent to (nil if the
  /// source address named none, e.g. a unicast message).
  case datagram(UnsafeRawBufferPointer, group: DestroyGroup?)
  /// Nothing queued (the socket is non-blocking).
  case empty
  /// ENOBUFS: the receive buffer overflowed and the kernel dropped messages.
  case overrun
}

/// A NETLINK_SOCK_DIAG socket joined to destroy groups.
///
/// One socket serves every group: `recvmsg(2)` reports the group of each datagram in
/// `sockaddr_nl.nl_groups`, so events of all groups keep their order in one queue, and one
/// overrun counter covers them all. (The messages also carry `INET_DIAG_PROTOCOL`; the group
/// is used because it also gives the family of the decoding query.)
public final class DestroyEventSocket {
  private let socket: NetlinkSocket
  private var buffer: UnsafeMutableRawBufferPointer
  public let groups: [DestroyGroup]
  /// The receive buffer size the kernel reports (it doubles what is asked, for bookkeeping).
  public private(set) var receiveBufferBytes: Int = 0
  /// Whether SO_RCVBUFFORCE worked (it needs CAP_NET_ADMIN); else SO_RCVBUF, capped by
  /// net.core.rmem_max.
  public private(set) var forcedBuffer = false

  /// Opens the socket, joins `groups` and asks for a receive buffer of `bufferBytes`.
  /// Throws the failing call: EPERM from NETLINK_ADD_MEMBERSHIP means no CAP_NET_ADMIN.
  public init(groups: [DestroyGroup], bufferBytes: Int) throws(TransportError) {
    socket = try NetlinkSocket()
    buffer = .allocate(byteCount: 64 * 1024, alignment: 8)
    self.groups = groups
    let fd = socket.fileDescriptor
    for group in groups {
      var number = Int32(group.rawValue)
      // setsockopt(2) SOL_NETLINK NETLINK_ADD_MEMBERSHIP
      let joined = retryingInterrupts("setsockopt NETLINK_ADD_MEMBERSHIP", failed: { $0 < 0 }) {
        setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &number, socklen_t(4))
      }
      if case .failure(let error) = joined {
        buffer.deallocate()
        throw error
      }
    }
    // fcntl(2): non-blocking, so the caller polls the socket with its other descriptors.
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    setBuffer(bytes: bufferBytes)
  }

  deinit { buffer.deallocate() }

  public var fileDescriptor: Int32 { socket.fileDescriptor }

  /// Sets the receive buffer: SO_RCVBUFFORCE when allowed, else SO_RCVBUF. Returns the size
  /// the kernel now reports.
  @discardableResult
  public func setBuffer(bytes: Int) -> Int {
    let value = Int32(clamping: bytes)
    do {
      try socket.setSocketOption(SO_RCVBUFFORCE, value)
      forcedBuffer = true
    } catch {
      try? socket.setSocketOption(SO_RCVBUF, value)
    }
    var actual: Int32 = 0
    var length = socklen_t(4)
    // getsockopt(2) SO_RCVBUF
    _ = getsockopt(socket.fileDescriptor, SOL_SOCKET, SO_RCVBUF, &actual, &length)
    receiveBufferBytes = Int(actual)
    return receiveBufferBytes
  }

  /// Messages the kernel dropped for want of room since the socket was opened (`sk_drops`,
  /// read with SO_MEMINFO; netlink counts one per dropped message), nil if unreadable.
  public func droppedMessages() -> UInt64? {
    var info = [UInt32](repeating: 0, count: 16)  // SK_MEMINFO_VARS is 9 today
    var length = socklen_t(info.count * 4)
    // getsockopt(2) SO_MEMINFO
    let result = info.withUnsafeMutableBytes {
      getsockopt(socket.fileDescriptor, SOL_SOCKET, SO_MEMINFO, $0.baseAddress, &length)
    }
    guard result == 0, length >= 9 * 4 else { return nil }
    return UInt64(info[8])  // SK_MEMINFO_DROPS
  }

  /// Reads one datagram without blocking.
  public func receive() throws(TransportError) -> DestroyReceive {
    var address = sockaddr_nl()
    var vector = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
    while true {
      let count = withUnsafeMutablePointer(to: &address) { addressPointer in
        withUnsafeMutablePointer(to: &vector) { vectorPointer in
          var message = msghdr()
          message.msg_name = UnsafeMutableRawPointer(addressPointer)
          message.msg_namelen = socklen_t(MemoryLayout<sockaddr_nl>.size)
          message.msg_iov = vectorPointer
          message.msg_iovlen = 1
          // recvmsg(2)
          return recvmsg(socket.fileDescriptor, &message, 0)
        }
      }
      if count >= 0 {
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<min(count, buffer.count)])
        return .datagram(bytes, group: DestroyGroup(mask: address.nl_groups))
      }
      let code = fs_errno()
      switch code {
      case EINTR: continue
      case EAGAIN, EWOULDBLOCK: return .empty
      case ENOBUFS: return .overrun
      default: throw TransportError(operation: "recvmsg", errno: code)
      }
    }
  }
}

/// The sockets one destroy datagram announces, decoded as `group`'s records. Pure.
/// Returns what could be decoded and the first error, never one without the other.
public func decodeDestroyDatagram(
  _ datagram: UnsafeRawBufferPointer, group: DestroyGroup
) -> (sockets: [InetSocket], undecoded: Int, error: SockDiagError?) {
  var records: [SocketRecord] = []
  let status = decodeDumpDatagram(datagram, query: group.query, into: &records)
  let sockets = records.compactMap { record -> InetSocket? in
    if case .inet(let socket) = record { return socket }
    return nil
  }
  return (sockets, status.messageCount - sockets.count, status.error)
}
