import BPFOwners
import FlowModel
import FlowRecording
import NetlinkTransport
import ProcFS
import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

/// What one collection asks for. Only the families and protocols named here are dumped:
/// each request walks a whole kernel hash table, even when it is empty.
public struct InspectOptions: Sendable {
  public var protocols: Set<TransportProtocol>
  public var ipv4 = true
  public var ipv6 = true
  /// Kernel state bitmask (1 << state) applied in the request for inet and unix dumps.
  public var states: UInt32 = 0xffff_ffff
  /// Scan (and report) only these processes; nil means all.
  public var pids: Set<Int32>? = nil
  public var procRoot = "/proc"
  /// Above 1, a listing scans /proc on a helper thread while it dumps, and on both once the
  /// dump is done; at 1, after the dump.
  public var scanThreads = 2
  public var readCommandLine = false
  /// Per protocol, what the kernel filters: a state mask (instead of `states`) and, for inet
  /// dumps, a filter sent as INET_DIAG_REQ_BYTECODE. They may let through more than asked,
  /// never less: callers still filter the flows. A kernel that refuses the bytecode is asked
  /// again without it.
  public var requestFilters: [TransportProtocol: KernelRequestFilter] = [:]
  public var namespaces: NamespaceScope = .all
  /// The inet_diag extensions to ask for; fewer make the dump cheaper, and the flows lack what
  /// was not asked (`SockDiagRequest.inetInfoOnly` keeps the counters: `watch`'s screen).
  public var inetExtensions = SockDiagRequest.inetExtensions
  /// Also read each namespace's limits and counters (port range, listen drops) and the host's
  /// orphan count and limit, into `Snapshot.namespaceCounters` and `hostCounters` (`check`,
  /// `proc`, `watch`).
  public var readsKernelCounters = false
  /// With `pids`, keep every flow of their namespaces (others' show no owner), not only theirs:
  /// the namespace findings count every socket (`check`, `proc`).
  public var keepsNamespaceFlows = false
  /// Also list the sockets the scanned processes hold that no dump returned (see
  /// `UnlistedSockets`): one getxattr per such descriptor (a refresh names each once). A
  /// listing that looks for them is collected whole, not streamed.
  public var includeUnlisted = false
  /// Where the container runtimes' files are: `/`, or a host's root mounted elsewhere, named by
  /// the environment's `FLOWSCOPE_RUNTIME_ROOT`. The names of containers come from them
  /// (`ContainerNames`).
  public var containerStateRoot = getenv("FLOWSCOPE_RUNTIME_ROOT").map { String(cString: $0) } ?? "/"
  /// Where the owners come from (`--owners`; see `FlowInspector.decideOwnerSource`).
  public var owners: OwnerSourceChoice = .auto
  /// A listing receives each dump's replies on a helper thread while it decodes
  /// (`KernelSource.readsAhead`).
  public var readsAhead = true

  /// Asks inet dumps for `tcp_info` alone: counters, RTT, windows; no memory, congestion
  /// control or TOS details.
  public mutating func askForCountersOnly() { inetExtensions = SockDiagRequest.inetInfoOnly }
  /// Asks inet dumps for every extension flowscope decodes (the default).
  public mutating func askForEveryExtension() { inetExtensions = SockDiagRequest.inetExtensions }

  /// The protocols `flowscope` lists by default.
  public static let defaultProtocols: Set<TransportProtocol> = [
    .tcp, .udp, .udplite, .mptcp, .raw, .sctp, .unix, .packet, .netlink,
  ]

  public init(protocols: Set<TransportProtocol> = InspectOptions.defaultProtocols) {
    self.protocols = protocols
  }

  /// The dumps these options need, in a stable order.
  public var queries: [SockDiagQuery] {
    var queries: [SockDiagQuery] = []
    let inet: [(TransportProtocol, InetProtocol)] = [
      (.tcp, .tcp), (.udp, .udp), (.udplite, .udplite), (.mptcp, .mptcp), (.raw, .raw),
      (.sctp, .sctp), (.dccp, .dccp),
    ]
    for (name, proto) in inet where protocols.contains(name) {
      if ipv4, ipv6, proto == .tcp {
        // One walk of the TCP tables for both families: the second walk costs a quarter of a
        // TCP dump's kernel time.
        queries.append(.inet(family: AddressFamily.unspecified, proto: proto))
        continue
      }
      if ipv4 { queries.append(.inet(family: addressFamilyInet, proto: proto)) }
      if ipv6 { queries.append(.inet(family: addressFamilyInet6, proto: proto)) }
    }
    if protocols.contains(.unix) { queries.append(.unix) }
    if protocols.contains(.packet) { queries.append(.packet) }
    if protocols.contains(.netlink) { queries.append(.netlink) }
    if protocols.contains(.vsock) { queries.append(.vsock) }
    return queries
  }
}

/// The name a user knows a query by, as `ss` prints it: `tcp`, `tcp6`, `unix`...
public func displayName(of query: SockDiagQuery) -> String {
  switch query {
  case .inet(let family, let proto):
    "\(TransportProtocol(proto).rawValue)\(family == addressFamilyInet6 ? "6" : "")"
  case .unix: "unix"
  case .packet: "packet"
  case .netlink: "netlink"
  case .vsock: "vsock"
  }
}

