import SockDiag
import Testing

@testable import BPFOwners

/// A record of `tcp_sockets.bpf.c` recorded from this kernel (6.18): the client of a loopback
/// connection that sent 1000 bytes and received 10 it has not read, 0.3 s later.
private let clientRecord: [UInt8] = hex(
  "13130a0100000000",  // 0 cookie 0x010a1313
  "5bfa1c0200000000",  // 8 inode 0x021cfa5b
  "0100000000000000",  // 16 cgroup id 1 (the root cgroup)
  "e903000000000000",  // 24 bytes_acked 1001 (the SYN counts one)
  "0a00000000000000",  // 32 bytes_received 10
  "0000000000000000",  // 40 bytes_retrans 0
  "00c0f35e01000000",  // 48 delivery_rate 5,888,000,000 bytes/s
  "7f000001000000000000000000000000",  // 56 source address 127.0.0.1 (network order)
  "7f000001000000000000000000000000",  // 72 destination address 127.0.0.1
  "00000000",  // 88 uid 0
  "00000000",  // 92 interface 0
  "0a000000",  // 96 receive queue 10
  "00000000",  // 100 send queue 0
  "00000000",  // 104 mark 0
  "03000000",  // 108 segs_in 3
  "04000000",  // 112 segs_out 4
  "00000000",  // 116 total_retrans 0
  "1a000000",  // 120 rtt 26 µs
  "0e000000",  // 124 rttvar 14 µs
  "06000000",  // 128 min_rtt 6 µs
  "0b000000",  // 132 snd_cwnd 11
  "00000000",  // 136 lost 0
  "00000000",  // 140 unacked 0
  "4c010000",  // 144 last_data_sent 332 ms ago
  "4c010000",  // 148 last_data_recv 332 ms ago
  "4c010000",  // 152 last_ack_recv 332 ms ago
  "00140100",  // 156 snd_wnd 70656
  "d4eb",  // 160 source port 60372 (host order)
  "2996",  // 162 destination port 38441
  "02",  // 164 family AF_INET
  "01",  // 165 state ESTABLISHED
  "00",  // 166 kind: a full socket
  "00",  // 167 shutdown 0
  "00",  // 168 retransmits 0
  "00",  // 169 probes 0
  "00",  // 170 backoff 0
  "0000000000"  // 171 padding
)

private func hex(_ parts: String...) -> [UInt8] {
  let digits = Array(parts.joined().utf8)
  return stride(from: 0, to: digits.count, by: 2).map {
    UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
  }
}

@Suite struct TCPSocketRecordsTests {
  @Test func aRecordDecodesAsTheDumpWouldGiveIt() throws {
    #expect(clientRecord.count == TCPSocketRecords.recordSize)
    let socket = clientRecord.withUnsafeBytes { TCPSocketRecords.socket($0) }
    #expect(socket.family == 2 && socket.proto == .tcp && socket.state == 1)
    #expect(socket.sourcePort == 60372 && socket.destinationPort == 38441)
    #expect(socket.sourceAddress == InetAddressBytes(high: 0x7f00_0001_0000_0000, low: 0))
    #expect(socket.destinationAddress == socket.sourceAddress)
    #expect(socket.cookie == 0x010a_1313 && socket.inode == 0x021c_fa5b)
    #expect(socket.receiveQueue == 10 && socket.sendQueue == 0 && socket.uid == 0)
    #expect(socket.shutdown == 0 && socket.mark == 0 && socket.cgroupID == 1)
    let info = try #require(socket.tcpInfo)
    #expect(info.state == 1)
    #expect(info.bytesAcked == 1001 && info.bytesReceived == 10 && info.bytesRetrans == 0)
    #expect(info.segsIn == 3 && info.segsOut == 4 && info.totalRetrans == 0)
    #expect(info.rtt == 26 && info.rttvar == 14 && info.minRtt == 6 && info.sndCwnd == 11)
    #expect(info.lastDataSent == 332 && info.lastDataRecv == 332 && info.lastAckRecv == 332)
    #expect(info.deliveryRate == 5_888_000_000 && info.sndWnd == 70656)
  }

  /// TIME_WAIT and request sockets give what their fill functions give: no uid, inode,
  /// shutdown, cgroup or tcp_info; their mark.
  @Test(arguments: [(UInt8(1), UInt8(6)), (2, 3)])
  func miniSocketsHaveNoTCPInfo(kind: UInt8, state: UInt8) {
    var record = clientRecord
    record[166] = kind
    record[165] = state
    record[104] = 9
    let socket = record.withUnsafeBytes { TCPSocketRecords.socket($0) }
    #expect(socket.state == state && socket.mark == 9)
    #expect(socket.tcpInfo == nil && socket.uid == 0 && socket.inode == 0)
    #expect(socket.shutdown == nil && socket.cgroupID == nil)
  }

  /// A pass read in chunks of any size gives the same sockets; a record cut short at the end is
  /// left over, not decoded.
  @Test func chunksOfAnySizeGiveTheSameSockets() {
    var second = clientRecord
    second[160] = 0x01
    let pass = clientRecord + second + Array(clientRecord.prefix(40))
    let whole = clientRecord.withUnsafeBytes { TCPSocketRecords.socket($0) }
    for size in [1, 7, 175, 176, 177, 500] {
      var records = TCPSocketRecords()
      var sockets: [InetSocket] = []
      for start in stride(from: 0, to: pass.count, by: size) {
        pass[start..<min(start + size, pass.count)].withUnsafeBytes { records.add($0) { sockets.append($0) } }
      }
      #expect(sockets.count == 2, "chunks of \(size)")
      #expect(sockets.first == whole)
      #expect(sockets.last?.sourcePort == 0xeb01)
      #expect(records.trailing == 40)
    }
  }
}
