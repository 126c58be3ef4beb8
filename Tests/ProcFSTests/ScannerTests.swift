import Dispatch
import Foundation
import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import ProcFS

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A fake tree exercising every outcome; see each pid's comment.
private func makeFakeTree() -> FakeProc {
  let t = FakeProc()
  // 100: healthy, every kind of fd.
  t.process(
    100, command: "fake one", ppid: 1, uid: 1000, start: 555,
    fds: [
      0: "socket:[1111]", 1: "pipe:[2222]", 2: "anon_inode:[eventfd]", 3: "/dev/null",
      4: "net:[4026531840]",
      5: "socket:[99999999999999999999999]", 7: "anon_inode:inotify", 9: "socket:[3333]",
    ], limits: ("unlimited", "unlimited"))
  // 200: its fd "dir" is a regular file: ENOTDIR, an unexpected error; the process stays listed.
  t.process(200, command: "notdir")
  try! FileManager.default.removeItem(atPath: t.root + "/200/fd")
  t.file("200/fd", "")
  // 400: garbage stat: a parse error; still listed (its sockets matter) with an empty command.
  t.process(400, command: "garbage", fds: [3: "socket:[4444]"])
  t.file("400/stat", "this is not a stat file")
  // 500: empty stat, as a process that exited between open and read: vanished.
  t.process(500, command: "gone")
  t.file("500/stat", "")
  // Non-process entries are ignored.
  t.dir("sys")
  t.file("uptime", "1.0 2.0\n")
  t.link("self", to: "100")
  return t
}

@Suite struct FakeTreeTests {
  @Test func everyOutcome() throws {
    let t = makeFakeTree()
    defer { t.remove() }
    let r = ProcScanner(
      options: ProcScanOptions(
        root: t.root, threads: 1, keepOtherDescriptors: true, readCommandLine: true)
    ).scan()

    #expect(r.processes.map(\.pid) == [100, 200, 400])
    #expect(r.vanished == 1)
    #expect(r.denied == [])
    #expect(r.errorsOmitted == 0)
    #expect(
      r.errors == [
        ProcFSError(operation: "openat", path: "\(t.root)/200/fd", errno: .notDirectory),
        ProcFSError(
          operation: "parse", path: "\(t.root)/400/stat", parseError: .missingField("comm")),
      ])
    #expect(r.errors.first?.description == "openat \(t.root)/200/fd: Not a directory")

