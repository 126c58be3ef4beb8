// What the kernel can do of a query: which protocols and families to dump at all, which states
// (the request's state mask) and which conditions on ports, addresses, interface, mark and
// cgroup (inet_diag bytecode). The plan may let through more than the query, never less: the
// whole query is evaluated again on every decoded flow, so pushing down only saves work.
//
// The plan comes from partial evaluation: for each protocol (and family, and state) the tests
// that these facts decide are folded to constants; what is left false is not dumped. The
// bytecode is an over-approximation: a test the kernel cannot run counts as true where a match
// must not be lost, and as false under a `not` (so `not rtt > 1ms` cannot drop a socket).

import FlowModel
import SockDiag

public struct KernelPlan: Sendable, Equatable {
  /// The protocols worth a dump.
  public var protocols: Set<TransportProtocol>
  public var ipv4: Bool
  public var ipv6: Bool
  /// Per protocol dumped: the state mask and the inet bytecode filter (nil: none).
  public var requests: [TransportProtocol: Request]
  /// Only these processes can match (a top-level `pid == …`): only they are scanned.
  public var pids: Set<Int32>?

  public struct Request: Sendable, Equatable {
    public var states: UInt32
    public var inet: InetFilter?
  }

  /// The plan for `query` over `candidates` (the protocols the caller could dump).
  public init(_ query: QueryExpression, candidates: Set<TransportProtocol> = Set(TransportProtocol.allCases)) {
    protocols = []
    ipv4 = false
    ipv6 = false
    requests = [:]
    for proto in TransportProtocol.allCases where candidates.contains(proto) {
      let families = proto.families
      let specialized = query.specialized(Facts(proto: proto, families: families))
      guard specialized != .constant(false) else { continue }
      protocols.insert(proto)
      if families.contains(.inet) {
        let v4 = query.specialized(Facts(proto: proto, families: [.inet])) != .constant(false)
        let v6 = query.specialized(Facts(proto: proto, families: [.inet6])) != .constant(false)
        ipv4 = ipv4 || v4
        ipv6 = ipv6 || v6
      }
      var states: UInt32 = 0
      if proto.hasConnectionStates {
        for state in 0..<32 {
          let facts = Facts(proto: proto, families: families, state: UInt8(state))
          if specialized.specialized(facts) != .constant(false) { states |= 1 << UInt32(state) }
        }
      } else {
        states = 0xffff_ffff
      }
      var inet: InetFilter? = nil
      if families.contains(.inet) {
        let filter = specialized.inetFilter(positive: true).simplified
        if filter != .always { inet = filter }
      }
      requests[proto] = Request(states: states, inet: inet)
    }
    pids = query.requiredPIDs
  }

  /// The states dumped for `proto` by name, for `--explain`.
  static func stateNames(_ mask: UInt32) -> String {
    let known = SocketState.allCases.reduce(UInt32(0)) { $0 | 1 << UInt32($1.rawValue) }
    if mask & known == known { return "all" }
    let connected = StateGroup.defaultStates.reduce(UInt32(0)) { $0 | 1 << UInt32($1) }
    if mask & known == connected { return "connected but time-wait (the default)" }
    let names = SocketState.allCases.filter { mask & (1 << UInt32($0.rawValue)) != 0 }.map {
      $0.queryName
    }
    return names.isEmpty ? "none" : names.joined(separator: ", ")
  }
}

/// What is known of the sockets of one dump: their protocol, their possible families and,
/// when planning the state mask, their state.
struct Facts {
  var proto: TransportProtocol
  var families: Set<AddressFamily>
  var state: UInt8? = nil
}

extension TransportProtocol {
  /// The families its sockets can have.
  var families: Set<AddressFamily> {
    switch self {
    case .tcp, .udp, .udplite, .mptcp, .raw, .sctp, .dccp: [.inet, .inet6]
    case .unix: [.unix]
    case .packet: [.packet]
    case .netlink: [.netlink]
    case .vsock: [.vsock]
    }
  }
}

extension QueryExpression {
  /// The expression with the tests that `facts` decide replaced by constants, and constants
  /// folded: `.constant(false)` means no socket of that kind can match.
  func specialized(_ facts: Facts) -> QueryExpression {
    switch self {
    case .constant: return self
    case .test(let test): return test.decided(by: facts).map { .constant($0) } ?? self
    case .and(let a, let b):
      switch (a.specialized(facts), b.specialized(facts)) {
      case (.constant(false), _), (_, .constant(false)): return .constant(false)
      case (.constant(true), let other), (let other, .constant(true)): return other
      case (let x, let y): return .and(x, y)
      }
    case .or(let a, let b):
      switch (a.specialized(facts), b.specialized(facts)) {
      case (.constant(true), _), (_, .constant(true)): return .constant(true)
      case (.constant(false), let other), (let other, .constant(false)): return other
      case (let x, let y): return .or(x, y)
      }
    case .not(let a):
      switch a.specialized(facts) {
      case .constant(let value): return .constant(!value)
      case let other: return .not(other)
      }
    }
  }

