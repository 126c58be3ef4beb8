import Testing

@testable import SockDiag

/// Whole dumps recorded on Linux 6.18 in a fresh network namespace (FSRECv1 files).
@Suite("Recorded dumps")
struct RecordedDumpTests {
  @Test func tcp4Established() throws {
    let (records, statuses) = try Fixture.records("tcp4-established.bin")
    let sockets = records.compactMap(\.inetSocket)
    #expect(sockets.count == 2)
    #expect(statuses.last?.finished == true && statuses.last?.errno == 0)
    #expect(statuses.allSatisfy { $0.error == nil && !$0.interrupted })
    let client = try #require(sockets.first { $0.sourcePort == 40402 })
    let server = try #require(sockets.first { $0.sourcePort == 40401 })
    #expect(client.inode == 6796 && server.inode == 6797)
    #expect(server.destinationPort == 40402)
    #expect(server.tcpInfo?.bytesReceived == 1000)
    #expect(server.tcpInfo?.bytesAcked == 37)
    #expect(server.tcpInfo?.bytesSent == 37)
    #expect(client.tcpInfo?.bytesAcked == 1001)
  }

  @Test func tcp4AllIncludesListenersAndMPTCPSubflowListener() throws {
    let (records, statuses) = try Fixture.records("tcp4-all.bin")
    let sockets = records.compactMap(\.inetSocket)
    #expect(sockets.map(\.sourcePort) == [40701, 40401, 40403, 40402, 40401])
    #expect(sockets.map(\.state) == [10, 10, 10, 1, 1])
    #expect(sockets.map(\.inode) == [6805, 6795, 6798, 6796, 6797])
    // A listener's send queue is its backlog.
    #expect(sockets[1].sendQueue == 8)
    // The MPTCP listener's TCP socket carries INET_DIAG_ULP_INFO.
    #expect(sockets[0].hasULP && !sockets[1].hasULP)
    #expect(statuses.map(\.messageCount).reduce(0, +) == 5)
  }

  @Test func tcp6() throws {
    let sockets = try Fixture.records("tcp6-all.bin").records.compactMap(\.inetSocket)
    #expect(sockets.count == 3)
    let listener = try #require(sockets.first { $0.state == 10 })
    #expect(listener.family == 10)
    #expect(listener.sourcePort == 40601)
    #expect(listener.sourceAddress == InetAddressBytes(high: 0, low: 1))  // ::1
    #expect(listener.v6Only == true)
    #expect(listener.tclass == 0)
    let accepted = try #require(sockets.first { $0.inode == 6801 })
    #expect(accepted.receiveQueue == 400)  // 500 sent, 100 read
    #expect(accepted.tcpInfo?.bytesReceived == 500)
    #expect(accepted.destinationPort == 40602)
  }

  @Test func udp() throws {
    let v4 = try Fixture.records("udp4-all.bin").records.compactMap(\.inetSocket)
    #expect(v4.map(\.sourcePort) == [40501, 40502])
    #expect(v4.map(\.state) == [1, 7])
    #expect(v4[0].destinationPort == 40502)
    #expect(v4[0].proto == .udp)
    #expect(v4[0].tcpInfo == nil)
    #expect(v4[1].receiveQueue == 832)  // one 64-byte datagram, counted as skb truesize
    #expect(v4[1].inode == 6803)
    let v6 = try Fixture.records("udp6-all.bin").records.compactMap(\.inetSocket)
    #expect(v6.count == 1)
    #expect(v6[0].sourcePort == 40503 && v6[0].v6Only == true && v6[0].inode == 6804)
  }

  @Test func unixAll() throws {
    let sockets = try Fixture.records("unix-all.bin").records.compactMap(\.unixSocket)
    #expect(sockets.map(\.inode) == [6807, 6810, 6808, 6809, 6811])
    let client = try #require(sockets.first { $0.inode == 6808 })
    #expect(client.peerInode == 6809)
    #expect(client.shutdown == 1)  // the peer shut down writing: RCV_SHUTDOWN here
    #expect(client.name == nil)
    let accepted = try #require(sockets.first { $0.inode == 6809 })
    #expect(accepted.peerInode == 6808)
    #expect(accepted.receiveQueue == 11)
    #expect(accepted.shutdown == 2)  // SEND_SHUTDOWN
    #expect(accepted.name == .path(Array("/tmp/flowscope-fixture.sock".utf8)))
    let pending = try #require(sockets.first { $0.inode == 6810 })
    #expect(pending.peerInode == 0)  // its peer is an embryo with no inode yet
    let abstract = try #require(sockets.first { $0.inode == 6811 })
    #expect(abstract.type == 2 && abstract.state == 7)
    #expect(abstract.name == .abstract(Array("flowscope-fixture".utf8) + [0, UInt8(ascii: "x")]))
  }

  @Test func packetAll() throws {
    let sockets = try Fixture.records("packet-all.bin").records.compactMap(\.packetSocket)
    #expect(sockets.count == 1)
    #expect(sockets.first?.proto == 3 && sockets.first?.interfaceIndex == 1)
  }

  @Test func netlinkAll() throws {
    let sockets = try Fixture.records("netlink-all.bin").records.compactMap(\.netlinkSocket)
    #expect(sockets.count == 11)
    // The kernel lists a socket that has multicast groups twice (bound table and group list).
    #expect(sockets.filter { $0.inode == 6813 }.count == 2)
    // Our own sock_diag socket, caught mid-dump: NDIAG_FLAG_CB_RUNNING.
    let diag = try #require(sockets.first { $0.proto == 4 && $0.portID == 3427 })
    #expect(diag.flags == 1)
    #expect(diag.inode == 6821)
  }

  @Test func mptcpInfoIsNotDecodedAsTCPInfo() throws {
    let sockets = try Fixture.records("mptcp4-all.bin").records.compactMap(\.inetSocket)
    #expect(sockets.count == 1)
    #expect(sockets.first?.proto == .mptcp)
    #expect(sockets.first?.sourcePort == 40701)
    #expect(sockets.first?.state == 10)
    #expect(sockets.first?.tcpInfo == nil)
    #expect(sockets.first?.memInfo == InetMemInfo(rmem: 0, wmem: 0, fmem: 0, tmem: 0))
  }

  @Test func rawUnsupportedEndsWithENOENT() throws {
    let (records, statuses) = try Fixture.records("raw4-enoent.bin")
    #expect(records.isEmpty)
    #expect(statuses.count == 1)
    #expect(statuses[0].finished && statuses[0].errno == 2)
  }

  @Test func recordFileRoundTrip() throws {
    let file = try Fixture.data("tcp4-all.bin")
    var rebuilt = RecordFile.magic
    var queries: [SockDiagQuery] = []
    try file.withUnsafeBytes { buffer in
      try RecordFile.forEachChunk(in: buffer) { query, datagram in
        queries.append(query)
        rebuilt += RecordFile.encodeChunk(query: query, datagram: datagram)
      }
    }
    #expect(rebuilt == file)
    #expect(queries == [tcp4, tcp4])  // two datagrams of one tcp4 dump
  }
}