    let p = try #require(r.processes.first)
    #expect(p.command == bytes("fake one"))
    #expect(p.ppid == 1)
    #expect(p.uid == 1000)
    #expect(p.state == UInt8(ascii: "S"))
    #expect(p.startTimeTicks == 555)
    #expect(p.namespacePIDs == [100])
    #expect(p.commandLine == [bytes("fake one"), bytes("--flag")])
    #expect(p.netnsInode == t.inode("100/ns/net"))
    #expect(p.fdsReadable)
    #expect(p.fdLimitRead)
    #expect(p.fdLimitSoft == nil)
    #expect(p.fdLimitHard == nil)
    #expect(
      p.descriptorCounts
        == DescriptorCounts(total: 8, sockets: 2, pipes: 1, anonInodes: 2, files: 1, other: 2))
    #expect(
      Set(p.sockets) == [
        SocketDescriptor(fd: 0, inode: 1111), SocketDescriptor(fd: 9, inode: 3333),
      ])
    let others = Dictionary(
      uniqueKeysWithValues: (p.otherDescriptors ?? []).map { ($0.fd, $0.target) })
    #expect(
      others == [
        1: .pipe(inode: 2222), 2: .anonInode(name: bytes("eventfd")), 3: .path(bytes("/dev/null")),
        4: .other(bytes("net:[4026531840]")), 5: .other(bytes("socket:[99999999999999999999999]")),
        7: .anonInode(name: bytes("inotify")),
      ])

    let notdir = r.processes[1]
    #expect(notdir.command == bytes("notdir"))
    #expect(!notdir.fdsReadable)
    #expect(notdir.sockets == [])
    #expect(notdir.fdLimitSoft == 1024)
    #expect(notdir.fdLimitHard == 4096)

    let garbage = r.processes[2]
    #expect(garbage.command == [])
    #expect(garbage.sockets == [SocketDescriptor(fd: 3, inode: 4444)])
  }

  @Test func defaultsKeepNoOtherTargetsAndNoCmdline() throws {
    let t = makeFakeTree()
    defer { t.remove() }
    let r = ProcScanner(options: ProcScanOptions(root: t.root, pids: [100])).scan()
    let p = try #require(r.processes.first)
    #expect(p.otherDescriptors == nil)
    #expect(p.commandLine == nil)
    #expect(p.descriptorCounts.total == 8)
    #expect(p.sockets.count == 2)
  }

  @Test func readLimitsOff() throws {
    let t = makeFakeTree()
    defer { t.remove() }
    let r = ProcScanner(options: ProcScanOptions(root: t.root, pids: [200], readLimits: false))
      .scan()
    let p = try #require(r.processes.first)
    #expect(!p.fdLimitRead)
    #expect(p.fdLimitSoft == nil)
  }

  /// Only the given pids are touched: every other pid dir is broken and yet nothing is reported.
  @Test func pidsOptionTouchesOnlyThosePids() {
    let t = makeFakeTree()
    defer { t.remove() }
    // Make the rest even worse: an unreadable stat would be an error if it were read.
    t.dir("600/stat")
    let only = ProcScanner(options: ProcScanOptions(root: t.root, pids: [100])).scan()
    #expect(only.processes.map(\.pid) == [100])
    #expect(only.errors == [])
    #expect(only.vanished == 0)
    #expect(only.denied == [])

    // A pid that does not exist counts as vanished; the root is not listed.
    let missing = ProcScanner(options: ProcScanOptions(root: t.root, pids: [100, 999, -3])).scan()
    #expect(missing.processes.map(\.pid) == [100])
    #expect(missing.vanished == 1)
    #expect(missing.errors == [])

    // Without the option the broken 600 shows up.
    let all = ProcScanner(options: ProcScanOptions(root: t.root)).scan()
    #expect(all.errors.contains { $0.path == "\(t.root)/600/stat" && $0.errno == .isDirectory })
  }

  /// A real EACCES on a fake fd dir (mode 000). As root, the fs uid of this thread is changed
  /// so the kernel checks permissions; a 1-thread scan runs on this thread.
  @Test func deniedFdDirIsCountedNotFatal() throws {
    let t = makeFakeTree()
    defer { t.remove() }
    t.process(300, command: "secret", uid: 0, fds: [3: "socket:[5555]"])
    chmod(t.root + "/300/fd", 0)
    let options = ProcScanOptions(root: t.root, pids: [100, 300], threads: 1)
    let r =
      geteuid() == 0
      ? withFilesystemUID(65534) { ProcScanner(options: options).scan() }
      : ProcScanner(options: options).scan()
    #expect(r.denied == [300])
    #expect(r.errors == [])
    #expect(r.processes.map(\.pid) == [100, 300])
    let secret = r.processes[1]
    #expect(secret.command == bytes("secret"))  // what could be read is kept
    #expect(secret.uid == 0)
    #expect(!secret.fdsReadable)
    #expect(secret.sockets == [])
    #expect(r.processes[0].fdsReadable)
    #expect(r.processes[0].sockets.count == 2)
  }

  @Test func oneTwoAndFourThreadsAgree() {
    let t = makeFakeTree()
    defer { t.remove() }
    for pid in Int32(1000)..<1040 {
      t.process(
        pid, command: "w\(pid)",
        fds: [0: "socket:[\(pid * 10)]", 1: "socket:[\(pid * 10 + 1)]", 2: "pipe:[9]"])
    }
    func run(_ threads: Int, _ listing: DirectoryListing = .automatic) -> (
      [Summary], [Int32], Int, [ProcFSError]
    ) {
      var o = ProcScanOptions(root: t.root, threads: threads, keepOtherDescriptors: true)
      o.directoryListing = listing
      let r = ProcScanner(options: o).scan()
      return (r.processes.map(Summary.init), r.denied, r.vanished, r.errors)
    }
    let one = run(1)
    #expect(one.0.count == 43)
    #expect(
      one.0.last?.sockets == [
        SocketDescriptor(fd: 0, inode: 10390), SocketDescriptor(fd: 1, inode: 10391),
      ])
    let two = run(2)
    let four = run(4)
    #expect(two.0 == one.0)
    #expect(four.0 == one.0)
    #expect(
      two.1 == one.1 && two.2 == one.2
        && Set(two.3.map(\.description)) == Set(one.3.map(\.description)))
    // The readdir fallback lists the same.
    let viaReaddir = run(2, .readdir)
    #expect(viaReaddir.0 == one.0)
    #expect(viaReaddir.2 == one.2)
  }

  @Test func missingRootIsOneTypedError() {
    let r = ProcScanner(options: ProcScanOptions(root: "/nonexistent/procfs-test")).scan()
    #expect(r.processes.isEmpty)
    #expect(
      r.errors == [
        ProcFSError(
          operation: "openat", path: "/nonexistent/procfs-test", errno: .noSuchFileOrDirectory)
      ])
    #expect(
      ProcScanner(options: ProcScanOptions(root: "/nonexistent/procfs-test")).ownNetnsInode() == nil
    )
  }

  @Test func errorsAreCapped() {
    let t = FakeProc()
    defer { t.remove() }
    for pid in Int32(10)..<20 {
      t.process(pid)
      t.file("\(pid)/stat", "junk")
    }
    let r = ProcScanner(options: ProcScanOptions(root: t.root, threads: 2, maxErrors: 3)).scan()
    #expect(r.processes.count == 10)
    #expect(r.errors.count == 3)
    #expect(r.errorsOmitted == 7)
  }

  @Test func errorDescription() {
    let e = ProcFSError(
      operation: "readlinkat", path: "/proc/42/fd/7", errno: .noSuchFileOrDirectory)
    #expect(e.description == "readlinkat /proc/42/fd/7: No such file or directory")
    #expect(e.isVanished)
    #expect(!e.isDenied)
  }
}

