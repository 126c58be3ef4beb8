import FlowInspector
import FlowModel
import FlowQuery
import Foundation
import NetlinkTransport
import SockDiag
import Testing

#if canImport(Glibc)
  import Glibc
#endif

// The kernel applies `InspectOptions.kernelFilter` (INET_DIAG_REQ_BYTECODE): real loopback
// sockets of this process, whole-host dumps, and assertions about our own sockets' inodes only
// (other tests open sockets in parallel).

/// A TCP socket bound to an IPv4 address (host-order integer) on `port` (0: ephemeral).
private func ipv4TCPSocket(boundTo address: UInt32, port: UInt16 = 0) throws -> OwnedFD {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
  guard fd >= 0 else { throw SocketFailure("socket") }
  let owned = OwnedFD(fd)
  var one: Int32 = 1
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
  var sin = ipv4SocketAddress(address, port: port)
  let result = withUnsafePointer(to: &sin) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  guard result == 0 else { throw SocketFailure("bind") }
  return owned
}

private func ipv4SocketAddress(_ address: UInt32, port: UInt16) -> sockaddr_in {
  var sin = sockaddr_in()
  sin.sin_family = sa_family_t(AF_INET)
  sin.sin_port = port.bigEndian
  sin.sin_addr.s_addr = address.bigEndian
  return sin
}

/// A listener on `listenAddress`, a client bound to `clientAddress` connected to it, and the
/// accepted end.
private struct IPv4Connection {
  let listener: OwnedFD
  let client: OwnedFD
  let server: OwnedFD
  var port: UInt16 { listener.localPort }
  var all: [OwnedFD] { [listener, client, server] }

  init(listenOn listenAddress: UInt32, clientFrom clientAddress: UInt32) throws {
    listener = try ipv4TCPSocket(boundTo: listenAddress)
    guard listen(listener.fd, 4) == 0 else { throw SocketFailure("listen") }
    let client = try ipv4TCPSocket(boundTo: clientAddress)
    self.client = client
    var sin = ipv4SocketAddress(listenAddress, port: listener.localPort)
    let result = withUnsafePointer(to: &sin) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(client.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard result == 0 else { throw SocketFailure("connect") }
    let accepted = accept(listener.fd, nil, nil)
    guard accepted >= 0 else { throw SocketFailure("accept") }
    server = OwnedFD(accepted)
  }
}

@Suite(.serialized)
struct KernelFilterTests {
  /// a: 127.0.0.1 → 127.0.0.1; b: 127.0.0.3 → 127.0.0.2; c: [::1] → [::1].
  private let a: IPv4Connection
  private let b: IPv4Connection
  private let c: TCPConnection
  private var mine: [OwnedFD] { a.all + b.all + [c.listener, c.client, c.server] }

  init() throws {
    a = try IPv4Connection(listenOn: 0x7f00_0001, clientFrom: 0x7f00_0001)
    b = try IPv4Connection(listenOn: 0x7f00_0002, clientFrom: 0x7f00_0003)
    c = try TCPConnection(.v6)
    // The assertions below name sockets by port: the ephemeral ports must not collide.
    let ports = mine.map(\.localPort)
    for listening in [a.port, b.port, c.listener.localPort] {
      // Only the listener and its accepted end hold a listening port locally.
      try #require(ports.filter { $0 == listening }.count == 2)
    }
  }

  /// The inodes among `mine` that a whole-host TCP snapshot with `filter` holds.
  private func found(_ filter: InetFilterProgram?) throws -> Set<UInt64> {
    var options = InspectOptions(protocols: [.tcp])
    options.pids = nil
    options.setInetFilter(filter)
    let snapshot = try FlowInspector().snapshot(options)
    #expect(!snapshot.warnings.contains { if case .dumpFailed = $0 { true } else { false } })
    let inodes = Set(snapshot.flows.map(\.inode))
    return Set(mine.map(\.inode)).intersection(inodes)
  }

