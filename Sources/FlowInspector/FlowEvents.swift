import FlowModel
import FlowSignals
import NetlinkTransport
import ProcFS
import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

// `flowscope events`: closes come from the sock_diag destroy groups, owners from periodic scans.
//
// The kernel's destroy message has the final counters but no inode (the socket has already left
// its file), so the owner is what an earlier scan saw: `FlowEventTracker` remembers every TCP
// and UDP socket of the scans by cookie (the same 64-bit value in dumps and destroy messages),
// with the (proto, local, remote) tuple as a fallback for a zero cookie.

/// The memory of the periodic scans, and the join of destroy messages with it. Pure: no I/O.
public struct FlowEventTracker {
  struct Entry {
    var flow: Flow
    var processes: [Int32: OwningProcess]
    var firstSeen: Double
    var lastScan: Int
  }

  struct Tuple: Hashable {
    var netns: UInt64
    var proto: TransportProtocol
    var local: Endpoint
    var remote: Endpoint
  }

  private var entries: [UInt64: Entry] = [:]
  private var byTuple: [Tuple: UInt64] = [:]
  /// Cookies closed recently, with the scan count at the time: a scan that began before a close
  /// but was merged after it must not bring the flow back.
  private var closed: [UInt64: Int] = [:]
  /// Scans merged so far.
  public private(set) var scans = 0
  /// The network namespace whose sockets are followed; flows of other namespaces in a scan are
  /// ignored. 0: every namespace (the destroy messages then say which namespace they came from).
  public var netns: UInt64

  public init(netns: UInt64 = 0) { self.netns = netns }

  /// Sockets remembered now.
  public var count: Int { entries.count }

  /// Whether a flow is worth remembering: TCP or UDP sockets with an inode. TIME_WAIT and
  /// request sockets (inode 0) are not sockets of a process and have no destroy message of their
  /// own; orphans (closed by their process, inode 0) only update what is already known.
  static func isTracked(_ flow: Flow) -> Bool {
    (flow.proto == .tcp || flow.proto == .udp) && (flow.family == .inet || flow.family == .inet6)
  }

  /// Merges one scan; returns the flows it saw for the first time (none on the first scan,
  /// which is the baseline), stamped with `snapshot.time`.
  public mutating func absorb(_ snapshot: Snapshot) -> [FlowEvent] {
    scans += 1
    var fresh: [FlowEvent] = []
    for flow in snapshot.flows where Self.isTracked(flow) && (netns == 0 || flow.netns == netns) {
      if closed[flow.cookie] != nil { continue }
      let owners = flow.owners
      var processes: [Int32: OwningProcess] = [:]
      for owner in owners { processes[owner.pid] = snapshot.processes[owner.pid] }
      if var entry = entries[flow.cookie] {
        // Keep the last known owners when the process has closed its descriptor (an orphan
        // finishing its FIN exchange) or could not be read this time.
        var updated = flow
        if owners.isEmpty {
          updated.owners = entry.flow.owners
        } else {
          entry.processes = processes
        }
        entry.flow = updated
        entry.lastScan = scans
        entries[flow.cookie] = entry
      } else if flow.inode != 0 {
        entries[flow.cookie] = Entry(
          flow: flow, processes: processes, firstSeen: snapshot.time, lastScan: scans)
        byTuple[Tuple(netns: flow.netns, proto: flow.proto, local: flow.local, remote: flow.remote)] = flow.cookie
        if scans > 1 {
          fresh.append(
            FlowEvent(
              kind: .new, time: snapshot.time, flow: flow, processes: processes,
              firstSeen: snapshot.time))
        }
      }
    }
    // A socket absent from two scans in a row went without a message we could use (lost,
    // or gone to TIME_WAIT and its message missed): forget it.
    let stale = entries.filter { $0.value.lastScan < scans - 1 }
    for (cookie, entry) in stale {
      entries[cookie] = nil
      let tuple = Tuple(
        netns: entry.flow.netns, proto: entry.flow.proto, local: entry.flow.local, remote: entry.flow.remote)
      if byTuple[tuple] == cookie { byTuple[tuple] = nil }
    }
    closed = closed.filter { $0.value >= scans - 2 }
    return fresh
  }

  /// Whether a scan has seen the socket with this cookie (and it has not closed since).
  public func knows(cookie: UInt64) -> Bool { entries[cookie] != nil }