@Suite struct RealProcessTests {
  @Test func ownSocketsPipesAndEventfd() throws {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    #expect(listener >= 0)
    defer { close(listener) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    let bound = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    #expect(bound == 0)
    #expect(listen(listener, 8) == 0)
    var pair: [Int32] = [-1, -1]
    #expect(
      socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0
    )
    defer {
      close(pair[0])
      close(pair[1])
    }
    var pipeFDs: [Int32] = [-1, -1]
    #expect(pipe(&pipeFDs) == 0)
    for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    defer {
      close(pipeFDs[0])
      close(pipeFDs[1])
    }
    let efd = makeEventFD()
    #expect(efd >= 0)
    defer { close(efd) }

    let me = getpid()
    let r = ProcScanner(
      options: ProcScanOptions(
        pids: [me], threads: 1, keepOtherDescriptors: true, readCommandLine: true)
    ).scan()
    #expect(r.errors == [])
    let p = try #require(r.processes.first)
    #expect(r.processes.count == 1)
    #expect(p.pid == me)
    #expect(p.ppid == getppid())
    #expect(p.uid == geteuid())
    #expect(p.realUID == getuid())
    #expect(p.fdsReadable)
    let sockets = Set(p.sockets)
    for fd in [listener, pair[0], pair[1]] {
      #expect(sockets.contains(SocketDescriptor(fd: fd, inode: inode(ofFD: fd))), "fd \(fd)")
    }
    let others = Dictionary(
      uniqueKeysWithValues: (p.otherDescriptors ?? []).map { ($0.fd, $0.target) })
    #expect(others[pipeFDs[0]] == .pipe(inode: inode(ofFD: pipeFDs[0])))
    #expect(others[pipeFDs[1]] == .pipe(inode: inode(ofFD: pipeFDs[1])))
    #expect(others[efd] == .anonInode(name: bytes("eventfd")))
    #expect(p.descriptorCounts.sockets >= 3)
    #expect(p.descriptorCounts.pipes >= 2)
    #expect(p.descriptorCounts.total >= 6)

    let comm = try Data(contentsOf: URL(fileURLWithPath: "/proc/self/comm"))
    #expect(p.command == Array(comm.dropLast()))  // comm ends in "\n"
    #expect(p.commandLine?.first == bytes(CommandLine.arguments[0]))
    var lim = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lim)
    #expect(p.fdLimitRead)
    #expect(p.fdLimitSoft == (lim.rlim_cur == rlim_t.max ? nil : UInt64(lim.rlim_cur)))
    var ns = stat()
    #expect(stat("/proc/self/ns/net", &ns) == 0)
    #expect(p.netnsInode == UInt64(ns.st_ino))
    #expect(ProcScanner().ownNetnsInode() == UInt64(ns.st_ino))
  }

  @Test func childHoldingInheritedSocketAtFD3() throws {
    var pair: [Int32] = [-1, -1]
    #expect(
      socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0
    )
    defer {
      close(pair[0])
      close(pair[1])
    }
    let expected = inode(ofFD: pair[1])
    let child = try #require(spawn(["/bin/sleep", "30"], socketFD: pair[1]))
    defer { killAndReap(child) }

    let only = ProcScanner(options: ProcScanOptions(pids: [child])).scan()
    #expect(only.errors == [])
    let p = try #require(only.processes.first)
    #expect(p.pid == child)
    #expect(p.ppid == getpid())
    #expect(p.command == bytes("sleep"))
    #expect(p.sockets == [SocketDescriptor(fd: 3, inode: expected)])
    #expect(p.descriptorCounts.sockets == 1)

    // A full scan finds it too, with the same record.
    let all = ProcScanner(options: ProcScanOptions(threads: 2)).scan()
    let again = try #require(all.processes.first { $0.pid == child })
    // (Not the whole record: the state letter may change between the two scans.)
    #expect(again.ppid == p.ppid)
    #expect(again.command == p.command)
    #expect(again.startTimeTicks == p.startTimeTicks)
    #expect(again.sockets == p.sockets)
    #expect(all.processes.contains { $0.pid == getpid() })
  }

  @Test func oneAndTwoThreadsAgreeOnRealChildren() throws {
    var children: [pid_t] = []
    var fds: [Int32] = []
    defer {
      for c in children { killAndReap(c) }
      for fd in fds { close(fd) }
    }
    for _ in 0..<6 {
      var pair: [Int32] = [-1, -1]
      #expect(
        socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
          == 0)
      fds += pair
      children.append(try #require(spawn(["/bin/sleep", "30"], socketFD: pair[0])))
    }
    // Both scans must see the children as they stay, not while they start.
    children.forEach(waitUntilAsleep)
    let set = Set(children)
    let one = ProcScanner(options: ProcScanOptions(pids: set, threads: 1)).scan()
    let two = ProcScanner(options: ProcScanOptions(pids: set, threads: 2)).scan()
    #expect(one.processes.map(\.pid) == children.sorted())
    #expect(one.processes.map(Summary.init) == two.processes.map(Summary.init))
    #expect(one.processes.allSatisfy { $0.sockets.count == 1 && $0.sockets[0].fd == 3 })
    #expect(Set(one.processes.map { $0.sockets[0].inode }).count == 6)
  }

  /// Children exit while we scan: never an error, never a failure.
  @Test func shortLivedChildrenDuringScans() {
    let stop = Atomic<Bool>(false)
    let spawned = Atomic<Int>(0)
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
      while !stop.load(ordering: .relaxed) {
        if let pid = spawn(["/bin/true"]) {
          var status: Int32 = 0
          while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
          spawned.add(1, ordering: .relaxed)
        }
      }
      done.signal()
    }
    var scans = 0
    while scans < 30 || spawned.load(ordering: .relaxed) < 50 {
      let r = ProcScanner(options: ProcScanOptions(threads: 2, readCommandLine: true)).scan()
      #expect(r.errors == [], "\(r.errors)")
      #expect(r.processes.contains { $0.pid == getpid() })
      scans += 1
      if scans > 2000 { break }
    }
    stop.store(true, ordering: .relaxed)
    done.wait()
    #expect(spawned.load(ordering: .relaxed) >= 50)
  }

  /// /proc/1 here lists its fds but refuses every readlinkat (EACCES), even as root.
  @Test func pidOneIsDeniedHere() throws {
    var buf = [CChar](repeating: 0, count: 4096)
    let refused =
      readlink("/proc/1/fd/0", &buf, buf.count) == -1 && errno == EACCES
    try #require(refused, "skipped: /proc/1/fd is readable on this machine")
    let r = ProcScanner(options: ProcScanOptions(pids: [1])).scan()
    #expect(r.denied == [1])
    #expect(r.errors == [])
    let p = try #require(r.processes.first)
    #expect(!p.fdsReadable)
    #expect(p.ppid == 0)
    #expect(!p.command.isEmpty)
  }
}