/// What the kernel filters in the dumps of one protocol.
public struct KernelRequestFilter: Sendable, Equatable {
  /// Bit n: state n is dumped.
  public var states: UInt32
  /// inet protocols: conditions on ports, addresses, interface, mark, cgroup.
  public var inet: InetFilter?

  public init(states: UInt32 = 0xffff_ffff, inet: InetFilter? = nil) {
    self.states = states
    self.inet = inet
  }
}

extension SockDiagQuery {
  /// The protocol whose sockets the query dumps.
  public var transportProtocol: TransportProtocol {
    switch self {
    case .inet(_, let proto): TransportProtocol(proto)
    case .unix: .unix
    case .packet: .packet
    case .netlink: .netlink
    case .vsock: .vsock
    }
  }
}

/// Which network namespaces a collection reads.
public enum NamespaceScope: Sendable, Equatable {
  /// Every namespace some process is in, plus those named in /run/netns (needs root; the
  /// tool's own otherwise).
  case all
  /// The tool's own namespace only (`--host-netns`).
  case own
  /// One namespace: a name under /run/netns, a path to a namespace file, or a pid (`--netns`).
  case only(String)
}

/// Where the flows of a streamed listing go (`FlowInspector.snapshot(_:streamingTo:)`).
public struct FlowStream {
  /// Called once, before the first flow: the snapshot without flows (its time, host,
  /// processes, and the namespaces that will be read). Returning false asks for the flows in
  /// the returned snapshot instead (the caller found it needs them all, e.g. to choose its
  /// columns): `flow` is not called then.
  public var begin: (Snapshot) -> Bool
  /// Called for each flow, its owners attached, in listing order.
  public var flow: (Flow) -> Void

  public init(begin: @escaping (Snapshot) -> Bool, flow: @escaping (Flow) -> Void) {
    self.begin = begin
    self.flow = flow
  }
}

/// The one place where sockets (from sock_diag) and their owners (from /proc) meet.
public final class FlowInspector {
  let source: SockDiagSource
  /// The inode of this thread's network namespace, as the last snapshot found it.
  var ownNetns: UInt64 = 0
  private let userNames = UserNames()
  /// Why other namespaces cannot be read, when they cannot: a replay holds only what was
  /// recorded, and a recording keeps the tool's own namespace only.
  private let otherNamespacesUnavailable: String?
  private var readsOtherNamespaces: Bool { otherNamespacesUnavailable == nil }
  /// Sockets opened in other namespaces, kept between refreshes.
  var namespaceSources: [UInt64: SockDiagSource] = [:]

  /// Replays a recording of `flowscope record`: each snapshot is the next recorded one.
  private let player: RecordingPlayer?
  var replaysRecording: Bool { player != nil }
  /// The BPF iterator, once loaded (`decideOwnerSource`).
  let ownerSourceState = OwnerSourceState()
  /// What the iterator's snapshots read of each process besides its descriptors, kept for the
  /// next snapshot of this inspector (`events` scans again and again).
  public let processFacts = ProcessFacts()
  /// With `capturesDatagrams`, the raw replies of the last snapshot, by namespace.
  private var captured: [RecordedDatagram] = []
  /// Keeps the raw replies of each snapshot for `takeCapturedDatagrams()` (`flowscope record`).
  public var capturesDatagrams = false

  /// Replays `recording`: each snapshot is its next frame, whatever the options say; the
  /// caller's query selects from it.
  public init(replaying recording: Recording) {
    self.source = ReplaySource.empty
    self.otherNamespacesUnavailable = "not in the recording"
    self.player = RecordingPlayer(recording)
    self.looksForUnlisted = false
  }

  /// The frames of the recording being replayed (nil when live).
  public var recordedFrames: [RecordedFrame]? { player?.recording.frames }

  /// The raw replies of the last snapshot since the last call (with `capturesDatagrams`).
  public func takeCapturedDatagrams() -> [RecordedDatagram] {
    defer { captured = [] }
    return captured
  }

  /// Whether sockets no dump returned are looked for (`InspectOptions.includeUnlisted`): not
  /// in a replay, whose sockets were recorded at another time than the descriptors now in /proc.
  private let looksForUnlisted: Bool

  /// Reads from `source` only: its namespace, whatever the options say.
  public init(source: SockDiagSource) {
    self.player = nil
    self.source = source
    self.otherNamespacesUnavailable = "not in the recording"
    self.looksForUnlisted = false
  }

  /// Reads the kernel, from this thread's namespace and, as root, from the others.
  public init(recordingTo path: String? = nil) throws(TransportError) {
    let recorder = try path.map { (path) throws(TransportError) in try DumpRecorder(path: path) }
    self.player = nil
    self.source = try KernelSource(recorder: recorder)
    self.otherNamespacesUnavailable = recorder == nil ? nil : "not read while recording"
    self.looksForUnlisted = true
  }

  /// Dumps the requested families in each namespace asked for, scans /proc, and joins the
  /// two by socket inode (socket inodes are unique across namespaces).
  ///
  /// With an `ownerCache` (`flowscope watch`), the /proc scan is incremental: only processes
  /// that appeared or changed are re-read (see `OwnerCache`).
  public func snapshot(_ options: InspectOptions, ownerCache: OwnerCache? = nil) -> Snapshot {
    if let player { return player.next() }
    return collect(options, ownerCache: ownerCache, stream: nil)
  }

