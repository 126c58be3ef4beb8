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

/// Which (namespace, protocol, family) the dumps of one snapshot read whole: every state, no
/// kernel filter, no error. Only there does a missing socket say it is unbound and unconnected.
struct DumpCoverage {
  private struct Key: Hashable {
    var netns: UInt64
    var proto: TransportProtocol
    var family: FlowModel.AddressFamily
  }
  private var complete = Set<Key>()

  /// Every state a socket can be in (1…13), as a request mask.
  static let allStates: UInt32 = SocketState.allCases.reduce(0) { $0 | 1 << UInt32($1.rawValue) }

  mutating func record(_ query: SockDiagQuery, netns: UInt64, states: UInt32, filtered: Bool) {
    guard !filtered, states & Self.allStates == Self.allStates else { return }
    for family in query.modelFamilies {
      complete.insert(Key(netns: netns, proto: query.transportProtocol, family: family))
    }
  }

  func covers(netns: UInt64, proto: TransportProtocol, family: FlowModel.AddressFamily) -> Bool {
    complete.contains(Key(netns: netns, proto: proto, family: family))
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

/// The flows for sockets no dump returned, and what they say about their owners.
struct UnlistedSockets {
  var flows: [Flow] = []
  /// Per process, its TCP and UDP sockets known to be neither bound nor connected.
  var unconnected: [Int32: UnconnectedSockets] = [:]
  /// Descriptors whose protocol could not be read for another reason than having been closed.
  var unreadable = 0
  var firstError: ProcFSError?

  /// Protocols whose sockets, when a complete dump missed them, are neither bound nor
  /// connected: TCP and UDP (and UDP-Lite) sockets enter a table when bound or connected.
  static func missingMeansUnconnected(_ proto: TransportProtocol) -> Bool {
    proto == .tcp || proto == .udp || proto == .udplite
  }

  /// Names each of `sockets` by a descriptor holding it. `netns` gives the network namespace
  /// of a process (the socket's is taken to be its owner's).
  init(
    _ sockets: [UnmatchedSocket], reader: SocketProtocolReader, coverage: DumpCoverage,
    netns: (Int32) -> UInt64?
  ) {
    for socket in sockets {
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
      let namespace = netns(socket.owners[0].pid) ?? 0
      let knownUnconnected =
        Self.missingMeansUnconnected(kind.proto)
        && coverage.covers(netns: namespace, proto: kind.proto, family: kind.family)
      var flow = Flow(
        proto: kind.proto, family: kind.family,
        state: knownUnconnected ? SocketState.close.rawValue : 0, socketType: kind.socketType,
        local: .none, remote: .none, inode: socket.inode, netns: namespace)
      flow.listedByKernel = false
      flow.owners = FlowOwners(socket.owners)
      flows.append(flow)
      guard knownUnconnected else { continue }
      var seen: [Int32] = []
      for owner in socket.owners where !seen.contains(owner.pid) {
        seen.append(owner.pid)
        if kind.proto == .tcp {
          self.unconnected[owner.pid, default: UnconnectedSockets()].tcp += 1
        } else {
          self.unconnected[owner.pid, default: UnconnectedSockets()].udp += 1
        }
      }
    }
  }
}
