// Health flags: what is wrong (or worth a look) with a flow or a process, read from one snapshot.
// Pure: the same snapshot and thresholds always give the same flags.

/// One health flag. The raw value is the name the table, CSV, JSON and queries use: this enum is
/// the one list of flag names (`HealthFlag(name:)` looks one up). Declared most serious first:
/// `allCases` is the order flags are listed in.
public enum HealthFlag: String, Sendable, CaseIterable, Comparable {
  /// Process: every descriptor the soft RLIMIT_NOFILE allows is in use.
  case fdExhausted = "fd-exhausted"
  /// Process: descriptors in use ≥ `HealthThresholds.fdPressurePercent` of the soft limit.
  case fdPressure = "fd-pressure"
  /// Namespace and destination: local ports in use towards one remote address and port (TIME_WAIT
  /// included) ≥ `portsPercent` of `net.ipv4.ip_local_port_range`.
  case portsExhausted = "ports-exhausted"
  /// Host: orphaned TCP sockets (closed by their process, still closing) ≥ `orphansPercent` of
  /// `net.ipv4.tcp_max_orphans`, a host-wide limit.
  case orphans
  /// Namespace: the kernel dropped connection attempts at listeners (ListenDrops of
  /// /proc/net/netstat rose between two samples) and no listener there shows a full queue.
  case listenDrops = "listen-drops"
  /// Process: it holds at least `HealthThresholds.socketLeakCount` TCP or UDP sockets that are
  /// neither bound nor connected (found through its descriptors, listed by no kernel table):
  /// most often failed connects whose sockets were never closed. Each holds a descriptor.
  case socketLeak = "socket-leak"
  /// The peer closed and this side keeps the socket open (TCP CLOSE_WAIT; UNIX stream or
  /// seqpacket whose receive side was shut down by the peer).
  case peerClosed = "peer-closed"
  /// The application is not reading: a listener's accept queue nearly full, or a connection's
  /// receive queue at or above `recvBacklogBytes`.
  case recvBacklog = "recv-backlog"
  /// Data waits to be sent and nothing has been acknowledged for `stalledMs`.
  case stalled
  /// The peer advertises a receive window of 0 while data waits to be sent.
  case zeroWindow = "zero-window"
  /// A connection in SYN_SENT that has retransmitted its SYN ≥ `unreachableSynRetries` times.
  case unreachable
  /// The kernel is retransmitting unacknowledged data now (or probing an unanswering peer).
  case retransmitting
  /// Established, no data either way for `idleMs`.
  case idle

  public static func < (a: HealthFlag, b: HealthFlag) -> Bool { a.order < b.order }

  /// The position in `allCases`: most serious first.
  var order: Int {
    switch self {
    case .fdExhausted: 0
    case .fdPressure: 1
    case .portsExhausted: 2
    case .orphans: 3
    case .listenDrops: 4
    case .socketLeak: 5
    case .peerClosed: 6
    case .recvBacklog: 7
    case .stalled: 8
    case .zeroWindow: 9
    case .unreachable: 10
    case .retransmitting: 11
    case .idle: 12
    }
  }

  /// The flag called `name` (`"ports-exhausted"`), or nil.
  public init?(name: String) { self.init(rawValue: name) }

  /// What a flag is about.
  public enum Scope: String, Sendable {
    /// One socket.
    case flow
    /// A process (its descriptors).
    case process
    /// A network namespace (and, for `ports-exhausted`, a destination in it).
    case namespace
    /// The whole host (a limit shared by every namespace).
    case host
  }

  public var scope: Scope {
    switch self {
    case .fdExhausted, .fdPressure, .socketLeak: .process
    case .portsExhausted, .listenDrops: .namespace
    case .orphans: .host
    case .peerClosed, .recvBacklog, .stalled, .zeroWindow, .retransmitting, .idle, .unreachable:
      .flow
    }
  }

  /// Whether the flag is about a process (its descriptors) rather than about one flow.
  public var isProcessFlag: Bool { scope == .process }
  /// Whether the flag is about a namespace or the host: no process owns the problem.
  public var isSystemFlag: Bool { scope == .namespace || scope == .host }