  /// A listing whose flows are handed to `stream` one at a time, as they are decoded, instead
  /// of being kept: its memory does not grow with the number of sockets.
  ///
  /// The /proc scan runs first (on both threads), so every flow has its owners when it is
  /// handed on; `stream.begin` gets the snapshot without flows (time, host, processes, and the
  /// namespaces to be read) before the first flow. The flows come in the order `snapshot`
  /// lists them, with the same owners; the returned snapshot has no flows but every warning.
  /// An inconsistent dump (NLM_F_DUMP_INTR) cannot be taken back: it is reported, not retried.
  /// A replay, and a collection that looks for unlisted sockets, are collected whole and then
  /// handed on.
  public func snapshot(_ options: InspectOptions, streamingTo stream: FlowStream) -> Snapshot {
    guard player == nil, !options.includeUnlisted else {
      var whole = snapshot(options)
      let flows = whole.flows
      whole.flows = []
      guard stream.begin(whole) else {
        whole.flows = flows
        return whole
      }
      for flow in flows { stream.flow(flow) }
      return whole
    }
    return collect(options, ownerCache: nil, stream: stream)
  }

  private func collect(
    _ options: InspectOptions, ownerCache: OwnerCache?, stream: FlowStream?
  ) -> Snapshot {
    let streaming = stream != nil
    var warnings: [SnapshotWarning] = []
    // What the dumps read whole: where a missing TCP or UDP socket is known to be unconnected.
    var coverage = DumpCoverage()
    let scanner = ProcScanner(
      options: ProcScanOptions(
        root: options.procRoot, pids: options.pids, threads: options.scanThreads,
        readCommandLine: options.readCommandLine))
    let ownNetns = scanner.ownNetnsInode() ?? 0
    self.ownNetns = ownNetns
    let named = readsOtherNamespaces ? NetworkNamespaces.named() : []
    var flows: [Flow] = []
    // One allocation for the whole listing: the kernel says how many sockets are in use. An
    // eighth more leaves room for sockets opened meanwhile and those no dump returns (appended
    // last): growing a 100k-flow array copies 26 MB, while pages reserved and never written
    // cost no memory.
    if !streaming {
      let inUse = ProcScanner.socketsInUse(root: options.procRoot) ?? 0
      flows.reserveCapacity(min(max(1024, inUse + inUse / 8), 1 << 22))
    }

    // The /proc scan and the dump of our own namespace need each other only at the join: run
    // the scan on another thread meanwhile. Given pids, the scan comes first: it is small, says
    // which namespaces those processes are in, and which socket inodes to decode.
    let oneNamespaceNamed: Bool
    if case .only = options.namespaces { oneNamespaceNamed = true } else { oneNamespaceNamed = false }
    let ownFirst = !oneNamespaceNamed && options.pids == nil
    // A refresh finds the sockets of the last one again; `fresh` lists the flows that are new.
    var previous = ownerCache.map { PreviousFlows($0.flows) }
    var fresh: [Int] = []
    // The descriptors from one pass of the BPF iterator, when it is used (then the helper
    // thread lists /proc, runs the pass and reads the rest of each process alone: little work).
    // A refresh (`ownerCache`) reads only the processes that changed from /proc; the pass
    // serves its whole reads.
    var chosen: SocketOwnerIterator? = nil
    if options.owners != .proc {
      let incremental = ownerCache != nil
      switch Result(catching: { () throws(OwnerSourceError) in
        try decideOwnerSource(options, incremental: incremental)
      }) {
      case .success(let decision) where decision.usesBPF: chosen = ownerSourceState.iterator
      case .success: break
      case .failure(let error): warnings.append(.other("\(error); owners read from /proc"))
      }
    }
    let passFailure = PassFailure()
    let pass: (@Sendable () -> KnownDescriptors?)?
    if let iterator = chosen {
      pass = {
        do throws(BPFError) { return try iterator.read() } catch {
          passFailure.error = error
          return nil
        }
      }
    } else {
      pass = nil
    }
    let listingUsesPass = ownerCache == nil && pass != nil
    let facts = processFacts
    // A listing's scan is shared: a helper thread scans while this one dumps, then this one
    // joins in. (The owner cache of `watch` rescans only what changed, on the helper alone.)
    let sharedScan = ownerCache == nil && !listingUsesPass ? scanner.start() : nil
    let scanTask = BackgroundTask { () -> ProcScanResult? in
      if listingUsesPass {
        // The processes seen by earlier passes of this inspector are not read again.
        var known = scanner
        known.options.facts = facts
        let scan = known.start(descriptors: pass)
        scan.help()
        return scan.result()
      }
      guard let ownerCache else {
        if options.scanThreads > 1 { sharedScan?.help() }
        return nil
      }
      return ownerCache.update(scanner, wholePass: pass)
    }
    // A streamed listing needs the owners before its first flow: it dumps after the scan.
    // A listing receives ahead; a refresh, which counts its CPU time, does not, nor a listing
    // of given processes: most records are then dropped undecoded, and a thread receiving
    // ahead would only hand datagrams over (a wake-up and a context switch each).
    let onlyGivenProcesses = options.pids != nil && !options.keepsNamespaceFlows
    let readsAhead = options.readsAhead && ownerCache == nil && !onlyGivenProcesses
    if ownFirst && !streaming {
      dump(
        source, netns: ownNetns, options, previous: &previous, into: &flows, fresh: &fresh,
        warnings: &warnings, coverage: &coverage, readsAhead: readsAhead)
    }
    // Where the dump of this namespace waits for the scan (a streamed listing, or one of given
    // processes when one of them is in it), its first request goes now: the kernel's work
    // before the first reply is then done while the scan runs.
    let dumpsOwnAfterScan =
      if ownFirst { streaming } else {
        onlyGivenProcesses && !oneNamespaceNamed
          && options.pids!.contains { scanner.netnsInode(of: String($0)) == ownNetns }
      }
    if ownerCache == nil && dumpsOwnAfterScan, let first = options.queries.first {
      sendAhead(first, options, to: source)
    }
    sharedScan?.help()
    var scan = scanTask.wait() ?? sharedScan?.result() ?? ProcScanResult()
    // Given pids, only their sockets matter: the sources drop the others before decoding them.
    // Not when every flow of their namespaces is wanted.
    var wantedInodes: Set<UInt32>? = nil
    if onlyGivenProcesses {
      wantedInodes = Set(
        scan.processes.flatMap { $0.sockets.map { UInt32(truncatingIfNeeded: $0.inode) } })
    }

    // The other namespaces to read, with paths to enter each by: a few of its processes, as
    // any of them may exit before we get there.
    var targets: [(inode: UInt64, paths: [String])] = []
    switch options.namespaces {
    case .own:
      if !ownFirst { targets.append((ownNetns, [""])) }
    case .only(let spec):
      switch resolveNamespace(spec, procRoot: options.procRoot, named: named) {
      case .success(let target): targets.append((target.inode, [target.path]))
      case .failure(let error): warnings.append(.netnsUnreadable(spec, detail: error.description))
      }
    case .all:
      var position: [UInt64: Int] = [:]
      if ownFirst { position[ownNetns] = -1 }
      for record in scan.processes {
        guard let inode = record.netnsInode else { continue }
        let path = "\(options.procRoot)/\(record.pid)/ns/net"
        if let index = position[inode] {
          if index >= 0 && targets[index].paths.count < 4 { targets[index].paths.append(path) }
        } else {
          position[inode] = targets.count
          targets.append((inode, [path]))
        }
      }
      if options.pids == nil {
        for namespace in named {
          if let index = position[namespace.inode] {
            // A name under /run/netns outlives processes: try it first.
            if index >= 0 { targets[index].paths.insert(namespace.path, at: 0) }
          } else {
            position[namespace.inode] = targets.count
            targets.append((namespace.inode, [namespace.path]))
          }
        }
      }
    }
    var processes: [Int32: OwningProcess] = [:]
    let containerNames = ContainerNames(root: options.containerStateRoot)
    var streamedNamespaces: [UInt64: NetworkNamespace] = [:]
    var keptFlows: KeptFlows? = nil
    var emit: ((Flow) -> Void)? = nil
    if let stream {
      for record in scan.processes where !record.sockets.isEmpty {
        processes[record.pid] = OwningProcess(
          record, user: userNames.name(for: record.uid), containerNames: containerNames)
      }
      let join = OwnerJoin(scan)
      // The join holds the owners now; the scan's own lists would double them.
      for index in scan.processes.indices { scan.processes[index].sockets = [] }
      var inodes = Set(targets.map(\.inode))
      if ownFirst { inodes.insert(ownNetns) }
      streamedNamespaces = describeNamespaces(
        inodes, own: ownNetns, named: named, scan: scan, procRoot: options.procRoot)
      var start = Snapshot(
        time: currentTime(), host: hostName(), flows: [], processes: processes, warnings: [])
      start.namespaces = streamedNamespaces
      let streams = stream.begin(start)
      let sink: (Flow) -> Void
      if streams {
        sink = stream.flow
      } else {
        // The caller wants the flows after all: they are kept, joined as they come.
        let kept = KeptFlows()
        keptFlows = kept
        sink = { kept.flows.append($0) }
      }
      emit = { flow in
        var flow = flow
        join.attach(to: &flow)
        // Asked about given processes: their flows only.
        if onlyGivenProcesses && !flow.isOwned { return }
        sink(flow)
      }
      if ownFirst {
        dump(
          source, netns: ownNetns, options, previous: &previous, into: &flows, fresh: &fresh,
          warnings: &warnings, coverage: &coverage, emit: emit, readsAhead: readsAhead)
      }
    }
    var skipped = 0
    var namespacesRead = Set<UInt64>()
    var counters: [UInt64: NamespaceCounters] = [:]
    if options.readsKernelCounters, source is KernelSource, ownFirst {
      counters[ownNetns] = NamespaceCounters(
        KernelCounterFiles.namespaceCounters(root: options.procRoot))
    }
    for target in targets {
      if target.inode == ownNetns {
        dump(
          source, netns: ownNetns, options, keeping: wantedInodes, previous: &previous,
          into: &flows, fresh: &fresh, warnings: &warnings, coverage: &coverage, emit: emit,
          readsAhead: readsAhead)
        if options.readsKernelCounters, source is KernelSource {
          counters[ownNetns] = NamespaceCounters(
            KernelCounterFiles.namespaceCounters(root: options.procRoot))
        }
        continue
      }
      guard readsOtherNamespaces, geteuid() == 0 else {
        skipped += 1
        continue
      }
      switch namespaceSource(target.inode, paths: target.paths) {
      case .success(let other):
        namespacesRead.insert(target.inode)
        dump(
          other, netns: target.inode, options, keeping: wantedInodes, previous: &previous,
          into: &flows, fresh: &fresh, warnings: &warnings, coverage: &coverage, emit: emit,
          readsAhead: readsAhead,
          skipsTCP: Self.holdsNoTCPSockets(target.paths, procRoot: options.procRoot))
        if options.readsKernelCounters {
          let root = options.procRoot
          for path in target.paths {
            if let values = try? runInNetworkNamespace(
              at: path, { KernelCounterFiles.namespaceCounters(root: root) })
            {
              counters[target.inode] = NamespaceCounters(values)
              break
            }
          }
        }
      case .failure(let error) where error.errno == ENOENT || error.errno == ESRCH:
        // Every process we knew in it has exited since the scan: nothing left to report.
        continue
      case .failure(let error):
        warnings.append(.netnsUnreadable(namespaceName(target.inode, named), detail: error.description))
      }
    }
    // A request sent ahead for given processes that all exited meanwhile: read and dropped.
    (source as? KernelSource)?.dropSentAhead()
    // A namespace this snapshot did not read may be gone (a container that ended): its kept
    // socket would hold a descriptor and keep the namespace alive.
    namespaceSources = namespaceSources.filter { namespacesRead.contains($0.key) }
    if skipped > 0 {
      warnings.append(
        .namespacesSkipped(
          count: skipped, reason: otherNamespacesUnavailable ?? "entering them needs root"))
    }

    if let ownerCache {
      ownerCache.attachOwners(to: &flows, fresh: fresh)
      if let rescanned = ownerCache.resolve(flows, scanner, wholePass: pass) {
        scan = rescanned
        ownerCache.attachOwners(to: &flows, fresh: fresh)
      }
    }
    if let error = passFailure.error {
      warnings.append(.other("bpf: the task-file iterator failed (\(error)); owners read from /proc"))
    }
    for record in scan.processes where !streaming && !record.sockets.isEmpty {
      processes[record.pid] = OwningProcess(
        record, user: userNames.name(for: record.uid), containerNames: containerNames)
    }
    // Sockets no dump listed. A refresh's are kept by the cache with the others: the next
    // refresh finds no dump's socket among them (they have no address).
    let findsUnlisted = !streaming && options.includeUnlisted && looksForUnlisted
    if ownerCache == nil && !streaming {
      var unmatched = OwnerJoin(scan).attach(to: &flows, unmatched: findsUnlisted)
      findUnlisted(
        &unmatched, scan: scan, options, coverage: coverage, ownNetns: ownNetns, ownerCache: nil,
        into: &flows, processes: &processes, warnings: &warnings)
    } else if let ownerCache, findsUnlisted {
      var unmatched = ownerCache.unmatched(by: flows)
      findUnlisted(
        &unmatched, scan: scan, options, coverage: coverage, ownNetns: ownNetns,
        ownerCache: ownerCache, into: &flows, processes: &processes, warnings: &warnings)
    }
    if let keptFlows {
      flows = keptFlows.flows
      keptFlows.flows = []
    }
    if onlyGivenProcesses {
      // Asked about given processes: their flows only.
      flows.removeAll { !$0.isOwned }
    }
    ownerCache?.keep(flows)
    // Kernel threads (kthreadd, pid 2, and its children) hold no descriptors: not worth a word.
    let kernelThreads = Set(
      scan.processes.filter { $0.pid == 2 || $0.ppid == 2 }.map(\.pid))
    let denied = scan.denied.filter { !kernelThreads.contains($0) }.sorted()
    if !denied.isEmpty {
      warnings.append(.processesDenied(count: denied.count, samplePIDs: Array(denied.prefix(5))))
    }
    // Anything else that went wrong reading /proc (EMFILE, an unparsable stat...) leaves sockets
    // without an owner: say so rather than show them unowned in silence.
    if let first = scan.errors.first {
      let count = scan.errors.count + scan.errorsOmitted
      warnings.append(
        .other(
          "/proc: \(count) error(s) reading processes, their sockets may show no owner; first: \(first)"))
    }
    var snapshot = Snapshot(
      time: currentTime(), host: hostName(), flows: flows, processes: processes,
      warnings: warnings)
    // Flows come grouped by namespace: hash only where the namespace changes.
    var flowNamespaces = Set<UInt64>()
    var lastNetns: UInt64? = nil
    for index in flows.indices where flows[index].netns != lastNetns {
      lastNetns = flows[index].netns
      flowNamespaces.insert(flows[index].netns)
    }
    snapshot.namespaces =
      streaming && keptFlows == nil
      ? streamedNamespaces
      : describeNamespaces(
        flowNamespaces.union(counters.keys), own: ownNetns, named: named, scan: scan,
        procRoot: options.procRoot)
    snapshot.namespaceCounters = counters
    if options.readsKernelCounters, source is KernelSource {
      snapshot.hostCounters = HostCounters(KernelCounterFiles.orphanCounters(root: options.procRoot))
    }
    return snapshot
  }

