import FlowModel

/// A column of the table and CSV outputs; the raw value is the name `-o/--columns` accepts.
public enum Column: String, CaseIterable, Sendable {
  case proto, local, remote
  case bytesIn = "bytes-in"
  case bytesOut = "bytes-out"
  case packetsIn = "pkts-in"
  case packetsOut = "pkts-out"
  case retrans, netif, state, rtt, process, fd, user
  case sendQ = "send-q"
  case recvQ = "recv-q"
  case cgroup, netns, cc, inode, uid, cookie, mark, tos, drops, shutdown, cwnd, peer, pid, command
  case flags
  case ppid, unit, container
  case containerName = "container-name"
  case exe, cmdline

  /// Whether the column shows what inet dumps give only beyond tcp_info (congestion control,
  /// TOS, socket drops).
  public var needsMoreThanCounters: Bool { self == .cc || self == .tos || self == .drops }

  /// The table header.
  public var title: String {
    switch self {
    case .proto: "Proto"
    case .local: "Local Address"
    case .remote: "Remote Address"
    case .bytesIn: "In Bytes"
    case .bytesOut: "Out Bytes"
    case .packetsIn: "In Pkts"
    case .packetsOut: "Out Pkts"
    case .retrans: "Retrans"
    case .netif: "NetIf"
    case .state: "State"
    case .rtt: "RTT"
    case .process: "Process"
    case .fd: "FD"
    case .user: "User"
    case .sendQ: "Send-Q"
    case .recvQ: "Recv-Q"
    case .cgroup: "Cgroup"
    case .netns: "NetNS"
    case .cc: "CC"
    case .inode: "Inode"
    case .uid: "UID"
    case .cookie: "Cookie"
    case .mark: "Mark"
    case .tos: "TOS"
    case .drops: "Drops"
    case .shutdown: "Shutdown"
    case .cwnd: "Cwnd"
    case .peer: "Peer"
    case .pid: "PID"
    case .command: "Command"
    case .flags: "Flags"
    case .ppid: "PPID"
    case .unit: "Unit"
    case .container: "Container"
    case .containerName: "Container Name"
    case .exe: "Executable"
    case .cmdline: "Command Line"
    }
  }

  /// A one-line description for `--help` / `--list-columns`.
  public var summary: String {
    switch self {
    case .proto: "transport protocol (tcp, udp, unix, packet, netlink, …)"
    case .local: "local address:port, UNIX path or @abstract name, packet ifname/ethertype"
    case .remote: "remote address:port; UNIX: peer:command.pid of the peer socket's owner"
    case .bytesIn: "bytes received (TCP); - when the kernel gives no counter"
    case .bytesOut: "bytes sent and acknowledged (TCP)"
    case .packetsIn: "segments received (TCP)"
    case .packetsOut: "segments sent (TCP)"
    case .retrans: "segments retransmitted in total (TCP)"
    case .netif: "interface the socket is bound to"
    case .state: "socket state (ESTAB, LISTEN, UNCONN, …)"
    case .rtt: "smoothed round-trip time (TCP)"
    case .process: "owning process as command.pid, +N for more processes"
    case .fd: "descriptor number in the (first) owning process"
    case .user: "user of the (first) owning process, else the socket's uid"
    case .ppid: "parent pid of the (first) owning process"
    case .unit: "systemd unit of the (first) owning process (nginx.service, session-3.scope)"
    case .container: "container of the (first) owning process (docker:0123456789ab, k8s:…)"
    case .containerName: "its name from the runtime's files (web, <namespace>/<pod>/<container>)"
    case .exe: "path of the (first) owning process's executable (read when asked for)"
    case .cmdline: "command line of the (first) owning process (read when asked for)"
    case .sendQ: "send queue bytes"
    case .recvQ: "receive queue bytes"
    case .cgroup: "cgroup v2 id"
    case .netns: "network namespace: its name, container or inode"
    case .cc: "congestion control algorithm (TCP)"
    case .inode: "socket inode"
    case .uid: "socket uid"
    case .cookie: "socket cookie"
    case .mark: "firewall mark (SO_MARK)"
    case .tos: "TOS / traffic class"
    case .drops: "packets dropped by the socket"
    case .shutdown: "shutdown state: <-> open, --> receive shut, <-- send shut, --- both"
    case .cwnd: "congestion window in segments (TCP)"
    case .peer: "UNIX peer socket inode"
    case .pid: "pid of the (first) owning process"
    case .command: "command of the (first) owning process"
    case .flags: "health flags: peer-closed, recv-backlog, stalled, zero-window, retransmitting(N), idle"
    }
  }

