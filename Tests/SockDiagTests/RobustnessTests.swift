import Testing

@testable import SockDiag

/// SplitMix64: a deterministic generator so garbling tests replay identically.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476C_E5B9_CF1D
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

enum Outcome: Equatable { case record, typedError }

/// Runs one decode and classifies it; any non-SockDiagError error fails the test.
func outcome(_ body: () throws -> Void) -> Outcome {
  do {
    try body()
    return .record
  } catch is SockDiagError {
    return .typedError
  } catch {
    Issue.record("untyped error: \(error)")
    return .typedError
  }
}

let annotatedCases: [(file: String, query: SockDiagQuery, header: Int, what: String)] = [
  ("inet-tcp-annotated.hex", .inet(family: 2, proto: .tcp), 72, "inet_diag_msg"),
  ("unix-annotated.hex", .unix, 16, "unix_diag_msg"),
  ("packet-annotated.hex", .packet, 16, "packet_diag_msg"),
  ("netlink-annotated.hex", .netlink, 28, "netlink_diag_msg"),
]

@Suite("Truncated and garbled input")
struct RobustnessTests {
  @Test func congestionNamesAreKeptInlineAndBounded() {
    // INET_DIAG_CONG is a NUL-terminated name of at most TCP_CA_NAME_MAX (16) bytes; a longer
    // attribute is cut, not trusted. No attribute and an empty one stay distinct.
    #expect(CongestionName(nil).string == nil)
    #expect(CongestionName("").string == "")
    #expect(CongestionName("bbr").string == "bbr")
    #expect(CongestionName(bytes: Array("0123456789abcdefXYZ".utf8)).string == "0123456789abcdef")
    #expect(CongestionName(bytes: [0x63, 0xff, 0x62]).string == "c\u{FFFD}b")
    var socket = InetSocket()
    socket.congestion = "cubic"
    #expect(socket.congestion == "cubic")
    #expect(socket != InetSocket())
    socket.congestion = nil
    #expect(socket == InetSocket())
  }

