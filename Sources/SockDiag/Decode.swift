/// Decodes one SOCK_DIAG_BY_FAMILY payload (after nlmsghdr) according to the query that produced it.
/// Unknown attributes are skipped; a malformed or too-short known attribute is an error.
public func decodeSocketRecord(_ payload: UnsafeRawBufferPointer, query: SockDiagQuery) throws
  -> SocketRecord
{
  switch query {
  case .inet(_, let proto): return .inet(try decodeInetSocket(payload, proto: proto))
  case .unix: return .unix(try decodeUnixSocket(payload))
  case .packet: return .packet(try decodePacketSocket(payload))
  case .netlink: return .netlink(try decodeNetlinkSocket(payload))
  case .vsock: return .vsock(try decodeVsockSocket(payload))
  }
}

// MARK: - Shared attribute payloads

/// Requires a fixed-size attribute payload; longer is accepted (the kernel may grow structs).
@inline(__always)
func requireAttribute(_ payload: UnsafeRawBufferPointer, _ need: Int, _ what: String)
  throws(SockDiagError)
{
  if payload.count < need { throw .truncated(what: what, need: need, have: payload.count) }
}

/// SK_MEMINFO_* u32 array; entries missing from an older kernel stay 0.
func decodeSocketMemInfo(_ p: UnsafeRawBufferPointer) -> SocketMemInfo {
  SocketMemInfo(
    rmemAlloc: p.hostU32OrZero(0), rcvbuf: p.hostU32OrZero(4), wmemAlloc: p.hostU32OrZero(8),
    sndbuf: p.hostU32OrZero(12), fwdAlloc: p.hostU32OrZero(16), wmemQueued: p.hostU32OrZero(20),
    optmem: p.hostU32OrZero(24), backlog: p.hostU32OrZero(28), drops: p.hostU32OrZero(32))
}

/// Two host-order u32 halves as the kernel stores a cookie: cookie[0] | cookie[1] << 32.
@inline(__always) func cookie(_ p: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
  UInt64(p.hostU32(offset)) | UInt64(p.hostU32(offset + 4)) << 32
}

// MARK: - inet

/// Attribute numbers of the inet_diag reply (enum in <linux/inet_diag.h>).
enum InetDiagAttribute {
  static let memInfo: UInt16 = 1
  static let info: UInt16 = 2
  static let cong: UInt16 = 4
  static let tos: UInt16 = 5
  static let tclass: UInt16 = 6
  static let skMemInfo: UInt16 = 7
  static let shutdown: UInt16 = 8
  static let proto: UInt16 = 10
  static let skV6Only: UInt16 = 11
  static let mark: UInt16 = 15
  static let classID: UInt16 = 17
  static let ulpInfo: UInt16 = 19
  static let cgroupID: UInt16 = 21
  static let sockOpt: UInt16 = 22
}

/// sizeof(struct inet_diag_msg).
public let inetDiagMessageSize = 72

func decodeInetSocket(_ p: UnsafeRawBufferPointer, proto: InetProtocol) throws -> InetSocket {
  try p.require(inetDiagMessageSize, "inet_diag_msg")
  // struct inet_diag_msg: family, state, timer, retrans, then inet_diag_sockid at 4.
  var socket = InetSocket(
    family: p[0], proto: proto, state: p[1], timer: DiagTimer(rawValue: p[2]),
    timerRetransmits: p[3], timerExpiresMs: p.hostU32(52),
    sourcePort: p.bigU16(4), destinationPort: p.bigU16(6),
    sourceAddress: InetAddressBytes(high: p.bigU64(8), low: p.bigU64(16)),
    destinationAddress: InetAddressBytes(high: p.bigU64(24), low: p.bigU64(32)),
    interfaceIndex: p.hostU32(40), cookie: cookie(p, at: 44),
    receiveQueue: p.hostU32(56), sendQueue: p.hostU32(60), uid: p.hostU32(64), inode: p.hostU32(68))

  var attributes = NetlinkAttributeDecoder(p.slice(inetDiagMessageSize, p.count))
  while attributes.next() {
    let a = attributes.payload
    switch attributes.type {
    case InetDiagAttribute.memInfo:
      try requireAttribute(a, 16, "inet_diag_meminfo")
      socket.memInfo = InetMemInfo(
        rmem: a.hostU32(0), wmem: a.hostU32(4), fmem: a.hostU32(8), tmem: a.hostU32(12))
    case InetDiagAttribute.info:
      // Only TCP's INET_DIAG_INFO is a tcp_info; MPTCP/SCTP/DCCP put other structs here.
      if proto == .tcp { socket.tcpInfo = TCPInfo(bytes: a) }
    case InetDiagAttribute.cong:
      // A NUL-terminated module name ("cubic", "bbr").
      var end = 0
      while end < a.count && a[end] != 0 { end += 1 }
      socket.congestionName = CongestionName(bytes: a.slice(0, end))
    case InetDiagAttribute.tos:
      try requireAttribute(a, 1, "INET_DIAG_TOS")
      socket.tos = a[0]
    case InetDiagAttribute.tclass:
      try requireAttribute(a, 1, "INET_DIAG_TCLASS")
      socket.tclass = a[0]
    case InetDiagAttribute.skMemInfo:
      socket.socketMemInfo = decodeSocketMemInfo(a)
    case InetDiagAttribute.shutdown:
      try requireAttribute(a, 1, "INET_DIAG_SHUTDOWN")
      socket.shutdown = a[0]
    case InetDiagAttribute.proto:
      try requireAttribute(a, 1, "INET_DIAG_PROTOCOL")
      socket.protocolAttribute = a[0]
    case InetDiagAttribute.skV6Only:
      try requireAttribute(a, 1, "INET_DIAG_SKV6ONLY")
      socket.v6Only = a[0] != 0
    case InetDiagAttribute.mark:
      try requireAttribute(a, 4, "INET_DIAG_MARK")
      socket.mark = a.hostU32(0)
    case InetDiagAttribute.classID:
      try requireAttribute(a, 4, "INET_DIAG_CLASS_ID")
      socket.classID = a.hostU32(0)
    case InetDiagAttribute.ulpInfo:
      socket.hasULP = true
    case InetDiagAttribute.cgroupID:
      try requireAttribute(a, 8, "INET_DIAG_CGROUP_ID")
      socket.cgroupID = a.hostU64(0)
    case InetDiagAttribute.sockOpt:
      try requireAttribute(a, 2, "INET_DIAG_SOCKOPT")
      socket.socketOptions = a.hostU16(0)
    default:
      break
    }
  }
  if let error = attributes.error { throw error }
  return socket
}