  /// Numbers are right-aligned in the table; text is left-aligned.
  public var isNumeric: Bool {
    switch self {
    case .bytesIn, .bytesOut, .packetsIn, .packetsOut, .retrans, .rtt, .fd, .sendQ, .recvQ,
      .cgroup, .netns, .inode, .uid, .cookie, .mark, .tos, .drops, .cwnd, .peer, .pid, .ppid:
      true
    default: false
    }
  }

  public static let defaults: [Column] = [
    .proto, .local, .remote, .bytesIn, .bytesOut, .packetsIn, .packetsOut, .retrans, .netif,
    .state, .rtt, .process,
  ]

  /// Parses a comma-separated `-o` list (`proto,local,bytes-in`; spaces and case ignored).
  /// Fails with the first unknown name. A leading `+` (`+cc,cwnd`) appends to the defaults.
  public static func parseList(_ text: String) -> Result<[Column], UnknownColumn> {
    var names = Substring(text)
    var columns: [Column] = []
    if names.hasPrefix("+") {
      names = names.dropFirst()
      columns = defaults
    }
    for name in names.split(separator: ",", omittingEmptySubsequences: true) {
      let trimmed = name.trimmingSpaces().lowercased()
      guard let column = Column(rawValue: trimmed) else {
        return .failure(UnknownColumn(name: trimmed))
      }
      columns.append(column)
    }
    return .success(columns)
  }
}

extension Column {
  /// The columns of repeated `-o` lists: the first as written, each later one adding the
  /// columns not there yet; nil when there is none (the defaults).
  public static func chosen(_ lists: [String]) -> Result<[Column]?, UnknownColumn> {
    guard !lists.isEmpty else { return .success(nil) }
    var chosen: [Column] = []
    for list in lists {
      switch parseList(list) {
      case .success(let parsed): chosen += chosen.isEmpty ? parsed : parsed.filter { !chosen.contains($0) }
      case .failure(let error): return .failure(error)
      }
    }
    return .success(chosen)
  }
}

/// A column name `-o` does not know.
public struct UnknownColumn: Error, Sendable, CustomStringConvertible {
  public var name: String
  public var description: String {
    "unknown column '\(name)'; known: " + Column.allCases.map(\.rawValue).joined(separator: ",")
  }
}

extension Substring {
  fileprivate func trimmingSpaces() -> Substring {
    var s = self
    while s.first == " " { s = s.dropFirst() }
    while s.last == " " { s = s.dropLast() }
    return s
  }
}

/// What and how to render.
public struct RenderOptions: Sendable {
  /// Adds the NetNS column second, unless it is there.
  public mutating func addNamespaceColumn() {
    if !columns.contains(.netns) { columns.insert(.netns, at: min(1, columns.count)) }
  }

  /// The one rule of `flow` and `kill`: when the flows shown are of several network
  /// namespaces and no columns were chosen, a NetNS column says which one each is in. How many
  /// namespaces were read does not matter, only the flows shown. (A CSV listing that may need
  /// the column is collected whole rather than streamed, so the flows can decide.)
  public mutating func addNamespaceColumn(ifSeveralIn flows: [Flow], columnsChosen: Bool) {
    guard !columnsChosen, let first = flows.first?.netns, flows.contains(where: { $0.netns != first }) else {
      return
    }
    addNamespaceColumn()
  }

  /// Table and CSV columns, in order (JSON ignores them and always writes the full object).
  public var columns: [Column] = Column.defaults
  /// The table's title line and the CSV header row (`-H/--no-header` turns it off).
  public var header = true
  /// No truncation at all, even when `terminalWidth` is set.
  public var wide = false
  /// Exact byte counts instead of `1.2 MiB` in the table (CSV and JSON are always exact).
  public var exactBytes = false
  /// ANSI colours for states and a bold header; the caller decides (tty, NO_COLOR, --color).
  public var color = false
  /// When set and not `wide`, the lines are fitted to this many cells if they can be: columns
  /// are left out and Local/Remote/Process/Command shortened by display width (`ColumnFit`).
  public var terminalWidth: Int? = nil
  /// ifindex → name; the NetIf column and JSON `interface_name` use it.
  public var interfaceNames: [UInt32: String] = [:]
  /// `-r/--resolve`: host names by address and service names by port, for the table and CSV.
  /// An address or port missing here prints numerically.
  public var hostNames: [IPAddress: String] = [:]
  public var serviceNames: [UInt16: String] = [:]
  /// Where the health flags (the Flags column, JSON `flags`) start.
  public var health = HealthThresholds()

  public init() {}
}