  /// The close of `socket` (decoded from a destroy message, read at `time`), with the owner and
  /// first-seen time the scans remembered. The socket is then forgotten.
  public mutating func close(_ socket: InetSocket, at time: Double, netns: UInt64? = nil) -> FlowEvent {
    var flow = Flow(inet: socket, netns: netns ?? self.netns)
    let tuple = Tuple(netns: flow.netns, proto: flow.proto, local: flow.local, remote: flow.remote)
    var cookie = flow.cookie
    if entries[cookie] == nil, let byAddress = byTuple[tuple],
      cookie == 0 || entries[byAddress]?.flow.cookie == 0
    {
      // Cookies identify sockets; the addresses are used only when one side has no cookie.
      cookie = byAddress
    }
    closed[flow.cookie] = scans
    guard let entry = entries.removeValue(forKey: cookie) else {
      return FlowEvent(kind: .close, time: time, flow: flow)
    }
    if byTuple[tuple] == cookie { byTuple[tuple] = nil }
    flow.owners = entry.flow.owners
    flow.netns = entry.flow.netns
    if flow.tcp?.congestionControl == nil, let known = entry.flow.tcp?.congestionControl {
      flow.tcp?.congestionControl = known
    }
    if flow.cgroupID == nil { flow.cgroupID = entry.flow.cgroupID }
    return FlowEvent(
      kind: .close, time: time, flow: flow, processes: entry.processes, firstSeen: entry.firstSeen)
  }
}

// MARK: - The monitor: one thread reads destroy messages, another scans

/// What `FlowEventMonitor` hands its caller.
public enum FlowEventReport {
  case event(FlowEvent)
  /// The kernel dropped `count` destroy messages (receive buffer overrun); the buffer is now
  /// `bufferBytes`. `count` is nil when the drop counter could not be read.
  case lost(count: UInt64?, bufferBytes: Int)
  /// The first scan is merged: from now on closes of flows that existed then have owners.
  case ready(flows: Int)
  /// Something the run could not do or see, said once.
  case warning(String)
}

public struct FlowEventMonitorOptions: Sendable {
  /// What the periodic scans collect (their protocols should be TCP and/or UDP).
  public var inspect: InspectOptions
  public var groups: [DestroyGroup]
  /// Seconds between the starts of two scans.
  public var scanInterval: Double = 1
  public var bufferBytes = 32 << 20
  /// Upper limit when the buffer grows after an overrun.
  public var maximumBufferBytes = 512 << 20
  /// Report flows first seen by a scan.
  public var reportNew = false
  /// Block SIGINT and SIGTERM and end cleanly when one arrives (for the command; in-process
  /// tests leave signals alone).
  public var handleSignals = false
  /// Stop after this many seconds.
  public var duration: Double? = nil
  /// Follow the closes of every network namespace the scans find (root), not only the one
  /// flowscope runs in: a destroy socket is opened inside each as it appears.
  public var everyNamespace = false
  /// Follow this namespace alone (`--netns`): its inode, and a path to enter it by.
  public var namespace: (inode: UInt64, path: String)? = nil

  public init(inspect: InspectOptions, groups: [DestroyGroup]) {
    self.inspect = inspect
    self.groups = groups
  }
}

/// Counts for the closing summary.
public struct FlowEventSummary: Sendable, Equatable {
  public var closes = 0
  public var news = 0
  /// Closes of flows no scan saw (born and gone between two scans): owner `?`.
  public var unknownOwners = 0
  /// Destroy messages the kernel dropped (receive buffer overruns).
  public var lost: UInt64 = 0
  /// Times recvmsg reported ENOBUFS.
  public var overruns = 0
  public var undecodable = 0
  public var scans = 0
  /// Why the run ended: "signal SIGINT", "duration", "count".
  public var endedBy = ""
  public init() {}
}

/// Why the caller's handler wants to go on or stop.
public enum FlowEventVerdict { case goOn, stop }

/// Runs the destroy socket and the scans until the duration passes, a signal arrives, or the
/// handler says stop.
///
/// Threads: the caller's thread polls the destroy socket, a pipe from the scanner and (with
/// `handleSignals`) a signalfd; it owns the tracker and calls the handler. One scanner thread
/// runs `FlowInspector.snapshot` every `scanInterval` seconds and hands each snapshot over
/// through the pipe. While a scan is running, a close of a socket the tracker does not know
/// waits (with every message after it, to keep the order) until that scan is merged, since the
/// scan may have seen the socket before it died.
public final class FlowEventMonitor {
  private let options: FlowEventMonitorOptions
  /// The destroy sockets: flowscope's own namespace first, then each other one followed.
  private var sockets: [Subscription]
  private var tracker = FlowEventTracker()
  public private(set) var summary = FlowEventSummary()
  /// Namespaces a destroy socket could not be opened in: not tried again.
  private var unreachable = Set<UInt64>()

