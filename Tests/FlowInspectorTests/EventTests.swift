import FlowModel
import NetlinkTransport
import SockDiag
import Testing

@testable import FlowInspector

#if canImport(Glibc)
  import Glibc
#endif

/// The join of destroy messages with the scans' memory, on hand-made records.
struct EventTrackerTests {
  static let loopback = InetAddressBytes(high: 0x7f00_0001 << 32, low: 0)

  func socket(cookie: UInt64, local: UInt16, remote: UInt16, inode: UInt32 = 0, state: UInt8 = 7)
    -> InetSocket
  {
    InetSocket(
      family: 2, proto: .tcp, state: state, sourcePort: local, destinationPort: remote,
      sourceAddress: Self.loopback, destinationAddress: Self.loopback, cookie: cookie,
      inode: inode)
  }

  func snapshot(_ flows: [Flow], at time: Double, owner: Int32? = 7) -> Snapshot {
    var processes: [Int32: OwningProcess] = [:]
    if let owner { processes[owner] = OwningProcess(pid: owner, command: Array("client".utf8)) }
    return Snapshot(time: time, host: "h", flows: flows, processes: processes, warnings: [])
  }

  func flow(cookie: UInt64, local: UInt16, remote: UInt16, owned: Bool = true, inode: UInt32 = 99)
    -> Flow
  {
    var flow = Flow(inet: socket(cookie: cookie, local: local, remote: remote, inode: inode, state: 1), netns: 5)
    if owned { flow.owners = [FlowOwner(pid: 7, fd: 3)] }
    return flow
  }

  @Test func closeOfAScannedFlowHasItsOwnerAndALowerBoundOfItsLife() {
    var tracker = FlowEventTracker(netns: 5)
    #expect(tracker.absorb(snapshot([flow(cookie: 42, local: 1000, remote: 80)], at: 100)).isEmpty)
    let event = tracker.close(socket(cookie: 42, local: 1000, remote: 80), at: 103.5)
    #expect(event.kind == .close)
    #expect(event.wasSeen)
    #expect(event.flow.owners == [FlowOwner(pid: 7, fd: 3)])
    #expect(event.processes[7]?.command == Array("client".utf8))
    #expect(event.lifetimeAtLeast == 3.5)
    #expect(event.flow.state == 7)
    #expect(!tracker.knows(cookie: 42))
  }

  @Test func aFlowNoScanSawHasAnUnknownOwner() {
    var tracker = FlowEventTracker(netns: 5)
    _ = tracker.absorb(snapshot([], at: 100))
    let event = tracker.close(socket(cookie: 9, local: 1000, remote: 80), at: 101)
    #expect(!event.wasSeen)
    #expect(event.flow.owners.isEmpty)
    #expect(event.lifetimeAtLeast == nil)
  }

  @Test func theCookieDecidesNotTheAddresses() {
    // Same addresses, another socket (the tuple was reused): not the remembered owner.
    var tracker = FlowEventTracker(netns: 5)
    _ = tracker.absorb(snapshot([flow(cookie: 42, local: 1000, remote: 80)], at: 100))
    #expect(!tracker.close(socket(cookie: 43, local: 1000, remote: 80), at: 101).wasSeen)
    // Without a cookie, the addresses are the fallback.
    var other = FlowEventTracker(netns: 5)
    _ = other.absorb(snapshot([flow(cookie: 0, local: 1000, remote: 80)], at: 100))
    #expect(other.close(socket(cookie: 0, local: 1000, remote: 80), at: 101).wasSeen)
  }

  @Test func newFlowsAreReportedFromTheSecondScanOn() {
    var tracker = FlowEventTracker(netns: 5)
    #expect(tracker.absorb(snapshot([flow(cookie: 1, local: 1, remote: 2)], at: 100)).isEmpty)
    let fresh = tracker.absorb(
      snapshot([flow(cookie: 1, local: 1, remote: 2), flow(cookie: 2, local: 3, remote: 4)], at: 101))
    #expect(fresh.map(\.flow.cookie) == [2])
    #expect(fresh.first?.kind == .new)
    #expect(fresh.first?.firstSeen == 101)
    // TIME_WAIT and request sockets (inode 0) are nobody's new flow.
    #expect(tracker.absorb(snapshot([flow(cookie: 3, local: 5, remote: 6, owned: false, inode: 0)], at: 102)).isEmpty)
  }

