/// One socket as described by a SOCK_DIAG_BY_FAMILY reply.
public enum SocketRecord: Sendable, Equatable {
  case inet(InetSocket)
  case unix(UnixSocket)
  case packet(PacketSocket)
  case netlink(NetlinkSocket)
  case vsock(VsockSocket)

  /// The socket's inode (0 for inet destroy events and time-wait sockets).
  public var inode: UInt32 {
    switch self {
    case .inet(let s): return s.inode
    case .unix(let s): return s.inode
    case .packet(let s): return s.inode
    case .netlink(let s): return s.inode
    case .vsock(let s): return s.inode
    }
  }

  /// The kernel's socket cookie, unique for the boot.
  public var cookie: UInt64 {
    switch self {
    case .inet(let s): return s.cookie
    case .unix(let s): return s.cookie
    case .packet(let s): return s.cookie
    case .netlink(let s): return s.cookie
    case .vsock(let s): return s.cookie
    }
  }
}

/// 16 address bytes as on the wire (network order); for IPv4 only the first 4 are meaningful.
/// Big-endian interpretation: byte 0 is the most significant byte of `high`.
public struct InetAddressBytes: Sendable, Hashable {
  public var high: UInt64
  public var low: UInt64

  public init(high: UInt64, low: UInt64) {
    self.high = high
    self.low = low
  }

  /// From up to 16 bytes in network order; missing bytes are zero.
  public init<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
    var high: UInt64 = 0
    var low: UInt64 = 0
    var index = 0
    for byte in bytes.prefix(16) {
      if index < 8 {
        high |= UInt64(byte) << (56 - 8 * index)
      } else {
        low |= UInt64(byte) << (56 - 8 * (index - 8))
      }
      index += 1
    }
    self.init(high: high, low: low)
  }

  /// Byte `i` (0...15) in network order; 0 outside that range.
  @inline(__always) public func byte(_ i: Int) -> UInt8 {
    switch i {
    case 0..<8: return UInt8(truncatingIfNeeded: high >> (56 - 8 * i))
    case 8..<16: return UInt8(truncatingIfNeeded: low >> (56 - 8 * (i - 8)))
    default: return 0
    }
  }

  /// The first four bytes as an IPv4 address in host order (127.0.0.1 → 0x7f00_0001).
  public var ipv4: UInt32 { UInt32(truncatingIfNeeded: high >> 32) }

  public static let zero = InetAddressBytes(high: 0, low: 0)
}

/// idiag_timer: which timer of the socket is pending.
public enum DiagTimer: Sendable, Equatable {
  case none, retransmit, keepalive, timeWait, zeroWindowProbe
  case other(UInt8)

  public init(rawValue: UInt8) {
    switch rawValue {
    case 0: self = .none
    case 1: self = .retransmit
    case 2: self = .keepalive
    case 3: self = .timeWait
    case 4: self = .zeroWindowProbe
    default: self = .other(rawValue)
    }
  }
}

