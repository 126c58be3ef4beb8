// The fields a query can name: each flow field by its JSON key, the short names ss users know,
// the owners' fields and, for `proc` and `check`, the processes' own. One table, read by the
// parser (names and types), the evaluator (values) and the planner (what the kernel can test).

import FlowModel

public enum QueryField: String, Sendable, CaseIterable, Hashable {
  // The socket.
  case proto, family, state
  case stateCode = "state_code"
  case type
  case stateless, owned
  case localAddress = "local"
  case remoteAddress = "remote"
  case localPort = "local.port"
  case remotePort = "remote.port"
  case port
  case localPath = "local.path"
  case localAbstract = "local.abstract"
  case inode, cookie, uid, netns
  case netnsName = "netns_name"
  case interface
  // Counters and TCP details.
  case bytesIn = "bytes_in"
  case bytesOut = "bytes_out"
  case packetsIn = "packets_in"
  case packetsOut = "packets_out"
  case retransBytes = "retrans_bytes"
  case retransmitsTotal = "retransmits_total"
  case rttUs = "rtt_us"
  case rttvarUs = "rttvar_us"
  case minRttUs = "min_rtt_us"
  case rtt, rttvar
  case minRtt = "min_rtt"
  case cwnd, retransmits, lost
  case lastSendMs = "last_send_ms"
  case lastRecvMs = "last_recv_ms"
  case lastSend = "last_send"
  case lastRecv = "last_recv"
  case idleTime = "idle_time"
  case congestion
  case recvQ = "recv_q"
  case sendQ = "send_q"
  case shutdown
  case cgroupID = "cgroup_id"
  case mark, tos, drops, `protocol`
  case flags
  // The owners: true when any process descriptor holding the socket matches.
  case pid, ppid, fd, command, user, unit, container
  case containerName = "container_name"
  case exe, cmdline
  // The owning processes' descriptors.
  case fdCount = "fd_count"
  case fdPercent = "fd_pct"
  case fdLimit = "fd_limit"
  case fdLimitHard = "fd_limit_hard"
  case sockets

  /// Other names for fields: ss's and the obvious ones.
  static let aliases: [String: QueryField] = [
    "src": .localAddress, "laddr": .localAddress, "local.address": .localAddress,
    "dst": .remoteAddress, "raddr": .remoteAddress, "remote.address": .remoteAddress,
    "sport": .localPort, "lport": .localPort, "dport": .remotePort, "rport": .remotePort,
    "comm": .command, "dev": .interface, "fd_percent": .fdPercent, "proto_name": .proto,
    "retrans": .retransmits,
  ]

  /// The field called `name` (`-` and `_` alike, case ignored).
  public static func named(_ name: String) -> QueryField? {
    let key = String(name.lowercased().map { $0 == "-" ? "_" : $0 })
    return QueryField(rawValue: key) ?? aliases[key]
  }

  /// The name a query is written back with: ss's short names where they exist.
  public var shortName: String {
    switch self {
    case .localAddress: "src"
    case .remoteAddress: "dst"
    case .localPort: "sport"
    case .remotePort: "dport"
    default: rawValue
    }
  }

  /// Every name a field answers to, for suggestions.
  static var allNames: [String] { allCases.map(\.rawValue) + aliases.keys.sorted() }

  /// What kind of value the field holds.
  var kind: Kind {
    switch self {
    case .proto, .family, .state, .type, .flags: .member
    case .stateless, .owned: .boolean
    case .localAddress, .remoteAddress: .address
    case .localPath, .localAbstract, .netnsName, .congestion, .command, .unit, .container, .containerName, .exe,
      .cmdline:
      .text
    case .bytesIn, .bytesOut, .retransBytes, .recvQ, .sendQ: .number(.bytes)
    case .rttUs, .rttvarUs, .minRttUs: .number(.micros)
    case .rtt, .rttvar, .minRtt: .number(.micros, unitRequired: true)
    case .lastSendMs, .lastRecvMs: .number(.millis)
    case .lastSend, .lastRecv, .idleTime: .number(.millis, unitRequired: true)
    case .fdPercent: .number(.percent)
    default: .number(.count)
    }
  }

  enum Kind: Equatable {
    case number(NumberUnit, unitRequired: Bool = false)
    case address, text, member, boolean
  }

  /// Whether the field is about the owning processes only (no socket needed): `proc` and
  /// `check` test such fields on each process, and the others on its flows.
  public var isProcessField: Bool {
    switch self {
    case .pid, .ppid, .command, .user, .unit, .container, .containerName, .exe, .cmdline, .fdCount, .fdPercent,
      .fdLimit, .fdLimitHard, .sockets:
      true
    default: false
    }
  }

  /// Whether the value comes from tcp_info (counters, RTT, windows), which only TCP has.
  var isTCPInfoField: Bool {
    switch self {
    case .bytesIn, .bytesOut, .packetsIn, .packetsOut, .retransBytes, .retransmitsTotal, .rttUs,
      .rttvarUs, .minRttUs, .rtt, .rttvar, .minRtt, .cwnd, .retransmits, .lost, .lastSendMs,
      .lastRecvMs, .lastSend, .lastRecv, .idleTime, .congestion:
      true
    default: false
    }
  }

  /// Whether reading the field needs the owning processes (the /proc scan).
  public var needsOwners: Bool { isProcessField || self == .fd || self == .owned }
}

/// The unit a number field is kept in; literals with units are converted to it.
public enum NumberUnit: Sendable, Equatable {
  case count, bytes, micros, millis, percent

  var isDuration: Bool { self == .micros || self == .millis }
}

extension TransportProtocol {
  /// `-p inet`: the IP protocols, the ones listed by default.
  public static let ipProtocols: [TransportProtocol] = [.tcp, .udp, .udplite, .mptcp, .raw, .sctp]
}

/// Socket type numbers (SOCK_STREAM …) by the names the JSON uses.
enum SocketTypeName {
  static let all: [(String, UInt8)] = [
    ("stream", 1), ("dgram", 2), ("raw", 3), ("rdm", 4), ("seqpacket", 5), ("dccp", 6),
    ("packet", 10),
  ]
}

/// SockDiag names the kernel's numbers AddressFamily too; here it is always the model's.
typealias AddressFamily = FlowModel.AddressFamily
