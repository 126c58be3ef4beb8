import FlowInspector
import FlowModel
import FlowRecording
import Foundation
import NetlinkTransport
import SockDiag
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite(.serialized)
struct RecordReplayTests {
  let me = getpid()

  @Test func aRecordedRunReplaysToTheSameFlows() throws {
    let connection = try TCPConnection(.v4)
    try sendAll(connection.client.fd, count: 300)
    try receiveExactly(connection.server.fd, count: 300)
    let path = NSTemporaryDirectory() + "flowscope-record-\(me).bin"
    defer { unlink(path) }

    // The whole host: other tests' sockets may come and go between the two scans, but the
    // kernel's side of the replay must be the recorded one, byte for byte.
    let options = InspectOptions(protocols: [.tcp, .udp, .unix])
    let live = try FlowInspector(recordingTo: path).snapshot(options)
    let replayed = FlowInspector(source: try ReplaySource(path: path)).snapshot(options)

    func withoutOwners(_ flows: [Flow]) -> [Flow] {
      flows.map { flow in
        var flow = flow
        flow.owners = []
        return flow
      }
    }
    #expect(live.flows.count >= 3)
    #expect(withoutOwners(replayed.flows) == withoutOwners(live.flows))
    let client = replayed.flows.first { $0.inode == connection.client.inode }
    #expect(client?.owners == [FlowOwner(pid: me, fd: connection.client.fd)])
    #expect(client?.counters.bytesOut == 301)
  }

  @Test func oneFamilyReplaysFromARecordingOfBoth() throws {
    let v4 = try TCPConnection(.v4)
    let v6 = try TCPConnection(.v6)
    let path = NSTemporaryDirectory() + "flowscope-record-families-\(me).bin"
    defer { unlink(path) }
    var options = InspectOptions(protocols: [.tcp])
    options.pids = [me]
    // Both families: one TCP dump, recorded under one tag.
    let live = try FlowInspector(recordingTo: path).snapshot(options)
    #expect(live.flows.contains { $0.inode == v4.client.inode })
    #expect(live.flows.contains { $0.inode == v6.client.inode })
    let recording = try ReplaySource(path: path)
    for (ipv4, ipv6) in [(true, false), (false, true)] {
      options.ipv4 = ipv4
      options.ipv6 = ipv6
      let replayed = FlowInspector(source: recording).snapshot(options)
      #expect(!replayed.warnings.contains { if case .dumpFailed = $0 { true } else { false } })
      #expect(replayed.flows.allSatisfy { $0.family == (ipv4 ? .inet : .inet6) })
      #expect(replayed.flows.contains { $0.inode == (ipv4 ? v4 : v6).client.inode })
      #expect(!replayed.flows.contains { $0.inode == (ipv4 ? v6 : v4).client.inode })
    }
  }

  @Test func unsupportedFamilyIsAWarningAndTheRestIsListed() throws {
    let listener = try loopbackSocket(.v4, type: Int32(SOCK_STREAM.rawValue))
    #expect(listen(listener.fd, 4) == 0)
    var options = InspectOptions(protocols: [.tcp, .raw, .sctp, .vsock])
    options.pids = [me]
    let current = try FlowInspector().snapshot(options)
    #expect(current.flows.contains { $0.inode == listener.inode })
    // This kernel has no raw_diag, sctp_diag or vsock_diag (FACTS.md): each is said, none is fatal.
    for family in ["raw", "raw6", "sctp", "sctp6", "vsock"] {
      #expect(current.warnings.contains(.familyUnsupported(family)), "\(family)")
    }
    #expect(!current.warnings.contains { if case .dumpFailed = $0 { true } else { false } })
  }