@Suite struct UserNamesTests {
  @Test func names() {
    let u = UserNames()
    #expect(u.name(for: 0) == "root")
    #expect(u.name(for: 0) == "root")  // cached
    #expect(u.name(for: 4_000_000_000) == nil)
    #expect(u.name(for: 4_000_000_000) == nil)
  }

  @Test func concurrentLookups() {
    let u = UserNames()
    let results = Mutex<[String?]>([])
    DispatchQueue.concurrentPerform(iterations: 8) { i in
      let n = u.name(for: i % 2 == 0 ? 0 : 4_000_000_001)
      results.withLock { $0.append(n) }
    }
    let r = results.withLock { $0 }
    #expect(r.count == 8)
    #expect(r.filter { $0 == "root" }.count == 4)
  }
}

/// Descriptors known from elsewhere (the BPF iterator): no fd directory is read.
@Suite struct KnownDescriptorsScanTests {
  @Test func aScanGivenDescriptorsTakesThemAndReadsTheRestFromProc() throws {
    let tree = FakeProc()
    tree.process(100, command: "known", ppid: 1, uid: 1000, start: 7, fds: [3: "socket:[1111]", 4: "pipe:[2]"])
    tree.process(200, command: "absent", fds: [5: "socket:[2222]"])
    let known = KnownDescriptors(processes: [
      100: .init(count: 6, sockets: [SocketDescriptor(fd: 9, inode: 4242)])
    ])
    var options = ProcScanOptions(root: tree.root, threads: 1)
    options.descriptors = known
    let scan = ProcScanner(options: options).scan()
    let first = try #require(scan.processes.first { $0.pid == 100 })
    #expect(first.command == Array("known".utf8))
    #expect(first.uid == 1000)
    #expect(first.fdsReadable)
    #expect(first.sockets == [SocketDescriptor(fd: 9, inode: 4242)])
    #expect(first.descriptorCounts.total == 6 && first.descriptorCounts.sockets == 1)
    // A process the pass did not meet holds no descriptor.
    let second = try #require(scan.processes.first { $0.pid == 200 })
    #expect(second.sockets.isEmpty && second.descriptorCounts.total == 0 && second.fdsReadable)
  }