/// A TCP, UDP, UDP-Lite, DCCP, SCTP, raw or MPTCP socket (`struct inet_diag_msg` + attributes).
public struct InetSocket: Sendable, Equatable {
  public var family: UInt8
  public var proto: InetProtocol
  /// TCP_ESTABLISHED = 1 ... TCP_NEW_SYN_RECV = 12 (UDP uses 1 connected, 7 unconnected).
  public var state: UInt8
  public var timer: DiagTimer
  public var timerRetransmits: UInt8
  public var timerExpiresMs: UInt32
  /// Host order.
  public var sourcePort: UInt16
  public var destinationPort: UInt16
  public var sourceAddress: InetAddressBytes
  public var destinationAddress: InetAddressBytes
  public var interfaceIndex: UInt32
  /// cookie[0] | cookie[1] << 32
  public var cookie: UInt64
  public var receiveQueue: UInt32
  public var sendQueue: UInt32
  public var uid: UInt32
  public var inode: UInt32
  /// INET_DIAG_INFO, decoded as `struct tcp_info` for TCP only (MPTCP sends mptcp_info,
  /// SCTP sctp_info, DCCP its own: those are not decoded).
  public var tcpInfo: TCPInfo?
  /// Reads `tcpInfo` in place (nil without one).
  @discardableResult
  public func withTCPInfo<Result>(_ body: (TCPInfo) -> Result) -> Result? {
    guard case .some(let info) = tcpInfo else { return nil }
    return body(info)
  }
  public var memInfo: InetMemInfo?
  public var socketMemInfo: SocketMemInfo?
  /// INET_DIAG_CONG: the congestion control module ("cubic", "bbr").
  public var congestion: String? {
    get { congestionName.string }
    set { congestionName = CongestionName(newValue) }
  }
  /// Kept inline, so that a record holds no reference and copies as plain bytes.
  var congestionName = CongestionName(nil)
  /// The congestion control module's name as the kernel gave it; nil when it did not.
  public func withCongestionName<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
    try congestionName.withBytes(body)
  }
  public var tos: UInt8?
  public var tclass: UInt8?
  public var shutdown: UInt8?
  public var cgroupID: UInt64?
  public var mark: UInt32?
  public var classID: UInt32?
  public var v6Only: Bool?
  /// INET_DIAG_SOCKOPT: `struct inet_diag_sockopt` bits (recverr, is_icsk, freebind ...) as a u16.
  public var socketOptions: UInt16?
  /// INET_DIAG_PROTOCOL: the socket's own protocol when the kernel reports it (u8).
  public var protocolAttribute: UInt8?
  /// True when INET_DIAG_ULP_INFO was present (a TCP socket with an upper layer: tls, mptcp subflow).
  public var hasULP: Bool

  public init(
    family: UInt8 = AddressFamily.inet, proto: InetProtocol = .tcp, state: UInt8 = 0,
    timer: DiagTimer = .none, timerRetransmits: UInt8 = 0, timerExpiresMs: UInt32 = 0,
    sourcePort: UInt16 = 0, destinationPort: UInt16 = 0,
    sourceAddress: InetAddressBytes = .zero, destinationAddress: InetAddressBytes = .zero,
    interfaceIndex: UInt32 = 0, cookie: UInt64 = 0, receiveQueue: UInt32 = 0, sendQueue: UInt32 = 0,
    uid: UInt32 = 0, inode: UInt32 = 0, tcpInfo: TCPInfo? = nil, memInfo: InetMemInfo? = nil,
    socketMemInfo: SocketMemInfo? = nil, congestion: String? = nil, tos: UInt8? = nil,
    tclass: UInt8? = nil, shutdown: UInt8? = nil, cgroupID: UInt64? = nil, mark: UInt32? = nil,
    classID: UInt32? = nil, v6Only: Bool? = nil, socketOptions: UInt16? = nil,
    protocolAttribute: UInt8? = nil, hasULP: Bool = false
  ) {
    self.family = family
    self.proto = proto
    self.state = state
    self.timer = timer
    self.timerRetransmits = timerRetransmits
    self.timerExpiresMs = timerExpiresMs
    self.sourcePort = sourcePort
    self.destinationPort = destinationPort
    self.sourceAddress = sourceAddress
    self.destinationAddress = destinationAddress
    self.interfaceIndex = interfaceIndex
    self.cookie = cookie
    self.receiveQueue = receiveQueue
    self.sendQueue = sendQueue
    self.uid = uid
    self.inode = inode
    self.tcpInfo = tcpInfo
    self.memInfo = memInfo
    self.socketMemInfo = socketMemInfo
    self.congestionName = CongestionName(congestion)
    self.tos = tos
    self.tclass = tclass
    self.shutdown = shutdown
    self.cgroupID = cgroupID
    self.mark = mark
    self.classID = classID
    self.v6Only = v6Only
    self.socketOptions = socketOptions
    self.protocolAttribute = protocolAttribute
    self.hasULP = hasULP
  }
}