  var bit: UInt16 {
    switch self {
    case .fdExhausted: 1 << 0
    case .fdPressure: 1 << 1
    case .peerClosed: 1 << 2
    case .recvBacklog: 1 << 3
    case .stalled: 1 << 4
    case .zeroWindow: 1 << 5
    case .retransmitting: 1 << 6
    case .idle: 1 << 7
    case .unreachable: 1 << 8
    case .portsExhausted: 1 << 9
    case .orphans: 1 << 10
    case .listenDrops: 1 << 11
    case .socketLeak: 1 << 12
    }
  }

  /// How much it matters, for `flowscope check`'s order and its exit status. (`ports-exhausted`
  /// is critical once every port is taken: see `Finding.severity`.)
  public var severity: HealthSeverity {
    switch self {
    case .fdExhausted: .critical
    case .fdPressure, .socketLeak, .peerClosed, .recvBacklog, .stalled, .zeroWindow, .unreachable,
      .portsExhausted, .orphans, .listenDrops:
      .warning
    case .retransmitting: .notice
    case .idle: .info
    }
  }
}

/// How serious a finding is; `critical` first.
public enum HealthSeverity: String, Sendable, CaseIterable, Comparable {
  case critical, warning, notice, info

  public static func < (a: HealthSeverity, b: HealthSeverity) -> Bool {
    allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
  }
}

/// A set of health flags, iterated in `HealthFlag.allCases` order (most serious first).
public struct HealthFlags: Sendable, Hashable, Sequence, ExpressibleByArrayLiteral {
  public var rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }
  public init(_ flag: HealthFlag) { rawValue = flag.bit }
  public init(arrayLiteral flags: HealthFlag...) {
    rawValue = flags.reduce(0) { $0 | $1.bit }
  }

  public var isEmpty: Bool { rawValue == 0 }
  public func contains(_ flag: HealthFlag) -> Bool { rawValue & flag.bit != 0 }
  public mutating func insert(_ flag: HealthFlag) { rawValue |= flag.bit }
  public mutating func formUnion(_ other: HealthFlags) { rawValue |= other.rawValue }
  public func union(_ other: HealthFlags) -> HealthFlags { HealthFlags(rawValue: rawValue | other.rawValue) }

  public func makeIterator() -> Iterator { Iterator(remaining: rawValue) }

  /// The flags in `HealthFlag.allCases` order; a flow without flags costs one comparison.
  public struct Iterator: IteratorProtocol {
    var remaining: UInt16
    var index = 0

    public mutating func next() -> HealthFlag? {
      guard remaining != 0 else { return nil }
      let all = HealthFlag.allCases
      while index < all.count {
        defer { index += 1 }
        if remaining & all[index].bit != 0 {
          remaining &= ~all[index].bit
          return all[index]
        }
      }
      return nil
    }
  }

  /// The most serious flag in the set.
  public var mostSerious: HealthFlag? { HealthFlag.allCases.first { contains($0) } }
}

/// Where the flags start. Defaults are documented in the man page (HEALTH FLAGS).
public struct HealthThresholds: Sendable, Equatable {
  /// `idle`: no data sent or received for this long (`--idle`, default 300 s).
  public var idleMs: UInt64 = 300_000
  /// `stalled`: data queued and no acknowledgement for this long (`--stall`, default 5 s).
  public var stalledMs: UInt64 = 5_000
  /// `recv-backlog` on a connection: unread bytes (`--recv-backlog`, default 64 KiB).
  public var recvBacklogBytes: UInt64 = 65_536
  /// `recv-backlog` on a listener: connections waiting in the accept queue, in percent of the
  /// backlog the application asked for (default 80).
  public var acceptQueuePercent: UInt64 = 80
  /// `fd-pressure`: descriptors in use, in percent of the soft limit (`--fd-threshold`, 80).
  public var fdPressurePercent: Double = 80
  /// `unreachable`: SYN retransmissions of a connection in SYN_SENT (`--syn-retries`, 2). Linux
  /// 6.6+ retries a SYN 1 s apart four times (tcp_syn_linear_timeouts), older kernels after 1,
  /// 3, 7 s: 2 retries are 2-3 s without an answer, which one lost packet (1 retry) does not
  /// explain.
  public var unreachableSynRetries: UInt8 = 2
  /// `ports-exhausted`: local ports in use towards one destination, in percent of the namespace's
  /// ip_local_port_range (`--ports-threshold`, 80). TIME_WAIT holds a port for 60 s, so a
  /// short-lived-connection workload at 80 % is one burst away from EADDRNOTAVAIL.
  public var portsPercent: Double = 80
  /// `orphans`: orphaned TCP sockets in percent of tcp_max_orphans (`--orphans-threshold`, 50).
  /// Past the limit the kernel resets orphans; some already past half of it:
  /// tcp_out_of_resources doubles the count for an orphan silent for long (and again after an
  /// ICMP error).
  public var orphansPercent: Double = 50
  /// `listen-drops`, and the drops in a listener's `recv-backlog` sentence: connection attempts
  /// dropped between two samples (`--listen-drops`, 1). A healthy server drops none; each drop
  /// costs a client at least a 1 s SYN retry.
  public var listenDropsMinimum: UInt64 = 1
  /// `socket-leak`: TCP and UDP sockets a process holds that are neither bound nor connected
  /// (`--leak-threshold`, default 16; 0 turns the flag off).
  ///
  /// Why 16: a healthy program holds such a socket only between `socket()` and its `connect()`
  /// or `bind()` (microseconds), or between a failed connect and its `close()`. A snapshot may
  /// catch a busy multi-threaded client with one such socket per thread; 16 leaves room for that
  /// burst. A leak grows without bound: at 16 it is already visible, long before it uses a
  /// default limit of 1024 descriptors (1.6 %), so the flag warns before `fd-pressure` does.
  public var socketLeakCount: Int = 16

