import FlowInspector
import FlowModel
import FlowQuery
import ProcFS
import Testing

@testable import FlowKill

func tcp(
  _ local: String, _ localPort: UInt16, _ remote: String, _ remotePort: UInt16,
  state: SocketState = .established, owners: [Int32] = [], proto: TransportProtocol = .tcp
) -> Flow {
  var flow = Flow(
    proto: proto, family: local.contains(":") ? .inet6 : .inet, state: state.rawValue, socketType: 1,
    local: .ip(parseIPAddress(local)!, port: localPort), remote: .ip(parseIPAddress(remote)!, port: remotePort),
    inode: UInt64(localPort), netns: 1)
  flow.cookie = UInt64(localPort) << 8
  flow.owners = FlowOwners(owners.enumerated().map { FlowOwner(pid: $1, fd: Int32(3 + $0)) })
  return flow
}

@Suite("kill guards")
struct GuardTests {
  @Test func sshConnectionIsReadAndMatchesEitherEnd() throws {
    let connection = try #require(SSHConnection("192.0.2.7 51234 10.0.0.1 22"))
    #expect(connection.clientPort == 51234 && connection.serverPort == 22)
    #expect(connection.carries(tcp("10.0.0.1", 22, "192.0.2.7", 51234)))
    #expect(connection.carries(tcp("192.0.2.7", 51234, "10.0.0.1", 22)))
    // A dual-stack sshd sees the IPv4 client as ::ffff:192.0.2.7.
    #expect(connection.carries(tcp("::ffff:10.0.0.1", 22, "::ffff:192.0.2.7", 51234)))
    // Another port of the same client is another connection.
    #expect(!connection.carries(tcp("10.0.0.1", 22, "192.0.2.7", 51235)))
    #expect(!connection.carries(tcp("10.0.0.1", 22, "192.0.2.7", 51234, proto: .udp)))
    #expect(SSHConnection("") == nil)
    #expect(SSHConnection("192.0.2.7 51234 10.0.0.1") == nil)
    #expect(SSHConnection("192.0.2.7 port 10.0.0.1 22") == nil)
    #expect(SSHConnection("fe80::1 5 2001:db8::2 22")?.server == parseIPAddress("2001:db8::2"))
  }

  @Test func eachGuardAndItsOrder() {
    let guards = KillGuards(
      ownPID: 100, sshServerPIDs: [50], sshConnections: [SSHConnection("192.0.2.7 51234 10.0.0.1 22")!])
    #expect(guards.guardOf(tcp("127.0.0.1", 1, "127.0.0.1", 2, owners: [100])) == .own)
    #expect(guards.guardOf(tcp("10.0.0.1", 22, "192.0.2.7", 51234, owners: [77])) == .ssh)
    #expect(guards.guardOf(tcp("10.0.0.1", 22, "192.0.2.9", 4000, owners: [50])) == .ssh)
    #expect(guards.guardOf(tcp("0.0.0.0", 8080, "0.0.0.0", 0, state: .listen, owners: [9])) == .listening)
    #expect(guards.guardOf(tcp("10.0.0.1", 8080, "192.0.2.9", 4000, owners: [9])) == nil)
    #expect(guards.guardOf(tcp("10.0.0.1", 8080, "192.0.2.9", 4000)) == nil)
    // Its own listener is its own first.
    #expect(guards.guardOf(tcp("0.0.0.0", 8080, "0.0.0.0", 0, state: .listen, owners: [100])) == .own)
    var named = guards
    named.listenNamed = true
    #expect(named.guardOf(tcp("0.0.0.0", 8080, "0.0.0.0", 0, state: .listen, owners: [9])) == nil)
  }

  @Test func theChainGivesTheSSHServersAndConnections() throws {
    let query = try QueryParser.parse("dport == 22")
    let guards = KillGuards(
      ownPID: 300,
      chain: [
        (300, Array("flowscope".utf8), nil), (299, Array("sudo".utf8), nil),
        (200, Array("bash".utf8), "192.0.2.7 51234 10.0.0.1 22"),
        (150, Array("sshd-session".utf8), nil), (1, Array("systemd".utf8), nil),
      ],
      environmentSSHConnection: "192.0.2.7 51234 10.0.0.1 22", query: query)
    #expect(guards.sshServerPIDs == [150])
    #expect(guards.sshConnections.count == 1)
    #expect(!guards.listenNamed)
  }

  @Test(arguments: [
    ("state == listen", true), ("state in (listen, established)", true), ("state == listening", true),
    ("state_code == 10", true), ("sport == 80 and state == listen", true), ("state == all", true),
    ("state != established", false), ("not state == listen", false), ("sport == 80", false),
    ("state == established", false), ("not (state == established or state != listen)", true),
  ])
  func theListenStateIsNamed(query: String, named: Bool) throws {
    #expect(try QueryParser.parse(query).namesState(SocketState.listen.rawValue) == named, "\(query)")
  }

  /// The flags count as the query they stand for: -l and --state listen name the state, -a
  /// does not.
  @Test func flagsNameTheListenStateToo() throws {
    var flags = SelectionFlags()
    flags.listening = true
    let expression = try QueryParser.parse("sport == 80")
    #expect(
      try Selection(flags: flags, expression: expression, scope: .kill, environment: QueryEnvironment()).query
        .namesState(10))
    flags = SelectionFlags()
    flags.all = true
    #expect(
      !(try Selection(flags: flags, expression: expression, scope: .kill, environment: QueryEnvironment()).query
        .namesState(10)))
    flags = SelectionFlags()
    flags.states = ["listen"]
    #expect(
      try Selection(flags: flags, expression: expression, scope: .kill, environment: QueryEnvironment()).query
        .namesState(10))
    // Without flags, kill selects connected TCP, UDP and UDP-Lite sockets, as flow does.
    let plain = try Selection(
      flags: SelectionFlags(), expression: expression, scope: .kill, environment: QueryEnvironment())
    #expect(!plain.query.namesState(10))
    #expect(plain.query.mentions([.proto]))
  }

  @Test func environValues() {
    let environ = Array("HOME=/root\0SSH_CONNECTION=192.0.2.7 51234 10.0.0.1 22\0SSH_CONNECTION_X=no\0".utf8)
    #expect(ProcParsers.environmentValue("SSH_CONNECTION", in: environ) == Array("192.0.2.7 51234 10.0.0.1 22".utf8))
    #expect(ProcParsers.environmentValue("SSH_CLIENT", in: environ) == nil)
    #expect(ProcParsers.environmentValue("HOME", in: []) == nil)
  }

  @Test func theChainOfThisProcessReachesItsParent() {
    let chain = ProcAncestry.chain(from: getpidForTests())
    #expect(chain.first?.pid == getpidForTests())
    #expect(chain.count >= 2)
  }
}