  /// Dumps every query of `options` from `source`, tagging the flows with `netns`.
  private func dump(
    _ source: SockDiagSource, netns: UInt64, _ options: InspectOptions,
    keeping wantedInodes: Set<UInt32>? = nil, previous: inout PreviousFlows?,
    into flows: inout [Flow], fresh: inout [Int], warnings: inout [SnapshotWarning],
    coverage: inout DumpCoverage, emit: ((Flow) -> Void)? = nil, readsAhead: Bool = false,
    skipsTCP: Bool = false
  ) {
    coverage.noteRead(netns)
    // Streamed flows are out already: a dump that restarts would repeat them.
    let kernel = source as? KernelSource
    let attempts = kernel?.attempts
    if emit != nil { kernel?.attempts = 1 }
    defer { if let attempts { kernel?.attempts = attempts } }
    // A replay holds what was recorded; only the kernel can be asked for less.
    (source as? KernelSource)?.inetExtensions = options.inetExtensions
    (source as? KernelSource)?.readsAhead = readsAhead
    (source as? KernelSource)?.onDatagrams =
      capturesDatagrams
      ? { [unowned self] query, datagrams in
        self.captured += datagrams.map { RecordedDatagram(netns: netns, query: query, bytes: $0) }
      } : nil
    let keep: (UInt32) -> Bool = wantedInodes.map { wanted in { wanted.contains($0) } } ?? { _ in true }
    var pending = Array(options.queries.reversed())
    while let query = pending.popLast() {
      if skipsTCP, case .inet(_, .tcp) = query {
        // The namespace has no TCP socket in any table: as a dump that found none.
        noteEnd(
          of: query, DumpResult(status: .complete), netns: netns, options, filtered: false,
          warnings: &warnings, coverage: &coverage)
        continue
      }
      let start = flows.count
      // A netlink socket with multicast groups comes twice in one dump; its cookie is unique.
      var netlinkCookies = Set<UInt64>()
      var bytecode = requestBytecode(query, options)
      var result: DumpResult
      let freshStart = fresh.count
      var emitted = 0
      /// Drops what this query gave so far, before it is asked again.
      func discardThisQuery() {
        flows.removeSubrange(start...)
        fresh.removeSubrange(freshStart...)
        netlinkCookies.removeAll()
      }
      repeat {
        result = source.dump(
          query, states: statesMask(for: query, options), bytecode: bytecode,
          keepingInodes: keep,
          restart: discardThisQuery,
          record: { record in
            if case .netlink(let socket) = record, !netlinkCookies.insert(socket.cookie).inserted {
              return
            }
            // Only a refresh has previous flows; a listing does not copy the socket out.
            if previous != nil, case .inet(let socket) = record,
              previous?.refresh(inet: socket, netns: netns, into: &flows) == true
            {
              return
            }
            if let emit {
              emitted += 1
              emit(Flow(record, netns: netns))
              return
            }
            // Only a refresh looks up the owners of new flows alone.
            if previous != nil { fresh.append(flows.count) }
            flows.append(Flow(record, netns: netns))
          })
        // A kernel that refuses the filter (EINVAL, e.g. no S_EQ before 4.17) is asked again
        // without it; the caller's filter still applies. (Not once flows were streamed.)
        guard case .failed = result.status, bytecode != nil, emitted == 0 else { break }
        bytecode = nil
        discardThisQuery()
      } while true
      // A kernel without the one-walk request is asked once per family.
      if case .failed = result.status, query.perFamily != [query], emitted == 0 {
        discardThisQuery()
        pending.append(contentsOf: query.perFamily.reversed())
        continue
      }
      noteEnd(
        of: query, result, netns: netns, options, filtered: bytecode != nil, warnings: &warnings,
        coverage: &coverage)
    }
  }

