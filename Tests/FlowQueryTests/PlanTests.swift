import FlowModel
import SockDiag
import Testing

@testable import FlowQuery

@Suite("Kernel plan")
struct PlanTests {
  @Test func protocolsFamiliesAndStatesTheQueryCannotMatchAreNotDumped() throws {
    let plan = KernelPlan(try parse("proto == tcp and family == inet6 and state in (listen, established)"))
    #expect(plan.protocols == [.tcp])
    #expect(!plan.ipv4 && plan.ipv6)
    #expect(plan.requests[.tcp]?.states == 1 << 10 | 1 << 1)
    #expect(plan.requests[.tcp]?.inet == nil)

    let unixOnly = KernelPlan(try parse("local.path =~ docker or proto == netlink"))
    #expect(unixOnly.protocols == [.unix, .netlink])

    let tcpInfo = KernelPlan(try parse("rtt > 200ms"))
    #expect(tcpInfo.protocols == [.tcp, .mptcp])

    let nothing = KernelPlan(try parse("proto == tcp and proto == udp"))
    #expect(nothing.protocols.isEmpty)
  }

  @Test func portsAddressesAndInterfacesGoIntoTheBytecodeWithOrAndNot() throws {
    let plan = KernelPlan(try parse("proto == tcp and (dport == 443 or not dst in 10.0.0.0/8) and interface == 1"))
    let filter = try #require(plan.requests[.tcp]?.inet)
    #expect(filter.description == "(dport == 443 or not dst in 10.0.0.0/8) and interface == 1")
    let code = try #require(filter.compile())
    #expect(InetDiagBytecode.audit(code))
  }

