import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The `flowscope` binary built beside this test bundle.
let flowscopeBinary: String = {
  if let override = ProcessInfo.processInfo.environment["FLOWSCOPE_BINARY"] { return override }
  let testExecutable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
  return testExecutable.deletingLastPathComponent().appendingPathComponent("flowscope").path
}()

let packageRoot = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

let runningAsRoot = geteuid() == 0

struct Outcome {
  var status: Int32
  /// Ended by a signal (a crash, whatever `status` says).
  var signaled = false
  var stdout: Data
  var stderr: String
  var text: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a program to completion and collects its output.
/// `quietInput` puts /dev/null on its standard input (never the terminal the tests run from).
func run(
  _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
  quietInput: Bool = false
) throws
  -> Outcome
{
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  if let environment { process.environment = environment }
  if quietInput { process.standardInput = FileHandle.nullDevice }
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  // Read both pipes while it runs, so a large output cannot block it.
  final class Collected: @unchecked Sendable { var data = Data() }
  let errors = Collected()
  let group = DispatchGroup()
  group.enter()
  DispatchQueue.global().async {
    errors.data = err.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  process.waitUntilExit()
  return Outcome(
    status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
    stdout: outData,
    stderr: String(decoding: errors.data, as: UTF8.self))
}

func flowscope(_ arguments: String...) throws -> Outcome {
  try run(flowscopeBinary, arguments)
}

/// A listening loopback TCP socket; closed on deinit.
final class Listener {
  let fd: Int32
  let port: UInt16

  init() throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    self.fd = fd
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard bound == 0, listen(fd, 8) == 0 else {
      close(fd)
      throw CocoaError(.fileWriteUnknown)
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    self.port = UInt16(bigEndian: address.sin_port)
  }

  var inode: UInt64 {
    var info = stat()
    fstat(fd, &info)
    return UInt64(info.st_ino)
  }

  deinit { close(fd) }
}

/// A child running `executable` (sleep, under whatever name) with `fd` as its descriptor 3.
final class Child {
  let pid: pid_t

  init(holding fd: Int32, executable: String = "/bin/sleep", seconds: Int = 60) throws {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fd, 3)
    var pid: pid_t = 0
    let argv = [strdup(executable), strdup(String(seconds)), nil]
    defer { argv.forEach { free($0) } }
    guard posix_spawn(&pid, executable, &actions, nil, argv, environ) == 0 else {
      throw CocoaError(.executableLoad)
    }
    self.pid = pid
    // Wait until the exec has happened, so /proc shows the new name.
    for _ in 0..<200 {
      if let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
        !comm.hasPrefix("swift"), !comm.hasPrefix("flowscope")
      {
        break
      }
      usleep(5000)
    }
  }

  deinit {
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
  }
}

/// Runs `command` with /bin/sh, stdin and stderr on /dev/null, stdout into a file; waits for
/// it with waitpid. (Not Foundation's Process: a tmux client that starts the tmux server left
/// Process waiting for ever.)
func shell(_ command: String) -> (status: Int32, output: String) {
  let outPath = NSTemporaryDirectory() + "fs-watch-out-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
  defer { unlink(outPath) }
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
  posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
  let argv = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
  defer { argv.forEach { free($0) } }
  var pid: pid_t = 0
  guard posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ) == 0 else { return (-1, "") }
  var status: Int32 = 0
  while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
  let data = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
  let output = String(decoding: data, as: UTF8.self)
  return ((status >> 8) & 0xff, output)
}

/// A copy of the binary that nobody (uid 65534) may execute, wherever the checkout is; the
/// copy goes with this object.
final class BinaryForNobody {
  let path: String
  private let directory: String

  init(_ tag: String) throws {
    directory = "/tmp/flowscope-\(tag)-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    path = directory + "/flowscope"
    try? FileManager.default.removeItem(atPath: path)
    // cp writes the copy, not this process: a child another test thread forks while the copy is
    // open for writing would hold that descriptor, and executing the copy would then fail with
    // "Text file busy".
    let copied = try run("/bin/cp", [flowscopeBinary, path])
    guard copied.status == 0 else { throw CopyFailed(stderr: copied.stderr) }
    chmod(directory, 0o755)
    chmod(path, 0o755)
  }

  deinit { try? FileManager.default.removeItem(atPath: directory) }

  struct CopyFailed: Error { let stderr: String }
}

/// A child process whose stdout and stderr are collected as they come; ended by closing its
/// input (`finish`) or by its pid (`stop`: SIGTERM, then SIGKILL).
final class Spawned: @unchecked Sendable {
  let process = Process()
  let input = Pipe()
  private let lock = NSLock()
  private var out = Data()
  private var err = Data()
  private let group = DispatchGroup()

  init(_ executable: String, _ arguments: [String]) throws {
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let outPipe = Pipe()
    let errPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    process.standardInput = input
    try process.run()
    for (pipe, isOut) in [(outPipe, true), (errPipe, false)] {
      group.enter()
      DispatchQueue.global().async {
        let handle = pipe.fileHandleForReading
        while true {
          let chunk = handle.availableData
          if chunk.isEmpty { break }
          self.lock.lock()
          if isOut { self.out.append(chunk) } else { self.err.append(chunk) }
          self.lock.unlock()
        }
        self.group.leave()
      }
    }
  }

  var stdout: String {
    lock.lock()
    defer { lock.unlock() }
    return String(decoding: out, as: UTF8.self)
  }
  var stderr: String {
    lock.lock()
    defer { lock.unlock() }
    return String(decoding: err, as: UTF8.self)
  }

  func wait(seconds: Double, until condition: (String, String) -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
      if condition(stdout, stderr) { return true }
      usleep(20_000)
    }
    return condition(stdout, stderr)
  }

  func say(_ line: String) { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }

  /// Closes its input and waits for it to end.
  func finish() {
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
    group.wait()
  }

  /// Sends a line and waits for the n-th `ok`.
  func command(_ line: String, expectOKs count: Int) -> Bool {
    input.fileHandleForWriting.write(Data((line + "\n").utf8))
    return wait(seconds: 10) { out, _ in out.components(separatedBy: "ok\n").count - 1 >= count }
  }

  func stop() {
    let pid = process.processIdentifier
    if process.isRunning { kill(pid, SIGTERM) }
    let end = Date().addingTimeInterval(5)
    while process.isRunning && Date() < end { usleep(20_000) }
    if process.isRunning { kill(pid, SIGKILL) }
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
    group.wait()
  }
}

/// Runs a listing repeated so that it writes far more than a pipe holds, with `arguments`
/// before the rest, closes the reading end after 100 bytes, and expects a quiet end: status 0,
/// no "broken pipe", no error on stderr.
func expectQuietEndOnClosedPipe(_ arguments: [String]) throws {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: flowscopeBinary)
  process.arguments = arguments + ["-a", "-p", "all", "--interval", "0.01", "--count", "2000"]
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  _ = out.fileHandleForReading.readData(ofLength: 100)
  try out.fileHandleForReading.close()
  process.waitUntilExit()
  let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  #expect(process.terminationStatus == 0)
  #expect(process.terminationReason == .exit)
  #expect(!stderr.lowercased().contains("broken pipe"))
  #expect(!stderr.contains("Error"))
}

/// The congestion control this machine gives new connections (loopback ones too).
func defaultCongestionControl() throws -> String {
  try String(contentsOfFile: "/proc/sys/net/ipv4/tcp_congestion_control", encoding: .utf8)
    .trimmingCharacters(in: .whitespacesAndNewlines)
}
