import FlowModel
import NetlinkTransport
import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

/// What the kernel said to a SOCK_DESTROY, or why it could not be asked.
public enum DestroyAnswer: Sendable, Equatable {
  /// 0 when the socket was aborted, else the kernel's errno.
  case kernel(errno: Int32)
  /// Not a TCP, UDP or UDP-Lite socket: no request is sent.
  case notDestroyable
  /// The socket's namespace could not be reached (it was not read, or the netlink socket failed).
  case unreachable(String)
}

extension FlowInspector {
  /// Asks the kernel to abort `flow`'s socket, from inside the network namespace it was read
  /// in, through the netlink socket that dumped it. The socket is named by its id, cookie
  /// included: another socket that took its addresses since is never hit (ENOENT).
  public func destroy(_ flow: Flow) -> DestroyAnswer {
    guard let id = InetSocketID(flow) else { return .notDestroyable }
    let chosen: SockDiagSource? = flow.netns == ownNetns ? source : namespaceSources[flow.netns]
    guard let kernel = chosen as? KernelSource else {
      return .unreachable(chosen == nil ? "its network namespace was not read" : "not read from the kernel")
    }
    do {
      return .kernel(errno: try kernel.destroy(id))
    } catch {
      return .unreachable(error.description)
    }
  }
}

extension InetSocketID {
  /// The id of a TCP, UDP or UDP-Lite flow; nil for any other.
  init?(_ flow: Flow) {
    let proto: InetProtocol
    switch flow.proto {
    case .tcp: proto = .tcp
    case .udp: proto = .udp
    case .udplite: proto = .udplite
    default: return nil
    }
    guard flow.family == .inet || flow.family == .inet6,
      case .ip(let local, let localPort) = flow.local, case .ip(let remote, let remotePort) = flow.remote
    else { return nil }
    self.init(
      family: flow.family == .inet ? addressFamilyInet : addressFamilyInet6, proto: proto,
      sourcePort: localPort, destinationPort: remotePort, sourceAddress: InetAddressBytes(local),
      destinationAddress: InetAddressBytes(remote), interfaceIndex: flow.interfaceIndex,
      cookie: flow.cookie)
  }
}

extension InetAddressBytes {
  /// The wire's bytes of an address: IPv4 in the first four.
  init(_ address: IPAddress) {
    switch address {
    case .v4(let value): self.init(high: UInt64(value) << 32, low: 0)
    case .v6(let high, let low): self.init(high: high, low: low)
    }
  }
}
