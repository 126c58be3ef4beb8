import FlowInspector
import FlowModel
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Snapshots of real sockets this test process (and its children) holds.
@Suite(.serialized)
struct LiveSnapshotTests {
  let me = getpid()

  func snapshot(_ protocols: Set<TransportProtocol>, pids: Set<Int32>? = nil) throws -> Snapshot {
    var options = InspectOptions(protocols: protocols)
    options.pids = pids ?? [me]
    return try FlowInspector().snapshot(options)
  }

  func flow(_ snapshot: Snapshot, _ socket: OwnedFD) -> Flow? {
    snapshot.flows.first { $0.inode == socket.inode }
  }

  @Test func tcpListenerIsFoundWithItsOwnerAndPort() throws {
    let listener = try loopbackSocket(.v4, type: Int32(SOCK_STREAM.rawValue))
    #expect(listen(listener.fd, 4) == 0)
    let found = try #require(flow(try snapshot([.tcp]), listener))
    #expect(found.proto == .tcp)
    #expect(found.family == .inet)
    #expect(found.socketState == .listen)
    #expect(found.local == .ip(.v4(0x7f00_0001), port: listener.localPort))
    #expect(found.remote == .ip(.v4(0), port: 0))
    #expect(found.owners == [FlowOwner(pid: me, fd: listener.fd)])
    #expect(found.uid == geteuid())
  }

  @Test func askingForCountersOnlyKeepsTheCountersAndDropsTheRest() throws {
    let connection = try TCPConnection(.v4)
    try sendAll(connection.client.fd, count: 300)
    try receiveExactly(connection.server.fd, count: 300)
    var options = InspectOptions(protocols: [.tcp])
    options.pids = [me]
    let full = try #require(flow(try FlowInspector().snapshot(options), connection.server))
    options.askForCountersOnly()
    let lean = try #require(flow(try FlowInspector().snapshot(options), connection.server))
    // Asked for everything: congestion control (CONG) and socket memory (SKMEMINFO) come back.
    #expect(full.tcp?.congestionControl != nil)
    #expect(full.socketDrops != nil)
    // tcp_info alone: the same counters, and neither of those. (SHUTDOWN comes unasked.)
    #expect(lean.counters.bytesIn == 300)
    #expect(lean.counters.bytesIn == full.counters.bytesIn)
    #expect(lean.tcp?.congestionControl == nil)
    #expect(lean.socketDrops == nil)
    #expect(lean.owners == [FlowOwner(pid: me, fd: connection.server.fd)])
  }

  @Test(arguments: [IPFamily.v4, IPFamily.v6])
  func establishedConnectionCountsBytesBothWays(family: IPFamily) throws {
    let connection = try TCPConnection(family)
    try sendAll(connection.client.fd, count: 1000)
    try receiveExactly(connection.server.fd, count: 1000)
    try sendAll(connection.server.fd, count: 2500)
    try receiveExactly(connection.client.fd, count: 2500)

    // Loopback ACKs may be delayed a little; wait until both ends saw theirs.
    var client: Flow?
    var server: Flow?
    let settled = eventually {
      guard let current = try? snapshot([.tcp]) else { return false }
      client = flow(current, connection.client)
      server = flow(current, connection.server)
      return client?.tcp?.unacked == 0 && server?.tcp?.unacked == 0
    }
    #expect(settled)
    let c = try #require(client)
    let s = try #require(server)
    #expect(c.socketState == .established)
    #expect(s.socketState == .established)
    #expect(c.family == (family == .v4 ? .inet : .inet6))
    #expect(c.local == s.remote)
    #expect(c.remote == s.local)
    // bytes_acked counts the SYN on the connecting side only.
    #expect(c.counters.bytesOut == 1001)
    #expect(c.counters.bytesIn == 2500)
    #expect(s.counters.bytesIn == 1000)
    #expect(s.counters.bytesOut == 2500)
    #expect((c.counters.packetsOut ?? 0) >= 2)
    #expect((s.counters.packetsIn ?? 0) >= 2)
    #expect(c.counters.bytesRetransmitted == 0)
    #expect((c.tcp?.rttMicros ?? 0) > 0)
    #expect(c.owners == [FlowOwner(pid: me, fd: connection.client.fd)])
    #expect(s.owners == [FlowOwner(pid: me, fd: connection.server.fd)])
  }