  @Test func aScanMergedAfterTheCloseDoesNotBringTheFlowBack() {
    var tracker = FlowEventTracker(netns: 5)
    _ = tracker.absorb(snapshot([], at: 100))
    _ = tracker.close(socket(cookie: 8, local: 1, remote: 2), at: 101)
    #expect(tracker.absorb(snapshot([flow(cookie: 8, local: 1, remote: 2)], at: 101.2)).isEmpty)
    #expect(!tracker.knows(cookie: 8))
  }

  @Test func anOrphanKeepsItsLastOwnerAndStaleFlowsAreForgotten() {
    var tracker = FlowEventTracker(netns: 5)
    _ = tracker.absorb(snapshot([flow(cookie: 5, local: 1, remote: 2)], at: 100))
    // Closed by its process, finishing its FIN exchange: no inode, no owner in the scan.
    _ = tracker.absorb(snapshot([flow(cookie: 5, local: 1, remote: 2, owned: false, inode: 0)], at: 101, owner: nil))
    #expect(tracker.close(socket(cookie: 5, local: 1, remote: 2), at: 102).flow.owners.map(\.pid) == [7])

    _ = tracker.absorb(snapshot([flow(cookie: 6, local: 1, remote: 2)], at: 103))
    _ = tracker.absorb(snapshot([], at: 104))
    #expect(tracker.knows(cookie: 6))
    _ = tracker.absorb(snapshot([], at: 105))
    #expect(!tracker.knows(cookie: 6))
  }

  @Test func flowsOfOtherNamespacesAreNotRemembered() {
    var tracker = FlowEventTracker(netns: 6)
    _ = tracker.absorb(snapshot([flow(cookie: 42, local: 1000, remote: 80)], at: 100))
    #expect(!tracker.knows(cookie: 42))
  }
}

/// Decoding destroy datagrams: hand-written bytes as the kernel sends them.
struct DestroyDecodingTests {
  @Test func groupComesFromTheSourceAddressMask() {
    #expect(DestroyGroup(mask: 1) == .tcp4)
    #expect(DestroyGroup(mask: 2) == .udp4)
    #expect(DestroyGroup(mask: 4) == .tcp6)
    #expect(DestroyGroup(mask: 8) == .udp6)
    #expect(DestroyGroup(mask: 0) == nil)
    #expect(DestroyGroup(mask: 3) == nil)
    #expect(DestroyGroup(mask: 16) == nil)
  }

  @Test func aUDPDestroyMessageDecodes() {
    var bytes: [UInt8] = []
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    u32(16 + 72 + 8)  // nlmsg_len
    u16(20)  // SOCK_DIAG_BY_FAMILY
    u16(0)
    u32(0)
    u32(0)
    bytes += [2, 7, 0, 0]  // AF_INET, TCP_CLOSE, timer, retrans
    bytes += [0x30, 0x39, 0x00, 0x35]  // sport 12345, dport 53 (big-endian)
    bytes += [127, 0, 0, 1] + [UInt8](repeating: 0, count: 12)
    bytes += [127, 0, 0, 53] + [UInt8](repeating: 0, count: 12)
    u32(0)  // ifindex
    u32(0xdead)  // cookie low
    u32(1)  // cookie high
    u32(0)  // expires
    u32(0)  // rqueue
    u32(0)  // wqueue
    u32(1000)  // uid
    u32(0)  // inode: 0 in destroy messages
    u16(5)  // INET_DIAG_PROTOCOL, 1 byte + padding
    u16(10)
    bytes += [17, 0, 0, 0]
    let decoded = bytes.withUnsafeBytes { decodeDestroyDatagram($0, group: .udp4) }
    #expect(decoded.undecoded == 0)
    #expect(decoded.error == nil)
    let socket = try? #require(decoded.sockets.first)
    #expect(socket?.proto == .udp)
    #expect(socket?.sourcePort == 12345)
    #expect(socket?.destinationPort == 53)
    #expect(socket?.cookie == 0x1_0000_dead)
    #expect(socket?.uid == 1000)
    #expect(socket?.protocolAttribute == 17)
  }
}