  /// The filter the kernel is asked to apply to an inet dump.
  private func requestBytecode(_ query: SockDiagQuery, _ options: InspectOptions) -> [UInt8]? {
    guard case .inet = query else { return nil }
    return options.requestFilters[query.transportProtocol]?.inet?.compile()
  }

  /// Sends the request of `dump`'s first query ahead (`KernelSource.sendAhead`). A failure
  /// leaves the dump to send it.
  private func sendAhead(_ query: SockDiagQuery, _ options: InspectOptions, to source: SockDiagSource) {
    guard let kernel = source as? KernelSource else { return }
    kernel.inetExtensions = options.inetExtensions
    try? kernel.sendAhead(query, states: statesMask(for: query, options), bytecode: requestBytecode(query, options))
  }

  /// Whether the namespace entered by `paths` holds no TCP socket in the kernel's tables, as
  /// the sockstat of one of its processes says. A TCP dump walks the one hash table every
  /// namespace shares, so in a namespace with none it costs as much as in the busiest one: on a
  /// host with 500k sockets, 75 ms for each empty container. False when no process's file
  /// can be read (a name under /run/netns): the dump decides then.
  static func holdsNoTCPSockets(_ paths: [String], procRoot: String) -> Bool {
    for path in paths where path.hasPrefix(procRoot + "/") && path.hasSuffix("/ns/net") {
      let directory = String(path.dropLast("/ns/net".count)) + "/net"
      if let count = KernelCounterFiles.tcpSocketsInTables(netDirectory: directory) { return count == 0 }
    }
    return false
  }