  @Test func testsTheKernelCannotRunWidenTheFilterAndNeverNarrowIt() throws {
    // Under `not`, an unknown test counts as false: `not rtt > 1ms` cannot drop anything.
    #expect(KernelPlan(try parse("proto == tcp and not (rtt > 1ms and dport == 80)")).requests[.tcp]?.inet == nil)
    #expect(KernelPlan(try parse("proto == tcp and (pid == 1 or dport == 80)")).requests[.tcp]?.inet == nil)
    #expect(
      KernelPlan(try parse("proto == tcp and pid == 1 and dport == 80")).requests[.tcp]?.inet?.description
        == "dport == 80")
    // A mark is known to the kernel as 0 where the flow shows none: only widened, never negated.
    #expect(KernelPlan(try parse("proto == tcp and mark == 5")).requests[.tcp]?.inet?.description == "mark == 5")
    #expect(KernelPlan(try parse("proto == tcp and mark != 5")).requests[.tcp]?.inet == nil)
  }

  @Test func topLevelPidsNarrowTheScan() throws {
    #expect(KernelPlan(try parse("pid == 4 and dport == 1")).pids == [4])
    #expect(KernelPlan(try parse("pid in (4, 5) and pid == 5")).pids == [5])
    #expect(KernelPlan(try parse("pid == 4 or dport == 1")).pids == nil)
  }

  @Test func theExplanationSaysWhatTheKernelDoesAndWhatIsLeft() throws {
    let query = try parse("proto == tcp and dport == 443 and rtt > 200ms")
    let text = KernelPlan(query).explanation(of: query, scope: "flows")
    #expect(text.contains("tcp (IPv4, IPv6): states all; bytecode: dport == 443 (8 bytes)"))
    #expect(text.contains("not dumped: udp"))
    #expect(text.contains("after decoding: flows are kept when the whole query holds"))
  }

  /// Property: for every generated query and flow, a flow the query keeps is one the kernel
  /// dumps (its protocol and family asked for, its state in the mask, the bytecode accepting
  /// it), so filtering in the kernel and then again here equals filtering here alone.
  @Test func kernelFilterPlusRecheckEqualsDecodingEverything() throws {
    var random = SplitMix(seed: 0x5eed)
    let flows = (0..<400).map { _ in Generated.flow(&random) }
    var checked = 0
    var droppedByKernel = 0
    for _ in 0..<3000 {
      let text = Generated.expression(&random, depth: 0)
      let query = try parse(text)
      #expect(try parse(query.description) == query, "\(text) → \(query)")
      let plan = KernelPlan(query)
      var programs: [TransportProtocol: [UInt8]] = [:]
      for (proto, request) in plan.requests {
        if let code = request.inet?.compile() {
          #expect(InetDiagBytecode.audit(code), "\(text): bytecode refused by the audit")
          programs[proto] = code
        }
      }
      let context = QueryContext(processes: Flows.processes)
      for flow in flows {
        let dumped = kernelDumps(flow, plan, programs)
        if !dumped { droppedByKernel += 1 }
        if query.matches(flow, context) {
          #expect(
            dumped,
            "\(text) matches \(flow.proto) \(flow.local) → \(flow.remote) state \(flow.state) but the kernel would drop it"
          )
          if !dumped { return }
        }
        checked += 1
      }
    }
    #expect(checked == 3000 * 400)
    #expect(droppedByKernel > checked / 10, "the plans pushed almost nothing down")
  }

  /// Property: a flow the query keeps by its protocol and state alone (`DecidedKinds`) is one
  /// it matches, listed or not; and the default listing's query is decided for every listed
  /// flow it keeps.
  @Test func flowsKeptByKindAreFlowsTheQueryMatches() throws {
    var random = SplitMix(seed: 0xdec1de)
    var flows = (0..<400).map { _ in Generated.flow(&random) }
    for index in stride(from: 0, to: flows.count, by: 7) {
      flows[index].listedByKernel = false
      flows[index].state = 0
    }
    let context = QueryContext(processes: Flows.processes)
    var decided = 0
    for _ in 0..<3000 {
      let text = Generated.expression(&random, depth: 0)
      let query = try parse(text)
      let kinds = DecidedKinds(query)
      for flow in flows where kinds.keep(flow) {
        decided += 1
        #expect(
          query.matches(flow, context), "\(text) keeps \(flow.proto) state \(flow.state) by kind but does not match it")
      }
    }
    #expect(decided > 3000 * 400 / 50, "almost nothing was decided by kind")

    let listing = try parse(
      "proto in (tcp, udp) and (state in (established, syn-sent, close-wait) or stateless)")
    let kinds = DecidedKinds(listing)
    for flow in flows where flow.listedByKernel {
      #expect(kinds.keep(flow) == listing.matches(flow, context), "\(flow.proto) state \(flow.state)")
    }
  }

  func kernelDumps(_ flow: Flow, _ plan: KernelPlan, _ programs: [TransportProtocol: [UInt8]]) -> Bool {
    guard plan.protocols.contains(flow.proto), let request = plan.requests[flow.proto] else { return false }
    if flow.family == .inet && !plan.ipv4 { return false }
    if flow.family == .inet6 && !plan.ipv6 { return false }
    if flow.proto.hasConnectionStates && request.states & (1 << UInt32(flow.state)) == 0 { return false }
    if let code = programs[flow.proto] { return InetDiagBytecode.run(code, on: entry(flow)) }
    return true
  }

  func entry(_ flow: Flow) -> InetDiagEntry {
    func parts(_ endpoint: Endpoint) -> ([UInt8], UInt16) {
      guard case .ip(let address, let port) = endpoint else { return ([], 0) }
      switch address {
      case .v4(let value): return ((0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32($0))) }, port)
      case .v6(let high, let low):
        let bytes =
          (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
          + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
        return (bytes, port)
      }
    }
    let (source, sourcePort) = parts(flow.local)
    let (destination, destinationPort) = parts(flow.remote)
    return InetDiagEntry(
      family: flow.family == .inet ? 2 : 10, sourceAddress: source, destinationAddress: destination,
      sourcePort: sourcePort, destinationPort: destinationPort, interfaceIndex: flow.interfaceIndex,
      mark: flow.mark ?? 0, cgroupID: flow.cgroupID ?? 0)
  }
}

/// A small fixed-seed generator: the same queries and flows on every run.
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }
  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
  mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

enum Generated {
  static let ports: [UInt16] = [0, 22, 80, 443, 1024, 40000, 65535]
  static let v4Addresses: [UInt32] = [0x7f00_0001, 0x0a00_0001, 0x0a01_0203, 0xc0a8_0001, 0]
  static let prefixes = [
    "127.0.0.0/8", "10.0.0.0/8", "10.1.2.3", "192.168.0.0/16", "0.0.0.0/0", "::1", "::ffff:10.0.0.1",
    "::ffff:0:0/96", "fe80::/10", "10.0.0.1:443", ":22", "[::1]:80", "*:443",
  ]
  static let states = [
    "established", "listen", "close-wait", "time-wait", "syn-sent", "close", "connected", "listening",
  ]
  static let ops = ["==", "!=", "<", "<=", ">", ">="]

