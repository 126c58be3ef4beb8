/// A process that holds at least one descriptor, as seen in one scan.
public struct OwningProcess: Sendable, Equatable {
  public var pid: Int32
  public var ppid: Int32
  /// `comm` as the kernel gives it: raw bytes, at most 15, may be hostile.
  public var command: [UInt8]
  public var commandLine: [[UInt8]]?
  public var uid: UInt32
  public var user: String?
  public var startTimeTicks: UInt64
  public var netns: UInt64?
  /// False when the process's fd directory could not be read (EACCES): its sockets show as unowned.
  public var descriptorsReadable: Bool
  public var descriptorCount: Int
  public var socketCount: Int
  public var fdLimitSoft: UInt64?
  public var fdLimitHard: UInt64?
  /// The systemd unit the process runs in (`nginx.service`, `session-3.scope`), from its cgroup.
  public var unit: String? = nil
  /// Its container (`docker:0123456789ab`, `k8s:<pod uid>/cri-containerd:<id>`), from its cgroup.
  public var container: String? = nil
  /// The name its runtime gave the container (`web`, `default/api-7d9f/app` in Kubernetes),
  /// from the runtime's files on the host; nil when none names it.
  public var containerName: String? = nil
  /// The path of its executable (`/proc/<pid>/exe`), when asked for with the command line.
  public var executable: [UInt8]? = nil
  /// TCP and UDP sockets it holds that are neither bound nor connected: found through its
  /// descriptors, in a namespace whose tables were dumped whole, and listed in none of them.
  /// What `socket-leak` counts.
  public var unconnectedSockets = UnconnectedSockets()

  public init(pid: Int32, command: [UInt8]) {
    self.pid = pid
    self.ppid = 0
    self.command = command
    self.commandLine = nil
    self.uid = 0
    self.user = nil
    self.startTimeTicks = 0
    self.netns = nil
    self.descriptorsReadable = true
    self.descriptorCount = 0
    self.socketCount = 0
    self.fdLimitSoft = nil
    self.fdLimitHard = nil
  }
}

/// Sockets of one process that no kernel table lists and that are known to be neither bound
/// nor connected, by protocol (UDP counts UDP-Lite; TCP counts MPTCP).
public struct UnconnectedSockets: Sendable, Equatable {
  public var tcp = 0
  public var udp = 0
  public init(tcp: Int = 0, udp: Int = 0) {
    self.tcp = tcp
    self.udp = udp
  }
  public var total: Int { tcp + udp }
}

/// Something the run could not see, said once rather than failing the run.
public enum SnapshotWarning: Sendable, Equatable, CustomStringConvertible {
  /// The kernel has no sock_diag handler for this family/protocol (ENOENT/EOPNOTSUPP).
  case familyUnsupported(String)
  /// A dump failed for another reason; what was read before the failure is kept.
  case dumpFailed(String, detail: String)
  /// The dump stayed inconsistent (NLM_F_DUMP_INTR) after retries; its results may miss sockets.
  case dumpInterrupted(String, attempts: Int)
  /// Processes whose descriptors could not be read (permissions).
  case processesDenied(count: Int, samplePIDs: [Int32])
  /// A network namespace that could not be entered.
  case netnsUnreadable(String, detail: String)
  /// Other network namespaces that were not read, and why (no privilege, a replay...).
  case namespacesSkipped(count: Int, reason: String)
  case other(String)

  public var description: String {
    switch self {
    case .familyUnsupported(let family): "\(family): not supported by this kernel"
    case .dumpFailed(let family, let detail): "\(family): dump failed: \(detail)"
    case .dumpInterrupted(let family, let attempts):
      "\(family): dump inconsistent after \(attempts) attempts; results may be incomplete"
    case .processesDenied(let count, let pids):
      "\(count) process(es) unreadable (permission denied), their sockets show no owner: pid "
        + pids.map(String.init).joined(separator: ",") + (count > pids.count ? ",…" : "")
    case .netnsUnreadable(let ns, let detail): "netns \(ns): \(detail)"
    case .namespacesSkipped(let count, let reason):
      "\(count) other network namespace(s) not read: \(reason)"
    case .other(let text): text
    }
  }
}

