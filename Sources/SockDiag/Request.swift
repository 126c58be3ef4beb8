/// IPPROTO_* numbers served by inet_diag. MPTCP's 262 does not fit the request's u8 protocol
/// field, which is why it travels in an INET_DIAG_REQ_PROTOCOL attribute.
public enum InetProtocol: UInt16, Sendable, CaseIterable {
  case tcp = 6
  case udp = 17
  case dccp = 33
  case sctp = 132
  case udplite = 136
  case raw = 255
  case mptcp = 262
}

/// Address families used by sock_diag requests.
public enum AddressFamily {
  /// AF_UNSPEC: in `SockDiagQuery.inet`, both IPv4 and IPv6 in one dump (TCP only).
  public static let unspecified: UInt8 = 0
  public static let unix: UInt8 = 1
  public static let inet: UInt8 = 2
  public static let inet6: UInt8 = 10
  public static let netlink: UInt8 = 16
  public static let packet: UInt8 = 17
  public static let vsock: UInt8 = 40
}

/// What one dump asks the kernel for.
public enum SockDiagQuery: Sendable, Hashable {
  /// family AF_INET=2 / AF_INET6=10, or AF_UNSPEC=0 for TCP: both families in one walk of the
  /// kernel's socket tables (see `SockDiagRequest.encode`).
  case inet(family: UInt8, proto: InetProtocol)
  case unix
  case packet
  case netlink
  /// AF_VSOCK=40, vsock_diag_req; the reply is decoded from vsock_diag_msg only.
  case vsock
}

extension SockDiagQuery {
  /// The per-family queries an AF_UNSPEC query stands for (itself otherwise): what a kernel
  /// that refuses the one-walk request is asked instead, and what older recordings hold.
  public var perFamily: [SockDiagQuery] {
    guard case .inet(AddressFamily.unspecified, let proto) = self else { return [self] }
    return [
      .inet(family: AddressFamily.inet, proto: proto), .inet(family: AddressFamily.inet6, proto: proto),
    ]
  }
}

public struct SockDiagRequest {
  /// idiag_ext bits: MEMINFO, INFO, CONG, TOS, TCLASS, SKMEMINFO, SHUTDOWN, each
  /// `1 << (INET_DIAG_x - 1)`. VEGASINFO (bit 2) is left out: it selects the congestion
  /// module's private info, which we do not decode. CGROUP_ID, MARK, CLASS_ID, SOCKOPT come unasked.
  public static let inetExtensions: UInt8 = 0x01 | 0x02 | 0x08 | 0x10 | 0x20 | 0x40 | 0x80
  /// INFO alone: the counters, RTT and windows, enough for byte rates (`flowscope watch`).
  /// Each extension left out is work the kernel does not do and bytes we do not decode.
  public static let inetInfoOnly: UInt8 = 0x02
  /// UDIAG_SHOW_NAME|VFS|PEER|ICONS|RQLEN|MEMINFO|UID. UNIX_DIAG_SHUTDOWN is always sent.
  public static let unixShow: UInt32 = 0x7f
  /// PACKET_SHOW_INFO|MCLIST|RING_CFG|FANOUT|MEMINFO. PACKET_DIAG_UID is always sent;
  /// FILTER is not asked (it needs CAP_NET_ADMIN and we do not decode BPF).
  public static let packetShow: UInt32 = 0x01 | 0x02 | 0x04 | 0x08 | 0x10
  /// NDIAG_SHOW_MEMINFO|GROUPS|FLAGS.
  public static let netlinkShow: UInt32 = 0x01 | 0x02 | 0x08
  /// NDIAG_PROTO_ALL: every netlink protocol.
  public static let netlinkAllProtocols: UInt8 = 255
  /// INET_DIAG_REQ_BYTECODE and INET_DIAG_REQ_PROTOCOL request attribute types.
  public static let attributeBytecode: UInt16 = 1
  public static let attributeProtocol: UInt16 = 3
  /// INET_DIAG_NOCOOKIE: the socket id of a dump matches any cookie.
  static let noCookie: UInt32 = 0xffff_ffff

