import Dispatch
import Glibc
import Synchronization
import SystemPackage

/// Scans `/proc` (or `options.root`): one record per process with its socket inodes,
/// fd counts per kind, fd limits, uid and network namespace.
///
/// Threading: `threads` workers (via `DispatchQueue.concurrentPerform`; with 1 the caller's
/// thread does the work) take pids one at a time from a shared atomic index (`SharedProcScan`).
/// Each worker owns its buffers and hands in its output once; the outputs are merged and sorted
/// after the join. No lock is taken on the per-fd path.
public struct ProcScanner: Sendable {
  public var options: ProcScanOptions

  public init(options: ProcScanOptions = ProcScanOptions()) {
    self.options = options
  }

  /// Scans on `options.threads` threads; `descriptors` as for `start`.
  public func scan(descriptors: (() -> KnownDescriptors?)? = nil) -> ProcScanResult {
    let shared = start(descriptors: descriptors)
    let workers = max(1, min(options.threads, 64, shared.pidCount))
    if workers == 1 {
      shared.help()
    } else {
      DispatchQueue.concurrentPerform(iterations: workers) { _ in shared.help() }
    }
    return shared.result()
  }

  /// A scan for threads to share: `/proc` is listed now, the processes are scanned by whoever
  /// calls `help()`, and `result()` merges what they found. A listing starts a helper thread,
  /// dumps the sockets meanwhile, then helps finish the scan: two busy threads on two cores,
  /// where a scan on two threads of its own plus the dump made three and ran slower.
  ///
  /// `descriptors`, when given, is called once the processes are listed (so that a pass made
  /// then sees every listed process still alive); what it returns replaces the reading of each
  /// fd directory (`ProcScanOptions.descriptors`). When it returns nil, the fd directories are
  /// read as usual.
  public func start(descriptors: (() -> KnownDescriptors?)? = nil) -> SharedProcScan {
    let rootFD: Int32
    switch Sys.openat(AT_FDCWD, options.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) {
    case .success(let fd): rootFD = fd
    case .failure(let e):
      return SharedProcScan(
        self, rootFD: -1, pids: [],
        listingError: ProcFSError(operation: "openat", path: options.root, errno: e))
    }
    var listingError: ProcFSError? = nil
    let pids: [Int32]
    if let only = options.pids {
      pids = only.filter { $0 > 0 }.sorted()
    } else {
      let lister = ScanWorker(rootFD: rootFD, options: options)
      var list: [Int32] = []
      list.reserveCapacity(1024)
      if let e = lister.walkDirectory(
        rootFD,
        { name in
          if let pid = ProcParsers.numericName(name), pid > 0 { list.append(pid) }
          return true
        })
      {
        listingError = ProcFSError(operation: lister.listingOperation, path: options.root, errno: e)
      }
      list.sort()
      pids = list
    }
    if let descriptors, let known = descriptors() {
      var scanner = self
      scanner.options.descriptors = known
      return SharedProcScan(scanner, rootFD: rootFD, pids: pids, listingError: listingError)
    }
    return SharedProcScan(self, rootFD: rootFD, pids: pids, listingError: listingError)
  }

  fileprivate func merge(_ outputs: [WorkerOutput], listingError: ProcFSError?) -> ProcScanResult {
    var result = ProcScanResult()
    result.processes.reserveCapacity(outputs.reduce(0) { $0 + $1.records.count })
    var errors: [ProcFSError] = []
    if let e = listingError { errors.append(e) }
    var omitted = 0
    for o in outputs {
      result.processes.append(contentsOf: o.records)
      result.denied.append(contentsOf: o.denied)
      result.vanished += o.vanished
      errors.append(contentsOf: o.errors)
      omitted += o.errorsOmitted
    }
    result.processes.sort { $0.pid < $1.pid }
    result.denied.sort()
    let cap = max(0, options.maxErrors)
    if errors.count > cap {
      omitted += errors.count - cap
      errors.removeLast(errors.count - cap)
    }
    result.errors = errors
    result.errorsOmitted = omitted
    return result
  }