  /// One namespace's destroy socket; the groups announce the sockets of the namespace the
  /// socket was opened in.
  final class Subscription {
    let netns: UInt64
    let socket: DestroyEventSocket
    var reportedDrops: UInt64

    init(netns: UInt64, socket: DestroyEventSocket) {
      self.netns = netns
      self.socket = socket
      reportedDrops = socket.droppedMessages() ?? 0
    }
  }

  /// Opens the destroy socket and joins its groups; throws when that is not allowed.
  public init(options: FlowEventMonitorOptions) throws(TransportError) {
    self.options = options
    if let namespace = options.namespace {
      let groups = options.groups
      let bytes = options.bufferBytes
      let opened = try runInNetworkNamespace(at: namespace.path) {
        SubscriptionResult(
          Result { () throws(TransportError) in try DestroyEventSocket(groups: groups, bufferBytes: bytes) })
      }
      sockets = [Subscription(netns: namespace.inode, socket: try opened.value.get())]
      tracker.netns = namespace.inode
      return
    }
    let own = ProcScanner(options: ProcScanOptions(root: options.inspect.procRoot)).ownNetnsInode() ?? 0
    sockets = [
      Subscription(netns: own, socket: try DestroyEventSocket(groups: options.groups, bufferBytes: options.bufferBytes))
    ]
    tracker.netns = options.everyNamespace ? 0 : own
  }

  public var receiveBufferBytes: Int { sockets[0].socket.receiveBufferBytes }
  public var bufferForced: Bool { sockets[0].socket.forcedBuffer }

  /// Opens destroy sockets in the namespaces of `snapshot` not followed yet.
  private func subscribe(to snapshot: Snapshot) -> [String] {
    var failures: [String] = []
    var followed = Set(sockets.map(\.netns))
    for inode in snapshot.namespaces.keys.sorted() where !followed.contains(inode) && !unreachable.contains(inode) {
      // A name under /run/netns outlives processes; else a process in it.
      var paths: [String] = []
      if let name = snapshot.namespaces[inode]?.name { paths.append("/run/netns/\(name)") }
      for process in snapshot.processes.values where process.netns == inode && paths.count < 4 {
        paths.append("\(options.inspect.procRoot)/\(process.pid)/ns/net")
      }
      var opened: Subscription? = nil
      var lastError: TransportError? = nil
      for path in paths {
        do {
          let groups = options.groups
          let bytes = options.bufferBytes
          let result = try runInNetworkNamespace(at: path) {
            SubscriptionResult(
              Result { () throws(TransportError) in try DestroyEventSocket(groups: groups, bufferBytes: bytes) })
          }
          opened = Subscription(netns: inode, socket: try result.value.get())
          break
        } catch {
          lastError = error
        }
      }
      followed.insert(inode)
      if let opened {
        sockets.append(opened)
      } else {
        unreachable.insert(inode)
        let name = snapshot.namespaces[inode]?.label ?? String(inode)
        failures.append(
          "netns \(name): closes not followed: \(lastError.map { "\($0)" } ?? "no process to enter it by")")
      }
    }
    return failures
  }

