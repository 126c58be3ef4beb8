import FlowModel
import SockDiag

// Turning decoded kernel records into the model's flows. Pure: no I/O.

extension TransportProtocol {
  public init(_ proto: InetProtocol) {
    switch proto {
    case .tcp: self = .tcp
    case .udp: self = .udp
    case .dccp: self = .dccp
    case .sctp: self = .sctp
    case .udplite: self = .udplite
    case .raw: self = .raw
    case .mptcp: self = .mptcp
    }
  }
}

/// AF_INET and AF_INET6 as the kernel numbers them.
let addressFamilyInet: UInt8 = 2
let addressFamilyInet6: UInt8 = 10

extension IPAddress {
  init(_ bytes: InetAddressBytes, family: UInt8) {
    if family == addressFamilyInet {
      self = .v4(UInt32(truncatingIfNeeded: bytes.high >> 32))
    } else {
      self = .v6(high: bytes.high, low: bytes.low)
    }
  }
}

extension Flow {
  /// A flow from one sock_diag record, read in namespace `netns`.
  init(_ record: SocketRecord, netns: UInt64) {
    switch record {
    case .inet(let socket): self.init(inet: socket, netns: netns)
    case .unix(let socket): self.init(unix: socket, netns: netns)
    case .packet(let socket): self.init(packet: socket, netns: netns)
    case .netlink(let socket): self.init(netlink: socket, netns: netns)
    case .vsock(let socket): self.init(vsock: socket, netns: netns)
    }
  }

  public init(inet socket: InetSocket, netns: UInt64) {
    let socketType: UInt8 =
      switch socket.proto {
      case .tcp, .mptcp: 1
      case .udp, .udplite: 2
      case .raw: 3
      case .sctp, .dccp: 5
      }
    self.init(
      proto: TransportProtocol(socket.proto),
      family: socket.family == addressFamilyInet ? .inet : .inet6,
      state: socket.state, socketType: socketType,
      local: .ip(IPAddress(socket.sourceAddress, family: socket.family), port: socket.sourcePort),
      remote: .ip(
        IPAddress(socket.destinationAddress, family: socket.family), port: socket.destinationPort),
      inode: UInt64(socket.inode), netns: netns)
    cookie = socket.cookie
    uid = socket.uid
    interfaceIndex = socket.interfaceIndex
    takeMovingFields(from: socket)
  }

  /// Whether `socket`, a record of a later dump, is this flow's socket: same namespace, cookie,
  /// inode and addresses.
  func isSameSocket(as socket: InetSocket, netns: UInt64) -> Bool {
    cookie == socket.cookie && inode == UInt64(socket.inode) && self.netns == netns
      && proto == TransportProtocol(socket.proto) && uid == socket.uid
      && interfaceIndex == socket.interfaceIndex
      && local
        == .ip(IPAddress(socket.sourceAddress, family: socket.family), port: socket.sourcePort)
      && remote
        == .ip(
          IPAddress(socket.destinationAddress, family: socket.family), port: socket.destinationPort)
  }

  /// Takes what moves from a later record of the same socket; the owners stay.
  mutating func refresh(from socket: InetSocket) {
    state = socket.state
    takeMovingFields(from: socket)
  }

  /// Everything of an inet flow that changes during a socket's life.
  private mutating func takeMovingFields(from socket: InetSocket) {
    receiveQueue = socket.receiveQueue
    sendQueue = socket.sendQueue
    shutdown = socket.shutdown
    cgroupID = socket.cgroupID
    mark = socket.mark
    tos = socket.tos ?? socket.tclass
    socketDrops = socket.socketMemInfo?.drops
    counters = FlowCounters()
    tcp = nil
    socket.withTCPInfo { info in
      counters.bytesIn = info.bytesReceived
      counters.bytesOut = info.bytesAcked
      counters.packetsIn = UInt64(info.segsIn)
      counters.packetsOut = UInt64(info.segsOut)
      counters.bytesRetransmitted = info.bytesRetrans
      counters.retransmitsTotal = info.totalRetrans
      tcp = TCPDetails(
        rttMicros: info.rtt, rttVarMicros: info.rttvar, minRttMicros: info.minRtt,
        congestionWindow: info.sndCwnd, retransmits: info.retransmits, probes: info.probes,
        backoff: info.backoff, lost: info.lost, unacked: info.unacked,
        lastDataSentMs: info.lastDataSent, lastDataReceivedMs: info.lastDataRecv,
        lastAckReceivedMs: info.lastAckRecv, deliveryRateBytesPerSec: info.deliveryRate,
        peerWindow: info.sndWnd)
      socket.withCongestionName { name in
        if let name { tcp?.congestion = ShortName(bytes: name) }
      }
    }
  }