  /// `st_ino` of this thread's network namespace: `<root>/thread-self/ns/net`, or
  /// `<root>/self/ns/net` on kernels without `thread-self`. nil if neither can be read.
  public func ownNetnsInode() -> UInt64? {
    for sub in ["thread-self", "self"] {
      if let inode = netnsInode(of: sub) { return inode }
    }
    return nil
  }

  /// The inode of a process's network namespace (`<root>/<pid>/ns/net`); nil when it cannot
  /// be read (gone, or not ours to see).
  public func netnsInode(of process: String) -> UInt64? {
    let r = (options.root + "/" + process + "/ns/net").withCString { Sys.fstatat(AT_FDCWD, $0, 0) }
    guard case .success(let st) = r else { return nil }
    return UInt64(st.st_ino)
  }
}

extension ProcScanner {
  /// The kernel's count of sockets in this network namespace (`<root>/net/sockstat`,
  /// "sockets: used N"), a cheap capacity hint for a dump's result arrays: reserving it up front
  /// avoids growing a 100k-element array by doubling (a third of a listing's peak memory).
  /// nil if the file cannot be read or parsed.
  public static func socketsInUse(root: String = "/proc") -> Int? {
    let fd: Int32
    switch Sys.openat(AT_FDCWD, root + "/net/sockstat", O_RDONLY | O_CLOEXEC) {
    case .success(let f): fd = f
    case .failure: return nil
    }
    defer { Sys.close(fd) }
    var buffer = [UInt8](repeating: 0, count: 512)
    let count = buffer.withUnsafeMutableBytes { raw -> Int in
      if case .success(let n) = Sys.read(fd, raw) { return n }
      return 0
    }
    return buffer.withUnsafeBytes {
      ProcParsers.socketsInUse(UnsafeRawBufferPointer(rebasing: $0[0..<count]))
    }
  }
}