  public func run(_ handler: (FlowEventReport) -> FlowEventVerdict) -> FlowEventSummary {
    // Signals first, so the scanner thread (and the threads it starts) inherit the mask.
    let signals = options.handleSignals ? try? SignalDescriptor([SIGINT, SIGTERM]) : nil
    let signalFD = signals?.fileDescriptor ?? -1
    let scanner = ScannerThread(options: options.inspect, interval: options.scanInterval)
    defer { scanner.stop() }
    scanner.start()

    let deadline = options.duration.map { monotonicNow() + $0 }
    // The wake pipe, the signals, then one destroy socket per namespace followed.
    var descriptors = [
      pollfd(fd: scanner.wakeFD, events: Int16(POLLIN), revents: 0),
      pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
    ]
    for subscription in sockets {
      descriptors.append(pollfd(fd: subscription.socket.fileDescriptor, events: Int16(POLLIN), revents: 0))
    }
    var held: [(InetSocket, Double, UInt64)] = []
    var stopping = false

    func deliver(_ report: FlowEventReport) {
      if stopping { return }
      if handler(report) == .stop {
        stopping = true
        if summary.endedBy.isEmpty { summary.endedBy = "count" }
      }
    }
    func emitClose(_ socket: InetSocket, at time: Double, netns: UInt64) {
      let event = tracker.close(socket, at: time, netns: netns)
      summary.closes += 1
      if !event.wasSeen { summary.unknownOwners += 1 }
      deliver(.event(event))
    }
    func mergeScans() {
      for snapshot in scanner.takeSnapshots() {
        let first = tracker.scans == 0
        let fresh = tracker.absorb(snapshot)
        summary.scans = tracker.scans
        if first {
          for warning in snapshot.warnings { deliver(.warning(warning.description)) }
        }
        // The held closes waited for this scan (the one running when they came); they happened
        // before it was merged, so they go first.
        let pending = held
        held.removeAll()
        for (socket, time, netns) in pending { emitClose(socket, at: time, netns: netns) }
        if options.everyNamespace {
          let before = sockets.count
          for failure in subscribe(to: snapshot) { deliver(.warning(failure)) }
          for subscription in sockets[before...] {
            descriptors.append(pollfd(fd: subscription.socket.fileDescriptor, events: Int16(POLLIN), revents: 0))
          }
        }
        if first {
          deliver(.ready(flows: tracker.count))
        } else if options.reportNew {
          for event in fresh {
            summary.news += 1
            deliver(.event(event))
          }
        }
      }
    }
    func checkDrops(_ subscription: Subscription) {
      let socket = subscription.socket
      guard let drops = socket.droppedMessages() else {
        deliver(.lost(count: nil, bufferBytes: socket.receiveBufferBytes))
        return
      }
      if drops > subscription.reportedDrops {
        let count = drops - subscription.reportedDrops
        subscription.reportedDrops = drops
        summary.lost += count
        deliver(.lost(count: count, bufferBytes: socket.receiveBufferBytes))
      }
    }
    /// Reads what is queued now, at most 256 messages: the loop comes back for more after a
    /// look at the scanner. True when it stopped with more perhaps still queued.
    @discardableResult func readSocket(_ subscription: Subscription) -> Bool {
      let socket = subscription.socket
      for _ in 0..<256 {
        let received: DestroyReceive
        do {
          received = try socket.receive()
        } catch {
          deliver(.warning("destroy messages: \(error)"))
          stopping = true
          return false
        }
        switch received {
        case .empty: return false
        case .overrun:
          summary.overruns += 1
          let grown = min(max(socket.receiveBufferBytes, options.bufferBytes) * 2, options.maximumBufferBytes)
          socket.setBuffer(bytes: grown)
          checkDrops(subscription)
        case .datagram(let bytes, let group):
          guard let group else { continue }  // not a multicast message
          let now = currentTime()
          let decoded = decodeDestroyDatagram(bytes, group: group)
          if decoded.undecoded > 0 || (decoded.error != nil && decoded.sockets.isEmpty) {
            summary.undecodable += max(decoded.undecoded, 1)
            if summary.undecodable == 1, let error = decoded.error {
              deliver(.warning("a destroy message could not be decoded: \(error)"))
            }
          }
          for socket in decoded.sockets {
            if !held.isEmpty || (!tracker.knows(cookie: socket.cookie) && scanner.inFlight) {
              held.append((socket, now, subscription.netns))
            } else {
              emitClose(socket, at: now, netns: subscription.netns)
            }
          }
        }
        if stopping { return false }
      }
      return true
    }
    /// At the end (a signal, the duration), everything the kernel already queued is read, so
    /// no close is lost uncounted; bounded in time in case closes keep coming faster.
    func drainSocket() {
      let giveUp = monotonicNow() + 5
      for subscription in sockets {
        while readSocket(subscription) && monotonicNow() < giveUp {}
      }
    }
    while !stopping {
      var timeout: Int32 = -1
      if let deadline {
        let left = deadline - monotonicNow()
        if left <= 0 {
          summary.endedBy = "duration"
          drainSocket()
          break
        }
        timeout = Int32(min(left * 1000, 60_000).rounded(.up))
      }
      for index in descriptors.indices { descriptors[index].revents = 0 }
      // poll(2)
      let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
      if ready < 0 {
        if errno == EINTR { continue }
        deliver(.warning("poll: \(String(cString: strerror(errno)))"))
        break
      }
      if descriptors[1].revents != 0 {
        let signal = signals?.take()
        summary.endedBy = signal == SIGINT ? "SIGINT" : "SIGTERM"
        // A second Ctrl-C or SIGTERM must not kill the summary: once the signals are unblocked
        // (when `signals` goes), they are ignored; pending ones are discarded.
        Glibc.signal(SIGINT, SIG_IGN)
        Glibc.signal(SIGTERM, SIG_IGN)
        // Say what was already queued before stopping.
        drainSocket()
        break
      }
      if descriptors[0].revents != 0 {
        scanner.drainWake()
        mergeScans()
      }
      for index in 2..<descriptors.count where descriptors[index].revents != 0 {
        readSocket(sockets[index - 2])
      }
    }
    // Whatever is still held has no scan left to wait for.
    let pending = held
    held.removeAll()
    for (socket, time, netns) in pending { emitClose(socket, at: time, netns: netns) }
    for subscription in sockets { checkDrops(subscription) }
    return summary
  }
}

