// The vocabulary shared by collection (FlowInspector) and rendering (FlowRender).
// It knows nothing of netlink or /proc, so renderers can be tested on snapshots made by hand.

/// The transport a socket speaks, as the user names it (`-p tcp,udp,unix`).
public enum TransportProtocol: String, Sendable, CaseIterable, Codable {
  case tcp, udp, udplite, mptcp, raw, sctp, dccp, unix, packet, netlink, vsock

  /// Whether its sockets have a connection state (TCP's numbers; UDP, UNIX and vsock reuse
  /// them). Packet and netlink sockets have none: their state is not shown, not filtered by
  /// the kernel, and no state test matches them. The one place this rule is written.
  public var hasConnectionStates: Bool { self != .packet && self != .netlink }

  /// The protocols whose sockets `flowscope kill` can close (SOCK_DESTROY has a handler for
  /// TCP, UDP and UDP-Lite). The one place this rule is written.
  public static let closable: [TransportProtocol] = [.tcp, .udp, .udplite]
}

/// The address family the socket belongs to.
public enum AddressFamily: String, Sendable, CaseIterable, Codable {
  case inet, inet6, unix, packet, netlink, vsock
}

/// TCP states as numbered by the kernel (`include/net/tcp_states.h`); UDP and UNIX sockets
/// reuse the same numbers (ESTABLISHED = connected, CLOSE = unconnected, LISTEN).
public enum SocketState: UInt8, Sendable, CaseIterable {
  case established = 1
  case synSent = 2
  case synReceived = 3
  case finWait1 = 4
  case finWait2 = 5
  case timeWait = 6
  case close = 7
  case closeWait = 8
  case lastAck = 9
  case listen = 10
  case closing = 11
  case newSynReceived = 12
  case boundInactive = 13

  /// The name `ss` users know, e.g. `ESTAB`, `CLOSE-WAIT`.
  public var name: String {
    switch self {
    case .established: "ESTAB"
    case .synSent: "SYN-SENT"
    case .synReceived: "SYN-RECV"
    case .finWait1: "FIN-WAIT-1"
    case .finWait2: "FIN-WAIT-2"
    case .timeWait: "TIME-WAIT"
    case .close: "UNCONN"
    case .closeWait: "CLOSE-WAIT"
    case .lastAck: "LAST-ACK"
    case .listen: "LISTEN"
    case .closing: "CLOSING"
    case .newSynReceived: "NEW-SYN-RECV"
    case .boundInactive: "BOUND-INACTIVE"
    }
  }
}

/// An IP address, kept as the wire's bytes in two big-endian words.
public enum IPAddress: Sendable, Hashable {
  case v4(UInt32)
  case v6(high: UInt64, low: UInt64)
}

/// Where one end of a flow is.
public enum Endpoint: Sendable, Hashable {
  case ip(IPAddress, port: UInt16)
  /// A UNIX socket name: a filesystem path or an abstract name (raw bytes, may hold NULs).
  case unixPath([UInt8])
  case unixAbstract([UInt8])
  /// A packet socket's interface and ethertype.
  case packet(interfaceIndex: UInt32, ethertype: UInt16)
  /// A netlink socket's port id and multicast group.
  case netlink(portID: UInt32, group: UInt32)
  case vsock(cid: UInt32, port: UInt32)
  case none
}

/// One descriptor of one process that refers to the socket.
public struct FlowOwner: Sendable, Hashable {
  public var pid: Int32
  public var fd: Int32
  public init(pid: Int32, fd: Int32) {
    self.pid = pid
    self.fd = fd
  }
}

/// The descriptors holding one socket. Most sockets have one, kept inline: a listing of 100k
/// flows then makes no array per flow, and copying a flow retains nothing for its owners.
public struct FlowOwners: RandomAccessCollection, Sendable, Hashable, ExpressibleByArrayLiteral {
  /// The first owner; pid 0, which no process has, when there is none (an optional would take
  /// 8 bytes more of every flow).
  private var head = FlowOwner(pid: 0, fd: -1)
  private var tail: [FlowOwner] = []