  /// Queries with `or` and `not` planned into the kernel's state mask and bytecode: the kernel
  /// drops sockets before they are decoded, and what the query then keeps is what it keeps
  /// when everything is dumped.
  @Test func queriesWithOrAndNotFilterInTheKernelAndKeepTheSameFlows() throws {
    let queries = [
      "proto == tcp and (dport == \(a.port) or sport == \(b.port))",
      "proto == tcp and not (src == 127.0.0.1 or dst in ::1) and sport == \(b.port)",
      "proto == tcp and (sport in \(a.port)..\(a.port) or not dst in 127.0.0.0/8) and not state == listen",
      "proto == tcp and state == listen and (src == 127.0.0.2:\(b.port) or src in [::1]:\(c.listener.localPort))",
      "proto == tcp and not (dport != \(b.port) and sport != \(b.port))",
    ]
    for text in queries {
      let query = try QueryParser.parse(text)
      var options = InspectOptions(plan: KernelPlan(query))
      options.pids = nil
      #expect(options.requestFilters[.tcp]?.inet?.compile() != nil, "\(text): nothing for the kernel")
      let filtered = try FlowInspector().snapshot(options)
      #expect(!filtered.warnings.contains { if case .dumpFailed = $0 { true } else { false } })
      var everything = options
      everything.requestFilters = [:]
      var all = try FlowInspector().snapshot(everything)
      // The kernel dropped sockets of ours (the query keeps some, not all).
      let dumped = Set(filtered.flows.map(\.inode)).intersection(inodes(mine))
      #expect(dumped.count < mine.count, "\(text): the kernel filtered nothing")
      var kept = filtered
      query.filter(&kept, thresholds: HealthThresholds())
      query.filter(&all, thresholds: HealthThresholds())
      let expected = Set(all.flows.map(\.inode)).intersection(inodes(mine))
      #expect(!expected.isEmpty, "\(text) matches none of our sockets")
      #expect(expected.count < mine.count, "\(text) matches all of our sockets")
      #expect(Set(kept.flows.map(\.inode)).intersection(inodes(mine)) == expected, "\(text)")
    }
  }

  private func inodes(_ sockets: [OwnedFD]) -> Set<UInt64> { Set(sockets.map(\.inode)) }

  @Test func withoutFilterEverySocketIsThere() throws {
    #expect(try found(nil) == inodes(mine))
    // An empty program sends no bytecode at all.
    #expect(try found(InetFilterProgram()) == inodes(mine))
  }

  @Test func onePortMatchesEitherEnd() throws {
    var filter = InetFilterProgram()
    filter.ports = [a.port]
    // listener and accepted end by source port, the client by destination port.
    #expect(try found(filter) == inodes(a.all))
  }

  @Test func onePortWithRangeOpsMatchesTheSame() throws {
    var filter = InetFilterProgram()
    filter.ports = [a.port]
    filter.usesEqualityOps = false
    #expect(try found(filter) == inodes(a.all))
  }

  @Test func localPrefixAndPort() throws {
    var filter = InetFilterProgram()
    filter.local = [.ipv4(0x7f00_0000, prefixLength: 8, port: a.port)]
    #expect(try found(filter) == inodes([a.listener, a.server]))
  }

  @Test func localAddressOnly() throws {
    var filter = InetFilterProgram()
    filter.local = [.ipv4(0x7f00_0002)]
    // b's client is bound to 127.0.0.3.
    #expect(try found(filter) == inodes([b.listener, b.server]))
    filter.local = [.ipv4(0x7f00_0002, prefixLength: 31)]
    #expect(try found(filter) == inodes(b.all))
  }

  @Test func remoteIPv6AddressAndPort() throws {
    var filter = InetFilterProgram()
    filter.remote = [.ipv6(high: 0, low: 1, port: c.listener.localPort)]
    #expect(try found(filter) == inodes([c.client]))
  }

  @Test func remoteIPv4Address() throws {
    var filter = InetFilterProgram()
    filter.remote = [.ipv4(0x7f00_0003)]
    #expect(try found(filter) == inodes([b.server]))
  }

