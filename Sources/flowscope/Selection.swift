import ArgumentParser
import FlowInspector
import FlowModel

#if canImport(Glibc)
  import Glibc
#endif

/// The options of a listing turned into what to collect (kernel side) and what to keep (after).
struct Selection {
  var inspect: InspectOptions
  var filter: FlowFilter
  /// Protocols the user named one by one in `-p`.
  var namedProtocols: Set<TransportProtocol>

  init(_ options: FilterOptions, debug: DebugOptions) throws {
    let protocols = try Self.protocols(options.proto)
    inspect = InspectOptions(protocols: protocols.all)
    namedProtocols = protocols.named
    filter = FlowFilter()
    inspect.procRoot = debug.procRoot
    if options.hostNetns && options.netns != nil {
      throw ValidationError("--netns and --host-netns exclude each other.")
    }
    if let netns = options.netns {
      inspect.namespaces = .only(netns)
    } else if options.hostNetns {
      inspect.namespaces = .own
    }
    if options.ipv4Only && options.ipv6Only {
      throw ValidationError("-4 and -6 exclude each other; give neither to see both.")
    }
    inspect.ipv4 = !options.ipv6Only
    inspect.ipv6 = !options.ipv4Only
    if options.ipv4Only || options.ipv6Only {
      // Address families narrow the IP protocols only; keep UNIX and friends out unless asked.
      filter.families = options.ipv4Only ? [.inet] : [.inet6]
    }
    if !options.pid.isEmpty {
      inspect.pids = Set(options.pid)
      filter.pids = Set(options.pid)
    }
    filter.commands = options.command.map { Array($0.utf8) }
    filter.exactCommand = options.exact
    if !options.user.isEmpty { filter.uids = Set(try options.user.map(Self.uid)) }
    if !options.interface.isEmpty {
      filter.interfaces = Set(try options.interface.map(Self.interfaceIndex))
    }
    filter.ports = Set(options.port)
    filter.local = try options.local.map(parseAddressMatch)
    filter.remote = try options.remote.map(parseAddressMatch)
    inspect.prefilter(with: filter)

    var states: Set<UInt8>? = nil
    for name in options.state {
      guard let named = StateGroup.states(named: name) else {
        throw ValidationError(
          "unknown state '\(name)'; try established, listen, close-wait, connected or all.")
      }
      states = (states ?? []).union(named)
    }
    if options.listening {
      states = (states ?? []).union(StateGroup.states(named: "listening")!)
    }
    if states == nil && !options.all {
      // Like ss: connected sockets unless -a or -l asks for listeners and unbound ones; but
      // not TIME-WAIT, which belongs to no process (--state time-wait shows them).
      states = StateGroup.defaultStates
    }
    if let states {
      inspect.states = states.reduce(UInt32(0)) { $0 | (1 << UInt32($1)) }
      statesOfStatefulSockets = states
    }
  }

  /// The state filter; nil when every state is wanted. Packet, netlink and vsock sockets have no
  /// connection state, so it never hides them when they were asked for.
  var statesOfStatefulSockets: Set<UInt8>? = nil
  static func isStateless(_ proto: TransportProtocol) -> Bool {
    proto == .packet || proto == .netlink || proto == .vsock
  }

  /// Drops the flows of `snapshot` that `keeps` refuses. Reads fields in place: most listings
  /// keep every flow, and testing one by copying it costs as much as rendering it.
  func apply(to snapshot: inout Snapshot) {
    // Bit n set: state n is kept (kernel states are below 64).
    let stateMask = statesOfStatefulSockets.map { $0.reduce(UInt64(0)) { $0 | (1 << ($1 & 63)) } }
    let flows = snapshot.flows
    let filtering = !filter.isEmpty
    let refused = flows.indices.contains { index in
      if let stateMask, !Self.isStateless(flows[index].proto),
        flows[index].state > 63 || stateMask & (1 << flows[index].state) == 0
      {
        return true
      }
      return filtering && !filter.matches(flows[index], processes: snapshot.processes)
    }
    guard refused else { return }
    snapshot.flows.removeAll { !keeps($0, processes: snapshot.processes) }
  }

  func keeps(_ flow: Flow, processes: [Int32: OwningProcess]) -> Bool {
    if let states = statesOfStatefulSockets, !Self.isStateless(flow.proto),
      !states.contains(flow.state)
    {
      return false
    }
    return filter.matches(flow, processes: processes)
  }