  /// A complete netlink message (16-byte nlmsghdr + request struct + attributes), flags
  /// NLM_F_REQUEST|NLM_F_DUMP, type SOCK_DIAG_BY_FAMILY (TCPDIAG_GETSOCK for the one-walk
  /// TCP query), port id 0 (the kernel).
  ///
  /// - `states`: bitmask `1 << state` for inet, unix and vsock; ignored by packet and netlink dumps.
  /// - `bytecode`: an inet_diag filter program, sent as INET_DIAG_REQ_BYTECODE; inet only.
  /// - `extensions`: the idiag_ext bits asked of inet dumps.
  /// - `details`: false asks UNIX, packet and netlink dumps for no attributes (show flags 0):
  ///   the base message alone, with its inode (a walk that only wants to know which sockets exist).
  public static func encode(
    _ query: SockDiagQuery, sequence: UInt32, states: UInt32 = 0xffff_ffff, bytecode: [UInt8]? = nil,
    extensions: UInt8 = inetExtensions, details: Bool = true
  ) -> [UInt8] {
    var message: [UInt8] = []
    message.reserveCapacity(96 + (bytecode?.count ?? 0))
    let oneWalk = query == .inet(family: AddressFamily.unspecified, proto: .tcp)
    // Header first with a placeholder length, patched once the body is known.
    message.appendHost(UInt32(0))
    message.appendHost(
      oneWalk ? NetlinkConstants.tcpDiagGetSock : NetlinkConstants.sockDiagByFamily)
    message.appendHost(NetlinkConstants.flagRequest | NetlinkConstants.flagDump)
    message.appendHost(sequence)
    message.appendHost(UInt32(0))

    switch query {
    case .inet where oneWalk:
      // struct inet_diag_req (60 bytes), the request sock_diag had before per-family ones. The
      // kernel dumps it with family AF_UNSPEC whatever idiag_family says: IPv4 and IPv6 come
      // from one walk of the TCP tables, where two SOCK_DIAG_BY_FAMILY requests walk them twice.
      message.append(AddressFamily.unspecified)  // idiag_family
      message.append(0)  // idiag_src_len
      message.append(0)  // idiag_dst_len
      message.append(extensions)  // idiag_ext
      message.appendZeros(2 + 2 + 16 + 16 + 4)  // inet_diag_sockid up to the cookie
      message.appendHost(noCookie)
      message.appendHost(noCookie)
      message.appendHost(states)  // idiag_states
      message.appendHost(UInt32(0))  // idiag_dbs
      if let bytecode {
        appendAttribute(attributeBytecode, bytecode, to: &message)
      }
    case .inet(let family, let proto):
      // struct inet_diag_req_v2 (56 bytes) / inet_diag_req_raw (same layout, pad = raw protocol).
      message.append(family)
      // MPTCP: the u8 field carries 262 & 0xff (= IPPROTO_TCP, as iproute2 sends it); the kernel
      // takes the real protocol from INET_DIAG_REQ_PROTOCOL when that attribute is present.
      message.append(UInt8(truncatingIfNeeded: proto.rawValue))
      message.append(extensions)
      // sdiag_raw_protocol: IPPROTO_RAW asks raw_diag for raw sockets of any protocol.
      message.append(proto == .raw ? 255 : 0)
      message.appendHost(states)
      // inet_diag_sockid: ports, addresses, interface all zero; cookie "none" (ignored in dumps).
      message.appendZeros(2 + 2 + 16 + 16 + 4)
      message.appendHost(noCookie)
      message.appendHost(noCookie)
      if let bytecode {
        appendAttribute(attributeBytecode, bytecode, to: &message)
      }
      if proto == .mptcp {
        var value: [UInt8] = []
        value.appendHost(UInt32(proto.rawValue))
        appendAttribute(attributeProtocol, value, to: &message)
      }
    case .unix:
      // struct unix_diag_req (24 bytes).
      message.append(AddressFamily.unix)
      message.append(0)  // sdiag_protocol
      message.appendHost(UInt16(0))  // pad
      message.appendHost(states)  // udiag_states
      message.appendHost(UInt32(0))  // udiag_ino: 0 = all
      message.appendHost(details ? unixShow : 0)
      message.appendZeros(8)  // udiag_cookie
    case .packet:
      // struct packet_diag_req (20 bytes).
      message.append(AddressFamily.packet)
      message.append(0)
      message.appendHost(UInt16(0))
      message.appendHost(UInt32(0))  // pdiag_ino
      message.appendHost(details ? packetShow : 0)
      message.appendZeros(8)
    case .netlink:
      // struct netlink_diag_req (20 bytes).
      message.append(AddressFamily.netlink)
      message.append(netlinkAllProtocols)
      message.appendHost(UInt16(0))
      message.appendHost(UInt32(0))  // ndiag_ino
      message.appendHost(details ? netlinkShow : 0)
      message.appendZeros(8)
    case .vsock:
      // struct vsock_diag_req (24 bytes): protocol, ino and show must be 0.
      message.append(AddressFamily.vsock)
      message.append(0)
      message.appendHost(UInt16(0))
      message.appendHost(states)
      message.appendHost(UInt32(0))
      message.appendHost(UInt32(0))
      message.appendZeros(8)
    }

    let length = UInt32(message.count)
    Swift.withUnsafeBytes(of: length) { bytes in
      for i in 0..<4 { message[i] = bytes[i] }
    }
    return message
  }
}