  /// What a dump's end says: the table read whole (`coverage`), or why not (`warnings`).
  private func noteEnd(
    of query: SockDiagQuery, _ result: DumpResult, netns: UInt64, _ options: InspectOptions,
    filtered: Bool, warnings: inout [SnapshotWarning], coverage: inout DumpCoverage
  ) {
    let name = displayName(of: query)
    switch result.status {
    case .complete:
      coverage.record(query, netns: netns, states: statesMask(for: query, options), filtered: filtered)
    case .unsupported:
      // A missing diag module is the kernel's, not the namespace's: said once per run.
      if !warnings.contains(.familyUnsupported(name)) { warnings.append(.familyUnsupported(name)) }
    case .interrupted(let attempts): warnings.append(.dumpInterrupted(name, attempts: attempts))
    case .failed(let detail): warnings.append(.dumpFailed(name, detail: detail))
    }
    if let error = result.firstDecodeError {
      warnings.append(
        .other("\(name): \(result.decodeErrors) message(s) could not be decoded: \(error)"))
    }
  }

  /// Appends to `flows` the sockets in `unmatched` (held by scanned processes, returned by no
  /// dump) that the query could keep (`UnlistedSockets`), and gives each process its count of
  /// those neither bound nor connected. A TCP or UDP socket missing from a whole dump is
  /// confirmed by a second dump of its protocol; a refresh (`ownerCache`) names each socket
  /// once, and confirms one when the next refresh misses it too, with no second dump.
  private func findUnlisted(
    _ unmatched: inout [UnmatchedSocket], scan: ProcScanResult, _ options: InspectOptions,
    coverage: DumpCoverage, ownNetns: UInt64, ownerCache: OwnerCache?, into flows: inout [Flow],
    processes: inout [Int32: OwningProcess], warnings: inout [SnapshotWarning]
  ) {
    if unmatched.count >= Self.unaskedWalkThreshold {
      dropSocketsNotAskedFor(&unmatched, options)
    }
    guard !unmatched.isEmpty else {
      ownerCache?.rememberUnlisted(kinds: [:], candidates: [])
      return
    }
    let records = Dictionary(
      scan.processes.lazy.map { ($0.pid, $0.netnsInode) }, uniquingKeysWith: { a, _ in a })
    let known = ownerCache?.unlistedKinds ?? [:]
    let unlisted = UnlistedSockets(
      unmatched, reader: SocketProtocolReader(root: options.procRoot), coverage: coverage,
      options: options, netns: { records[$0] ?? nil }, knownKind: { known[$0] })
    for named in unlisted.unknown { flows.append(UnlistedSockets.flow(named, unconnected: false)) }
    let confirmed: [(NamedSocket, unconnected: Bool)]
    if let ownerCache, let before = ownerCache.unlistedCandidates {
      confirmed = unlisted.toConfirm.filter { before.contains($0.socket.inode) }.map { ($0, true) }
    } else {
      confirmed = confirmUnlisted(unlisted.toConfirm, options, ownNetns: ownNetns, into: &flows)
    }
    ownerCache?.rememberUnlisted(
      kinds: unlisted.kinds, candidates: Set(unlisted.toConfirm.lazy.map(\.socket.inode)))
    var counts: [Int32: UnconnectedSockets] = [:]
    for (named, unconnected) in confirmed {
      flows.append(UnlistedSockets.flow(named, unconnected: unconnected))
      if unconnected { UnlistedSockets.count(named, into: &counts) }
    }
    for (pid, count) in counts { processes[pid]?.unconnectedSockets = count }
    if let first = unlisted.firstError {
      warnings.append(
        .other(
          "\(unlisted.unreadable) socket descriptor(s) no dump listed could not be named; first: \(first)"))
    }
  }