  public init() {}
}

/// `sk_shutdown` bits as sock_diag reports them (INET_DIAG_SHUTDOWN, UNIX_DIAG_SHUTDOWN).
public enum ShutdownBits {
  /// RCV_SHUTDOWN: no more data will be received (the peer's FIN arrived, or SHUT_RD).
  public static let receive: UInt8 = 1
  /// SEND_SHUTDOWN: this side sends no more.
  public static let send: UInt8 = 2
}

extension Flow {
  var isTCPLike: Bool { proto == .tcp || proto == .mptcp }

  /// The flow's health flags under `thresholds`. Never process flags (see `ProcessSummary`).
  public func health(_ thresholds: HealthThresholds) -> HealthFlags {
    var flags = HealthFlags()
    let state = socketState
    if isPeerClosed { flags.insert(.peerClosed) }

    if state == .listen {
      // For a listener the kernel puts the accept queue in Recv-Q and the backlog in Send-Q.
      if receiveQueue > 0,
        UInt64(receiveQueue) * 100 >= UInt64(sendQueue) * thresholds.acceptQueuePercent
      {
        flags.insert(.recvBacklog)
      }
      return flags
    }
    if proto != .packet && proto != .netlink && UInt64(receiveQueue) >= thresholds.recvBacklogBytes
      && thresholds.recvBacklogBytes > 0
    {
      flags.insert(.recvBacklog)
    }

    guard isTCPLike, let tcp else { return flags }
    if state == .synSent {
      // Nothing has been received yet: the "time since" fields are meaningless (never
      // `stalled`). A SYN retried again and again is an unanswered peer; once, a lost packet.
      if thresholds.unreachableSynRetries > 0 && synRetries >= thresholds.unreachableSynRetries {
        flags.insert(.unreachable)
      } else if synRetries > 0 {
        flags.insert(.retransmitting)
      }
      return flags
    }
    let sending =
      state == .established || state == .closeWait || state == .finWait1
      || state == .lastAck || state == .closing
    let queued = sendQueue > 0 || tcp.unacked > 0
    // tcpi_snd_wnd is the peer's advertised window; it only says something while data waits.
    let zeroWindow = sending && queued && tcp.peerWindow == 0
    if zeroWindow { flags.insert(.zeroWindow) }
    // icsk_retransmits counts RTO retransmissions of the head segment. icsk_backoff and
    // icsk_probes_out also grow while probing a zero window; there they mean nothing is lost.
    if tcp.retransmits > 0 || (!zeroWindow && (tcp.backoff > 0 || tcp.probes > 0)) {
      flags.insert(.retransmitting)
    }
    // Nothing acknowledged for a while, and nothing new sent since either: a stall, not a
    // connection that just woke up from a long silence.
    if sendQueue > 0, thresholds.stalledMs > 0, let sinceAck = millisecondsSinceLastAck,
      let sinceSend = millisecondsSinceLastSend,
      UInt64(sinceAck) >= thresholds.stalledMs && UInt64(sinceSend) >= thresholds.stalledMs
    {
      flags.insert(.stalled)
    }
    if state == .established && thresholds.idleMs > 0,
      let sinceSend = millisecondsSinceLastSend, let sinceReceive = millisecondsSinceLastReceive,
      UInt64(sinceSend) >= thresholds.idleMs && UInt64(sinceReceive) >= thresholds.idleMs
    {
      flags.insert(.idle)
    }
    return flags
  }