  @Test(arguments: 0..<4)
  func everyPayloadPrefix(caseIndex: Int) throws {
    let c = annotatedCases[caseIndex]
    let payload = Fixture.payload(of: try Fixture.annotated(c.file))
    var records = 0
    for length in 0...payload.count {
      let prefix = Array(payload.prefix(length))
      if length < c.header {
        #expect(throws: SockDiagError.truncated(what: c.what, need: c.header, have: length)) {
          _ = try decodePayload(prefix, query: c.query)
        }
      } else if outcome({ _ = try decodePayload(prefix, query: c.query) }) == .record {
        records += 1
      }
    }
    // The full payload decodes; so does every cut at an attribute boundary.
    #expect(records >= 2)
    #expect(throws: Never.self) { _ = try decodePayload(payload, query: c.query) }
  }

  @Test(arguments: 0..<4)
  func everyMessagePrefix(caseIndex: Int) throws {
    let c = annotatedCases[caseIndex]
    let message = try Fixture.annotated(c.file)
    for length in 0..<message.count {
      // nlmsg_len still claims the full length, so every prefix is a framing error.
      let prefix = Array(message.prefix(length))
      if length == 0 {
        #expect(try decodeMessage(prefix, query: c.query).isEmpty)
      } else if length < 16 {
        #expect(throws: SockDiagError.truncated(what: "nlmsghdr", need: 16, have: length)) {
          _ = try decodeMessage(prefix, query: c.query)
        }
      } else {
        #expect(
          throws: SockDiagError.truncated(
            what: "netlink message", need: message.count, have: length)
        ) {
          _ = try decodeMessage(prefix, query: c.query)
        }
      }
    }
  }

  @Test(arguments: 0..<4)
  func randomByteFlips(caseIndex: Int) throws {
    let c = annotatedCases[caseIndex]
    let message = try Fixture.annotated(c.file)
    var generator = SplitMix64(state: 0x5eed_0000 + UInt64(caseIndex))
    var counts: [Outcome: Int] = [:]
    for _ in 0..<3000 {
      var garbled = message
      for _ in 0..<Int.random(in: 1...4, using: &generator) {
        garbled[Int.random(in: 0..<garbled.count, using: &generator)] = UInt8.random(
          in: 0...255, using: &generator)
      }
      counts[outcome({ _ = try decodeMessage(garbled, query: c.query) }), default: 0] += 1
      // The dump-level decoder must also survive and keep its status consistent.
      garbled.withUnsafeBytes { buffer in
        var records: [SocketRecord] = []
        let status = decodeDumpDatagram(buffer, query: c.query, into: &records)
        #expect(records.count <= status.messageCount)
      }
    }
    #expect((counts[.record] ?? 0) > 100)
    #expect((counts[.typedError] ?? 0) > 100)
  }

  @Test func attributeShorterThanHeaderIsMalformed() throws {
    var payload = Fixture.payload(of: try Fixture.annotated("unix-annotated.hex"))
    payload[16] = 2  // nla_len of the first attribute (UNIX_DIAG_NAME)
    payload[17] = 0
    #expect(throws: SockDiagError.malformed(what: "nlattr", detail: "nla_len 2 < 4 (type 0)")) {
      _ = try decodePayload(payload, query: .unix)
    }
  }

  @Test func attributeLongerThanMessageIsTruncated() throws {
    var payload = Fixture.payload(of: try Fixture.annotated("netlink-annotated.hex"))
    payload[28] = 0xff  // nla_len of NETLINK_DIAG_GROUPS
    #expect(throws: SockDiagError.truncated(what: "nlattr type 1", need: 255, have: 60)) {
      _ = try decodePayload(payload, query: .netlink)
    }
  }

  @Test func knownAttributeTooShortIsTruncated() throws {
    // unix_diag_msg + UNIX_DIAG_RQLEN with 4 of its 8 bytes.
    let payload: [UInt8] = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 4, 0, 9, 0, 0, 0]
    #expect(throws: SockDiagError.truncated(what: "unix_diag_rqlen", need: 8, have: 4)) {
      _ = try decodePayload(payload, query: .unix)
    }
  }

  @Test func unknownAttributesAndNestedFlagsAreSkipped() throws {
    // unix_diag_msg + unknown type 99 (nested flag set) + UNIX_DIAG_UID 1000.
    let payload: [UInt8] =
      [1, 2, 7, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
      + [6, 0, 99, 0x80, 0xaa, 0xbb, 0, 0]
      + [8, 0, 7, 0, 0xe8, 0x03, 0, 0]
    let socket = try #require(try decodePayload(payload, query: .unix).unixSocket)
    #expect(socket.uid == 1000)
    #expect(socket.inode == 5)
    #expect(socket.type == 2)
  }

  // MARK: tcp_info sizes

  /// An inet_diag_msg followed by one INET_DIAG_INFO attribute holding `info`.
  func inetPayload(tcpInfo info: [UInt8]) throws -> [UInt8] {
    let header = Array(
      Fixture.payload(of: try Fixture.annotated("inet-tcp-annotated.hex")).prefix(72))
    var payload = header
    payload += [UInt8(truncatingIfNeeded: info.count + 4), UInt8((info.count + 4) >> 8), 2, 0]
    payload += info
    payload += [UInt8](repeating: 0, count: (4 - info.count % 4) % 4)
    return payload
  }

  @Test(arguments: [232, 248, 280])
  func recordedTCPInfoAtKernelSizes(size: Int) throws {
    let payload = Fixture.payload(of: try Fixture.annotated("inet-tcp-annotated.hex"))
    // Find the recorded INET_DIAG_INFO with the attribute walker.
    var recorded: [UInt8] = []
    payload.withUnsafeBytes { buffer in
      var attributes = NetlinkAttributeDecoder(UnsafeRawBufferPointer(rebasing: buffer[72...]))
      while attributes.next() {
        if attributes.type == 2 { recorded = Array(attributes.payload) }
      }
      #expect(attributes.error == nil)
    }
    #expect(recorded.count == 280)
    let info = try #require(
      try decodePayload(inetPayload(tcpInfo: Array(recorded.prefix(size))), query: tcp4).inetSocket?
        .tcpInfo)
    #expect(info.length == size)
    #expect(info.bytesAcked == 1001)
    #expect(info.sndWnd == 70_656)
    #expect(info.rcvWnd == (size >= 248 ? 65_536 : 0))
  }

  @Test func tcpInfoOffsetsByPattern() throws {
    // Byte i holds i & 0xff, so every field reveals the offset it was read from.
    let pattern = (0..<280).map { UInt8(truncatingIfNeeded: $0) }
    let info = try #require(
      try decodePayload(inetPayload(tcpInfo: pattern), query: tcp4).inetSocket?.tcpInfo)
    #expect(info.state == 0 && info.caState == 1 && info.options == 5)
    #expect(info.sndWscale == 6 && info.rcvWscale == 0)
    #expect(info.deliveryRateAppLimited == 1 && info.fastopenClientFail == 3)
    #expect(info.rto == 0x0b0a_0908)
    #expect(info.totalRetrans == 0x6766_6564)
    #expect(info.pacingRate == 0x6f6e_6d6c_6b6a_6968)
    #expect(info.segsOut == 0x8b8a_8988)
    #expect(info.deliveryRate == 0xa7a6_a5a4_a3a2_a1a0)
    #expect(info.bytesSent == 0xcfce_cdcc_cbca_c9c8)
    #expect(info.sndWnd == 0xe7e6_e5e4)
    #expect(info.rcvWnd == 0xebea_e9e8)
    #expect(info.rehash == 0xefee_edec)
    #expect(info.totalRto == 0xf1f0)
    #expect(info.totalRtoRecoveries == 0xf3f2)
    #expect(info.totalRtoTime == 0xf7f6_f5f4)
    #expect(info.receivedCe == 0xfbfa_f9f8)
    #expect(info.deliveredE1Bytes == 0xfffe_fdfc)
    #expect(info.deliveredE0Bytes == 0x0302_0100)
    #expect(info.receivedCeBytes == 0x1312_1110)
    #expect(info.accecnFailMode == 0x1514)
    #expect(info.accecnOptSeen == 0x1716)
    #expect(info.ecnWord == 0x1716_1514)

    let short = try #require(
      try decodePayload(inetPayload(tcpInfo: Array(pattern.prefix(242))), query: tcp4).inetSocket?
        .tcpInfo)
    #expect(short.totalRto == 0xf1f0)
    #expect(short.totalRtoRecoveries == 0)  // bytes 242..<244 absent
    #expect(short.totalRtoTime == 0)
  }
}