  public init() {}
  public init(_ owners: some Sequence<FlowOwner>) {
    for owner in owners { append(owner) }
  }
  public init(arrayLiteral owners: FlowOwner...) { self.init(owners) }
  /// One owner, without the array a literal would allocate (the join makes 100k of these).
  public init(only owner: FlowOwner) { append(owner) }

  public var startIndex: Int { 0 }
  public var endIndex: Int { head.pid == 0 ? 0 : 1 + tail.count }
  public subscript(position: Int) -> FlowOwner {
    precondition(position >= 0 && position < endIndex, "FlowOwners index out of range")
    return position == 0 ? head : tail[position - 1]
  }

  /// Adds an owner; pid 0 is no process and is not added.
  public mutating func append(_ owner: FlowOwner) {
    guard owner.pid != 0 else { return }
    if head.pid == 0 { head = owner } else { tail.append(owner) }
  }
}

/// Counters and TCP details; absent values read as nil rather than zero, so "unknown" is not
/// "none". Stored as plain integers and a mask of the known ones: six optional integers would
/// take twice the room, in every one of 100k flows.
public struct FlowCounters: Sendable, Equatable {
  private var values: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
  private var retransmits: UInt32 = 0
  /// Bit n: the nth counter, in the order of the properties below, is known.
  private var known = KnownBits()

  public init() {}

  public static func == (a: FlowCounters, b: FlowCounters) -> Bool {
    a.values == b.values && a.retransmits == b.retransmits && a.known == b.known
  }

  public var bytesIn: UInt64? {
    get { known.value(0, values.0) }
    set { known.store(newValue, into: &values.0, bit: 0) }
  }
  public var bytesOut: UInt64? {
    get { known.value(1, values.1) }
    set { known.store(newValue, into: &values.1, bit: 1) }
  }
  public var packetsIn: UInt64? {
    get { known.value(2, values.2) }
    set { known.store(newValue, into: &values.2, bit: 2) }
  }
  public var packetsOut: UInt64? {
    get { known.value(3, values.3) }
    set { known.store(newValue, into: &values.3, bit: 3) }
  }
  public var bytesRetransmitted: UInt64? {
    get { known.value(4, values.4) }
    set { known.store(newValue, into: &values.4, bit: 4) }
  }
  public var retransmitsTotal: UInt32? {
    get { known.value(5, retransmits) }
    set { known.store(newValue, into: &retransmits, bit: 5) }
  }
}

/// Which of up to eight optional values stored as plain integers are known; an unknown one is
/// stored as 0, so comparing the integers and the bits compares what is known.
struct KnownBits: Sendable, Equatable {
  private var bits: UInt8 = 0

  @inline(__always) func value<Value>(_ bit: UInt8, _ stored: Value) -> Value? {
    bits & (1 << bit) != 0 ? stored : nil
  }

  @inline(__always) mutating func store<Value: FixedWidthInteger>(
    _ value: Value?, into stored: inout Value, bit: UInt8
  ) {
    stored = value ?? 0
    if value != nil { bits |= 1 << bit } else { bits &= ~(1 << bit) }
  }
}

public struct TCPDetails: Sendable, Equatable {
  // The 8-byte field first, the bytes last: 64 bytes instead of 72.
  public var deliveryRateBytesPerSec: UInt64
  public var rttMicros: UInt32
  public var rttVarMicros: UInt32
  public var minRttMicros: UInt32
  public var congestionWindow: UInt32
  public var lost: UInt32
  public var unacked: UInt32
  public var lastDataSentMs: UInt32
  public var lastDataReceivedMs: UInt32
  public var lastAckReceivedMs: UInt32
  public var peerWindow: UInt32
  public var retransmits: UInt8
  public var probes: UInt8
  public var backoff: UInt8
  /// The congestion control module ("cubic", "bbr"), kept inline: with a `String`, every copy
  /// of a flow retained and released it.
  public var congestion: ShortName
  public var congestionControl: String? {
    get { congestion.string }
    set { congestion = ShortName(newValue) }
  }