  @Test func peerClosedConnectionIsCloseWaitAndPeerIsFinWait2() throws {
    let connection = try TCPConnection(.v4)
    // The server stops sending but keeps its descriptor, so both ends stay owned.
    #expect(shutdown(connection.server.fd, Int32(SHUT_WR)) == 0)
    var client: Flow?
    var server: Flow?
    #expect(
      eventually {
        guard let current = try? snapshot([.tcp]) else { return false }
        client = flow(current, connection.client)
        server = flow(current, connection.server)
        return client?.socketState == .closeWait && server?.socketState == .finWait2
      })
    #expect(client?.socketState == .closeWait)
    #expect(server?.socketState == .finWait2)
    #expect(client?.owners.first?.pid == me)
    // After a FIN, bytes_received gains one.
    #expect(client?.counters.bytesIn == 1)
    // The kernel says so in SHUTDOWN too: the server's send side is closed.
    #expect(server?.shutdown.map { $0 & 2 } == 2)
  }

  @Test func udpBoundAndConnected() throws {
    let bound = try loopbackSocket(.v4, type: Int32(SOCK_DGRAM.rawValue))
    let connected = try loopbackSocket(.v4, type: Int32(SOCK_DGRAM.rawValue))
    try bindOrConnect(connected.fd, .v4, port: bound.localPort, connect: true)
    let current = try snapshot([.udp])
    let b = try #require(flow(current, bound))
    let c = try #require(flow(current, connected))
    #expect(b.proto == .udp)
    #expect(b.socketState == .close)
    #expect(b.local == .ip(.v4(0x7f00_0001), port: bound.localPort))
    #expect(c.socketState == .established)
    #expect(c.remote == .ip(.v4(0x7f00_0001), port: bound.localPort))
    // UDP has no byte counters in sock_diag: absent, not zero.
    #expect(c.counters.bytesIn == nil)
    #expect(c.owners == [FlowOwner(pid: me, fd: connected.fd)])
  }

  @Test func unixPathAbstractAndSocketpairPeers() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flowscope-\(me)-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("s.sock").path

    let listener = OwnedFD(socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0))
    try bindUnix(listener.fd, name: Array(path.utf8))
    #expect(listen(listener.fd, 4) == 0)
    let abstractName: [UInt8] = [0] + Array("flowscope-test-\(me)".utf8)
    let abstract = OwnedFD(socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0))
    try bindUnix(abstract.fd, name: abstractName)
    var pair: [Int32] = [0, 0]
    #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
    let left = OwnedFD(pair[0])
    let right = OwnedFD(pair[1])

    let current = try snapshot([.unix])
    let l = try #require(flow(current, listener))
    #expect(l.local == .unixPath(Array(path.utf8)))
    #expect(l.socketState == .listen)
    #expect(l.socketType == 1)
    let a = try #require(flow(current, abstract))
    #expect(a.local == .unixAbstract(Array(abstractName.dropFirst())))
    #expect(a.socketType == 2)
    let p = try #require(flow(current, left))
    let q = try #require(flow(current, right))
    #expect(p.peerInode == right.inode)
    #expect(q.peerInode == left.inode)
    #expect(p.owners == [FlowOwner(pid: me, fd: left.fd)])
  }

  @Test func netlinkSocketIsListed() throws {
    let routeSocket = OwnedFD(socket(AF_NETLINK, Int32(SOCK_RAW.rawValue), 0 /* NETLINK_ROUTE */))
    // struct sockaddr_nl: nl_family, nl_pad, nl_pid 0 (kernel picks), nl_groups 0.
    var address = [UInt8](repeating: 0, count: 12)
    address[0] = UInt8(AF_NETLINK)
    let bound = address.withUnsafeBytes {
      bind(routeSocket.fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12)
    }
    #expect(bound == 0)
    let found = try #require(flow(try snapshot([.netlink]), routeSocket))
    #expect(found.proto == .netlink)
    #expect(found.protocolNumber == 0)
    #expect(found.owners == [FlowOwner(pid: me, fd: routeSocket.fd)])
    if case .netlink(let portID, _) = found.local {
      #expect(portID != 0)
    } else {
      Issue.record("netlink endpoint expected, got \(found.local)")
    }
  }

  @Test(.enabled(if: runningAsRoot, "packet sockets need CAP_NET_RAW (root)"))
  func packetSocketIsListed() throws {
    let ethertypeIPv4: UInt16 = 0x0800
    let packet = OwnedFD(socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue), Int32(ethertypeIPv4.bigEndian)))
    #expect(packet.fd >= 0)
    let found = try #require(flow(try snapshot([.packet]), packet))
    #expect(found.proto == .packet)
    #expect(found.socketType == 2)
    #expect(found.local == .packet(interfaceIndex: 0, ethertype: ethertypeIPv4))
    #expect(found.owners == [FlowOwner(pid: me, fd: packet.fd)])
  }

  @Test func socketSharedWithAChildListsBothOwners() throws {
    let listener = try loopbackSocket(.v4, type: Int32(SOCK_STREAM.rawValue))
    #expect(listen(listener.fd, 4) == 0)
    let child = try ChildHolding(listener.fd)
    var found: Flow?
    #expect(
      eventually {
        found = (try? snapshot([.tcp], pids: [me, child.pid])).flatMap { flow($0, listener) }
        return found?.owners.count == 2
      })
    let owners = Set(found?.owners ?? [])
    #expect(owners == [FlowOwner(pid: me, fd: listener.fd), FlowOwner(pid: child.pid, fd: 3)])
    let current = try snapshot([.tcp], pids: [child.pid])
    let process = try #require(current.processes[child.pid])
    #expect(process.command == Array("sleep".utf8))
    #expect(process.ppid == me)
    // Asked for the child alone, the listing holds its flow and no other process's.
    #expect(current.flows.allSatisfy { $0.owners.contains { $0.pid == child.pid } })
    #expect(current.flows.contains { $0.inode == listener.inode })
  }

  @Test func processesExitingDuringTheScanDoNotBreakIt() throws {
    let listener = try loopbackSocket(.v4, type: Int32(SOCK_STREAM.rawValue))
    #expect(listen(listener.fd, 4) == 0)
    var children: [pid_t] = []
    defer {
      for pid in children {
        var status: Int32 = 0
        waitpid(pid, &status, 0)
      }
    }
    for round in 0..<20 {
      // Short-lived children come and go while whole-host scans run.
      for _ in 0..<5 {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("true"), nil]
        if posix_spawn(&pid, "/bin/true", nil, nil, argv, environ) == 0 { children.append(pid) }
        free(argv[0])
      }
      var options = InspectOptions(protocols: [.tcp])
      options.pids = nil
      let current = try FlowInspector().snapshot(options)
      let found = current.flows.first { $0.inode == listener.inode }
      #expect(found?.owners == [FlowOwner(pid: me, fd: listener.fd)], "round \(round)")
      #expect(!current.warnings.contains { if case .dumpFailed = $0 { true } else { false } })
    }
  }

  /// `watch`'s refreshes: a socket seen before keeps its owners without a lookup while no
  /// process changed, and takes new counters from each dump; a socket new to the dump whose
  /// descriptor was already known gets its owner from the kept map.
  @Test func refreshesFindSocketsAgainKeepingOwnersAndTakingNewCounters() throws {
    let listener = try loopbackSocket(.v4, type: Int32(SOCK_STREAM.rawValue))
    #expect(listen(listener.fd, 4) == 0)
    let client = OwnedFD(
      socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0))
    try #require(client.fd >= 0)
    // A process that holds the client as its fd 3 and changes nothing while the test runs.
    let child = try ChildHolding(client.fd)
    #expect(eventually { child.asleep })
    let cache = OwnerCache(fullRescanInterval: 3600)
    let inspector = try FlowInspector()
    var options = InspectOptions(protocols: [.tcp])
    options.pids = [child.pid]
    options.states = 1 << 1  // ESTABLISHED: the unconnected client is not dumped yet
    options.askForCountersOnly()
    let held: FlowOwners = [FlowOwner(pid: child.pid, fd: 3)]

    let before = inspector.snapshot(options, ownerCache: cache)
    #expect(flow(before, client) == nil)

    try bindOrConnect(client.fd, .v4, port: listener.localPort, connect: true)
    let server = OwnedFD(accept(listener.fd, nil, nil))
    let appeared = inspector.snapshot(options, ownerCache: cache)
    #expect(cache.statistics.processesRead == 0)
    #expect(flow(appeared, client)?.owners == held)

    try sendAll(client.fd, count: 700)
    try receiveExactly(server.fd, count: 700)
    // tcp_info's bytes_acked counts the SYN too: compare with the first sighting.
    let start = try #require(flow(appeared, client)?.counters.bytesOut)
    var moved: Flow? = nil
    #expect(
      eventually {
        moved = flow(inspector.snapshot(options, ownerCache: cache), client)
        return moved?.counters.bytesOut == start + 700
      })
    #expect(cache.statistics.processesRead == 0)
    #expect(moved?.owners == held)
    #expect(moved?.socketState == .established)
    #expect(moved?.local == flow(appeared, client)?.local)
    #expect(moved?.tcp != nil)
  }
}