  @Test func replayOfAnErrorReplyReportsTheFamilyUnsupported() throws {
    // An NLMSG_ERROR carrying -ENOENT, as this kernel answers a RAW dump.
    var datagram: [UInt8] = []
    func le32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { datagram += $0 } }
    func le16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { datagram += $0 } }
    le32(36)  // nlmsg_len: header 16 + error 4 + the echoed request header 16
    le16(2)  // nlmsg_type: NLMSG_ERROR
    le16(0x100)  // nlmsg_flags: NLM_F_CAPPED
    le32(2)  // nlmsg_seq
    le32(0)  // nlmsg_pid
    le32(UInt32(bitPattern: -ENOENT))  // error
    datagram += [UInt8](repeating: 0, count: 16)  // the request's header, echoed
    let query = SockDiagQuery.inet(family: 2, proto: .raw)
    let file = RecordFile.magic + RecordFile.encodeChunk(query: query, datagram: datagram)
    let source = try ReplaySource(bytes: file)
    let result = source.dump(query, states: ~0, bytecode: nil, restart: {}, record: { _ in })
    #expect(result.status == .unsupported(errno: ENOENT))
  }
}

/// `flowscope record`'s frames: what a snapshot records replays to the same snapshot, so every
/// listing rendered from it prints the same.
@Suite(.serialized)
struct RecordingFrameTests {
  @Test func aLiveSnapshotRecordedAndReadBackIsTheSameSnapshot() throws {
    let connection = try TCPConnection(.v4)
    let udp = try loopbackSocket(.v6, type: Int32(SOCK_DGRAM.rawValue))
    try sendAll(connection.client.fd, count: 500)
    try receiveExactly(connection.server.fd, count: 500)

    let inspector = try FlowInspector()
    inspector.capturesDatagrams = true
    var options = InspectOptions()
    options.readsKernelCounters = true
    let live = inspector.snapshot(options)
    let frame = RecordedFrame(live, datagrams: inspector.takeCapturedDatagrams())
    let file =
      RecordingWriter.header(RecordingHeader(host: live.host, kernel: "test", writer: "test"))
      + RecordingWriter.frame(frame)
    let replayed = Snapshot(try #require(try RecordingReader.read(file).frames.first))

    #expect(replayed.time == live.time)
    #expect(replayed.host == live.host)
    #expect(replayed.flows.count == live.flows.count)
    #expect(replayed.flows == live.flows)
    #expect(replayed.processes == live.processes)
    #expect(replayed.namespaces == live.namespaces)
    #expect(replayed.warnings == live.warnings)
    #expect(replayed.namespaceCounters == live.namespaceCounters)
    let client = try #require(replayed.flows.first { $0.inode == connection.client.inode })
    #expect(client.owners == [FlowOwner(pid: getpid(), fd: connection.client.fd)])
    #expect(client.counters.bytesOut == 501)
    #expect(replayed.flows.contains { $0.inode == udp.inode && $0.proto == .udp })
  }

  /// ss -D writes the replies as received, message after message: the same bytes as the
  /// datagrams of a dump laid end to end. Read as such, UDP and UNIX replies (which ss itself
  /// will not write: "tcpdiag dump requested and no tcp in filter") decode as the live dump did.
  @Test func rawDumpsOfEveryFamilyReadAsTheLiveDump() throws {
    let udp = try loopbackSocket(.v4, type: Int32(SOCK_DGRAM.rawValue))
    var pair: [Int32] = [0, 0]
    #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
    defer {
      close(pair[0])
      close(pair[1])
    }
    for (proto, inet) in [(TransportProtocol.udp, InetProtocol.udp), (.unix, .tcp), (.tcp, .tcp)] {
      let inspector = try FlowInspector()
      inspector.capturesDatagrams = true
      var options = InspectOptions(protocols: [proto])
      options.namespaces = .own
      let live = inspector.snapshot(options)
      let stream = inspector.takeCapturedDatagrams().flatMap(\.bytes)
      let frame = try stream.withUnsafeBytes { raw throws(RecordingError) in
        try RawDump.frame(raw, inetProtocol: inet, time: live.time, host: live.host)
      }
      let replayed = Snapshot(frame)
      func identity(_ flows: [Flow]) -> [String] {
        flows.map { "\($0.proto) \($0.family) \($0.state) \($0.local) \($0.remote) \($0.inode)" }.sorted()
      }
      #expect(!live.flows.isEmpty)
      #expect(identity(replayed.flows) == identity(live.flows), "\(proto)")
      #expect(replayed.flows.allSatisfy { $0.owners.isEmpty })
      #expect(replayed.warnings.contains { $0.description.contains("records no owners") })
    }
  }
}
