// The selection flags every command has had (`-P`, `-C`, `-u`, `-p`, `-4/-6`, `--state`,
// `--port`, `--local`, `--remote`, `-I`, `-l`, `-a`) as shorthands for a query, and the
// defaults a listing applies when neither flags nor the query say otherwise.

import FlowModel

/// What the selection flags said.
public struct SelectionFlags: Sendable {
  public var pids: [Int32] = []
  public var commands: [String] = []
  public var exactCommand = false
  public var users: [String] = []
  public var protocols: [String] = []
  public var ipv4Only = false
  public var ipv6Only = false
  public var interfaces: [String] = []
  public var states: [String] = []
  public var ports: [UInt16] = []
  public var local: [String] = []
  public var remote: [String] = []
  public var listening = false
  public var all = false

  public init() {}
}

/// What a command selects: flows (`flow`, `watch`), processes (`proc`, `check`), the
/// flows of closes (`events`) or the sockets to close (`kill`: as flows, but only the
/// protocols it can close unless the query names others).
public enum QueryScope: Sendable {
  case flows, processes, events, kill
}

/// A selection flag that cannot be read.
public struct SelectionError: Error, Sendable, CustomStringConvertible {
  public var description: String
}

/// The whole query of a command: the flags' shorthands, the defaults they leave in place, and
/// the expression written after the options, joined with `and`.
public struct Selection: Sendable {
  public var query: QueryExpression
  public var plan: KernelPlan
  /// The protocols named one by one (`-p sctp`, `proto == sctp`), not through a group (`all`,
  /// `inet`) or a default: a kernel lacking them deserves a word.
  public var namedProtocols: Set<TransportProtocol> = []

  /// Without -p (and a query that names no protocol, family or UNIX address), listings show
  /// the IP protocols: UNIX, packet and netlink sockets outnumber them on most hosts.
  public static let protocolFields: Set<QueryField> = [.proto, .family, .localPath, .localAbstract, .protocol]