  /// From how many unmatched descriptors a walk of the tables not asked for is cheaper than a
  /// getxattr for each: a walk of an empty table costs about what a few dozen getxattr do.
  static let unaskedWalkThreshold = 512

  /// Sockets of the protocols (or families) a snapshot does not ask for are unmatched too, and
  /// would be dropped once a getxattr named them: a TCP listing of processes holding 100k UNIX
  /// descriptors would name every one (0.4 s). When there are many, the tables not asked for
  /// are walked instead, in this namespace, for their inodes only (nothing decoded), and the
  /// sockets found there are left out.
  private func dropSocketsNotAskedFor(_ unmatched: inout [UnmatchedSocket], _ options: InspectOptions) {
    var other = InspectOptions(
      protocols: Set(TransportProtocol.allCases).subtracting(options.protocols))
    if !options.ipv4 || !options.ipv6 {
      // The family not asked for, of the protocols asked for, too.
      other.protocols.formUnion(options.protocols)
    }
    // A recording would keep these walks as if they were dumps: only a live kernel is walked.
    guard otherNamespacesUnavailable == nil, let kernel = source as? KernelSource else { return }
    kernel.inodesOnly = true
    defer { kernel.inodesOnly = false }
    final class Inodes: @unchecked Sendable { var set = Set<UInt32>() }
    let found = Inodes()
    for query in other.queries {
      _ = kernel.dump(
        query, states: 0xffff_ffff, bytecode: nil,
        keepingInodes: { inode in
          found.set.insert(inode)
          return false
        }, restart: {}, record: { _ in })
    }
    unmatched.removeAll { found.set.contains(UInt32(truncatingIfNeeded: $0.inode)) }
  }