  public init(
    rttMicros: UInt32 = 0, rttVarMicros: UInt32 = 0, minRttMicros: UInt32 = 0,
    congestionWindow: UInt32 = 0, retransmits: UInt8 = 0, probes: UInt8 = 0, backoff: UInt8 = 0,
    lost: UInt32 = 0, unacked: UInt32 = 0, lastDataSentMs: UInt32 = 0,
    lastDataReceivedMs: UInt32 = 0, lastAckReceivedMs: UInt32 = 0,
    deliveryRateBytesPerSec: UInt64 = 0, peerWindow: UInt32 = 0, congestionControl: String? = nil
  ) {
    self.rttMicros = rttMicros
    self.rttVarMicros = rttVarMicros
    self.minRttMicros = minRttMicros
    self.congestionWindow = congestionWindow
    self.retransmits = retransmits
    self.probes = probes
    self.backoff = backoff
    self.lost = lost
    self.unacked = unacked
    self.lastDataSentMs = lastDataSentMs
    self.lastDataReceivedMs = lastDataReceivedMs
    self.lastAckReceivedMs = lastAckReceivedMs
    self.deliveryRateBytesPerSec = deliveryRateBytesPerSec
    self.peerWindow = peerWindow
    self.congestion = ShortName(congestionControl)
  }
}

/// A name of at most 16 bytes without NUL, such as a congestion control module's (the
/// kernel's TCP_CA_NAME_MAX is 16 with the NUL), kept inline: copying it copies bytes and
/// retains nothing. A longer name is cut at 16 bytes; no bytes means no name.
public struct ShortName: Sendable, Hashable {
  private var bytes: (UInt64, UInt64) = (0, 0)

  public init(_ name: String?) {
    guard var name else { return }
    name.withUTF8 { copy(UnsafeRawBufferPointer($0)) }
  }

  /// The bytes up to the first NUL, at most 16 of them.
  public init(bytes name: UnsafeRawBufferPointer) { copy(name) }

  private mutating func copy(_ name: UnsafeRawBufferPointer) {
    withUnsafeMutableBytes(of: &bytes) { raw in
      for (offset, byte) in name.prefix(16).enumerated() {
        if byte == 0 { break }
        raw[offset] = byte
      }
    }
  }

  public var isEmpty: Bool { bytes == (0, 0) }

  /// The name's bytes; empty when there is none.
  public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try withUnsafeBytes(of: bytes) { raw in
      var count = 0
      while count < 16 && raw[count] != 0 { count += 1 }
      return try body(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
    }
  }

  public var string: String? {
    isEmpty ? nil : withBytes { String(decoding: $0, as: UTF8.self) }
  }

  public static func == (a: Self, b: Self) -> Bool { a.bytes == b.bytes }
  public func hash(into hasher: inout Hasher) {
    hasher.combine(bytes.0)
    hasher.combine(bytes.1)
  }
}

/// One socket as seen in one network namespace, with every process descriptor that holds it.
///
/// 264 bytes, 100k of them in a large listing: the fields are ordered so that the 4-byte ones
/// fill the gaps after the endpoints, and the optional attributes share one packed store.
public struct Flow: Sendable, Equatable {
  public var proto: TransportProtocol
  public var family: AddressFamily
  /// The raw kernel state; `SocketState(rawValue:)` names it.
  public var state: UInt8
  /// SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_SEQPACKET = 5.
  public var socketType: UInt8
  public var interfaceIndex: UInt32
  public var local: Endpoint
  public var receiveQueue: UInt32
  public var remote: Endpoint
  public var sendQueue: UInt32
  public var inode: UInt64
  public var cookie: UInt64
  /// The network namespace the socket was read in (inode of its `ns/net`).
  public var netns: UInt64
  public var counters: FlowCounters
  private var attributes = FlowAttributes()
  public var tcp: TCPDetails?
  /// False for a socket found only through its owners' descriptors: no sock_diag dump returned
  /// it (a TCP socket never connected or whose connect failed, a never-bound UDP or netlink
  /// socket, a family without a diag module). Such a flow has no addresses, counters, queues or
  /// cookie; its `state` is CLOSE when it is known to be neither bound nor connected, else 0
  /// (unknown). Placed after `tcp` (73 bytes), it takes a byte of the gap before `owners`: the
  /// flow does not grow.
  public var listedByKernel = true
  /// Every (pid, fd) holding the socket; empty means no visible owner.
  public var owners: FlowOwners