  static func test(_ random: inout SplitMix) -> String {
    switch random.below(14) {
    case 0, 1: return "\(random.pick(["sport", "dport", "port"])) \(random.pick(ops)) \(random.pick(ports))"
    case 2:
      let a = random.pick(ports)
      let b = random.pick(ports)
      return "\(random.pick(["sport", "dport", "port"])) in (\(min(a, b))..\(max(a, b)), \(random.pick(ports)))"
    case 3, 4: return "\(random.pick(["src", "dst"])) \(random.pick(["==", "!=", "in"])) \(random.pick(prefixes))"
    case 5: return "interface \(random.pick(["==", "!="])) \(random.below(3))"
    case 6: return "mark \(random.pick(["==", "!="])) \(random.pick([0, 5]))"
    case 7: return "state \(random.pick(["==", "!="])) \(random.pick(states))"
    case 8: return "proto \(random.pick(["==", "!="])) \(random.pick(["tcp", "udp", "unix", "packet", "inet"]))"
    case 9: return "family == \(random.pick(["inet", "inet6", "unix"]))"
    case 10: return random.pick(["rtt > 1ms", "pid == 100", "owned", "stateless", "peer-closed", "bytes_in > 1KiB"])
    case 11: return "cgroup_id == \(random.pick([0, 7]))"
    case 12: return "state_code \(random.pick(ops)) \(random.below(14))"
    default: return random.pick(["true", "false"])
    }
  }

  static func expression(_ random: inout SplitMix, depth: Int) -> String {
    if depth > 3 || random.below(3) == 0 { return test(&random) }
    switch random.below(4) {
    case 0: return "not " + "(" + expression(&random, depth: depth + 1) + ")"
    case 1:
      return "(" + expression(&random, depth: depth + 1) + ") or (" + expression(&random, depth: depth + 1) + ")"
    default:
      return expression(&random, depth: depth + 1) + " and " + expression(&random, depth: depth + 1)
    }
  }

  static func flow(_ random: inout SplitMix) -> Flow {
    let proto = random.pick([TransportProtocol.tcp, .tcp, .udp, .unix, .packet])
    let stateValue = UInt8(random.pick([1, 2, 6, 7, 8, 10]))
    switch proto {
    case .unix, .packet:
      var flow = Flow(
        proto: proto, family: proto == .unix ? .unix : .packet, state: stateValue, socketType: 1,
        local: proto == .unix ? .unixPath(Array("/run/x".utf8)) : .packet(interfaceIndex: 1, ethertype: 3),
        remote: .none, inode: 5, netns: 1)
      if random.below(2) == 0 { flow.owners = [FlowOwner(pid: 100, fd: 3)] }
      return flow
    default:
      func address(_ random: inout SplitMix) -> IPAddress {
        switch random.below(4) {
        case 0: .v6(high: 0, low: 1)
        case 1: .v6(high: 0, low: 0xffff_0000_0000 | UInt64(random.pick(Generated.v4Addresses)))
        case 2: .v6(high: 0xfe80_0000_0000_0000, low: 7)
        default: .v4(random.pick(Generated.v4Addresses))
        }
      }
      var local = address(&random)
      var remote = address(&random)
      let v4 = { if case .v4 = $0 { true } else { false } }(local)
      // Both ends of a socket have one family.
      if v4 != { if case .v4 = $0 { true } else { false } }(remote) { remote = local }
      if random.below(5) == 0 { local = remote }
      var flow = Flow(
        proto: proto, family: v4 ? .inet : .inet6, state: stateValue, socketType: proto == .tcp ? 1 : 2,
        local: .ip(local, port: random.pick(ports)), remote: .ip(remote, port: random.pick(ports)),
        inode: 9, netns: 1)
      flow.interfaceIndex = UInt32(random.below(3))
      if random.below(3) > 0 { flow.mark = UInt32(random.pick([0, 5])) }
      if random.below(3) > 0 { flow.cgroupID = UInt64(random.pick([0, 7])) }
      if proto == .tcp { flow.tcp = TCPDetails(rttMicros: UInt32(random.pick([0, 500, 5000]))) }
      if random.below(2) == 0 { flow.owners = [FlowOwner(pid: 100, fd: 3)] }
      return flow
    }
  }
}