  /// TCP and UDP sockets a whole dump missed are in no table, unless they were created, bound
  /// or connected while it ran (the /proc scan runs beside the dump): a busy server would
  /// look like a leaking one. A second dump of their protocols, keeping only their inodes,
  /// tells them apart. Those it finds are ordinary flows (appended with their owners); the
  /// others are returned, with whether that second dump read their table whole.
  private func confirmUnlisted(
    _ candidates: [NamedSocket], _ options: InspectOptions, ownNetns: UInt64,
    into flows: inout [Flow]
  ) -> [(NamedSocket, unconnected: Bool)] {
    guard !candidates.isEmpty else { return [] }
    var byNamespace: [UInt64: [NamedSocket]] = [:]
    for named in candidates { byNamespace[named.netns, default: []].append(named) }
    var result: [(NamedSocket, unconnected: Bool)] = []
    for (netns, sockets) in byNamespace.sorted(by: { $0.key < $1.key }) {
      let source: SockDiagSource? = netns == ownNetns ? self.source : namespaceSources[netns]
      guard let source else {
        result += sockets.map { ($0, false) }
        continue
      }
      var again = InspectOptions(protocols: Set(sockets.map(\.kind.proto)))
      again.ipv4 = sockets.contains { $0.kind.family == .inet }
      again.ipv6 = sockets.contains { $0.kind.family == .inet6 }
      again.inetExtensions = options.inetExtensions
      let wanted = Set(sockets.map { UInt32(truncatingIfNeeded: $0.socket.inode) })
      var found: [Flow] = []
      var previous: PreviousFlows? = nil
      var fresh: [Int] = []
      var coverage = DumpCoverage()
      var ignored: [SnapshotWarning] = []
      dump(
        source, netns: netns, again, keeping: wanted, previous: &previous, into: &found,
        fresh: &fresh, warnings: &ignored, coverage: &coverage)
      var owners: [UInt64: FlowOwners] = [:]
      for named in sockets { owners[named.socket.inode] = named.socket.owners }
      var seen = Set<UInt64>()
      for var flow in found {
        guard let holders = owners[flow.inode], seen.insert(flow.inode).inserted else { continue }
        flow.owners = holders
        flows.append(flow)
      }
      for named in sockets where !seen.contains(named.socket.inode) {
        let whole = coverage.coversWhole(netns: netns, proto: named.kind.proto, family: named.kind.family)
        result.append((named, whole))
      }
    }
    return result
  }

  /// The source for another namespace, opened once and kept; entered by the first of `paths`
  /// that still exists.
  private func namespaceSource(_ inode: UInt64, paths: [String]) -> Result<
    SockDiagSource, TransportError
  > {
    if let cached = namespaceSources[inode] { return .success(cached) }
    var failure = TransportError(operation: "setns", errno: ENOENT)
    for path in paths {
      do {
        let opened = KernelSource(channel: try openSockDiagSocket(inNetworkNamespaceAt: path))
        namespaceSources[inode] = opened
        return .success(opened)
      } catch {
        failure = error
        guard error.errno == ENOENT || error.errno == ESRCH else { break }
      }
    }
    return .failure(failure)
  }

  private func statesMask(for query: SockDiagQuery, _ options: InspectOptions) -> UInt32 {
    let proto = query.transportProtocol
    guard proto.hasConnectionStates else { return 0xffff_ffff }
    return options.requestFilters[proto]?.states ?? options.states
  }
}

extension OwningProcess {
  init(_ record: ProcessRecord, user: String?, containerNames: ContainerNames) {
    self.init(pid: record.pid, command: record.command)
    ppid = record.ppid
    commandLine = record.commandLine
    uid = record.uid
    self.user = user
    startTimeTicks = record.startTimeTicks
    netns = record.netnsInode
    descriptorsReadable = record.fdsReadable
    descriptorCount = record.descriptorCounts.total
    socketCount = record.sockets.count
    fdLimitSoft = record.fdLimitSoft
    fdLimitHard = record.fdLimitHard
    executable = record.executable
    if let path = record.cgroupPath {
      unit = ProcParsers.systemdUnit(cgroupPath: path)
      if let reference = ProcParsers.containerReference(cgroupPath: path) {
        container = reference.identity
        containerName = containerNames.name(of: reference)
      }
    }
  }
}

extension NamespaceCounters {
  init(_ values: NamespaceCounterValues) {
    self.init(
      localPortRange: values.localPortRange, listenOverflows: values.listenOverflows,
      listenDrops: values.listenDrops)
  }
}

extension HostCounters {
  init(_ values: OrphanCounterValues) {
    self.init(orphans: values.orphans, maxOrphans: values.maxOrphans)
  }
}

/// The flows of a streamed collection whose caller asked to keep them (`FlowStream.begin`).
private final class KeptFlows {
  var flows: [Flow] = []
}