  /// A kernel filter that accepts at least what the expression accepts (`positive`), or at
  /// most (under an odd number of `not`s).
  func inetFilter(positive: Bool) -> InetFilter {
    switch self {
    case .constant(let value): return value ? .always : .never
    case .and(let a, let b): return .and(a.inetFilter(positive: positive), b.inetFilter(positive: positive))
    case .or(let a, let b): return .or(a.inetFilter(positive: positive), b.inetFilter(positive: positive))
    case .not(let a): return .not(a.inetFilter(positive: !positive))
    case .test(let test):
      if let exact = test.exactInetFilter { return exact }
      if positive, let wider = test.widerInetFilter { return wider }
      return positive ? .always : .never
    }
  }

  /// The pids a match must be owned by, from `pid` tests every match must pass (top-level
  /// `and`s); nil when any process may match.
  var requiredPIDs: Set<Int32>? {
    switch self {
    case .and(let a, let b):
      switch (a.requiredPIDs, b.requiredPIDs) {
      case (let x?, let y?): return x.intersection(y)
      case (let x?, nil), (nil, let x?): return x
      case (nil, nil): return nil
      }
    case .test(let test) where test.field == .pid:
      switch test.comparison {
      case .number(.equal, let literal):
        return literal.exact.flatMap { Int32(exactly: $0) }.map { [$0] } ?? []
      case .numberIn(let ranges) where ranges.allSatisfy({ $0.lower == $0.upper }):
        return Set(ranges.compactMap { $0.lower.exact.flatMap { Int32(exactly: $0) } })
      default: return nil
      }
    default: return nil
    }
  }
}

extension QueryTest {
  /// The test's value when `facts` decide it; nil when it depends on more.
  func decided(by facts: Facts) -> Bool? {
    switch field {
    case .proto:
      guard case .member(let values) = comparison else { return nil }
      return values.contains(facts.proto.queryValue)
    case .family:
      guard case .member(let values) = comparison else { return nil }
      let answers = Set(facts.families.map { values.contains($0.queryValue) })
      return answers.count == 1 ? answers.first : nil
    case .stateless:
      return !facts.proto.hasConnectionStates
    case .state:
      guard case .member(let values) = comparison else { return nil }
      if !facts.proto.hasConnectionStates { return false }
      return facts.state.map { values.contains(UInt64($0)) }
    case .stateCode:
      if !facts.proto.hasConnectionStates { return false }
      return facts.state.map { compare(number: UInt64($0)) }
    case .localAddress, .remoteAddress, .localPort, .remotePort, .port:
      // Only IP sockets have addresses and ports.
      return facts.families.contains(.inet) || facts.families.contains(.inet6) ? nil : false
    case .localPath, .localAbstract:
      return facts.proto == .unix ? nil : false
    case _ where field.isTCPInfoField:
      // Only TCP sockets carry tcp_info; the test is false on a value that is missing.
      return facts.proto == .tcp || facts.proto == .mptcp ? nil : false
    default:
      return nil
    }
  }

  /// The same test in the kernel, when it gives the same answer there for every inet socket.
  var exactInetFilter: InetFilter? {
    switch field {
    case .localPort: return portFilter { .sourcePort($0) }
    case .remotePort: return portFilter { .destinationPort($0) }
    case .port:
      guard let local = portFilter({ .sourcePort($0) }), let remote = portFilter({ .destinationPort($0) }) else {
        return nil
      }
      return .or(local, remote)
    case .localAddress, .remoteAddress:
      guard case .address(let matches) = comparison else { return nil }
      let conditions = matches.map(InetFilterProgram.HostCondition.init)
      return conditions.map { field == .localAddress ? InetFilter.local($0) : .remote($0) }
        .reduce(InetFilter.never) { .or($0, $1) }
    case .interface:
      return equalValues(below: 1 << 32).map { values in
        values.map { InetFilter.device(UInt32($0)) }.reduce(InetFilter.never) { .or($0, $1) }
      }
    default:
      return nil
    }
  }