  public var uid: UInt32? {
    get { attributes.known.value(0, attributes.uid) }
    set { attributes.known.store(newValue, into: &attributes.uid, bit: 0) }
  }
  /// SHUTDOWN bits: 1 = this side stopped receiving, 2 = this side stopped sending.
  public var shutdown: UInt8? {
    get { attributes.known.value(1, attributes.shutdown) }
    set { attributes.known.store(newValue, into: &attributes.shutdown, bit: 1) }
  }
  public var cgroupID: UInt64? {
    get { attributes.known.value(2, attributes.cgroupID) }
    set { attributes.known.store(newValue, into: &attributes.cgroupID, bit: 2) }
  }
  public var mark: UInt32? {
    get { attributes.known.value(3, attributes.socketMark) }
    set { attributes.known.store(newValue, into: &attributes.socketMark, bit: 3) }
  }
  public var tos: UInt8? {
    get { attributes.known.value(4, attributes.tos) }
    set { attributes.known.store(newValue, into: &attributes.tos, bit: 4) }
  }
  public var socketDrops: UInt32? {
    get { attributes.known.value(5, attributes.drops) }
    set { attributes.known.store(newValue, into: &attributes.drops, bit: 5) }
  }
  /// UNIX: the inode of the peer socket, used to name the peer process.
  public var peerInode: UInt64? {
    get { attributes.known.value(6, attributes.peerInode) }
    set { attributes.known.store(newValue, into: &attributes.peerInode, bit: 6) }
  }
  /// NETLINK: which netlink protocol (NETLINK_ROUTE = 0, NETLINK_SOCK_DIAG = 4, ...).
  public var protocolNumber: UInt16? {
    get { attributes.known.value(7, attributes.protocolNumber) }
    set { attributes.known.store(newValue, into: &attributes.protocolNumber, bit: 7) }
  }

  public init(
    proto: TransportProtocol, family: AddressFamily, state: UInt8, socketType: UInt8,
    local: Endpoint, remote: Endpoint, inode: UInt64, netns: UInt64
  ) {
    self.proto = proto
    self.family = family
    self.state = state
    self.socketType = socketType
    self.interfaceIndex = 0
    self.local = local
    self.receiveQueue = 0
    self.remote = remote
    self.sendQueue = 0
    self.inode = inode
    self.cookie = 0
    self.netns = netns
    self.counters = FlowCounters()
    self.tcp = nil
    self.owners = []
  }

  public var isOwned: Bool { !owners.isEmpty }
  /// Whether the state is known: a protocol with states, and not an unlisted socket whose
  /// state could not be told (state 0, which no kernel state has).
  public var hasKnownState: Bool { proto.hasConnectionStates && (listedByKernel || state != 0) }
  public var socketState: SocketState? { SocketState(rawValue: state) }
}

/// The optional attributes of a flow as plain integers and a mask of the known ones: eight
/// optionals laid out one by one took 64 bytes of each flow, these take 33.
private struct FlowAttributes: Sendable, Equatable {
  var cgroupID: UInt64 = 0
  var peerInode: UInt64 = 0
  var uid: UInt32 = 0
  var socketMark: UInt32 = 0
  var drops: UInt32 = 0
  var protocolNumber: UInt16 = 0
  var shutdown: UInt8 = 0
  var tos: UInt8 = 0
  /// Bit n: the nth of Flow's accessors over these (uid, shutdown, cgroupID, mark, tos,
  /// socketDrops, peerInode, protocolNumber) is known.
  var known = KnownBits()
}