extension LiveSnapshotTests {
  /// As root, a refresh's whole reads come from one pass of the BPF iterator: the first one,
  /// and the one a socket of unknown owner calls for (a descriptor swapped for another, so
  /// the count did not move). Either way the owners are those /proc gives.
  @Test(.enabled(if: geteuid() == 0, "loading the BPF iterator needs root"))
  func refreshesReadEveryProcessFromOnePassOfTheIterator() throws {
    let me = getpid()
    var first: OwnedFD? = try loopbackSocket(.v4, type: Int32(SOCK_STREAM.rawValue))
    let firstFD = first!.fd
    #expect(listen(firstFD, 4) == 0)
    let cache = OwnerCache(fullRescanInterval: 0)
    let inspector = try FlowInspector()
    var options = InspectOptions(protocols: [.tcp])
    options.states = 1 << 10  // LISTEN
    options.owners = .bpf
    options.pids = nil

    let before = inspector.snapshot(options, ownerCache: cache)
    #expect(cache.statistics.passes == 1)
    #expect(flow(before, first!)?.owners == [FlowOwner(pid: me, fd: firstFD)])
    #expect(!before.warnings.contains { $0.description.contains("bpf") }, "\(before.warnings)")

    // Swapped: the new listener takes the closed one's descriptor number.
    first = nil
    let second = try loopbackSocket(.v4, type: Int32(SOCK_STREAM.rawValue))
    #expect(listen(second.fd, 4) == 0)
    let after = inspector.snapshot(options, ownerCache: cache)
    #expect(flow(after, second)?.owners == [FlowOwner(pid: me, fd: second.fd)])
    // Other tests of this process open and close descriptors too: when they moved its count,
    // the process was re-read as changed and no whole read was needed.
    if second.fd == firstFD && cache.statistics.fullRescan {
      #expect(cache.statistics.passes == 2)
    }
    var proc = options
    proc.owners = .proc
    let fromProc = try FlowInspector().snapshot(proc)
    #expect(flow(fromProc, second)?.owners == flow(after, second)?.owners)
  }
}

func bindUnix(_ fd: Int32, name: [UInt8]) throws {
  var address = sockaddr_un()
  address.sun_family = sa_family_t(AF_UNIX)
  withUnsafeMutableBytes(of: &address.sun_path) { raw in
    for (index, byte) in name.enumerated() where index < raw.count { raw[index] = byte }
  }
  let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count)
  let result = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
  }
  guard result == 0 else { throw SocketFailure("bind unix") }
}
