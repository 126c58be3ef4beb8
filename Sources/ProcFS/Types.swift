/// What a `/proc/<pid>/fd/<n>` link points to.
public enum FDTarget: Sendable, Hashable {
  /// `socket:[12345]`
  case socket(inode: UInt64)
  /// `pipe:[678]`
  case pipe(inode: UInt64)
  /// `anon_inode:[eventfd]` or `anon_inode:inotify`; the name without brackets.
  case anonInode(name: [UInt8])
  /// An absolute path (may end in ` (deleted)`), raw bytes.
  case path([UInt8])
  /// Anything else (`net:[4026531840]`, `/` missing, malformed socket link …), raw bytes.
  case other([UInt8])
}

/// One socket fd of a process, identified by the socket inode that sock_diag reports.
public struct SocketDescriptor: Sendable, Hashable {
  public var fd: Int32
  public var inode: UInt64
  public init(fd: Int32, inode: UInt64) {
    self.fd = fd
    self.inode = inode
  }
}

/// How many fds of each kind a process holds. Always filled when the fd dir was readable.
public struct DescriptorCounts: Sendable, Equatable {
  public var total = 0
  public var sockets = 0
  public var pipes = 0
  public var anonInodes = 0
  /// Links whose target is an absolute path.
  public var files = 0
  public var other = 0
  public init(
    total: Int = 0, sockets: Int = 0, pipes: Int = 0, anonInodes: Int = 0, files: Int = 0,
    other: Int = 0
  ) {
    self.total = total
    self.sockets = sockets
    self.pipes = pipes
    self.anonInodes = anonInodes
    self.files = files
    self.other = other
  }
}

/// One process as seen in `/proc/<pid>`.
public struct ProcessRecord: Sendable {
  public var pid: Int32
  public var ppid: Int32
  /// `comm` from `/proc/<pid>/stat`, raw bytes (at most 15 on Linux; may hold any byte).
  public var command: [UInt8]
  /// argv from `/proc/<pid>/cmdline`; nil unless `readCommandLine` was set (or unreadable);
  /// `[]` for kernel threads and zombies.
  public var commandLine: [[UInt8]]?
  /// Effective uid (second number of `Uid:` in `/proc/<pid>/status`).
  public var uid: UInt32
  /// Real uid (first number of `Uid:`).
  public var realUID: UInt32
  /// The `NSpid:` line, outermost first; `[pid]` outside pid namespaces, `[]` if absent.
  public var namespacePIDs: [Int32]
  /// Field 3 of stat, e.g. `UInt8(ascii: "S")`.
  public var state: UInt8
  /// Field 22 of stat, clock ticks since boot (with `pid`, identifies the process over time).
  public var startTimeTicks: UInt64
  /// `st_ino` of `/proc/<pid>/ns/net`; nil when it could not be read (denied, or vanished).
  public var netnsInode: UInt64?
  /// False when `/proc/<pid>/fd` could not be read (see `ProcScanResult.denied`/`errors`);
  /// then `descriptorCounts` is zero and `sockets` empty.
  public var fdsReadable: Bool
  public var descriptorCounts: DescriptorCounts
  /// Socket fds in the order the kernel listed them (ascending fd).
  public var sockets: [SocketDescriptor]
  /// Non-socket fds with their targets, only when `keepOtherDescriptors` was set.
  public var otherDescriptors: [(fd: Int32, target: FDTarget)]?
  /// `Max open files` of `/proc/<pid>/limits`. nil means unlimited, or not read: see `fdLimitRead`.
  public var fdLimitSoft: UInt64?
  public var fdLimitHard: UInt64?
  /// True when the limits file was read and parsed, so nil limits mean "unlimited".
  public var fdLimitRead: Bool
  /// The cgroup path that names the process's unit or container (`ProcParsers.cgroupPath`);
  /// read for processes that hold sockets, nil when unread.
  public var cgroupPath: String? = nil
  /// The target of `/proc/<pid>/exe`, read with the command line; nil when unread or denied.
  public var executable: [UInt8]? = nil

