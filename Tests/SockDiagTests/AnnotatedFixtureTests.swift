import Testing

@testable import SockDiag

@Suite("Hand-annotated fixtures")
struct AnnotatedFixtureTests {
  @Test func inetTCPMessage() throws {
    let message = try Fixture.annotated("inet-tcp-annotated.hex")
    #expect(message.count == 492)
    var headers: [NetlinkHeader] = []
    try message.withUnsafeBytes { buffer in
      try forEachNetlinkMessage(in: buffer) { header, payload in
        headers.append(header)
        #expect(payload.count == 476)
      }
    }
    #expect(
      headers == [NetlinkHeader(length: 492, type: 20, flags: 2, sequence: 101, portID: 3427)])

    let records = try decodeMessage(message, query: tcp4)
    let socket = try #require(records.first?.inetSocket)
    #expect(records.count == 1)
    #expect(socket.family == 2)
    #expect(socket.proto == .tcp)
    #expect(socket.state == 1)
    #expect(socket.timer == .none)
    #expect(socket.sourcePort == 40402)
    #expect(socket.destinationPort == 40401)
    #expect(socket.sourceAddress.ipv4 == 0x7f00_0001)
    #expect(socket.sourceAddress == InetAddressBytes(bytes: [127, 0, 0, 1]))
    #expect(socket.destinationAddress.byte(0) == 127 && socket.destinationAddress.byte(3) == 1)
    #expect(socket.destinationAddress.byte(15) == 0 && socket.destinationAddress.byte(16) == 0)
    #expect(socket.cookie == 1)
    #expect(socket.receiveQueue == 37)
    #expect(socket.sendQueue == 0)
    #expect(socket.uid == 0)
    #expect(socket.inode == 6796)
    #expect(socket.shutdown == 0)
    #expect(socket.tos == 0)
    #expect(socket.mark == 0)
    #expect(socket.classID == 0)
    #expect(socket.cgroupID == 1)
    #expect(socket.socketOptions == 0x52)
    #expect(socket.congestion == "bbr")
    #expect(socket.memInfo == InetMemInfo(rmem: 869, wmem: 0, fmem: 3227, tmem: 0))
    #expect(
      socket.socketMemInfo
        == SocketMemInfo(rmemAlloc: 869, rcvbuf: 131072, sndbuf: 3_939_840, fwdAlloc: 3227))
    #expect(socket.v6Only == nil)
    #expect(socket.hasULP == false)

    let info = try #require(socket.tcpInfo)
    #expect(info.length == 280)
    #expect(info.state == 1)
    #expect(info.options == 7)
    #expect(info.sndWscale == 10 && info.rcvWscale == 10)
    #expect(info.deliveryRateAppLimited == 1)
    #expect(info.fastopenClientFail == 0)
    #expect(info.rto == 204_000)
    #expect(info.ato == 40_000)
    #expect(info.sndMss == 35_328)
    #expect(info.rcvMss == 536)
    #expect(info.lastDataSent == 176)
    #expect(info.pmtu == 65_535)
    #expect(info.rtt == 37)
    #expect(info.rttvar == 20)
    #expect(info.sndSsthresh == 2_147_483_647)
    #expect(info.sndCwnd == 11)
    #expect(info.advmss == 65_483)
    #expect(info.reordering == 3)
    #expect(info.rcvSpace == 65_495)
    #expect(info.pacingRate == 22_821_682_285)
    #expect(info.maxPacingRate == UInt64.max)
    // bytes_acked counts the SYN.
    #expect(info.bytesAcked == 1001)
    #expect(info.bytesReceived == 37)
    #expect(info.segsOut == 4)
    #expect(info.segsIn == 3)
    #expect(info.minRtt == 11)
    #expect(info.dataSegsIn == 1 && info.dataSegsOut == 1)
    #expect(info.deliveryRate == 3_211_636_363)
    #expect(info.delivered == 2)
    #expect(info.bytesSent == 1000)
    #expect(info.bytesRetrans == 0)
    #expect(info.sndWnd == 70_656)
    #expect(info.rcvWnd == 65_536)
    #expect(info.totalRto == 0 && info.totalRtoTime == 0)
    #expect(info.receivedCe == 0 && info.accecnOptSeen == 0)
  }

  @Test func unixListenerMessage() throws {
    let message = try Fixture.annotated("unix-annotated.hex")
    #expect(message.count == 152)
    let socket = try #require(try decodeMessage(message, query: .unix).first?.unixSocket)
    #expect(socket.type == 1)
    #expect(socket.state == 10)
    #expect(socket.inode == 6807)
    #expect(socket.cookie == 12)
    #expect(socket.name == .path(Array("/tmp/flowscope-fixture.sock".utf8)))
    #expect(socket.vfsInode == 16_220_431)
    #expect(socket.vfsDevice == 0x0fe0_0000)
    #expect(socket.pendingConnections == [6810])
    #expect(socket.receiveQueue == 1)
    #expect(socket.sendQueue == 4)
    #expect(socket.peerInode == nil)
    #expect(socket.shutdown == 0)
    #expect(socket.uid == 0)
    #expect(socket.socketMemInfo == SocketMemInfo(rcvbuf: 212_992, sndbuf: 212_992))
  }

  @Test func packetMessage() throws {
    let message = try Fixture.annotated("packet-annotated.hex")
    #expect(message.count == 112)
    let socket = try #require(try decodeMessage(message, query: .packet).first?.packetSocket)
    #expect(socket.type == 3)
    #expect(socket.proto == 3)  // ETH_P_ALL, from big-endian 00 03
    #expect(socket.inode == 6812)
    #expect(socket.cookie == 17)
    #expect(socket.interfaceIndex == 1)
    #expect(socket.version == 0)
    #expect(socket.infoFlags == 1)
    #expect(socket.uid == 0)
    #expect(socket.memberships == [])
    #expect(socket.receiveRing == nil)
    #expect(socket.socketMemInfo?.rcvbuf == 212_992)
  }

  @Test func netlinkMessage() throws {
    let message = try Fixture.annotated("netlink-annotated.hex")
    #expect(message.count == 104)
    let socket = try #require(try decodeMessage(message, query: .netlink).first?.netlinkSocket)
    #expect(socket.type == 3)
    #expect(socket.proto == 0)
    #expect(socket.state == 7)
    #expect(socket.portID == 3427)
    #expect(socket.destinationPortID == 0)
    #expect(socket.destinationGroup == 0)
    #expect(socket.inode == 6813)
    #expect(socket.cookie == 18)
    #expect(socket.groups == [0x11, 0])
    #expect(socket.groupNumbers == [1, 5])
    #expect(socket.flags == 0)
    #expect(socket.socketMemInfo?.sndbuf == 212_992)
  }
}
