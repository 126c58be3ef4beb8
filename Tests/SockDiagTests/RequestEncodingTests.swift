import Testing

@testable import SockDiag

func header(length: UInt32, sequence: UInt32, type: UInt8 = 20) -> [UInt8] {
  var bytes: [UInt8] = []
  bytes.appendHost(length)
  bytes += [type, 0, 0x01, 0x03]  // SOCK_DIAG_BY_FAMILY (20), NLM_F_REQUEST|NLM_F_DUMP
  bytes.appendHost(sequence)
  bytes += [0, 0, 0, 0]
  return bytes
}

/// inet_diag_sockid of a dump: all zero but the cookie, INET_DIAG_NOCOOKIE twice.
let dumpSocketID = [UInt8](repeating: 0, count: 40) + [UInt8](repeating: 0xff, count: 8)

@Suite("Request encoding")
struct RequestEncodingTests {
  @Test func tcp4() {
    let bytes = SockDiagRequest.encode(.inet(family: 2, proto: .tcp), sequence: 7)
    #expect(
      bytes == header(length: 72, sequence: 7) + [2, 6, 0xfb, 0, 0xff, 0xff, 0xff, 0xff]
        + dumpSocketID)
  }

  @Test func tcpOfBothFamiliesUsesTheOlderRequest() {
    // TCPDIAG_GETSOCK (18) with struct inet_diag_req: family, src_len, dst_len, ext; the socket
    // id; then idiag_states and idiag_dbs after it, not before it as in inet_diag_req_v2.
    let bytes = SockDiagRequest.encode(
      .inet(family: 0, proto: .tcp), sequence: 7, states: 1 << 1 | 1 << 8,
      extensions: SockDiagRequest.inetInfoOnly)
    #expect(
      bytes == header(length: 76, sequence: 7, type: 18) + [0, 0, 0, 0x02] + dumpSocketID
        + [0x02, 0x01, 0, 0] + [0, 0, 0, 0])
    let filtered = SockDiagRequest.encode(
      .inet(family: 0, proto: .tcp), sequence: 7, bytecode: [1, 2, 3])
    #expect(Array(filtered[76...]) == [7, 0, 1, 0, 1, 2, 3, 0])
    #expect(
      SockDiagQuery.inet(family: 0, proto: .tcp).perFamily == [
        .inet(family: 2, proto: .tcp), .inet(family: 10, proto: .tcp),
      ])
    #expect(SockDiagQuery.unix.perFamily == [.unix])
  }

  @Test func udp6WithStates() {
    let bytes = SockDiagRequest.encode(
      .inet(family: 10, proto: .udp), sequence: 0x0102_0304, states: 1 << 1 | 1 << 7)
    #expect(
      bytes == header(length: 72, sequence: 0x0102_0304) + [10, 17, 0xfb, 0, 0x82, 0, 0, 0]
        + dumpSocketID)
  }

  @Test func fewerExtensionsOnRequest() {
    // idiag_ext is byte 18: INFO alone (bit INET_DIAG_INFO - 1) for watch's screen.
    let bytes = SockDiagRequest.encode(
      .inet(family: 2, proto: .tcp), sequence: 7, extensions: SockDiagRequest.inetInfoOnly)
    #expect(bytes[18] == 0x02)
  }

  @Test func udpliteDccpSctp() {
    #expect(SockDiagRequest.encode(.inet(family: 2, proto: .udplite), sequence: 1)[17] == 136)
    #expect(SockDiagRequest.encode(.inet(family: 2, proto: .dccp), sequence: 1)[17] == 33)
    #expect(SockDiagRequest.encode(.inet(family: 10, proto: .sctp), sequence: 1)[17] == 132)
  }

  @Test func mptcpUsesProtocolAttribute() {
    let bytes = SockDiagRequest.encode(.inet(family: 2, proto: .mptcp), sequence: 9)
    // sdiag_protocol carries 262 & 0xff (IPPROTO_TCP); INET_DIAG_REQ_PROTOCOL (3) carries u32 262.
    #expect(
      bytes == header(length: 80, sequence: 9) + [2, 6, 0xfb, 0, 0xff, 0xff, 0xff, 0xff]
        + dumpSocketID
        + [8, 0, 3, 0, 0x06, 0x01, 0, 0])
  }

  @Test func rawSetsRawProtocol() {
    let bytes = SockDiagRequest.encode(.inet(family: 10, proto: .raw), sequence: 1)
    #expect(Array(bytes[16..<20]) == [10, 255, 0xfb, 255])
    #expect(bytes.count == 72)
  }

  @Test func bytecodeAttributeIsPadded() {
    let bytes = SockDiagRequest.encode(
      .inet(family: 2, proto: .tcp), sequence: 2, bytecode: [1, 2, 3])
    #expect(bytes.count == 80)
    #expect(Array(bytes[0..<4]) == [80, 0, 0, 0])
    #expect(Array(bytes[72...]) == [7, 0, 1, 0, 1, 2, 3, 0])
    let mptcp = SockDiagRequest.encode(
      .inet(family: 2, proto: .mptcp), sequence: 2, bytecode: [1, 2, 3, 4])
    #expect(Array(mptcp[72...]) == [8, 0, 1, 0, 1, 2, 3, 4, 8, 0, 3, 0, 6, 1, 0, 0])
  }

  @Test func unix() {
    let bytes = SockDiagRequest.encode(.unix, sequence: 3, states: 1 << 10)
    #expect(
      bytes == header(length: 40, sequence: 3) + [
        1, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0x7f, 0, 0, 0,
      ]
        + [UInt8](repeating: 0, count: 8))
  }

  @Test func packet() {
    let bytes = SockDiagRequest.encode(.packet, sequence: 4)
    #expect(
      bytes == header(length: 36, sequence: 4) + [17, 0, 0, 0, 0, 0, 0, 0, 0x1f, 0, 0, 0]
        + [UInt8](repeating: 0, count: 8))
  }

  @Test func netlink() {
    let bytes = SockDiagRequest.encode(.netlink, sequence: 5)
    #expect(
      bytes == header(length: 36, sequence: 5) + [16, 255, 0, 0, 0, 0, 0, 0, 0x0b, 0, 0, 0]
        + [UInt8](repeating: 0, count: 8))
  }

  @Test func vsock() {
    let bytes = SockDiagRequest.encode(.vsock, sequence: 6)
    #expect(
      bytes == header(length: 40, sequence: 6) + [40, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        + [UInt8](repeating: 0, count: 16))
  }

  @Test(arguments: [
    SockDiagQuery.inet(family: 2, proto: .tcp), .inet(family: 10, proto: .mptcp), .unix, .packet,
    .netlink, .vsock,
  ])
  func requestFramesAsOneNetlinkMessage(query: SockDiagQuery) throws {
    let bytes = SockDiagRequest.encode(query, sequence: 42)
    var headers: [NetlinkHeader] = []
    try bytes.withUnsafeBytes { buffer in
      try forEachNetlinkMessage(in: buffer) { header, _ in headers.append(header) }
    }
    #expect(
      headers == [
        NetlinkHeader(length: UInt32(bytes.count), type: 20, flags: 0x301, sequence: 42, portID: 0)
      ])
    #expect(bytes.count % 4 == 0)
  }
}
