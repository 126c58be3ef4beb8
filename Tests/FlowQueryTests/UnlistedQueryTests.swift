import FlowModel
import Testing

@testable import FlowQuery

/// Rows found only through a descriptor (no dump returned the socket) are selected by
/// protocol, family and type like any other; their unknown values match nothing; the
/// `socket-leak` flag is a word of the language because it is a `HealthFlag`.
@Suite("Unlisted sockets in queries")
struct UnlistedQueryTests {
  static func unlisted(_ proto: TransportProtocol, family: AddressFamily, type: UInt8, state: UInt8) -> Flow {
    var flow = Flow(
      proto: proto, family: family, state: state, socketType: type, local: .none, remote: .none,
      inode: 4242, netns: 1)
    flow.listedByKernel = false
    flow.owners = [FlowOwner(pid: 300, fd: 5)]
    return flow
  }

  static let leaker: OwningProcess = {
    var process = OwningProcess(pid: 300, command: Array("leaky-client".utf8))
    process.descriptorCount = 55
    process.fdLimitSoft = 1024
    process.unconnectedSockets = UnconnectedSockets(tcp: 50)
    return process
  }()

  let context = QueryContext(processes: [300: UnlistedQueryTests.leaker])

  func matches(_ text: String, _ flow: Flow) throws -> Bool {
    try QueryParser.parse(text).matches(flow, context)
  }

  @Test func unlistedTCPIsSelectedByProtocolFamilyAndItsKnownState() throws {
    let failed = Self.unlisted(.tcp, family: .inet, type: 1, state: SocketState.close.rawValue)
    for text in [
      "proto == tcp", "family == inet", "type == stream", "state == close", "state_code == 7",
      "pid == 300", "fd == 5", "owned", "not stateless", "socket-leak", "flags == socket-leak",
    ] {
      #expect(try matches(text, failed), "\(text)")
    }
    for text in [
      "proto == udp", "family == inet6", "state == listen", "state in connected", "sport == 0",
      "port == 0", "src in 0.0.0.0/0", "rtt > 0us", "recv_q == 0",
    ] {
      #expect(try !matches(text, failed), "\(text)")
    }
  }

  @Test func unknownStateMatchesNoState() throws {
    let raw = Self.unlisted(.raw, family: .inet, type: 3, state: 0)
    #expect(!raw.hasKnownState)
    for text in ["state == close", "state_code == 0", "state in connected", "state == listen"] {
      #expect(try !matches(text, raw), "\(text)")
    }
    #expect(try matches("proto == raw and type == raw", raw))
  }

  @Test func socketLeakIsAProcessFlagOfTheLanguage() throws {
    let query = try QueryParser.parse("socket-leak")
    #expect(query.readsOnlyProcesses)
    #expect(query.evaluate(process: Self.leaker, context))
    var healthy = Self.leaker
    healthy.unconnectedSockets = UnconnectedSockets(tcp: 2)
    #expect(!query.evaluate(process: healthy, context))
    #expect(try QueryParser.parse("not socket-leak").evaluate(process: healthy, context))
    var strict = context
    strict.thresholds.socketLeakCount = 51
    #expect(!query.evaluate(process: Self.leaker, strict))
  }

  @Test func aQueryThatKeepsUnconnectedSocketsLooksForUnlistedOnes() throws {
    let plan = { (text: String) in KernelPlan(try QueryParser.parse(text)) }
    let close = UInt32(1) << 7
    // `-a -P PID 'proto == tcp'`: every TCP state, CLOSE among them.
    #expect(try plan("proto == tcp").requests[.tcp]?.states ?? 0 & close != 0)
    // The default listing (connected states) has no CLOSE: no unlisted row could pass.
    #expect(try (plan("proto == tcp and state in connected").requests[.tcp]?.states ?? 0) & close == 0)
  }
}