  @Test func factsOfAProcessSeenBeforeAreNotReadAgainUnlessItsStartTimeChanged() throws {
    let tree = FakeProc()
    tree.process(100, command: "first", uid: 1000, start: 7, fds: [3: "socket:[1111]"])
    let facts = ProcessFacts()
    var options = ProcScanOptions(root: tree.root, threads: 1)
    options.facts = facts
    options.descriptors = KnownDescriptors(processes: [
      100: .init(count: 1, sockets: [SocketDescriptor(fd: 3, inode: 1)])
    ])
    let one = ProcScanner(options: options).scan()
    #expect(one.processes.first?.uid == 1000)
    #expect(facts.count == 1 && facts.statistics.misses == 1)
    // Same start time: status is not read again (its new uid is not seen), stat is (the command).
    tree.file("100/status", "Name:\tsecond\nUid:\t2000\t2000\t2000\t2000\n")
    tree.file(
      "100/stat", "100 (second) S 1 100 100 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 7 1000 10 18446744073709551615 0 0\n")
    options.descriptors = KnownDescriptors(processes: [
      100: .init(count: 2, sockets: [SocketDescriptor(fd: 4, inode: 2)])
    ])
    let two = try #require(ProcScanner(options: options).scan().processes.first)
    #expect(facts.statistics.hits == 1)
    #expect(two.uid == 1000)
    #expect(two.command == Array("second".utf8))
    #expect(two.sockets == [SocketDescriptor(fd: 4, inode: 2)])
    #expect(two.descriptorCounts.total == 2)
    // A new start time: another process with the same pid, read whole.
    tree.file(
      "100/stat", "100 (third) S 1 100 100 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 9 1000 10 18446744073709551615 0 0\n")
    let three = try #require(ProcScanner(options: options).scan().processes.first)
    #expect(three.uid == 2000)
    #expect(facts.statistics.misses == 2)
    // Gone: forgotten at the next scan.
    tree.remove()
    let empty = FakeProc()
    var none = options
    none.root = empty.root
    _ = ProcScanner(options: none).scan()
    #expect(facts.count == 0)
  }

  @Test func descriptorsAreAskedForAfterTheListing() throws {
    let tree = FakeProc()
    tree.process(100, command: "one", fds: [3: "socket:[1111]"])
    let scanner = ProcScanner(options: ProcScanOptions(root: tree.root, threads: 1))
    let shared = scanner.start(descriptors: { KnownDescriptors(processes: [100: .init(count: 1, sockets: [])]) })
    shared.help()
    #expect(shared.result().processes.first?.sockets == [])
    // nil: the fd directories are read after all.
    let fallback = scanner.start(descriptors: { nil })
    fallback.help()
    #expect(fallback.result().processes.first?.sockets == [SocketDescriptor(fd: 3, inode: 1111)])
  }
}