extension ProcScanner {
  /// How many files the kernel has open, every process's together (`<root>/sys/fs/file-nr`,
  /// its first number; a file shared by several descriptors counts once): what a /proc scan's
  /// cost grows with. nil if the file cannot be read or parsed.
  public static func openFiles(root: String = "/proc") -> Int? {
    let fd: Int32
    switch Sys.openat(AT_FDCWD, root + "/sys/fs/file-nr", O_RDONLY | O_CLOEXEC) {
    case .success(let f): fd = f
    case .failure: return nil
    }
    defer { Sys.close(fd) }
    var buffer = [UInt8](repeating: 0, count: 128)
    let count = buffer.withUnsafeMutableBytes { raw -> Int in
      if case .success(let n) = Sys.read(fd, raw) { return n }
      return 0
    }
    return buffer.withUnsafeBytes { ProcParsers.openFiles(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
  }
}

extension ProcParsers {
  /// The first number of /proc/sys/fs/file-nr ("allocated\tfree\tmaximum").
  public static func openFiles(_ text: UnsafeRawBufferPointer) -> Int? {
    var value = 0
    var index = 0
    while index < text.count, text[index] >= 0x30, text[index] <= 0x39 {
      value = value &* 10 &+ Int(text[index] &- 0x30)
      if value > 1 << 40 { return nil }
      index += 1
    }
    return index > 0 && (index == text.count || text[index] == 0x09 || text[index] == 0x20) ? value : nil
  }

  /// "sockets: used N" from the first line of /proc/net/sockstat.
  public static func socketsInUse(_ text: UnsafeRawBufferPointer) -> Int? {
    let prefix = Array("sockets: used ".utf8)
    guard text.count > prefix.count, text.starts(with: prefix) else { return nil }
    var value = 0
    var index = prefix.count
    while index < text.count, text[index] >= 0x30, text[index] <= 0x39 {
      value = value &* 10 &+ Int(text[index] &- 0x30)
      if value > 1 << 40 { return nil }
      index += 1
    }
    return index > prefix.count ? value : nil
  }
}

/// One scan of `/proc` that any number of threads work on together (`ProcScanner.start()`).
/// Each `help()` takes pids one at a time from a shared atomic index until none is left, with
/// buffers of its own, and hands in its findings once; no lock is taken on the per-fd path.
public final class SharedProcScan: Sendable {
  private let scanner: ProcScanner
  private let rootFD: Int32
  private let pids: [Int32]
  private let listingError: ProcFSError?
  private let next = Atomic<Int>(0)
  private let outputs = Mutex<[WorkerOutput]>([])

  fileprivate init(_ scanner: ProcScanner, rootFD: Int32, pids: [Int32], listingError: ProcFSError?) {
    self.scanner = scanner
    self.rootFD = rootFD
    self.pids = pids
    self.listingError = listingError
  }

  deinit { if rootFD >= 0 { Sys.close(rootFD) } }

  /// How many processes the scan covers.
  public var pidCount: Int { pids.count }

  /// Scans processes until every one is taken; safe to call from several threads at once.
  public func help() {
    guard next.load(ordering: .relaxed) < pids.count else { return }
    let worker = ScanWorker(rootFD: rootFD, options: scanner.options)
    while true {
      let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
      if i >= pids.count { break }
      worker.scanProcess(pids[i])
    }
    let found = worker.out
    outputs.withLock { $0.append(found) }
  }

  /// Every process's record, sorted by pid. Call it once every `help()` has returned.
  public func result() -> ProcScanResult {
    if let facts = scanner.options.facts, scanner.options.pids == nil, listingError == nil {
      facts.retain(sorted: pids)
    }
    return scanner.merge(outputs.withLock { $0 }, listingError: listingError)
  }
}

/// What one worker found; merged after all workers finish.
struct WorkerOutput: Sendable {
  var records: [ProcessRecord] = []
  var denied: [Int32] = []
  var vanished = 0
  var errors: [ProcFSError] = []
  var errorsOmitted = 0
}

/// Per-thread scanning state: its own buffers, its own output. Never shared between threads.
final class ScanWorker {
  let rootFD: Int32
  let options: ProcScanOptions
  let useGetdents: Bool
  var out = WorkerOutput()

  /// Small files (stat, status, limits, cmdline, cgroup); grows on demand.
  private var file: UnsafeMutableRawBufferPointer
  /// getdents64 records.
  private let dirents: UnsafeMutableRawBufferPointer
  /// One link target; PATH_MAX bytes.
  private let link: UnsafeMutableRawBufferPointer
  /// "<pid>\0".
  private let pidName: UnsafeMutablePointer<CChar>

  static let fileSize = 4096
  static let direntsSize = 64 * 1024
  static let linkSize = Int(PATH_MAX)
  static let maxCommandLine = 1 << 20

  init(rootFD: Int32, options: ProcScanOptions) {
    self.rootFD = rootFD
    self.options = options
    self.useGetdents = options.directoryListing == .automatic && Sys.hasGetdents64
    file = ScanWorker.allocate(ScanWorker.fileSize)
    dirents = ScanWorker.allocate(ScanWorker.direntsSize)
    link = ScanWorker.allocate(ScanWorker.linkSize)
    pidName = .allocate(capacity: 16)
  }

  deinit {
    file.deallocate()
    dirents.deallocate()
    link.deallocate()
    pidName.deallocate()
  }

  /// Raw memory bound to CChar, so names inside it can be passed to C as strings.
  private static func allocate(_ size: Int) -> UnsafeMutableRawBufferPointer {
    let b = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
    b.bindMemory(to: CChar.self)
    return b
  }

  var listingOperation: String { useGetdents ? "getdents64" : "readdir" }

  // MARK: errors

  private func record(_ operation: String, _ path: @autoclosure () -> String, _ errno: Errno) {
    if out.errors.count < options.maxErrors {
      out.errors.append(ProcFSError(operation: operation, path: path(), errno: errno))
    } else {
      out.errorsOmitted += 1
    }
  }

  private func recordParse(_ file: String, _ pid: Int32, _ error: ProcParseError) {
    if out.errors.count < options.maxErrors {
      out.errors.append(
        ProcFSError(operation: "parse", path: "\(options.root)/\(pid)/\(file)", parseError: error))
    } else {
      out.errorsOmitted += 1
    }
  }

  @inline(__always) private static func isVanished(_ e: Errno) -> Bool {
    e == .noSuchFileOrDirectory || e == .noSuchProcess
  }
  @inline(__always) private static func isDenied(_ e: Errno) -> Bool {
    e == .permissionDenied || e == .notPermitted
  }

  // MARK: directory walk

  /// Calls `body` with each entry name of the directory open at `fd` (the name's base address
  /// is a NUL-terminated C string) until it returns false. Returns the errno that stopped the
  /// walk, or nil at the end (or when `body` stopped it).
  func walkDirectory(_ fd: Int32, _ body: (UnsafeRawBufferPointer) -> Bool) -> Errno? {
    if useGetdents {
      while true {
        switch Sys.getdents64(fd, dirents) {
        case .failure(let e): return e
        case .success(0): return nil
        case .success(let n):
          let records = UnsafeRawBufferPointer(rebasing: dirents[0..<min(n, dirents.count)])
          var stopped = false
          let wellFormed = ProcParsers.forEachDirent(records) { name, _ in
            if !stopped && !body(name) { stopped = true }
          }
          if stopped { return nil }
          if !wellFormed { return .badMessage }
        }
      }
    }
    // Fallback: readdir on a duplicate, so `fd` stays owned (and open) by the caller.
    let dupFD: Int32
    switch Sys.dupCloexec(fd) {
    case .success(let d): dupFD = d
    case .failure(let e): return e
    }
    let dir: OpaquePointer
    switch Sys.fdopendir(dupFD) {
    case .success(let d): dir = d
    case .failure(let e):
      Sys.close(dupFD)
      return e
    }
    defer { Sys.closedir(dir) }
    while true {
      switch Sys.readdir(dir) {
      case .failure(let e): return e
      case .success(nil): return nil
      case .success(let ent?):
        let more = withUnsafePointer(to: &ent.pointee.d_name) { p in
          let raw = UnsafeRawPointer(p)
          return body(
            UnsafeRawBufferPointer(
              start: raw, count: strlen(raw.assumingMemoryBound(to: CChar.self))))
        }
        if !more { return nil }
      }
    }
  }

  // MARK: files

  /// Reads the whole file `name` (relative to `dirfd`) into the reusable buffer, up to `limit` bytes.
  private func readFile(_ dirfd: Int32, _ name: StaticString, limit: Int = 1 << 16) -> Result<
    UnsafeRawBufferPointer, Errno
  > {
    let path = UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
    let fd: Int32
    switch Sys.openat(dirfd, path, O_RDONLY | O_CLOEXEC) {
    case .success(let f): fd = f
    case .failure(let e): return .failure(e)
    }
    defer { Sys.close(fd) }
    var total = 0
    while true {
      if total == file.count {
        if file.count >= limit { break }
        let bigger = ScanWorker.allocate(min(file.count * 4, limit))
        bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: file[0..<total]))
        file.deallocate()
        file = bigger
      }
      switch Sys.read(fd, UnsafeMutableRawBufferPointer(rebasing: file[total...])) {
      case .failure(let e): return .failure(e)
      case .success(0): return .success(UnsafeRawBufferPointer(rebasing: file[0..<total]))
      case .success(let n): total += n
      }
    }
    return .success(UnsafeRawBufferPointer(rebasing: file[0..<total]))
  }

