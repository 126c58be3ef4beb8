// Sockets a process holds that no sock_diag dump returned: a TCP socket never connected or
// whose connect failed (unhashed), a never-bound UDP or netlink socket, a family this kernel has
// no diag module for. They are found after the join, among the scanned socket descriptors no
// flow claimed, and named by their descriptor's `system.sockprotoname`: one getxattr per such
// descriptor, none for the sockets the dumps returned.
//
// Deliberately not done: reaching into the socket (pidfd_getfd, then getsockname, SO_TYPE,
// TCP_INFO). It needs root and a duplicate of the application's descriptor, and a mistake
// there (SO_ERROR clears the pending error; any I/O) would change what the application sees.
// What the dumps say instead: a TCP or UDP socket missing from a dump that asked for every
// state, of its family, in its namespace, and completed, is in no table: neither bound nor
// connected, its state CLOSE.

import FlowModel
import ProcFS
import SockDiag

/// What the dumps of one snapshot did per (namespace, protocol, family): read it whole (every
/// state, no kernel filter, no error), or read it through a kernel filter. Only where it was
/// read whole does a missing socket say it is in no table; where a filter was applied, a
/// missing socket may simply have been filtered out, and is not shown.
struct DumpCoverage {
  private struct Key: Hashable {
    var netns: UInt64
    var proto: TransportProtocol
    var family: FlowModel.AddressFamily
  }
  private var complete = Set<Key>()
  private var filtered = Set<Key>()
  /// The namespaces some dump was asked of. A namespace not read at all (`--netns` named
  /// another, or entering it needs root) shows none of its sockets, listed or not.
  private(set) var namespaces = Set<UInt64>()

  mutating func noteRead(_ netns: UInt64) { namespaces.insert(netns) }

  /// Every state a socket can be in (1…13), as a request mask.
  static let allStates: UInt32 = SocketState.allCases.reduce(0) { $0 | 1 << UInt32($1.rawValue) }

  /// Notes a dump that completed.
  mutating func record(_ query: SockDiagQuery, netns: UInt64, states: UInt32, filtered isFiltered: Bool) {
    let whole = !isFiltered && states & Self.allStates == Self.allStates
    for family in query.modelFamilies {
      let key = Key(netns: netns, proto: query.transportProtocol, family: family)
      if whole { complete.insert(key) } else { filtered.insert(key) }
    }
  }

  func coversWhole(netns: UInt64, proto: TransportProtocol, family: FlowModel.AddressFamily) -> Bool {
    complete.contains(Key(netns: netns, proto: proto, family: family))
  }

  func filtered(netns: UInt64, proto: TransportProtocol, family: FlowModel.AddressFamily) -> Bool {
    let key = Key(netns: netns, proto: proto, family: family)
    return filtered.contains(key) && !complete.contains(key)
  }
}

extension SockDiagQuery {
  /// The families whose sockets the query dumps.
  fileprivate var modelFamilies: [FlowModel.AddressFamily] {
    switch self {
    case .inet(let family, _):
      switch family {
      case SockDiag.AddressFamily.inet: [.inet]
      case SockDiag.AddressFamily.inet6: [.inet6]
      default: [.inet, .inet6]
      }
    case .unix: [.unix]
    case .packet: [.packet]
    case .netlink: [.netlink]
    case .vsock: [.vsock]
    }
  }
}

/// A socket no dump returned, named by one of its descriptors.
struct NamedSocket {
  var socket: UnmatchedSocket
  var kind: SocketProtocolName
  /// The network namespace of its first owner, taken to be the socket's.
  var netns: UInt64
}

/// The sockets no dump returned, sorted into what the snapshot can say of each.
struct UnlistedSockets {
  /// Missing from a dump that read their table whole: TCP or UDP sockets in no table, unless
  /// they were created (or connected) while the dump ran. Checked again by a second dump.
  var toConfirm: [NamedSocket] = []
  /// Of a protocol no dump read (not asked for, not supported by this kernel, failed): shown,
  /// with no state.
  var unknown: [NamedSocket] = []
  /// Descriptors whose protocol could not be read for another reason than having been closed.
  var unreadable = 0
  var firstError: ProcFSError?
  /// The protocol of every socket named, kept or not.
  var kinds: [UInt64: SocketProtocolName] = [:]