/// The kernel's destroy messages joined with real scans, in this process.
@Suite(.serialized, .enabled(if: runningAsRoot, "the destroy groups need CAP_NET_ADMIN"))
struct LiveEventTests {
  @Test func closesOfThisProcessArriveWithOwnerCountersAndUnknownOwnerWhenUnseen() throws {
    // Open before the first scan: its owner is known. Another one opens after it: unknown.
    var connection: TCPConnection? = try TCPConnection(.v4)
    let port = connection!.listener.localPort
    let clientPort = connection!.client.localPort
    try sendAll(connection!.client.fd, count: 1000)
    try receiveExactly(connection!.server.fd, count: 1000)
    try sendAll(connection!.server.fd, count: 300)
    try receiveExactly(connection!.client.fd, count: 300)

    var inspect = InspectOptions(protocols: [.tcp])
    inspect.ipv6 = false
    inspect.namespaces = .own
    inspect.pids = [getpid()]
    var filter = InetFilterProgram()
    filter.ports = [port]
    inspect.setInetFilter(filter)
    var options = FlowEventMonitorOptions(inspect: inspect, groups: [.tcp4])
    options.scanInterval = 30
    options.duration = 15
    let monitor = try FlowEventMonitor(options: options)

    var closes: [FlowEvent] = []
    var unseenClientPort: UInt16 = 0
    var ports: Set<UInt16> = [port]
    var ready = false
    func ends(_ event: FlowEvent) -> [UInt16] {
      [event.flow.local, event.flow.remote].compactMap {
        if case .ip(_, let port) = $0 { return port }
        return nil
      }
    }
    let summary = monitor.run { report in
      switch report {
      case .ready:
        ready = true
        // Close the known connection, then make and close one no scan sees.
        connection = nil
        if let unseen = try? TCPConnection(.v4) {
          unseenClientPort = unseen.client.localPort
          ports.insert(unseen.listener.localPort)
        }
      case .event(let event):
        if event.kind == .close, ends(event).contains(where: ports.contains) { closes.append(event) }
        // Known pair (2) + its listener (1) + unseen pair (2) + its listener (1).
        if closes.count >= 6 { return .stop }
      default: break
      }
      return .goOn
    }
    #expect(ready)
    #expect(summary.lost == 0)
    func local(_ event: FlowEvent) -> UInt16? {
      if case .ip(_, let port) = event.flow.local { return port }
      return nil
    }
    func remote(_ event: FlowEvent) -> UInt16? {
      if case .ip(_, let port) = event.flow.remote { return port }
      return nil
    }
    let client = try #require(closes.first { local($0) == clientPort && remote($0) == port })
    let server = try #require(closes.first { local($0) == port && remote($0) == clientPort })
    for event in [client, server] {
      #expect(event.wasSeen)
      #expect(event.flow.owners.map(\.pid) == [getpid()])
      #expect(event.flow.local == .ip(.v4(0x7f00_0001), port: local(event)!))
      #expect(event.lifetimeAtLeast != nil)
    }
    // bytes_acked counts the SYN on the connecting side; a FIN adds one to both counters.
    let clientOut = try #require(client.flow.counters.bytesOut)
    let clientIn = try #require(client.flow.counters.bytesIn)
    #expect((1000...1002).contains(clientOut), "client out \(clientOut)")
    #expect((300...301).contains(clientIn), "client in \(clientIn)")
    let serverOut = try #require(server.flow.counters.bytesOut)
    let serverIn = try #require(server.flow.counters.bytesIn)
    #expect((300...301).contains(serverOut), "server out \(serverOut)")
    #expect((1000...1001).contains(serverIn), "server in \(serverIn)")

    let unseen = closes.filter { local($0) == unseenClientPort || remote($0) == unseenClientPort }
    #expect(unseen.count == 2)
    #expect(unseen.allSatisfy { !$0.wasSeen && $0.flow.owners.isEmpty })
    #expect(summary.unknownOwners >= 2)
  }
}