/// A network namespace flows were read in.
public struct NetworkNamespace: Sendable, Equatable {
  /// The inode of its `ns/net` file: its identity.
  public var inode: UInt64
  /// Its name under /run/netns, if it has one.
  public var name: String?
  /// The container it belongs to, from a member process's cgroup (`docker:0123456789ab`).
  public var container: String?
  /// Whether it is the namespace flowscope itself runs in.
  public var isOwn: Bool

  public init(inode: UInt64, name: String? = nil, container: String? = nil, isOwn: Bool = false) {
    self.inode = inode
    self.name = name
    self.container = container
    self.isOwn = isOwn
  }

  /// What to call it in a table: its name, else its container, else its inode.
  public var label: String { name ?? container ?? String(inode) }
}

/// Everything one collection saw: flows, the processes that own them, and what it could not see.
public struct Snapshot: Sendable {
  /// Seconds since the epoch, with fractions.
  public var time: Double
  public var host: String
  public var flows: [Flow]
  /// Processes by pid.
  public var processes: [Int32: OwningProcess]
  public var warnings: [SnapshotWarning]
  /// The namespaces the flows were read in, by inode.
  public var namespaces: [UInt64: NetworkNamespace] = [:]
  /// Limits and counters of those namespaces, when asked for (`check`): by namespace inode.
  public var namespaceCounters: [UInt64: NamespaceCounters] = [:]
  /// Host-wide limits and counters, when asked for.
  public var hostCounters: HostCounters? = nil

  public init(
    time: Double, host: String, flows: [Flow], processes: [Int32: OwningProcess],
    warnings: [SnapshotWarning]
  ) {
    self.time = time
    self.host = host
    self.flows = flows
    self.processes = processes
    self.warnings = warnings
  }
}

/// Limits and counters the kernel keeps per network namespace, read beside a snapshot. nil
/// where a file could not be read.
public struct NamespaceCounters: Sendable, Equatable {
  /// `net.ipv4.ip_local_port_range`: the local ports connect() picks from (both IPv4 and IPv6).
  public var localPortRange: ClosedRange<UInt16>?
  /// `TcpExt: ListenOverflows` of /proc/net/netstat: SYNs and final ACKs dropped at a full
  /// accept queue.
  public var listenOverflows: UInt64?
  /// `TcpExt: ListenDrops`: every connection attempt a listener dropped (overflows included).
  public var listenDrops: UInt64?

  public init(
    localPortRange: ClosedRange<UInt16>? = nil, listenOverflows: UInt64? = nil,
    listenDrops: UInt64? = nil
  ) {
    self.localPortRange = localPortRange
    self.listenOverflows = listenOverflows
    self.listenDrops = listenDrops
  }

  /// Connection attempts dropped since `earlier`: ListenDrops' rise, else ListenOverflows'.
  public func droppedConnections(since earlier: NamespaceCounters) -> UInt64? {
    if let now = listenDrops, let then = earlier.listenDrops { return now >= then ? now - then : 0 }
    if let now = listenOverflows, let then = earlier.listenOverflows {
      return now >= then ? now - then : 0
    }
    return nil
  }
}

/// Limits and counters the kernel keeps for the whole host.
public struct HostCounters: Sendable, Equatable {
  /// Orphaned TCP sockets, the kernel's own count ("orphan" in /proc/net/sockstat): sockets no
  /// process holds any more, still closing. One count for all namespaces.
  public var orphans: UInt64?
  /// `net.ipv4.tcp_max_orphans`: past it the kernel resets orphans ("too many orphaned
  /// sockets"). Host-wide: the file exists in the initial namespace only.
  public var maxOrphans: UInt64?

  public init(orphans: UInt64? = nil, maxOrphans: UInt64? = nil) {
    self.orphans = orphans
    self.maxOrphans = maxOrphans
  }
}