  /// Protocols whose sockets, when a complete dump missed them, are neither bound nor
  /// connected: TCP and UDP (and UDP-Lite) sockets enter a table when bound or connected.
  static func missingMeansUnconnected(_ proto: TransportProtocol) -> Bool {
    proto == .tcp || proto == .udp || proto == .udplite
  }

  /// Names each of `sockets` by a descriptor holding it (one getxattr; another holder's when
  /// that descriptor was closed meanwhile), or by `knownKind` when that names it already.
  /// `netns` gives the network namespace of a process.
  ///
  /// Only sockets of the protocols and families `options` asks for are kept: the query planned
  /// those, and would drop any other row (without them a listing of the IP protocols would
  /// carry every UNIX socket of its processes, and outgrow the flows array it reserved).
  init(
    _ sockets: [UnmatchedSocket], reader: SocketProtocolReader, coverage: DumpCoverage,
    options: InspectOptions, netns: (Int32) -> UInt64?,
    knownKind: (UInt64) -> SocketProtocolName? = { _ in nil }
  ) {
    for socket in sockets {
      if let kind = knownKind(socket.inode) {
        classify(socket, kind, coverage: coverage, options: options, netns: netns)
        continue
      }
      var name: [UInt8]? = nil
      for owner in socket.owners {
        switch reader.protocolName(pid: owner.pid, fd: owner.fd) {
        case .success(let bytes): name = bytes
        case .failure(let error) where error.isVanished || error.errno == .noData:
          continue  // closed (or no longer a socket) since the scan: try another holder
        case .failure(let error):
          unreadable += 1
          if firstError == nil { firstError = error }
        }
        if name != nil { break }
      }
      // A name this tool has no protocol for stays counted as `other` by `proc`.
      guard let name, let kind = SocketProtocolName(name) else { continue }
      classify(socket, kind, coverage: coverage, options: options, netns: netns)
    }
  }

  /// Records the protocol of `socket`, and files it under `toConfirm` or `unknown` when the
  /// query asks for its protocol and family and its namespace was dumped.
  private mutating func classify(
    _ socket: UnmatchedSocket, _ kind: SocketProtocolName, coverage: DumpCoverage,
    options: InspectOptions, netns: (Int32) -> UInt64?
  ) {
    kinds[socket.inode] = kind
    guard options.protocols.contains(kind.proto), kind.family != .inet || options.ipv4,
      kind.family != .inet6 || options.ipv6
    else { return }
    let named = NamedSocket(socket: socket, kind: kind, netns: netns(socket.owners[0].pid) ?? 0)
    guard coverage.namespaces.contains(named.netns) else { return }
    if coverage.coversWhole(netns: named.netns, proto: kind.proto, family: kind.family) {
      // Unix, packet and netlink tables hold every socket of theirs that is bound; those
      // missing are unbound: shown, with nothing more to confirm.
      if Self.missingMeansUnconnected(kind.proto) { toConfirm.append(named) } else { unknown.append(named) }
    } else if !coverage.filtered(netns: named.netns, proto: kind.proto, family: kind.family) {
      unknown.append(named)
    }
  }

  /// The flow of a socket no table lists: owners, protocol, family, type; no address. Its
  /// state is CLOSE when it is known to be neither bound nor connected, else unknown (0).
  static func flow(_ named: NamedSocket, unconnected: Bool) -> Flow {
    var flow = Flow(
      proto: named.kind.proto, family: named.kind.family,
      state: unconnected ? SocketState.close.rawValue : 0, socketType: named.kind.socketType,
      local: .none, remote: .none, inode: named.socket.inode, netns: named.netns)
    flow.listedByKernel = false
    flow.owners = named.socket.owners
    return flow
  }

  /// Counts `named`, known to be neither bound nor connected, for each process holding it.
  static func count(_ named: NamedSocket, into counts: inout [Int32: UnconnectedSockets]) {
    var seen: [Int32] = []
    for owner in named.socket.owners where !seen.contains(owner.pid) {
      seen.append(owner.pid)
      if named.kind.proto == .tcp {
        counts[owner.pid, default: UnconnectedSockets()].tcp += 1
      } else {
        counts[owner.pid, default: UnconnectedSockets()].udp += 1
      }
    }
  }
}