  static let ipProtocols: [TransportProtocol] = [.tcp, .udp, .udplite, .mptcp, .raw, .sctp]

  /// The protocols of `-p`, and those of them named one by one (not through `all` or `inet`):
  /// only those deserve a word when this kernel lacks them.
  static func protocols(_ lists: [String]) throws -> (
    all: Set<TransportProtocol>, named: Set<TransportProtocol>
  ) {
    if lists.isEmpty { return (Set(ipProtocols), []) }
    var chosen: Set<TransportProtocol> = []
    var named: Set<TransportProtocol> = []
    for name in lists.flatMap({ $0.split(separator: ",") }).map({ $0.lowercased() }) {
      switch name {
      case "all": chosen.formUnion(InspectOptions.defaultProtocols)
      case "inet", "ip": chosen.formUnion(ipProtocols)
      default:
        guard let proto = TransportProtocol(rawValue: name) else {
          throw ValidationError(
            "unknown protocol '\(name)'; known: "
              + TransportProtocol.allCases.map(\.rawValue).joined(separator: ", ") + ", inet, all.")
        }
        chosen.insert(proto)
        named.insert(proto)
      }
    }
    return (chosen, named)
  }

  static func uid(_ text: String) throws -> UInt32 {
    if let number = UInt32(text) { return number }
    // getpwnam(3): the name's uid.
    guard let entry = getpwnam(text) else { throw ValidationError("unknown user '\(text)'.") }
    return entry.pointee.pw_uid
  }

  static func interfaceIndex(_ text: String) throws -> UInt32 {
    if let number = UInt32(text) { return number }
    // if_nametoindex(3)
    let index = if_nametoindex(text)
    guard index != 0 else { throw ValidationError("no interface named '\(text)'.") }
    return index
  }
}

/// Parses `127.0.0.0/8:80`, `[::1]:53`, `::1`, `10.0.0.1`, `:22` or `*:22`.
func parseAddressMatch(_ text: String) throws -> AddressMatch {
  var addressPart = Substring(text)
  var port: UInt16? = nil
  func invalid() -> ValidationError {
    ValidationError("cannot read address '\(text)'; write e.g. 127.0.0.0/8:80, [::1]:53 or :22.")
  }
  if addressPart.hasPrefix("[") {
    guard let close = addressPart.firstIndex(of: "]") else { throw invalid() }
    let rest = addressPart[addressPart.index(after: close)...]
    if rest.hasPrefix(":") {
      guard let number = UInt16(rest.dropFirst()) else { throw invalid() }
      port = number
    } else if !rest.isEmpty {
      throw invalid()
    }
    addressPart = addressPart[addressPart.index(after: addressPart.startIndex)..<close]
  } else if addressPart.filter({ $0 == ":" }).count == 1, let colon = addressPart.firstIndex(of: ":") {
    // One colon: IPv4 (or nothing) with a port. More colons: a bare IPv6 address.
    guard let number = UInt16(addressPart[addressPart.index(after: colon)...]) else {
      throw invalid()
    }
    port = number
    addressPart = addressPart[..<colon]
  }
  var prefixLength: Int? = nil
  if let slash = addressPart.firstIndex(of: "/") {
    guard let bits = Int(addressPart[addressPart.index(after: slash)...]) else { throw invalid() }
    prefixLength = bits
    addressPart = addressPart[..<slash]
  }
  if addressPart.isEmpty || addressPart == "*" {
    return AddressMatch(address: nil, prefixLength: 0, port: port)
  }
  let address = try parseIPAddress(String(addressPart)) ?? { throw invalid() }()
  let maximum = if case .v4 = address { 32 } else { 128 }
  let bits = prefixLength ?? maximum
  guard (0...maximum).contains(bits) else { throw invalid() }
  return AddressMatch(address: address, prefixLength: bits, port: port)
}

/// inet_pton(3) for either family.
func parseIPAddress(_ text: String) throws -> IPAddress? {
  var v4 = in_addr()
  if inet_pton(AF_INET, text, &v4) == 1 {
    return .v4(UInt32(bigEndian: v4.s_addr))
  }
  var v6 = in6_addr()
  if inet_pton(AF_INET6, text, &v6) == 1 {
    let bytes = withUnsafeBytes(of: v6) { Array($0) }
    let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    return .v6(high: high, low: low)
  }
  return nil
}
