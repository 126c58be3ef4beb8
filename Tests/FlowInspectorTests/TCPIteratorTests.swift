import FlowModel
import Testing

@testable import FlowInspector

#if canImport(Glibc)
  import Glibc
#endif

/// The BPF TCP iterator against the sock_diag dump it stands in for, on real sockets of this
/// process in every state a test can make on loopback.
@Suite struct TCPIteratorTests {
  /// The flows of a refresh, by (local, remote): both sources see each socket once.
  func refresh(_ source: TCPSourceChoice, _ inspector: FlowInspector) -> (Snapshot, [String: Flow]) {
    var options = InspectOptions(protocols: [.tcp])
    options.askForCountersOnly()
    options.tcpSource = source
    options.owners = .proc
    let snapshot = inspector.snapshot(options, ownerCache: OwnerCache())
    var flows: [String: Flow] = [:]
    for flow in snapshot.flows { flows["\(flow.local) \(flow.remote)"] = flow }
    return (snapshot, flows)
  }

  /// Each socket the test made is the same flow from both: addresses, state, queues, cookie,
  /// inode, uid, mark, cgroup, owners, counters and tcp_info's fields. The times since the last
  /// send and receive (in jiffies) move between the two reads: they must agree within 100 ms.
  @Test(.enabled(if: geteuid() == 0, "loading the BPF iterator needs root"))
  func theIteratorGivesTheFlowsOfTheDump() throws {
    let v4 = try TCPConnection(.v4)
    let v6 = try TCPConnection(.v6)
    try sendAll(v4.client.fd, count: 5000)
    try receiveExactly(v4.server.fd, count: 5000)
    try sendAll(v6.server.fd, count: 3000)
    try receiveExactly(v6.client.fd, count: 3000)
    // Unread bytes in a receive queue, and a mark.
    try sendAll(v4.server.fd, count: 100)
    var mark: UInt32 = 7
    #expect(setsockopt(v6.client.fd, SOL_SOCKET, SO_MARK, &mark, socklen_t(4)) == 0)
    // CLOSE_WAIT and FIN_WAIT2 (a full socket: its owner still holds it).
    let halfClosed = try TCPConnection(.v4)
    #expect(shutdown(halfClosed.client.fd, Int32(SHUT_WR)) == 0)
    // TIME_WAIT (the side that closed first), and FIN_WAIT2 held by a TIME_WAIT socket (closed
    // by its owner before the peer closed: the kernel reports the substate).
    var timeWait: [OwnedFD?] = []
    var finWait: [OwnedFD?] = []
    for closesBoth in [true, false] {
      let listener = try loopbackSocket(.v4, type: Int32(SOCK_STREAM.rawValue))
      #expect(listen(listener.fd, 4) == 0)
      var client: OwnedFD? = OwnedFD(
        socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0))
      try bindOrConnect(client!.fd, .v4, port: listener.localPort, connect: true)
      var server: OwnedFD? = OwnedFD(accept(listener.fd, nil, nil))
      client = nil
      if closesBoth {
        #expect(eventually { (try? receiveNothing(server!.fd)) == true })
        server = nil
        timeWait.append(listener)
      } else {
        finWait.append(server)
        finWait.append(listener)
      }
    }
    // A connection waiting in a listener's accept queue, and a socket bound and nothing more.
    let queued = try loopbackSocket(.v4, type: Int32(SOCK_STREAM.rawValue))
    #expect(listen(queued.fd, 4) == 0)
    let waiting = OwnedFD(socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0))
    try bindOrConnect(waiting.fd, .v4, port: queued.localPort, connect: true)
    let boundOnly = try loopbackSocket(.v6, type: Int32(SOCK_STREAM.rawValue))
    // Past any delayed ACK (at most 200 ms): the counters hold still between the two reads.
    usleep(250_000)

    let ports: Set<UInt16> = Set(
      [v4.listener, v6.listener, halfClosed.listener, queued, boundOnly].map(\.localPort)
        + timeWait.compactMap { $0?.localPort } + finWait.compactMap { $0?.localPort })
    func ours(_ flow: Flow) -> Bool {
      guard case .ip(_, let local) = flow.local, case .ip(_, let remote) = flow.remote else { return false }
      return ports.contains(local) || ports.contains(remote)
    }

    let inspector = try FlowInspector()
    let (dumped, fromDump) = refresh(.netlink, inspector)
    let (iterated, fromIterator) = refresh(.bpf, inspector)
    #expect(dumped.warnings == iterated.warnings)
    #expect(!iterated.warnings.contains { "\($0)".contains("bpf") }, "\(iterated.warnings)")
    let mine = fromDump.filter { ours($0.value) }
    // 2 listeners, 2 pairs; half-closed: listener, 2; TIME_WAIT; FIN_WAIT2 and its peer's
    // CLOSE_WAIT, listener; queued: listener, 2 (the server side unaccepted); bound.
    #expect(mine.count >= 3 * 3 + 1 + 3 + 3 + 1, "\(mine.keys.sorted())")
    let states = Set(mine.values.compactMap { SocketState(rawValue: $0.state) })
    #expect(
      states.isSuperset(of: [.listen, .established, .closeWait, .finWait2, .timeWait, .close]),
      "\(states)")
    for (key, dumpedFlow) in mine {
      guard var flow = fromIterator[key] else {
        Issue.record("\(key) (\(dumpedFlow.state)) is not in the iterator's pass")
        continue
      }
      var expected = dumpedFlow
      if let a = flow.tcp, let b = expected.tcp {
        for (x, y) in [
          (a.lastDataSentMs, b.lastDataSentMs), (a.lastDataReceivedMs, b.lastDataReceivedMs),
          (a.lastAckReceivedMs, b.lastAckReceivedMs),
        ] {
          #expect(x >= y && x - y <= 100, "\(key): \(x) ms after \(y) ms")
        }
        flow.tcp!.lastDataSentMs = 0
        flow.tcp!.lastDataReceivedMs = 0
        flow.tcp!.lastAckReceivedMs = 0
        expected.tcp!.lastDataSentMs = 0
        expected.tcp!.lastDataReceivedMs = 0
        expected.tcp!.lastAckReceivedMs = 0
      }
      #expect(flow == expected, "\(key)")
    }
    let v6Client = try #require(fromIterator.values.first { $0.inode == v6.client.inode })
    #expect(v6Client.mark == 7)
    #expect(v6Client.counters.bytesIn == 3000)
    let v4Client = try #require(fromIterator.values.first { $0.inode == v4.client.inode })
    #expect(v4Client.receiveQueue == 100)
    let listener = try #require(fromIterator.values.first { $0.inode == queued.inode })
    #expect(listener.receiveQueue == 1)
    withExtendedLifetime((timeWait, finWait, waiting, boundOnly)) {}
  }

  /// Without root the iterator is not tried: `auto` says why, `bpf` refuses.
  @Test func sourceIsChosenAndExplained() throws {
    let inspector = try FlowInspector()
    var options = InspectOptions(protocols: [.tcp])
    let listing = try inspector.decideTCPSource(options, incremental: false)
    #expect(!listing.usesBPF)
    options.askForCountersOnly()
    options.tcpSource = .netlink
    #expect(
      try inspector.decideTCPSource(options, incremental: true).explanation
        == "tcp source: netlink (--tcp-source netlink)")
    options.tcpSource = .bpf
    #expect(throws: TCPSourceError.self) { try inspector.decideTCPSource(options, incremental: false) }
    if geteuid() != 0 {
      #expect(throws: TCPSourceError(reason: "not root")) {
        try inspector.decideTCPSource(options, incremental: true)
      }
    } else {
      #expect(try inspector.decideTCPSource(options, incremental: true).usesBPF)
    }
  }
}

/// True once the peer has closed (recv gives 0 without blocking).
private func receiveNothing(_ fd: Int32) throws -> Bool {
  var byte: UInt8 = 0
  let got = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
  if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return false }
  guard got >= 0 else { throw SocketFailure("recv") }
  return got == 0
}