/// A congestion control name as the kernel bounds it (TCP_CA_NAME_MAX = 16 bytes), inline.
struct CongestionName: Sendable, Equatable {
  private var bytes: (UInt64, UInt64) = (0, 0)
  /// -1: no name.
  private var count: Int8 = -1

  init(_ name: String?) {
    if let name { self.init(bytes: Array(name.utf8)) } else { self.init() }
  }

  private init() {}

  init<Bytes: Collection<UInt8>>(bytes name: Bytes) {
    count = Int8(min(name.count, 16))
    withUnsafeMutableBytes(of: &bytes) { raw in
      for (offset, byte) in name.prefix(16).enumerated() { raw[offset] = byte }
    }
  }

  func withBytes<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
    guard count >= 0 else { return try body(nil) }
    return try withUnsafeBytes(of: bytes) { try body(UnsafeRawBufferPointer(rebasing: $0.prefix(Int(count)))) }
  }

  var string: String? {
    guard count >= 0 else { return nil }
    return withUnsafeBytes(of: bytes) { String(decoding: $0.prefix(Int(count)), as: UTF8.self) }
  }

  static func == (a: Self, b: Self) -> Bool { a.bytes == b.bytes && a.count == b.count }
}

/// INET_DIAG_MEMINFO (`struct inet_diag_meminfo`).
public struct InetMemInfo: Sendable, Equatable {
  public var rmem, wmem, fmem, tmem: UInt32

  public init(rmem: UInt32, wmem: UInt32, fmem: UInt32, tmem: UInt32) {
    self.rmem = rmem
    self.wmem = wmem
    self.fmem = fmem
    self.tmem = tmem
  }
}

/// The u32 array SK_MEMINFO_* (INET_DIAG_SKMEMINFO, UNIX/PACKET/NETLINK_DIAG_MEMINFO).
/// Entries the kernel did not send are 0.
public struct SocketMemInfo: Sendable, Equatable {
  public var rmemAlloc, rcvbuf, wmemAlloc, sndbuf, fwdAlloc, wmemQueued, optmem, backlog,
    drops: UInt32

  public init(
    rmemAlloc: UInt32 = 0, rcvbuf: UInt32 = 0, wmemAlloc: UInt32 = 0, sndbuf: UInt32 = 0,
    fwdAlloc: UInt32 = 0, wmemQueued: UInt32 = 0, optmem: UInt32 = 0, backlog: UInt32 = 0,
    drops: UInt32 = 0
  ) {
    self.rmemAlloc = rmemAlloc
    self.rcvbuf = rcvbuf
    self.wmemAlloc = wmemAlloc
    self.sndbuf = sndbuf
    self.fwdAlloc = fwdAlloc
    self.wmemQueued = wmemQueued
    self.optmem = optmem
    self.backlog = backlog
    self.drops = drops
  }
}

/// A UNIX socket's bound name.
public enum UnixName: Sendable, Hashable {
  /// A filesystem path, up to its first NUL.
  case path([UInt8])
  /// An abstract name, leading NUL stripped; may contain NULs.
  case abstract([UInt8])
}

/// `struct unix_diag_msg` + attributes.
public struct UnixSocket: Sendable, Equatable {
  /// SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5.
  public var type: UInt8
  /// TCP_ESTABLISHED 1, TCP_CLOSE 7 (unconnected), TCP_LISTEN 10.
  public var state: UInt8
  public var inode: UInt32
  public var cookie: UInt64
  public var name: UnixName?
  public var peerInode: UInt32?
  /// UNIX_DIAG_RQLEN: for a listener, pending connections and backlog; otherwise bytes queued.
  public var receiveQueue: UInt32?
  public var sendQueue: UInt32?
  public var uid: UInt32?
  public var vfsDevice: UInt32?
  public var vfsInode: UInt32?
  /// UNIX_DIAG_ICONS: peer inodes of connections waiting in a listener's queue.
  public var pendingConnections: [UInt32]?
  public var shutdown: UInt8?
  public var socketMemInfo: SocketMemInfo?

