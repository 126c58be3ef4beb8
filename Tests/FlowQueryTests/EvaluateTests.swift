import FlowModel
import Testing

@testable import FlowQuery

@Suite("Query evaluation")
struct EvaluateTests {
  let context = QueryContext(processes: Flows.processes)

  func matches(_ text: String, _ flow: Flow) throws -> Bool {
    try parse(text).matches(flow, context)
  }

  @Test func socketFieldsCompareByType() throws {
    let flow = Flows.tcp((Flows.loopback, 40000), (0x0a01_0203, 443))
    let yes = [
      "state == established", "state == ESTAB", "state in connected", "dport == 443", "sport > 1024",
      "port == 443", "port == 40000", "dst in 10.0.0.0/8", "dst == 10.1.2.3:443", "src in 127.0.0.0/8",
      "src == :40000", "rtt > 1ms", "rtt_us == 1500", "rtt < 2ms", "bytes_in >= 4KiB", "bytes_in == 4096",
      "uid == 33", "uid == www-data", "proto == tcp", "family == inet", "type == stream",
      "idle_time < 1s", "last_recv == 20ms", "not stateless", "owned", "dport in (22, 400..500)",
      "dport != 22", "inode == 1000", "netns == 4026531840",
    ]
    for text in yes { #expect(try matches(text, flow), "\(text)") }
    let no = [
      "state == listen", "dport == 80", "port == 22", "dst in 192.168.0.0/16", "src in ::1",
      "rtt > 2ms", "bytes_in > 4KiB", "proto == udp", "family == inet6", "stateless", "not owned",
      "dport in 1..100", "mark == 0", "cgroup_id == 0", "congestion == cubic",
    ]
    for text in no { #expect(try !matches(text, flow), "\(text)") }
  }

  @Test func ownerFieldsAreTrueWhenAnyOwnerMatches() throws {
    var flow = Flows.tcp((Flows.loopback, 1), (Flows.loopback, 2))
    flow.owners = [FlowOwner(pid: 200, fd: 3), FlowOwner(pid: 100, fd: 9)]
    for text in [
      "pid == 100", "pid == 200", "command == nginx", "command =~ '^cu'", "fd == 9", "fd == 3",
      "user == 33", "fd_pct >= 90", "fd-pressure", "command contains gin",
    ] {
      #expect(try matches(text, flow), "\(text)")
    }
    for text in ["pid == 300", "command == ngin", "fd == 7", "user == root", "fd_count > 100"] {
      #expect(try !matches(text, flow), "\(text)")
    }
    // With one process as the owner (proc's and check's scope), only its descriptor counts.
    let query = try parse("fd == 3 and command == nginx")
    #expect(!query.matches(flow, owner: 100, context))
    #expect(!query.matches(flow, owner: 200, context))
    #expect(try parse("fd == 9 and command == nginx").matches(flow, owner: 100, context))
  }

  @Test func missingValuesMakeComparisonsFalseAndNotEqualTrue() throws {
    var packet = Flow(
      proto: .packet, family: .packet, state: 7, socketType: 3,
      local: .packet(interfaceIndex: 1, ethertype: 3), remote: .none, inode: 5, netns: 1)
    packet.owners = []
    for text in [
      "state == close", "state_code == 7", "rtt > 0us", "dport == 0", "port == 0", "bytes_in >= 0",
      "owned", "uid == 0", "local.path =~ ''",
    ] {
      #expect(try !matches(text, packet), "\(text)")
    }
    for text in ["stateless", "not owned", "dport != 1", "not rtt > 1ms", "state != listen"] {
      #expect(try matches(text, packet), "\(text)")
    }
  }

  @Test func anIPv4PrefixMatchesAMappedIPv6AddressAsTheKernelDoes() throws {
    var flow = Flows.tcp((0, 1), (0, 2))
    flow.family = .inet6
    flow.remote = .ip(.v6(high: 0, low: 0xffff_0a00_0001), port: 443)
    #expect(try matches("dst in 10.0.0.0/8", flow))
    #expect(try matches("dst == ::ffff:10.0.0.1", flow))
    #expect(try !matches("dst in 11.0.0.0/8", flow))
  }

  @Test func unixPathsAndAbstractNamesAreText() throws {
    var flow = Flow(
      proto: .unix, family: .unix, state: 10, socketType: 1, local: .unixPath(Array("/run/app.sock".utf8)),
      remote: .none, inode: 9, netns: 1)
    flow.owners = [FlowOwner(pid: 100, fd: 4)]
    #expect(try matches("local.path == /run/app.sock", flow))
    #expect(try matches("local.path =~ '\\.sock$' and state == listen", flow))
    #expect(try !matches("local.abstract =~ ''", flow))
    flow.local = .unixAbstract([0xff, 0x41])
    #expect(try matches("local.abstract contains A", flow))
  }

  @Test func processScopeTestsProcessFieldsOnTheProcessAndFlowFieldsOnItsFlows() throws {
    let nginx = Flows.processes[100]!
    let curl = Flows.processes[200]!
    let flows = [Flows.tcp((Flows.loopback, 80), (Flows.loopback, 5000), state: .closeWait)]
    #expect(try parse("fd_pct > 80").matches(process: nginx, flows: [], context))
    #expect(try !parse("fd_pct > 80").matches(process: curl, flows: [], context))
    #expect(try parse("state == close-wait and command == nginx").matches(process: nginx, flows: flows, context))
    #expect(try !parse("state == close-wait").matches(process: curl, flows: flows, context))
    #expect(try parse("peer-closed").matches(process: nginx, flows: flows, context))
  }

  @Test func healthFlagsFollowTheThresholds() throws {
    var flow = Flows.tcp((Flows.loopback, 80), (Flows.loopback, 5000))
    flow.tcp?.lastDataSentMs = 400_000
    flow.tcp?.lastDataReceivedMs = 400_000
    #expect(try parse("idle").matches(flow, context))
    var strict = context
    strict.thresholds.idleMs = 500_000
    #expect(try !parse("flags has idle").matches(flow, strict))
  }
}