  private func writePidName(_ pid: Int32) {
    var digits: (CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar) =
      (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var v = UInt32(bitPattern: pid)
    var count = 0
    withUnsafeMutableBytes(of: &digits) { d in
      repeat {
        d[count] = UInt8(ascii: "0") + UInt8(v % 10)
        v /= 10
        count += 1
      } while v > 0
      for i in 0..<count { pidName[i] = CChar(bitPattern: d[count - 1 - i]) }
    }
    pidName[count] = 0
  }

  // MARK: one process

  func scanProcess(_ pid: Int32) {
    let root = options.root
    writePidName(pid)
    let pidFD: Int32
    switch Sys.openat(rootFD, pidName, O_RDONLY | O_DIRECTORY | O_CLOEXEC) {
    case .success(let fd): pidFD = fd
    case .failure(let e):
      if Self.isVanished(e) {
        out.vanished += 1
      } else if Self.isDenied(e) {
        out.denied.append(pid)
      } else {
        record("openat", "\(root)/\(pid)", e)
      }
      return
    }
    defer { Sys.close(pidFD) }

    var rec = ProcessRecord(pid: pid)

    // stat: command, state, ppid, start time. A vanished process reads as ENOENT/ESRCH or as empty.
    switch readFile(pidFD, "stat") {
    case .failure(let e):
      if Self.isVanished(e) {
        out.vanished += 1
        return
      }
      if Self.isDenied(e) {
        out.denied.append(pid)
      } else {
        record("read", "\(root)/\(pid)/stat", e)
      }
      return
    case .success(let bytes):
      if bytes.isEmpty {
        out.vanished += 1
        return
      }
      do {
        let st = try ProcParsers.stat(bytes)
        rec.command = st.command
        rec.state = st.state
        rec.ppid = st.ppid
        rec.startTimeTicks = st.startTimeTicks
      } catch {
        recordParse("stat", pid, error)  // keep the process: its sockets still matter
      }
    }

    // Given the descriptors, a process seen before (same pid, same start time) is not read
    // again: its facts come from the cache, its descriptors from the pass.
    if let known = options.descriptors, let facts = options.facts, rec.startTimeTicks != 0,
      let cached = facts.lookup(pid, startTime: rec.startTimeTicks),
      cached.commandLineRead || !options.readCommandLine
    {
      var kept = cached.record
      kept.command = rec.command
      kept.state = rec.state
      kept.ppid = rec.ppid
      kept.netnsInode = nil
      if case .success(let st) = Sys.fstatat(pidFD, "ns/net", 0) { kept.netnsInode = UInt64(st.st_ino) }
      let process = known.processes[pid] ?? KnownDescriptors.Process()
      kept.fdsReadable = true
      kept.descriptorCounts = DescriptorCounts(total: process.count, sockets: process.sockets.count)
      kept.sockets = process.sockets
      if !cached.cgroupRead && !kept.sockets.isEmpty {
        readCgroup(pidFD, into: &kept)
        facts.store(kept, cgroupRead: true, commandLineRead: cached.commandLineRead)
      }
      out.records.append(kept)
      return
    }

    // status: uids. Fallback: the owner of /proc/<pid> (its effective uid when dumpable).
    var haveUID = false
    switch readFile(pidFD, "status") {
    case .success(let bytes) where !bytes.isEmpty:
      do {
        let st = try ProcParsers.status(bytes)
        rec.uid = st.effectiveUID
        rec.realUID = st.realUID
        rec.namespacePIDs = st.namespacePIDs
        haveUID = true
      } catch {
        recordParse("status", pid, error)
      }
    case .success: break
    case .failure(let e):
      if !Self.isVanished(e) { record("read", "\(root)/\(pid)/status", e) }
    }
    if !haveUID, case .success(let st) = Sys.fstat(pidFD) {
      rec.uid = st.st_uid
      rec.realUID = st.st_uid
    }

    if options.readLimits {
      switch readFile(pidFD, "limits") {
      case .success(let bytes) where !bytes.isEmpty:
        do {
          let l = try ProcParsers.openFilesLimit(bytes)
          rec.fdLimitSoft = l.soft
          rec.fdLimitHard = l.hard
          rec.fdLimitRead = true
        } catch {
          recordParse("limits", pid, error)
        }
      case .success: break
      case .failure(let e):
        if !Self.isVanished(e) && !Self.isDenied(e) { record("read", "\(root)/\(pid)/limits", e) }
      }
    }

    if options.readCommandLine {
      switch readFile(pidFD, "cmdline", limit: Self.maxCommandLine) {
      case .success(let bytes): rec.commandLine = ProcParsers.commandLine(bytes)
      case .failure(let e):
        if !Self.isVanished(e) && !Self.isDenied(e) { record("read", "\(root)/\(pid)/cmdline", e) }
      }
      // The executable's path; denied for other users' processes, absent for kernel threads.
      if case .success(let count) = Sys.readlinkat(pidFD, "exe", link), count < link.count {
        rec.executable = Array(UnsafeRawBufferPointer(rebasing: link[0..<count]))
      }
    }

    // Network namespace: follow the ns/net magic link and take the inode. Denied for other
    // users' processes when unprivileged: then nil, silently.
    if case .success(let st) = Sys.fstatat(pidFD, "ns/net", 0) {
      rec.netnsInode = UInt64(st.st_ino)
    }

    if let known = options.descriptors {
      let process = known.processes[pid] ?? KnownDescriptors.Process()
      rec.fdsReadable = true
      rec.descriptorCounts = DescriptorCounts(total: process.count, sockets: process.sockets.count)
      rec.sockets = process.sockets
      readCgroup(pidFD, into: &rec)
      if rec.startTimeTicks != 0 {
        options.facts?.store(rec, cgroupRead: !rec.sockets.isEmpty, commandLineRead: options.readCommandLine)
      }
      out.records.append(rec)
      return
    }

    let fdDir: Int32
    switch Sys.openat(pidFD, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC) {
    case .success(let d): fdDir = d
    case .failure(let e):
      if Self.isVanished(e) {
        out.vanished += 1
        return
      }
      if Self.isDenied(e) {
        out.denied.append(pid)
      } else {
        record("openat", "\(root)/\(pid)/fd", e)
      }
      rec.fdsReadable = false
      out.records.append(rec)
      return
    }
    defer { Sys.close(fdDir) }

    var counts = DescriptorCounts()
    var sockets: [SocketDescriptor] = []
    let keep = options.keepOtherDescriptors
    var others: [(fd: Int32, target: FDTarget)] = []
    let link = self.link
    var linksDenied = false
    let walkError = walkDirectory(fdDir) { name in
      guard let fd = ProcParsers.numericName(name) else { return true }  // ".", ".."
      let cname = name.baseAddress!.assumingMemoryBound(to: CChar.self)
      let len: Int
      switch Sys.readlinkat(fdDir, cname, link) {
      case .success(let n): len = n
      case .failure(let e):
        // ENOENT: the fd was closed after getdents listed it. Not an error.
        if Self.isVanished(e) { return true }
        // The fd dir may list but refuse every link (ptrace access check): /proc/1 here.
        if Self.isDenied(e) {
          linksDenied = true
          return false
        }
        record("readlinkat", "\(root)/\(pid)/fd/\(fd)", e)
        return true
      }
      let target = UnsafeRawBufferPointer(rebasing: link[0..<len])
      counts.total += 1
      let kind = ProcParsers.fdTargetKind(target)
      switch kind {
      case .socket(let inode):
        counts.sockets += 1
        sockets.append(SocketDescriptor(fd: fd, inode: inode))
        return true
      case .pipe: counts.pipes += 1
      case .anonInode: counts.anonInodes += 1
      case .path: counts.files += 1
      case .other: counts.other += 1
      }
      if keep { others.append((fd: fd, target: ProcParsers.fdTarget(target))) }
      return true
    }
    rec.fdsReadable = !linksDenied
    if linksDenied { out.denied.append(pid) }
    if let e = walkError {
      if Self.isVanished(e) {
        out.vanished += 1
        return
      }
      // Keep what was read; say it is incomplete.
      if Self.isDenied(e) {
        if !linksDenied { out.denied.append(pid) }
      } else {
        record(listingOperation, "\(root)/\(pid)/fd", e)
      }
      rec.fdsReadable = false
    }
    rec.descriptorCounts = counts
    rec.sockets = sockets
    if keep { rec.otherDescriptors = others }
    readCgroup(pidFD, into: &rec)
    out.records.append(rec)
  }

  /// The service or container, for the processes a listing names: those with sockets.
  private func readCgroup(_ pidFD: Int32, into rec: inout ProcessRecord) {
    if !rec.sockets.isEmpty, case .success(let bytes) = readFile(pidFD, "cgroup"), !bytes.isEmpty {
      rec.cgroupPath = ProcParsers.cgroupPath(ArraySlice(bytes))
    }
  }
}