  init(unix socket: UnixSocket, netns: UInt64) {
    let local: Endpoint =
      switch socket.name {
      case .path(let path): .unixPath(path)
      case .abstract(let name): .unixAbstract(name)
      case nil: .none
      }
    self.init(
      proto: .unix, family: .unix, state: socket.state, socketType: socket.type,
      local: local, remote: .none, inode: UInt64(socket.inode), netns: netns)
    cookie = socket.cookie
    uid = socket.uid
    receiveQueue = socket.receiveQueue ?? 0
    sendQueue = socket.sendQueue ?? 0
    shutdown = socket.shutdown
    socketDrops = socket.socketMemInfo?.drops
    if let peer = socket.peerInode, peer != 0 { peerInode = UInt64(peer) }
  }

  init(packet socket: PacketSocket, netns: UInt64) {
    self.init(
      proto: .packet, family: .packet, state: SocketState.close.rawValue,
      socketType: socket.type,
      local: .packet(interfaceIndex: socket.interfaceIndex ?? 0, ethertype: socket.proto),
      remote: .none, inode: UInt64(socket.inode), netns: netns)
    cookie = socket.cookie
    uid = socket.uid
    interfaceIndex = socket.interfaceIndex ?? 0
    socketDrops = socket.socketMemInfo?.drops
  }

  init(netlink socket: NetlinkSocket, netns: UInt64) {
    self.init(
      proto: .netlink, family: .netlink, state: socket.state, socketType: socket.type,
      local: .netlink(portID: socket.portID, group: 0),
      remote: .netlink(portID: socket.destinationPortID, group: socket.destinationGroup),
      inode: UInt64(socket.inode), netns: netns)
    cookie = socket.cookie
    protocolNumber = UInt16(socket.proto)
    socketDrops = socket.socketMemInfo?.drops
  }

  init(vsock socket: VsockSocket, netns: UInt64) {
    self.init(
      proto: .vsock, family: .vsock, state: socket.state, socketType: socket.type,
      local: .vsock(cid: socket.sourceCID, port: socket.sourcePort),
      remote: .vsock(cid: socket.destinationCID, port: socket.destinationPort),
      inode: UInt64(socket.inode), netns: netns)
    cookie = socket.cookie
    shutdown = socket.shutdown
  }
}

/// The flows of the previous refresh, found again record by record. The kernel dumps sockets
/// in the same order each time, so most are the next one along (a few closed ones may sit in
/// between); the rest go through a hash index, built at the first miss.
struct PreviousFlows {
  private let previous: [Flow]
  private var cursor = 0
  private var index: FlowIndex? = nil

  init(_ flows: [Flow]) { previous = flows }

  /// Appends the previous flow of `socket` to `flows`, refreshed from it; false (and nothing
  /// appended) for a socket not seen before.
  mutating func refresh(inet socket: InetSocket, netns: UInt64, into flows: inout [Flow]) -> Bool {
    let key = FlowKey(netns: netns, cookie: socket.cookie, inode: UInt64(socket.inode))
    var position: Int? = nil
    for probe in cursor..<min(cursor + 4, previous.count) where self.key(probe) == key {
      position = probe
      break
    }
    if position == nil {
      if index == nil {
        var built = FlowIndex(capacity: previous.count)
        for i in previous.indices { built.insert(self.key(i), i) }
        index = built
      }
      position = index?.find(key)
    }
    guard let position, previous[position].isSameSocket(as: socket, netns: netns) else {
      return false
    }
    cursor = position + 1
    flows.append(previous[position])
    flows[flows.count - 1].refresh(from: socket)
    return true
  }

  /// Read field by field: a whole Flow copy would retain its arrays.
  private func key(_ i: Int) -> FlowKey {
    FlowKey(netns: previous[i].netns, cookie: previous[i].cookie, inode: previous[i].inode)
  }
}