  /// Whether the connection's "time since" stamps were ever set. The kernel reports
  /// `now - stamp` for last_ack_recv (rcv_tstamp), last_data_recv (icsk_ack.lrcvtime) and
  /// last_data_sent (lsndtime); all three are set when the connection is established (either
  /// side), and are 0 before, so a socket in SYN_SENT (or LISTEN, or never connected) reports
  /// the time since the kernel's jiffies began: the uptime less five minutes, not a duration.
  var hasTimestamps: Bool {
    guard isTCPLike, tcp != nil, let state = socketState else { return false }
    switch state {
    case .synSent, .listen, .close, .newSynReceived, .boundInactive: return false
    default: return true
    }
  }

  /// Milliseconds since the last acknowledgement arrived; nil when none can have arrived yet.
  public var millisecondsSinceLastAck: UInt32? { hasTimestamps ? tcp?.lastAckReceivedMs : nil }
  /// Milliseconds since data was last sent (or the connection established); nil when unknown.
  public var millisecondsSinceLastSend: UInt32? { hasTimestamps ? tcp?.lastDataSentMs : nil }
  /// Milliseconds since data was last received (or the connection established); nil when
  /// unknown.
  public var millisecondsSinceLastReceive: UInt32? {
    hasTimestamps ? tcp?.lastDataReceivedMs : nil
  }

  /// How many times a connection in SYN_SENT has retransmitted its SYN (icsk_retransmits, or
  /// the backoff when larger); 0 in other states.
  public var synRetries: UInt8 {
    guard socketState == .synSent, let tcp else { return 0 }
    return max(tcp.retransmits, tcp.backoff)
  }

  /// The peer closed its end and this socket stays open: TCP CLOSE_WAIT, or a UNIX stream or
  /// seqpacket socket whose receive side the peer shut down (the kernel sets RCV_SHUTDOWN on a
  /// UNIX socket when its peer calls shutdown(SHUT_WR) or closes).
  public var isPeerClosed: Bool {
    if isTCPLike { return socketState == .closeWait }
    if proto == .unix, socketType == 1 || socketType == 5, socketState != .listen,
      let shutdown, shutdown & ShutdownBits.receive != 0
    {
      return true
    }
    return false
  }

  /// How many times the kernel is retrying now: the largest of `retransmits`, `probes` and
  /// `backoff`; 0 without TCP details.
  public var retryCount: Int {
    guard let tcp else { return 0 }
    return Int(max(tcp.retransmits, max(tcp.probes, tcp.backoff)))
  }
}

extension OwningProcess {
  /// Descriptors in use in percent of the soft limit; nil when unlimited, unknown or unread.
  public var fdUsedPercent: Double? { descriptorsAndLimit.map { $0.used * 100 / $0.soft } }

  /// Open descriptors over the soft limit, divided once: 14 of 10,000 prints as 0.0014.
  public var fdUsedRatio: Double? { descriptorsAndLimit.map { $0.used / $0.soft } }

  private var descriptorsAndLimit: (used: Double, soft: Double)? {
    guard descriptorsReadable, let soft = fdLimitSoft, soft > 0 else { return nil }
    return (Double(descriptorCount), Double(soft))
  }

  /// `fd-exhausted` or `fd-pressure` (or neither), and `socket-leak`.
  public func health(_ thresholds: HealthThresholds) -> HealthFlags {
    var flags = HealthFlags()
    if thresholds.socketLeakCount > 0 && unconnectedSockets.total >= thresholds.socketLeakCount {
      flags.insert(.socketLeak)
    }
    guard descriptorsReadable, let soft = fdLimitSoft else { return flags }
    if UInt64(descriptorCount) >= soft {
      flags.insert(.fdExhausted)
    } else if let percent = fdUsedPercent, percent >= thresholds.fdPressurePercent {
      flags.insert(.fdPressure)
    }
    return flags
  }
}