  public init(
    pid: Int32, ppid: Int32 = 0, command: [UInt8] = [], commandLine: [[UInt8]]? = nil,
    uid: UInt32 = 0,
    realUID: UInt32 = 0, namespacePIDs: [Int32] = [], state: UInt8 = 0, startTimeTicks: UInt64 = 0,
    netnsInode: UInt64? = nil, fdsReadable: Bool = false,
    descriptorCounts: DescriptorCounts = DescriptorCounts(),
    sockets: [SocketDescriptor] = [], otherDescriptors: [(fd: Int32, target: FDTarget)]? = nil,
    fdLimitSoft: UInt64? = nil, fdLimitHard: UInt64? = nil, fdLimitRead: Bool = false
  ) {
    self.pid = pid
    self.ppid = ppid
    self.command = command
    self.commandLine = commandLine
    self.uid = uid
    self.realUID = realUID
    self.namespacePIDs = namespacePIDs
    self.state = state
    self.startTimeTicks = startTimeTicks
    self.netnsInode = netnsInode
    self.fdsReadable = fdsReadable
    self.descriptorCounts = descriptorCounts
    self.sockets = sockets
    self.otherDescriptors = otherDescriptors
    self.fdLimitSoft = fdLimitSoft
    self.fdLimitHard = fdLimitHard
    self.fdLimitRead = fdLimitRead
  }
}

public struct ProcScanOptions: Sendable {
  /// Directory to read instead of `/proc` (tests point it at a fake tree).
  public var root: String = "/proc"
  /// Only these pids; nothing else under `root` is touched (not even listed). nil = all.
  public var pids: Set<Int32>? = nil
  /// Worker threads (clamped to 1...64 and to the number of pids). 1 runs on the caller's thread.
  public var threads: Int = 2
  /// Keep the targets of non-socket fds in `ProcessRecord.otherDescriptors` (slower).
  public var keepOtherDescriptors = false
  /// Read `/proc/<pid>/cmdline`.
  public var readCommandLine = false
  /// Read `/proc/<pid>/limits` (`Max open files`).
  public var readLimits = true
  /// Most unexpected errors kept in `ProcScanResult.errors`; the rest are only counted.
  public var maxErrors = 64
  /// Every process's descriptors from elsewhere (a BPF iterator's pass): then no fd directory
  /// is read, and each listed process takes its count and sockets from here (none when it is
  /// absent). `keepOtherDescriptors` is then ignored.
  public var descriptors: KnownDescriptors? = nil
  /// With `descriptors`: the facts of the processes read by earlier scans, used for those
  /// still alive and kept up to date (`ProcessFacts`). Ignored without `descriptors`.
  public var facts: ProcessFacts? = nil
  /// How directories are listed; tests force `.readdir` to exercise the fallback.
  var directoryListing: DirectoryListing = .automatic

  public init(
    root: String = "/proc", pids: Set<Int32>? = nil, threads: Int = 2,
    keepOtherDescriptors: Bool = false,
    readCommandLine: Bool = false, readLimits: Bool = true, maxErrors: Int = 64
  ) {
    self.root = root
    self.pids = pids
    self.threads = threads
    self.keepOtherDescriptors = keepOtherDescriptors
    self.readCommandLine = readCommandLine
    self.readLimits = readLimits
    self.maxErrors = maxErrors
  }
}

public struct ProcScanResult: Sendable {
  /// Processes sorted by pid. Includes denied ones (with `fdsReadable == false`).
  public var processes: [ProcessRecord]
  /// Pids whose fd dir (or whole pid dir) gave EACCES/EPERM, sorted.
  public var denied: [Int32]
  /// Processes that went away during the scan (ENOENT/ESRCH); they are not in `processes`.
  public var vanished: Int
  /// Unexpected errors (not vanished, not denied, not an fd closed under us), at most `maxErrors`.
  public var errors: [ProcFSError]
  /// Unexpected errors beyond `maxErrors` that were dropped.
  public var errorsOmitted: Int

  public init(
    processes: [ProcessRecord] = [], denied: [Int32] = [], vanished: Int = 0,
    errors: [ProcFSError] = [],
    errorsOmitted: Int = 0
  ) {
    self.processes = processes
    self.denied = denied
    self.vanished = vanished
    self.errors = errors
    self.errorsOmitted = errorsOmitted
  }
}

/// `.automatic` uses `getdents64` when libc has it, else `readdir`.
enum DirectoryListing: Sendable {
  case automatic
  case readdir
}

/// Every process's descriptors, read in one pass by another source than `/proc/<pid>/fd` (the
/// BPF task-file iterator of `BPFOwners`): how many each process holds, and its sockets. A
/// scan given these (`ProcScanOptions.descriptors`) reads everything else from `/proc` as
/// usual, and no fd directory.
public struct KnownDescriptors: Sendable {
  public struct Process: Sendable, Equatable {
    /// Open descriptors of every kind.
    public var count: Int
    /// Socket descriptors, in ascending fd order.
    public var sockets: [SocketDescriptor]
    public init(count: Int = 0, sockets: [SocketDescriptor] = []) {
      self.count = count
      self.sockets = sockets
    }
  }

  /// By pid (of the pid namespace of `/proc`). A process that holds no descriptor is absent.
  public var processes: [Int32: Process]

  public init(processes: [Int32: Process] = [:]) {
    self.processes = processes
  }
}