  public init(
    flags: SelectionFlags, expression: QueryExpression, scope: QueryScope,
    environment: QueryEnvironment
  ) throws(SelectionError) {
    var parts: [QueryExpression] = []
    // Protocols.
    if !flags.protocols.isEmpty {
      var chosen: [TransportProtocol] = []
      var everything = false
      for name in flags.protocols.flatMap({ $0.split(separator: ",") }).map(String.init) {
        if name.lowercased() == "all" {
          everything = true
          continue
        }
        guard let protocols = Literals.transportProtocols(name) else {
          throw SelectionError(
            description: "unknown protocol '\(name)'; known: "
              + TransportProtocol.allCases.map(\.rawValue).joined(separator: ", ") + ", inet, all.")
        }
        chosen += protocols.filter { !chosen.contains($0) }
        if protocols.count == 1 { namedProtocols.insert(protocols[0]) }
      }
      if !everything { parts.append(Self.protocolTest(chosen)) }
    } else if !expression.mentions(Self.protocolFields) {
      switch scope {
      case .flows: parts.append(Self.protocolTest(TransportProtocol.ipProtocols))
      case .events: parts.append(Self.protocolTest([.tcp, .udp]))
      case .kill: parts.append(Self.protocolTest(TransportProtocol.closable))
      case .processes: break
      }
    }
    if flags.ipv4Only && flags.ipv6Only {
      throw SelectionError(description: "-4 and -6 exclude each other; give neither to see both.")
    }
    if flags.ipv4Only || flags.ipv6Only {
      let family: AddressFamily = flags.ipv4Only ? .inet : .inet6
      parts.append(.test(QueryTest(field: .family, comparison: .member([family.queryValue]))))
    }
    // States.
    var states: Set<UInt8>? = nil
    for name in flags.states {
      guard let named = StateGroup.states(named: name) else {
        throw SelectionError(
          description: "unknown state '\(name)'; try established, listen, close-wait, connected or all.")
      }
      states = (states ?? []).union(named)
    }
    if flags.listening { states = (states ?? []).union(StateGroup.states(named: "listening")!) }
    if states == nil, !flags.all, scope == .flows || scope == .kill, !expression.mentions([.state, .stateCode]) {
      // Like ss: connected sockets unless -a or -l asks for listeners and unbound ones; not
      // TIME-WAIT, which belongs to no process.
      states = StateGroup.defaultStates
    }
    if let states, states.count < SocketState.allCases.count {
      // Sockets without states (packet, netlink) are not hidden by a state flag.
      parts.append(
        .or(
          .test(QueryTest(field: .state, comparison: .member(Set(states.map(UInt64.init))))),
          .test(.isTrue(.stateless))))
    }
    // Owners.
    if !flags.pids.isEmpty {
      parts.append(
        .test(QueryTest(field: .pid, comparison: Self.values(flags.pids.map { UInt64(bitPattern: Int64($0)) }))))
    }
    if !flags.commands.isEmpty {
      parts.append(
        .any(
          flags.commands.map { name in
            let bytes = Array(name.utf8)
            return .test(
              QueryTest(field: .command, comparison: .text(flags.exactCommand ? .equals([bytes]) : .contains(bytes))))
          }))
    }
    if !flags.users.isEmpty {
      var uids: [UInt64] = []
      for name in flags.users {
        guard let uid = UInt32(name) ?? environment.userID(name) else {
          throw SelectionError(description: "unknown user '\(name)'.")
        }
        uids.append(UInt64(uid))
      }
      // In flows, the socket's user; in processes, the process's.
      parts.append(.test(QueryTest(field: scope == .processes ? .user : .uid, comparison: Self.values(uids))))
    }
    // Addresses and interfaces.
    if !flags.interfaces.isEmpty {
      var indexes: [UInt64] = []
      for name in flags.interfaces {
        guard let index = UInt32(name) ?? environment.interfaceIndex(name) else {
          throw SelectionError(description: "no interface named '\(name)'.")
        }
        indexes.append(UInt64(index))
      }
      parts.append(.test(QueryTest(field: .interface, comparison: Self.values(indexes))))
    }
    if !flags.ports.isEmpty {
      parts.append(.test(QueryTest(field: .port, comparison: Self.values(flags.ports.map(UInt64.init)))))
    }
    for (texts, field) in [(flags.local, QueryField.localAddress), (flags.remote, .remoteAddress)] where !texts.isEmpty
    {
      var matches: [AddressMatch] = []
      for text in texts {
        guard let match = parseAddressMatch(text) else {
          throw SelectionError(
            description: "cannot read address '\(text)'; write e.g. 127.0.0.0/8:80, [::1]:53 or :22.")
        }
        matches.append(match)
      }
      parts.append(.test(QueryTest(field: field, comparison: .address(matches))))
    }
    for test in expression.tests where test.field == .proto {
      if case .member(let values) = test.comparison, values.count < TransportProtocol.ipProtocols.count {
        namedProtocols.formUnion(values.map { TransportProtocol.allCases[Int($0)] })
      }
    }
    parts.append(expression)
    query = .all(parts)
    plan = KernelPlan(query, candidates: Self.candidates.union(namedProtocols))
  }

  /// The protocols dumped when nothing rules them out; DCCP and vsock only when named (few
  /// kernels have their diag modules, and each request costs a round trip).
  public static let candidates = Set(TransportProtocol.allCases).subtracting([.dccp, .vsock])

  static func protocolTest(_ protocols: [TransportProtocol]) -> QueryExpression {
    .test(QueryTest(field: .proto, comparison: .member(Set(protocols.map(\.queryValue)))))
  }

  /// `== v` for one value, `in (…)` for more.
  static func values(_ values: [UInt64]) -> QueryTest.Comparison {
    let unique = Array(Set(values)).sorted()
    if unique.count == 1 { return .number(.equal, NumberLiteral(exactly: unique[0])) }
    return .numberIn(unique.map { NumberRange(NumberLiteral(exactly: $0), NumberLiteral(exactly: $0)) })
  }
}