  /// A kernel test that accepts at least what this one does, not fewer: the kernel reads a
  /// mark or cgroup of 0 where the flow shows none.
  var widerInetFilter: InetFilter? {
    switch field {
    case .mark:
      return equalValues(below: 1 << 32).map { values in
        values.map { InetFilter.mark(value: UInt32($0), mask: .max) }.reduce(InetFilter.never) { .or($0, $1) }
      }
    case .cgroupID:
      return equalValues(below: .max).map { values in
        values.map { InetFilter.cgroup($0) }.reduce(InetFilter.never) { .or($0, $1) }
      }
    default:
      return nil
    }
  }

  /// The values of an equality test (`==`, or `in` single values) below `limit`.
  private func equalValues(below limit: UInt64) -> [UInt64]? {
    switch comparison {
    case .number(.equal, let literal):
      guard let value = literal.exact else { return [] }
      return value < limit ? [value] : []
    case .numberIn(let ranges) where ranges.allSatisfy({ $0.lower == $0.upper }):
      return ranges.compactMap { $0.lower.exact }.filter { $0 < limit }
    default:
      return nil
    }
  }

  /// A port comparison as S_/D_ ops.
  private func portFilter(_ make: (InetFilter.PortComparison) -> InetFilter) -> InetFilter? {
    func range(_ lower: UInt64, _ upper: UInt64) -> InetFilter {
      guard lower <= upper, lower <= 65535 else { return .never }
      let top = UInt16(min(upper, 65535))
      if lower == UInt64(top) { return make(.equals(top)) }
      let atLeast: InetFilter = lower == 0 ? .always : make(.atLeast(UInt16(lower)))
      let atMost: InetFilter = top == 65535 ? .always : make(.atMost(top))
      return .and(atLeast, atMost)
    }
    switch comparison {
    case .number(let op, let literal):
      guard let value = literal.exact else { return nil }
      switch op {
      case .equal: return range(value, value)
      case .notEqual: return .not(range(value, value))
      case .less: return value == 0 ? .never : range(0, value - 1)
      case .lessOrEqual: return range(0, value)
      case .greater: return value == .max ? .never : range(value + 1, 65535)
      case .greaterOrEqual: return range(value, 65535)
      }
    case .numberIn(let ranges):
      var alternatives: [InetFilter] = []
      for bounds in ranges {
        guard let lower = bounds.lower.exact, let upper = bounds.upper.exact else { return nil }
        alternatives.append(range(lower, upper))
      }
      return alternatives.reduce(InetFilter.never) { .or($0, $1) }
    default:
      return nil
    }
  }
}

extension InetFilterProgram.HostCondition {
  /// The kernel's form of an address match.
  init(_ match: AddressMatch) {
    switch match.address {
    case .v4(let address)?:
      self = .ipv4(address, prefixLength: match.prefixLength, port: match.port)
    case .v6(let high, let low)?:
      self = .ipv6(high: high, low: low, prefixLength: match.prefixLength, port: match.port)
    case nil:
      // Any family and address; nil port is any port too.
      self.init(family: 0, address: [], prefixLength: 0, port: match.port)
    }
  }
}

/// The kinds of sockets a query keeps whatever else they hold: those its protocol and state
/// alone decide (`proto in (tcp, udp) and state in (…)`, the default listing's query). Such
/// flows are kept without evaluating the query: at 500k sockets, the evaluation of the
/// default query on every flow cost more than the test that skips it.
public struct DecidedKinds: Sendable {
  /// Per protocol: the states (bit per state code) in which every listed socket matches, and
  /// whether every socket of a protocol without states matches.
  private var kinds: [(proto: TransportProtocol, states: UInt32, everySocket: Bool)] = []

  public init(_ query: QueryExpression) {
    for proto in TransportProtocol.allCases {
      let families = proto.families
      let specialized = query.specialized(Facts(proto: proto, families: families))
      var states: UInt32 = 0
      if proto.hasConnectionStates {
        for state in 0..<32
        where specialized.specialized(Facts(proto: proto, families: families, state: UInt8(state)))
          == .constant(true)
        {
          states |= 1 << UInt32(state)
        }
      }
      let everySocket = specialized == .constant(true)
      if states != 0 || everySocket { kinds.append((proto, states, everySocket)) }
    }
  }

  /// Whether the query keeps `flow` whatever else it holds. Its state decides only when the
  /// kernel listed it (a socket no dump returned has no state to go by).
  public func keep(_ flow: borrowing Flow) -> Bool {
    for kind in kinds where kind.proto == flow.proto {
      if kind.everySocket { return true }
      return flow.listedByKernel && flow.state < 32 && kind.states & (1 << UInt32(flow.state)) != 0
    }
    return false
  }
}