  @Test func localIPv6MatchesNoIPv4Socket() throws {
    var filter = InetFilterProgram()
    filter.local = [.ipv6(high: 0, low: 1)]
    #expect(try found(filter) == inodes([c.listener, c.client, c.server]))
  }

  @Test func alternativesAreOredAndListsAnded() throws {
    var filter = InetFilterProgram()
    filter.ports = [a.port, b.port]
    filter.local = [.ipv4(0x7f00_0002), .ipv6(high: 0, low: 1)]
    // b's client has port b.port but local 127.0.0.3; c matches local but no port.
    #expect(try found(filter) == inodes([b.listener, b.server]))
    filter.remote = [.ipv4(0x7f00_0003), .ipv4(0x7f00_0001)]
    #expect(try found(filter) == inodes([b.server]))
  }

  @Test func boundInterface() throws {
    let bound = try ipv4TCPSocket(boundTo: 0x7f00_0001)
    let name = Array("lo".utf8CString)
    let result = setsockopt(
      bound.fd, SOL_SOCKET, SO_BINDTODEVICE, name, socklen_t(name.count))
    try #require(result == 0, "SO_BINDTODEVICE: \(String(cString: strerror(errno)))")
    #expect(listen(bound.fd, 1) == 0)
    let loopbackIndex = if_nametoindex("lo")
    try #require(loopbackIndex > 0)

    var filter = InetFilterProgram()
    filter.interfaces = [loopbackIndex]
    var options = InspectOptions(protocols: [.tcp])
    options.pids = nil
    options.setInetFilter(filter)
    let snapshot = try FlowInspector().snapshot(options)
    let got = Set(snapshot.flows.map(\.inode))
    #expect(got.contains(bound.inode))
    #expect(got.isDisjoint(with: inodes(mine)))
    #expect(snapshot.flows.allSatisfy { $0.interfaceIndex == loopbackIndex })

    filter.interfaces = [0]  // not bound to a device
    #expect(try found(filter) == inodes(mine))
  }

  // MARK: The kernel, not userspace, did the filtering

  /// Records of one TCP-over-IPv4 dump straight from the kernel.
  private func dump(bytecode: [UInt8]?) throws -> (DumpResult, [InetSocket]) {
    let source = try KernelSource()
    var sockets: [InetSocket] = []
    let result = source.dump(
      .inet(family: AddressFamily.inet, proto: .tcp), states: 0xffff_ffff, bytecode: bytecode,
      restart: { sockets.removeAll() },
      record: { if case .inet(let socket) = $0 { sockets.append(socket) } })
    return (result, sockets)
  }

  @Test func kernelDeliversOnlyMatchingRecords() throws {
    var filter = InetFilterProgram()
    filter.ports = [a.port]
    let bytecode = try #require(filter.compile())
    let (filtered, kept) = try dump(bytecode: bytecode)
    #expect(filtered.status == .complete)
    #expect(filtered.records == kept.count)
    // Every record the kernel sent matches: nothing was left for userspace to drop.
    #expect(kept.allSatisfy { $0.sourcePort == a.port || $0.destinationPort == a.port })
    // Time-wait records (inode 0) left by other tests may share the ephemeral port.
    let open = kept.filter { $0.inode != 0 }
    #expect(Set(open.map { UInt64($0.inode) }) == inodes(a.all))

    let (unfiltered, all) = try dump(bytecode: nil)
    #expect(unfiltered.status == .complete)
    #expect(Set(all.map { UInt64($0.inode) }).isSuperset(of: inodes(a.all + b.all)))
    #expect(unfiltered.records > filtered.records)
  }

