// SOCK_DESTROY: the request that asks the kernel to abort one socket from outside, as `ss -K`
// does (`kill_inet_sock` in iproute2's misc/ss.c). The socket is named by the id a dump gave
// it, cookie included: the kernel looks the socket up by its addresses and then refuses
// (ENOENT) one whose cookie differs, so an address reused by a newer socket is never hit.

/// Which inet socket a request names: the `inet_diag_sockid` a dump reported, with the family
/// and protocol of the table it sits in.
public struct InetSocketID: Sendable, Equatable {
  /// AF_INET (2) or AF_INET6 (10).
  public var family: UInt8
  public var proto: InetProtocol
  /// Host order; sent big-endian.
  public var sourcePort: UInt16
  public var destinationPort: UInt16
  /// Network order, as a dump gave them (IPv4 in the first 4 bytes).
  public var sourceAddress: InetAddressBytes
  public var destinationAddress: InetAddressBytes
  /// idiag_if: the bound interface; link-local IPv6 lookups need it.
  public var interfaceIndex: UInt32
  /// idiag_cookie[0] | idiag_cookie[1] << 32.
  public var cookie: UInt64

  public init(
    family: UInt8, proto: InetProtocol, sourcePort: UInt16, destinationPort: UInt16,
    sourceAddress: InetAddressBytes, destinationAddress: InetAddressBytes,
    interfaceIndex: UInt32, cookie: UInt64
  ) {
    self.family = family
    self.proto = proto
    self.sourcePort = sourcePort
    self.destinationPort = destinationPort
    self.sourceAddress = sourceAddress
    self.destinationAddress = destinationAddress
    self.interfaceIndex = interfaceIndex
    self.cookie = cookie
  }

  /// The id of a socket a dump reported.
  public init(_ socket: InetSocket) {
    self.init(
      family: socket.family, proto: socket.proto, sourcePort: socket.sourcePort,
      destinationPort: socket.destinationPort, sourceAddress: socket.sourceAddress,
      destinationAddress: socket.destinationAddress, interfaceIndex: socket.interfaceIndex,
      cookie: socket.cookie)
  }
}

extension SockDiagRequest {
  /// The protocols whose diag handlers have a destroy operation (tcp_diag, udp_diag for UDP
  /// and UDP-Lite). raw_diag has one too, but this kernel lacks raw diag; MPTCP's has none.
  public static let destroyableProtocols: Set<InetProtocol> = [.tcp, .udp, .udplite]

  /// A complete SOCK_DESTROY message: nlmsghdr (type SOCK_DESTROY = 21, flags
  /// NLM_F_REQUEST|NLM_F_ACK, so the kernel answers with an NLMSG_ERROR carrying 0 or -errno)
  /// and a struct inet_diag_req_v2 naming the socket. 72 bytes.
  public static func encodeDestroy(_ id: InetSocketID, sequence: UInt32) -> [UInt8] {
    var message: [UInt8] = []
    message.reserveCapacity(72)
    message.appendHost(UInt32(NetlinkHeader.size + 56))  // nlmsg_len
    message.appendHost(NetlinkConstants.sockDestroy)  // nlmsg_type
    message.appendHost(NetlinkConstants.flagRequest | NetlinkConstants.flagAck)  // nlmsg_flags
    message.appendHost(sequence)  // nlmsg_seq
    message.appendHost(UInt32(0))  // nlmsg_pid: the kernel
    // struct inet_diag_req_v2
    message.append(id.family)  // sdiag_family
    message.append(UInt8(truncatingIfNeeded: id.proto.rawValue))  // sdiag_protocol
    message.append(0)  // idiag_ext: no attributes wanted back
    message.append(0)  // pad
    message.appendHost(UInt32(0))  // idiag_states: not read by SOCK_DESTROY
    // struct inet_diag_sockid
    message.appendBig(id.sourcePort)  // idiag_sport
    message.appendBig(id.destinationPort)  // idiag_dport
    message.appendBig(id.sourceAddress.high)  // idiag_src[4]
    message.appendBig(id.sourceAddress.low)
    message.appendBig(id.destinationAddress.high)  // idiag_dst[4]
    message.appendBig(id.destinationAddress.low)
    message.appendHost(id.interfaceIndex)  // idiag_if
    message.appendHost(UInt32(truncatingIfNeeded: id.cookie))  // idiag_cookie[0]
    message.appendHost(UInt32(truncatingIfNeeded: id.cookie >> 32))  // idiag_cookie[1]
    return message
  }
}