  public init(
    type: UInt8 = 1, state: UInt8 = 0, inode: UInt32 = 0, cookie: UInt64 = 0, name: UnixName? = nil,
    peerInode: UInt32? = nil, receiveQueue: UInt32? = nil, sendQueue: UInt32? = nil,
    uid: UInt32? = nil, vfsDevice: UInt32? = nil, vfsInode: UInt32? = nil,
    pendingConnections: [UInt32]? = nil, shutdown: UInt8? = nil, socketMemInfo: SocketMemInfo? = nil
  ) {
    self.type = type
    self.state = state
    self.inode = inode
    self.cookie = cookie
    self.name = name
    self.peerInode = peerInode
    self.receiveQueue = receiveQueue
    self.sendQueue = sendQueue
    self.uid = uid
    self.vfsDevice = vfsDevice
    self.vfsInode = vfsInode
    self.pendingConnections = pendingConnections
    self.shutdown = shutdown
    self.socketMemInfo = socketMemInfo
  }
}

/// PACKET_DIAG_RX_RING / TX_RING (`struct packet_diag_ring`).
public struct PacketRing: Sendable, Equatable {
  public var blockSize, blockCount, frameSize, frameCount, retireTimeout, privateSize,
    features: UInt32

  public init(
    blockSize: UInt32, blockCount: UInt32, frameSize: UInt32, frameCount: UInt32,
    retireTimeout: UInt32, privateSize: UInt32, features: UInt32
  ) {
    self.blockSize = blockSize
    self.blockCount = blockCount
    self.frameSize = frameSize
    self.frameCount = frameCount
    self.retireTimeout = retireTimeout
    self.privateSize = privateSize
    self.features = features
  }
}

/// One PACKET_DIAG_MCLIST entry (`struct packet_diag_mclist`).
public struct PacketMembership: Sendable, Equatable {
  public var interfaceIndex: UInt32
  public var count: UInt32
  public var type: UInt16
  /// The first `pdmc_alen` (at most 32) bytes of the address.
  public var address: [UInt8]

  public init(interfaceIndex: UInt32, count: UInt32, type: UInt16, address: [UInt8]) {
    self.interfaceIndex = interfaceIndex
    self.count = count
    self.type = type
    self.address = address
  }
}

/// `struct packet_diag_msg` + attributes.
public struct PacketSocket: Sendable, Equatable {
  /// SOCK_RAW 3 or SOCK_DGRAM 2.
  public var type: UInt8
  /// Ethernet protocol (ETH_P_ALL = 3), host order. pdiag_num is already host order on the wire:
  /// the kernel sends ntohs() of the socket's big-endian protocol.
  public var proto: UInt16
  public var inode: UInt32
  public var cookie: UInt64
  // PACKET_DIAG_INFO (`struct packet_diag_info`).
  public var interfaceIndex: UInt32?
  /// TPACKET_V1 0, V2 1, V3 2.
  public var version: UInt32?
  public var reserve: UInt32?
  public var copyThreshold: UInt32?
  public var timestampSource: UInt32?
  /// PDI_RUNNING 0x1, AUXDATA 0x2, ORIGDEV 0x4, VNETHDR 0x8, LOSS 0x10.
  public var infoFlags: UInt32?
  public var uid: UInt32?
  public var socketMemInfo: SocketMemInfo?
  public var memberships: [PacketMembership]?
  public var receiveRing: PacketRing?
  public var transmitRing: PacketRing?
  /// PACKET_DIAG_FANOUT: group id | type << 16 | flags << 24.
  public var fanout: UInt32?

