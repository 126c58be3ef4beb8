import Foundation
import Glibc
import ProcFS

/// A fake /proc tree in a fresh temporary directory, removed by `remove()`.
final class FakeProc {
  let root: String

  init() {
    var template = Array((NSTemporaryDirectory() + "procfs-test-XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed")
    root = String(cString: template)
    chmod(root, 0o755)  // readable by other fs uids (see `withFilesystemUID`)
  }

  func dir(_ path: String, mode: mode_t = 0o755) {
    let full = root + "/" + path
    try! FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
    chmod(full, mode)
  }

  func file(_ path: String, _ contents: [UInt8]) {
    let full = root + "/" + path
    try! FileManager.default.createDirectory(
      atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    precondition(FileManager.default.createFile(atPath: full, contents: Data(contents)))
  }

  func file(_ path: String, _ text: String) { file(path, Array(text.utf8)) }

  func link(_ path: String, to target: String) {
    let full = root + "/" + path
    try! FileManager.default.createDirectory(
      atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    precondition(symlink(target, full) == 0, "symlink \(full)")
  }

  /// A well-formed process directory.
  func process(
    _ pid: Int32, command: String = "fake", ppid: Int32 = 1, uid: UInt32 = 1000,
    start: UInt64 = 555,
    fds: [Int32: String] = [:], limits: (String, String) = ("1024", "4096")
  ) {
    file(
      "\(pid)/stat",
      "\(pid) (\(command)) S \(ppid) \(pid) \(pid) 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \(start) 1000 10 18446744073709551615 0 0\n"
    )
    file(
      "\(pid)/status",
      "Name:\t\(command)\nUmask:\t0022\nUid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\nNSpid:\t\(pid)\n")
    file(
      "\(pid)/limits",
      "Limit                     Soft Limit           Hard Limit           Units     \n"
        + "Max open files            \(limits.0.padding(toLength: 21, withPad: " ", startingAt: 0))\(limits.1.padding(toLength: 21, withPad: " ", startingAt: 0))files     \n"
    )
    file("\(pid)/cmdline", Array("\(command)\0--flag\0".utf8))
    file("\(pid)/ns/net", "")
    dir("\(pid)/fd")
    for (fd, target) in fds { link("\(pid)/fd/\(fd)", to: target) }
  }

  func inode(_ path: String) -> UInt64 {
    var st = stat()
    precondition(stat(root + "/" + path, &st) == 0)
    return UInt64(st.st_ino)
  }

  func remove() {
    // Restore permissions so removal works.
    if let e = FileManager.default.enumerator(atPath: root) {
      for case let p as String in e { chmod(root + "/" + p, 0o755) }
    }
    try? FileManager.default.removeItem(atPath: root)
  }
}

func inode(ofFD fd: Int32) -> UInt64 {
  var st = stat()
  precondition(fstat(fd, &st) == 0)
  return UInt64(st.st_ino)
}

/// Spawns `argv` with `posix_spawn`; when `socketFD` is given it becomes fd 3 of the child.
func spawn(_ argv: [String], socketFD: Int32? = nil) -> pid_t? {
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  if let fd = socketFD { posix_spawn_file_actions_adddup2(&actions, fd, 3) }
  // Other tests run at the same time and may hold fds without O_CLOEXEC: close them all in the
  // child (glibc's posix_spawn_file_actions_addclosefrom_np, not in Swift's Glibc module).
  typealias AddCloseFrom =
    @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
  if let sym = dlsym(dlopen(nil, RTLD_LAZY), "posix_spawn_file_actions_addclosefrom_np") {
    _ = unsafeBitCast(sym, to: AddCloseFrom.self)(&actions, socketFD == nil ? 3 : 4)
  }
  let cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
  defer { for p in cargs { free(p) } }
  var pid: pid_t = 0
  let rc = posix_spawn(&pid, argv[0], &actions, nil, cargs, environ)
  return rc == 0 ? pid : nil
}

/// Waits (up to 5 s) until `pid` sleeps (state S in /proc/<pid>/stat): a freshly spawned
/// `sleep` first runs the dynamic loader and setlocale, which hold a file open for a moment.
func waitUntilAsleep(_ pid: pid_t) {
  for _ in 0..<500 {
    let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
      var buffer = [UInt8](repeating: 0, count: 512)
      let count = read(fd, &buffer, buffer.count)
      close(fd)
      // The state is the letter after the command's closing parenthesis.
      if count > 0, let end = buffer[0..<count].lastIndex(of: UInt8(ascii: ")")), end + 2 < count,
        buffer[end + 2] == UInt8(ascii: "S")
      {
        return
      }
    }
    usleep(10_000)
  }
}

func killAndReap(_ pid: pid_t) {
  kill(pid, SIGKILL)
  var status: Int32 = 0
  while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
}

/// Runs `body` on the current thread with its filesystem uid set to `uid`, which drops the
/// filesystem capabilities (CAP_DAC_OVERRIDE …) of this thread only, so root sees EACCES.
func withFilesystemUID<T>(_ uid: UInt32, _ body: () -> T) -> T {
  typealias SetFSUID = @convention(c) (UInt32) -> Int32
  let handle = dlopen(nil, RTLD_LAZY)
  let setfsuid = unsafeBitCast(dlsym(handle, "setfsuid")!, to: SetFSUID.self)
  let old = setfsuid(uid)
  defer { _ = setfsuid(UInt32(bitPattern: old)) }
  return body()
}

/// The comparable part of a record (not the state letter, which a live process may change
/// between two scans).
struct Summary: Equatable, CustomStringConvertible {
  var pid: Int32
  var ppid: Int32
  var command: [UInt8]
  var uid: UInt32
  var start: UInt64
  var netns: UInt64?
  var readable: Bool
  var counts: DescriptorCounts
  var sockets: [SocketDescriptor]
  var others: [String]?
  var soft: UInt64?
  var hard: UInt64?

  init(_ r: ProcessRecord) {
    pid = r.pid
    ppid = r.ppid
    command = r.command
    uid = r.uid
    start = r.startTimeTicks
    netns = r.netnsInode
    readable = r.fdsReadable
    counts = r.descriptorCounts
    sockets = r.sockets
    others = r.otherDescriptors.map { $0.map { "\($0.fd)=\($0.target)" } }
    soft = r.fdLimitSoft
    hard = r.fdLimitHard
  }

  var description: String {
    "\(pid) \(String(decoding: command, as: UTF8.self)) \(counts) \(sockets)"
  }
}

/// `eventfd(0, EFD_CLOEXEC)`; glibc's `eventfd` is not in Swift's Glibc module, so via dlsym.
func makeEventFD() -> Int32 {
  typealias EventFD = @convention(c) (UInt32, Int32) -> Int32
  let f = unsafeBitCast(dlsym(dlopen(nil, RTLD_LAZY), "eventfd")!, to: EventFD.self)
  return f(0, O_CLOEXEC)
}