  @Test func kernelRefusesWhatTheAuditModelRefuses() throws {
    // "yes" jumping past the second alternative: the audit only accepts `no` targets on the
    // walk along `yes` offsets (valid_cc), so this is EINVAL although it would filter right.
    let skipping: [UInt8] = [
      11, 16, 8, 0, 0, 0, 80, 0,  // S_EQ 80; yes → 16 (accept), no → 8
      12, 8, 12, 0, 0, 0, 80, 0,  // D_EQ 80; no → 20 (reject)
    ]
    #expect(!InetDiagBytecode.audit(skipping))
    let (refused, _) = try dump(bytecode: skipping)
    #expect(refused.status == .failed(String(cString: strerror(EINVAL))))

    // The same filter laid out as compiled passes both.
    var filter = InetFilterProgram()
    filter.ports = [80]
    let compiled = try #require(filter.compile())
    #expect(InetDiagBytecode.audit(compiled))
    #expect(try dump(bytecode: compiled).0.status == .complete)
  }

  // MARK: Which dumps get the bytecode, and the retry without it

  /// Fails every dump that carries bytecode after handing out one record, as a kernel that
  /// refuses the program would (minus the record); remembers what it was asked.
  final class RefusingSource: SockDiagSource {
    var calls: [(SockDiagQuery, [UInt8]?)] = []
    /// Refuses TCP of both families in one dump, as a kernel without TCPDIAG_GETSOCK would.
    var refusesOneWalk = false

    func dump(
      _ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?,
      restart: () -> Void, record: (SocketRecord) -> Void
    ) -> DumpResult {
      calls.append((query, bytecode))
      guard case .inet(let family, let proto) = query else {
        return DumpResult(status: .complete)
      }
      if refusesOneWalk, family == AddressFamily.unspecified {
        return DumpResult(status: .failed("Invalid argument"))
      }
      record(.inet(InetSocket(family: family, proto: proto, inode: bytecode == nil ? 2 : 1)))
      return DumpResult(status: bytecode == nil ? .complete : .failed("Invalid argument"))
    }
  }

  @Test func refusedBytecodeIsRetriedWithoutItAndOnlyInetGetsIt() throws {
    let source = RefusingSource()
    var options = InspectOptions(protocols: [.tcp, .udp, .unix, .netlink, .packet])
    options.pids = nil
    options.procRoot = "/nonexistent"
    var filter = InetFilterProgram()
    filter.ports = [443]
    options.setInetFilter(filter)
    let snapshot = FlowInspector(source: source).snapshot(options)

    let compiled = filter.compile()
    let asked = source.calls.map {
      "\(displayName(of: $0.0))\($0.1 == compiled ? "+bc" : $0.1 == nil ? "" : "?")"
    }
    #expect(
      asked == [
        "tcp+bc", "tcp", "udp+bc", "udp", "udp6+bc", "udp6", "unix", "packet", "netlink",
      ])
    #expect(!snapshot.warnings.contains { if case .dumpFailed = $0 { true } else { false } })
    // Only the retry's records are kept.
    #expect(snapshot.flows.map(\.inode) == [2, 2, 2])
  }

  @Test func tcpIsAskedPerFamilyWhenTheOneWalkDumpIsRefused() throws {
    let source = RefusingSource()
    source.refusesOneWalk = true
    var options = InspectOptions(protocols: [.tcp])
    options.pids = nil
    options.procRoot = "/nonexistent"
    let snapshot = FlowInspector(source: source).snapshot(options)
    #expect(source.calls.map { displayName(of: $0.0) } == ["tcp", "tcp", "tcp6"])
    #expect(
      source.calls.map(\.0) == [
        .inet(family: 0, proto: .tcp), .inet(family: 2, proto: .tcp), .inet(family: 10, proto: .tcp),
      ])
    #expect(!snapshot.warnings.contains { if case .dumpFailed = $0 { true } else { false } })
    #expect(snapshot.flows.map(\.family) == [.inet, .inet6])
  }

  @Test func noFilterSendsNoBytecode() throws {
    let source = RefusingSource()
    var options = InspectOptions(protocols: [.tcp])
    options.procRoot = "/nonexistent"
    options.pids = nil
    _ = FlowInspector(source: source).snapshot(options)
    #expect(source.calls.map { $0.1 == nil } == [true])
  }
}