/// A destroy socket made on a namespace's thread, handed to the monitor, which alone uses it.
private final class SubscriptionResult: @unchecked Sendable {
  let value: Result<DestroyEventSocket, TransportError>
  init(_ value: Result<DestroyEventSocket, TransportError>) { self.value = value }
}

/// The thread that scans: a `FlowInspector` of its own (it is not shared), a queue of
/// snapshots guarded by a mutex, and a pipe to wake the reader.
final class ScannerThread: @unchecked Sendable {
  private let options: InspectOptions
  private let interval: Double
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  private var queue: [Snapshot] = []
  private var started = 0
  private var taken = 0
  private var stopped = false
  private var finished = false
  private var pipeFDs: [Int32] = [-1, -1]
  private var thread: pthread_t? = nil

  init(options: InspectOptions, interval: Double) {
    self.options = options
    self.interval = interval
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(condition, nil)
    // pipe2(2)
    _ = pipe(&pipeFDs)
    for fd in pipeFDs {
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
  }

  deinit {
    pthread_mutex_destroy(mutex)
    pthread_cond_destroy(condition)
    mutex.deallocate()
    condition.deallocate()
    close(pipeFDs[0])
    close(pipeFDs[1])
  }

  var wakeFD: Int32 { pipeFDs[0] }

  func start() {
    let context = Unmanaged.passRetained(self).toOpaque()
    var thread = pthread_t()
    // pthread_create(3)
    let result = pthread_create(
      &thread, nil,
      { context in
        let scanner = Unmanaged<ScannerThread>.fromOpaque(context!).takeRetainedValue()
        scanner.loop()
        return nil
      }, context)
    if result == 0 {
      self.thread = thread
    } else {
      Unmanaged<ScannerThread>.fromOpaque(context).release()
    }
  }

  /// A scan has started and its snapshot is not merged yet.
  var inFlight: Bool {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return started > taken
  }

  func takeSnapshots() -> [Snapshot] {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    let snapshots = queue
    queue.removeAll()
    taken += snapshots.count
    return snapshots
  }

  func drainWake() {
    var bytes = [UInt8](repeating: 0, count: 64)
    while read(pipeFDs[0], &bytes, bytes.count) > 0 {}
  }

  func stop() {
    pthread_mutex_lock(mutex)
    stopped = true
    pthread_cond_signal(condition)
    pthread_mutex_unlock(mutex)
    // The scan under way (if any) ends by itself; waiting for it keeps the process tidy.
    if let thread { pthread_join(thread, nil) }
    thread = nil
  }

  private func loop() {
    let inspector: FlowInspector
    do {
      inspector = try FlowInspector()
    } catch {
      return
    }
    while true {
      pthread_mutex_lock(mutex)
      if stopped {
        pthread_mutex_unlock(mutex)
        return
      }
      started += 1
      pthread_mutex_unlock(mutex)
      let begun = monotonicNow()
      let snapshot = inspector.snapshot(options)
      pthread_mutex_lock(mutex)
      queue.append(snapshot)
      pthread_mutex_unlock(mutex)
      var byte: UInt8 = 1
      _ = write(pipeFDs[1], &byte, 1)
      // Sleep until the next start, or until told to stop.
      let wake = currentTime() + max(0.01, interval - (monotonicNow() - begun))
      var deadline = timespec(
        tv_sec: Int(wake.rounded(.down)), tv_nsec: Int((wake - wake.rounded(.down)) * 1e9))
      pthread_mutex_lock(mutex)
      while !stopped {
        // pthread_cond_timedwait(3) on CLOCK_REALTIME
        if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
      }
      pthread_mutex_unlock(mutex)
    }
  }
}