// MARK: - unix

/// sizeof(struct unix_diag_msg).
public let unixDiagMessageSize = 16

func decodeUnixSocket(_ p: UnsafeRawBufferPointer) throws -> UnixSocket {
  try p.require(unixDiagMessageSize, "unix_diag_msg")
  var socket = UnixSocket(type: p[1], state: p[2], inode: p.hostU32(4), cookie: cookie(p, at: 8))
  var attributes = NetlinkAttributeDecoder(p.slice(unixDiagMessageSize, p.count))
  while attributes.next() {
    let a = attributes.payload
    switch attributes.type {
    case 0:  // UNIX_DIAG_NAME: sun_path bytes as bound (addr_len - sizeof(sa_family_t))
      if a.count > 0 && a[0] == 0 {
        socket.name = .abstract(Array(a.slice(1, a.count)))
      } else {
        var end = 0
        while end < a.count && a[end] != 0 { end += 1 }
        socket.name = .path(Array(a.slice(0, end)))
      }
    case 1:  // UNIX_DIAG_VFS: struct unix_diag_vfs { ino, dev }
      try requireAttribute(a, 8, "unix_diag_vfs")
      socket.vfsInode = a.hostU32(0)
      socket.vfsDevice = a.hostU32(4)
    case 2:  // UNIX_DIAG_PEER
      try requireAttribute(a, 4, "UNIX_DIAG_PEER")
      socket.peerInode = a.hostU32(0)
    case 3:  // UNIX_DIAG_ICONS: u32 array
      var inodes: [UInt32] = []
      inodes.reserveCapacity(a.count / 4)
      var offset = 0
      while offset + 4 <= a.count {
        inodes.append(a.hostU32(offset))
        offset += 4
      }
      socket.pendingConnections = inodes
    case 4:  // UNIX_DIAG_RQLEN: struct unix_diag_rqlen
      try requireAttribute(a, 8, "unix_diag_rqlen")
      socket.receiveQueue = a.hostU32(0)
      socket.sendQueue = a.hostU32(4)
    case 5:  // UNIX_DIAG_MEMINFO
      socket.socketMemInfo = decodeSocketMemInfo(a)
    case 6:  // UNIX_DIAG_SHUTDOWN
      try requireAttribute(a, 1, "UNIX_DIAG_SHUTDOWN")
      socket.shutdown = a[0]
    case 7:  // UNIX_DIAG_UID
      try requireAttribute(a, 4, "UNIX_DIAG_UID")
      socket.uid = a.hostU32(0)
    default:
      break
    }
  }
  if let error = attributes.error { throw error }
  return socket
}

// MARK: - packet

/// sizeof(struct packet_diag_msg).
public let packetDiagMessageSize = 16

func decodePacketRing(_ a: UnsafeRawBufferPointer) throws -> PacketRing {
  try requireAttribute(a, 28, "packet_diag_ring")
  return PacketRing(
    blockSize: a.hostU32(0), blockCount: a.hostU32(4), frameSize: a.hostU32(8),
    frameCount: a.hostU32(12), retireTimeout: a.hostU32(16), privateSize: a.hostU32(20),
    features: a.hostU32(24))
}

