// What the kernel's protocol name of a socket (`system.sockprotoname`, the `name` of its
// `struct proto`) says about it: the rule, written once, for sockets no sock_diag dump returned.

/// The protocol, family and, where the name implies it, the socket type of a socket known only
/// by its protocol name.
public struct SocketProtocolName: Sendable, Equatable {
  public var proto: TransportProtocol
  public var family: AddressFamily
  /// SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_DCCP = 6; 0 when the name does not
  /// tell (a UNIX datagram or seqpacket socket, netlink, packet, SCTP, vsock).
  public var socketType: UInt8

  public init(proto: TransportProtocol, family: AddressFamily, socketType: UInt8) {
    self.proto = proto
    self.family = family
    self.socketType = socketType
  }

  /// nil for a name this tool has no protocol for (`KCM`, `ALG`, `XDP`, `BLUETOOTH`…): such
  /// sockets stay counted as `other` by `proc`. `PING` (an ICMP datagram socket, which no diag
  /// module lists) is shown as `raw`, the protocol ss files ICMP under.
  public init?(_ name: some Collection<UInt8>) {
    switch String(decoding: name, as: UTF8.self) {
    case "TCP": self.init(proto: .tcp, family: .inet, socketType: 1)
    case "TCPv6": self.init(proto: .tcp, family: .inet6, socketType: 1)
    case "UDP": self.init(proto: .udp, family: .inet, socketType: 2)
    case "UDPv6": self.init(proto: .udp, family: .inet6, socketType: 2)
    case "UDP-Lite": self.init(proto: .udplite, family: .inet, socketType: 2)
    case "UDPLITEv6": self.init(proto: .udplite, family: .inet6, socketType: 2)
    case "MPTCP": self.init(proto: .mptcp, family: .inet, socketType: 1)
    case "MPTCPv6": self.init(proto: .mptcp, family: .inet6, socketType: 1)
    case "RAW": self.init(proto: .raw, family: .inet, socketType: 3)
    case "RAWv6": self.init(proto: .raw, family: .inet6, socketType: 3)
    case "PING": self.init(proto: .raw, family: .inet, socketType: 2)
    case "PINGv6": self.init(proto: .raw, family: .inet6, socketType: 2)
    case "SCTP": self.init(proto: .sctp, family: .inet, socketType: 0)
    case "SCTPv6": self.init(proto: .sctp, family: .inet6, socketType: 0)
    case "DCCP": self.init(proto: .dccp, family: .inet, socketType: 6)
    case "DCCPv6": self.init(proto: .dccp, family: .inet6, socketType: 6)
    case "UNIX-STREAM": self.init(proto: .unix, family: .unix, socketType: 1)
    case "UNIX": self.init(proto: .unix, family: .unix, socketType: 0)
    case "NETLINK": self.init(proto: .netlink, family: .netlink, socketType: 0)
    case "PACKET": self.init(proto: .packet, family: .packet, socketType: 0)
    case "AF_VSOCK": self.init(proto: .vsock, family: .vsock, socketType: 0)
    default: return nil
    }
  }
}