  public init(
    type: UInt8 = 3, proto: UInt16 = 0, inode: UInt32 = 0, cookie: UInt64 = 0,
    interfaceIndex: UInt32? = nil, version: UInt32? = nil, reserve: UInt32? = nil,
    copyThreshold: UInt32? = nil, timestampSource: UInt32? = nil, infoFlags: UInt32? = nil,
    uid: UInt32? = nil, socketMemInfo: SocketMemInfo? = nil, memberships: [PacketMembership]? = nil,
    receiveRing: PacketRing? = nil, transmitRing: PacketRing? = nil, fanout: UInt32? = nil
  ) {
    self.type = type
    self.proto = proto
    self.inode = inode
    self.cookie = cookie
    self.interfaceIndex = interfaceIndex
    self.version = version
    self.reserve = reserve
    self.copyThreshold = copyThreshold
    self.timestampSource = timestampSource
    self.infoFlags = infoFlags
    self.uid = uid
    self.socketMemInfo = socketMemInfo
    self.memberships = memberships
    self.receiveRing = receiveRing
    self.transmitRing = transmitRing
    self.fanout = fanout
  }
}

/// `struct netlink_diag_msg` + attributes.
public struct NetlinkSocket: Sendable, Equatable {
  /// SOCK_RAW 3 or SOCK_DGRAM 2.
  public var type: UInt8
  /// NETLINK_ROUTE 0, NETLINK_SOCK_DIAG 4, ...
  public var proto: UInt8
  /// NETLINK_UNCONNECTED 0, NETLINK_CONNECTED 1 (plus kernel-internal bits).
  public var state: UInt8
  public var portID: UInt32
  public var destinationPortID: UInt32
  public var destinationGroup: UInt32
  public var inode: UInt32
  public var cookie: UInt64
  /// NETLINK_DIAG_GROUPS: the subscription bitmap as host-order u32 words; bit n of the whole
  /// bitmap (word n/32, bit n%32) means group n+1. See `groupNumbers`.
  public var groups: [UInt32]?
  public var socketMemInfo: SocketMemInfo?
  /// NDIAG_FLAG_* bits.
  public var flags: UInt32?

  public init(
    type: UInt8 = 3, proto: UInt8 = 0, state: UInt8 = 0, portID: UInt32 = 0,
    destinationPortID: UInt32 = 0, destinationGroup: UInt32 = 0, inode: UInt32 = 0,
    cookie: UInt64 = 0, groups: [UInt32]? = nil, socketMemInfo: SocketMemInfo? = nil,
    flags: UInt32? = nil
  ) {
    self.type = type
    self.proto = proto
    self.state = state
    self.portID = portID
    self.destinationPortID = destinationPortID
    self.destinationGroup = destinationGroup
    self.inode = inode
    self.cookie = cookie
    self.groups = groups
    self.socketMemInfo = socketMemInfo
    self.flags = flags
  }

  /// The multicast groups subscribed to (1-based, as in `NETLINK_ADD_MEMBERSHIP`).
  public var groupNumbers: [UInt32] {
    guard let groups else { return [] }
    var numbers: [UInt32] = []
    for (wordIndex, word) in groups.enumerated() where word != 0 {
      for bit in 0..<32 where word & (1 << UInt32(bit)) != 0 {
        numbers.append(UInt32(wordIndex * 32 + bit + 1))
      }
    }
    return numbers
  }
}

/// `struct vsock_diag_msg` (no attributes are defined).
public struct VsockSocket: Sendable, Equatable {
  public var type, state, shutdown: UInt8
  public var sourceCID, sourcePort, destinationCID, destinationPort, inode: UInt32
  public var cookie: UInt64

  public init(
    type: UInt8 = 1, state: UInt8 = 0, shutdown: UInt8 = 0, sourceCID: UInt32 = 0,
    sourcePort: UInt32 = 0, destinationCID: UInt32 = 0, destinationPort: UInt32 = 0,
    inode: UInt32 = 0, cookie: UInt64 = 0
  ) {
    self.type = type
    self.state = state
    self.shutdown = shutdown
    self.sourceCID = sourceCID
    self.sourcePort = sourcePort
    self.destinationCID = destinationCID
    self.destinationPort = destinationPort
    self.inode = inode
    self.cookie = cookie
  }
}
