import Testing

@testable import SockDiag

@Suite("Netlink framing, errors, record files")
struct NetlinkFramingTests {
  /// A netlink message of `type` with `payload`, padded to 4 bytes.
  func message(type: UInt16, flags: UInt16 = 2, payload: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.appendHost(UInt32(16 + payload.count))
    bytes.appendHost(type)
    bytes.appendHost(flags)
    bytes.appendHost(UInt32(1))
    bytes.appendHost(UInt32(99))
    bytes += payload
    bytes += [UInt8](repeating: 0, count: (4 - payload.count % 4) % 4)
    return bytes
  }

  @Test func errorAndDonePayloads() throws {
    let enoent: [UInt8] = [0xfe, 0xff, 0xff, 0xff]
    #expect(try enoent.withUnsafeBytes { try decodeNetlinkError($0) } == 2)
    #expect(try ([0, 0, 0, 0] as [UInt8]).withUnsafeBytes { try decodeNetlinkError($0) } == 0)
    #expect(throws: SockDiagError.truncated(what: "nlmsgerr", need: 4, have: 2)) {
      _ = try ([0xfe, 0xff] as [UInt8]).withUnsafeBytes { try decodeNetlinkError($0) }
    }
    #expect(enoent.withUnsafeBytes { decodeDoneStatus($0) } == 2)
    #expect([UInt8]().withUnsafeBytes { decodeDoneStatus($0) } == 0)
    #expect(([0, 0, 0, 0x80] as [UInt8]).withUnsafeBytes { decodeDoneStatus($0) } == Int32.max)
  }

  /// What the receiving thread of a dump looks at to stop: the headers alone, the same end
  /// `decodeDumpDatagram` finds.
  @Test func aDatagramEndsTheDumpWhenItHoldsDoneOrError() {
    let socket = message(type: 20, payload: [UInt8](repeating: 0, count: 72))  // SOCK_DIAG_BY_FAMILY
    let done = message(type: 3, payload: [0, 0, 0, 0])  // NLMSG_DONE, status 0
    let error = message(type: 2, payload: [0xfe, 0xff, 0xff, 0xff])  // NLMSG_ERROR, -ENOENT
    let noop = message(type: 1, payload: [])  // NLMSG_NOOP
    for (datagram, ends) in [
      (socket + socket, false), (socket + done, true), (error, true), (noop + socket, false), ([], false),
    ] {
      let byHeaders = datagram.withUnsafeBytes { datagramEndsDump($0) }
      let byDecoder = datagram.withUnsafeBytes { decodeDumpDatagram($0, query: .unix) { _ in }.finished }
      #expect(byHeaders == ends)
      #expect(byDecoder == ends)
    }
    // A message cut short after a whole one: the whole one's type still counts.
    #expect((done + Array(socket.prefix(20))).withUnsafeBytes { datagramEndsDump($0) })
  }

  @Test func messagesBeforeAFramingErrorAreDelivered() throws {
    let good = message(type: 3, payload: [0, 0, 0, 0])
    var bad = message(type: 3, payload: [0, 0, 0, 0])
    bad[0] = 8  // nlmsg_len < 16
    let datagram = good + good + bad
    var seen = 0
    #expect(throws: SockDiagError.malformed(what: "nlmsghdr", detail: "nlmsg_len 8 < 16")) {
      try datagram.withUnsafeBytes { buffer in
        try forEachNetlinkMessage(in: buffer) { header, payload in
          #expect(header.type == 3 && header.portID == 99 && payload.count == 4)
          seen += 1
        }
      }
    }
    #expect(seen == 2)
  }

  @Test func lastMessageMayLackPadding() throws {
    let datagram = message(type: 1, payload: []) + Array(message(type: 1, payload: [7]).prefix(17))
    var payloads: [[UInt8]] = []
    try datagram.withUnsafeBytes { buffer in
      try forEachNetlinkMessage(in: buffer) { _, payload in payloads.append(Array(payload)) }
    }
    #expect(payloads == [[], [7]])
  }

  @Test func dumpStatusKeepsRecordsAndFirstError() throws {
    let unixOK: [UInt8] = [1, 1, 7, 0, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    let unixShort: [UInt8] = [1, 1, 7, 0]
    let datagram =
      message(type: 20, payload: unixOK) + message(type: 20, payload: unixShort)
      + message(type: 20, flags: 0x12, payload: unixOK) + message(type: 3, payload: [0, 0, 0, 0])
    var records: [SocketRecord] = []
    let status = datagram.withUnsafeBytes { decodeDumpDatagram($0, query: .unix, into: &records) }
    #expect(records.map(\.inode) == [42, 42])
    #expect(status.messageCount == 3)
    #expect(status.error == .truncated(what: "unix_diag_msg", need: 16, have: 4))
    #expect(status.interrupted)
    #expect(status.finished && status.errno == 0)
  }

  @Test func errorMessageEndsTheDump() {
    let datagram = message(
      type: 2, payload: [0xea, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 16))
    var records: [SocketRecord] = []
    let status = datagram.withUnsafeBytes {
      decodeDumpDatagram($0, query: .netlink, into: &records)
    }
    #expect(status.finished && status.errno == 22)  // EINVAL, e.g. a bad bytecode jump
    #expect(records.isEmpty)
  }

  @Test func vsockMessage() throws {
    var payload: [UInt8] = [40, 1, 10, 3]
    for value: UInt32 in [2, 1024, 3, 5000, 777, 0x1234, 1] { payload.appendHost(value) }
    let socket = try decodePayload(payload, query: .vsock)
    #expect(
      socket
        == .vsock(
          VsockSocket(
            type: 1, state: 10, shutdown: 3, sourceCID: 2, sourcePort: 1024, destinationCID: 3,
            destinationPort: 5000, inode: 777, cookie: 0x1_0000_1234)))
    #expect(throws: SockDiagError.truncated(what: "vsock_diag_msg", need: 32, have: 31)) {
      _ = try decodePayload(Array(payload.prefix(31)), query: .vsock)
    }
  }

  @Test func recordFileTags() throws {
    var seen: Set<UInt8> = []
    for tag in UInt8(0)...18 {
      let query = try #require(RecordFile.query(forTag: tag))
      #expect(RecordFile.tag(for: query) == tag)
      seen.insert(tag)
    }
    #expect(seen.count == 19)
    #expect(RecordFile.tag(for: .inet(family: 2, proto: .mptcp)) == 9)
    #expect(RecordFile.tag(for: .vsock) == 13)
    #expect(RecordFile.tag(for: .inet(family: 0, proto: .tcp)) == 18)
    #expect(RecordFile.tag(for: .inet(family: 0, proto: .udp)) == RecordFile.unrepresentableTag)
    #expect(RecordFile.query(forTag: 19) == nil)
    #expect(RecordFile.magic == Array("FSRECv1\n".utf8))
  }

  @Test func recordFileErrors() {
    let chunk = RecordFile.encodeChunk(query: .unix, datagram: [1, 2, 3])
    #expect(chunk == [4, 3, 0, 0, 0, 1, 2, 3])
    #expect(throws: SockDiagError.malformed(what: "record file", detail: "missing FSRECv1 magic")) {
      try Array("FSRECv2\n".utf8).withUnsafeBytes {
        try RecordFile.forEachChunk(in: $0) { _, _ in }
      }
    }
    #expect(throws: SockDiagError.truncated(what: "record chunk", need: 3, have: 2)) {
      try (RecordFile.magic + chunk.dropLast()).withUnsafeBytes {
        try RecordFile.forEachChunk(in: $0) { _, _ in }
      }
    }
    #expect(
      throws: SockDiagError.malformed(
        what: "record chunk", detail: "unknown query tag 200 at offset 8")
    ) {
      try (RecordFile.magic + [200, 0, 0, 0, 0]).withUnsafeBytes {
        try RecordFile.forEachChunk(in: $0) { _, _ in }
      }
    }
  }

  @Test func errorDescriptions() {
    #expect(
      SockDiagError.truncated(what: "inet_diag_msg", need: 72, have: 40).description
        == "truncated inet_diag_msg: need 72 bytes, have 40")
    #expect(
      SockDiagError.malformed(what: "nlattr", detail: "x").description == "malformed nlattr: x")
  }
}