func decodePacketSocket(_ p: UnsafeRawBufferPointer) throws -> PacketSocket {
  try p.require(packetDiagMessageSize, "packet_diag_msg")
  // pdiag_num: the kernel stores the protocol big-endian but sends ntohs(po->num), i.e. host
  // order (recorded: ETH_P_ALL arrives as 03 00 on x86).
  var socket = PacketSocket(
    type: p[1], proto: p.hostU16(2), inode: p.hostU32(4), cookie: cookie(p, at: 8))
  var attributes = NetlinkAttributeDecoder(p.slice(packetDiagMessageSize, p.count))
  while attributes.next() {
    let a = attributes.payload
    switch attributes.type {
    case 0:  // PACKET_DIAG_INFO: struct packet_diag_info
      try requireAttribute(a, 24, "packet_diag_info")
      socket.interfaceIndex = a.hostU32(0)
      socket.version = a.hostU32(4)
      socket.reserve = a.hostU32(8)
      socket.copyThreshold = a.hostU32(12)
      socket.timestampSource = a.hostU32(16)
      socket.infoFlags = a.hostU32(20)
    case 1:  // PACKET_DIAG_MCLIST: array of struct packet_diag_mclist (44 bytes)
      var memberships: [PacketMembership] = []
      var offset = 0
      while offset + 44 <= a.count {
        let addressLength = min(Int(a.hostU16(offset + 10)), 32)
        memberships.append(
          PacketMembership(
            interfaceIndex: a.hostU32(offset), count: a.hostU32(offset + 4),
            type: a.hostU16(offset + 8),
            address: Array(a.slice(offset + 12, offset + 12 + addressLength))))
        offset += 44
      }
      socket.memberships = memberships
    case 2:  // PACKET_DIAG_RX_RING
      socket.receiveRing = try decodePacketRing(a)
    case 3:  // PACKET_DIAG_TX_RING
      socket.transmitRing = try decodePacketRing(a)
    case 4:  // PACKET_DIAG_FANOUT
      try requireAttribute(a, 4, "PACKET_DIAG_FANOUT")
      socket.fanout = a.hostU32(0)
    case 5:  // PACKET_DIAG_UID
      try requireAttribute(a, 4, "PACKET_DIAG_UID")
      socket.uid = a.hostU32(0)
    case 6:  // PACKET_DIAG_MEMINFO
      socket.socketMemInfo = decodeSocketMemInfo(a)
    default:
      break
    }
  }
  if let error = attributes.error { throw error }
  return socket
}

// MARK: - netlink

/// sizeof(struct netlink_diag_msg).
public let netlinkDiagMessageSize = 28

func decodeNetlinkSocket(_ p: UnsafeRawBufferPointer) throws -> NetlinkSocket {
  try p.require(netlinkDiagMessageSize, "netlink_diag_msg")
  var socket = NetlinkSocket(
    type: p[1], proto: p[2], state: p[3], portID: p.hostU32(4), destinationPortID: p.hostU32(8),
    destinationGroup: p.hostU32(12), inode: p.hostU32(16), cookie: cookie(p, at: 20))
  var attributes = NetlinkAttributeDecoder(p.slice(netlinkDiagMessageSize, p.count))
  while attributes.next() {
    let a = attributes.payload
    switch attributes.type {
    case 0:  // NETLINK_DIAG_MEMINFO
      socket.socketMemInfo = decodeSocketMemInfo(a)
    case 1:  // NETLINK_DIAG_GROUPS: bitmap of unsigned longs; as u32 words it reads the same on LE
      var words: [UInt32] = []
      words.reserveCapacity(a.count / 4)
      var offset = 0
      while offset + 4 <= a.count {
        words.append(a.hostU32(offset))
        offset += 4
      }
      socket.groups = words
    case 4:  // NETLINK_DIAG_FLAGS
      try requireAttribute(a, 4, "NETLINK_DIAG_FLAGS")
      socket.flags = a.hostU32(0)
    default:
      break
    }
  }
  if let error = attributes.error { throw error }
  return socket
}

// MARK: - vsock

/// sizeof(struct vsock_diag_msg).
public let vsockDiagMessageSize = 32

func decodeVsockSocket(_ p: UnsafeRawBufferPointer) throws -> VsockSocket {
  try p.require(vsockDiagMessageSize, "vsock_diag_msg")
  return VsockSocket(
    type: p[1], state: p[2], shutdown: p[3], sourceCID: p.hostU32(4), sourcePort: p.hostU32(8),
    destinationCID: p.hostU32(12), destinationPort: p.hostU32(16), inode: p.hostU32(20),
    cookie: cookie(p, at: 24))
}
