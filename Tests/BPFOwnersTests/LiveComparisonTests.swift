import Foundation
import Testing

@testable import BPFOwners
@testable import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

let runningAsRoot = geteuid() == 0

/// A python3 peer running `script`, which prints one JSON line once its sockets are open and
/// then waits for a line on its input (or its alarm). `prefix` runs it through another program
/// (`ip netns exec NS`).
final class Peer {
  let process = Process()
  private let input = Pipe()
  private let output = Pipe()
  let info: [String: Any]

  init(_ script: String, prefix: [String] = []) throws {
    let program =
      "import os, signal; signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM]); signal.alarm(60)\n"
      + script
    let arguments = prefix + ["/usr/bin/python3", "-c", program]
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    var line = Data()
    while !line.contains(0x0a) {
      let chunk = output.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      line.append(chunk)
    }
    guard let object = try? JSONSerialization.jsonObject(with: line.prefix { $0 != 0x0a }),
      let info = object as? [String: Any]
    else {
      process.terminate()
      throw CocoaError(.executableLoad)
    }
    self.info = info
  }

  var pid: Int32 { Int32(info["pid"] as? Int ?? 0) }
  func int(_ key: String) -> Int { info[key] as? Int ?? -1 }
  func inodes(_ key: String) -> [UInt64] { (info[key] as? [Int] ?? []).map { UInt64($0) } }

  deinit {
    input.fileHandleForWriting.write(Data("done\n".utf8))
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
  }
}

/// Every kind of socket holder: TCP listening and established (both ends), UDP bound and
/// connected over IPv6, UNIX socketpair and listener, a socket a thread opened, a thread with a
/// descriptor table of its own (unshare(CLONE_FILES): its socket is in no /proc/PID/fd), and a
/// forked child holding copies of every descriptor.
let holderScript = """
  import json, socket, sys, threading, ctypes
  lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
  c = socket.create_connection(lst.getsockname()); s, _ = lst.accept()
  u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0))
  u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind(('::1', 0)); u6.connect(u6.getsockname()[:2])
  a, b = socket.socketpair()
  ux = socket.socket(socket.AF_UNIX); ux.bind('\\0fs-bpf-owners-%d' % os.getpid()); ux.listen(1)
  held = []
  t = threading.Thread(target=lambda: held.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))); t.start(); t.join()
  libc = ctypes.CDLL(None, use_errno=True)
  private = {}; ready = threading.Event(); finished = threading.Event()
  def own_table():
      if libc.unshare(0x400) == 0:
          private['s'] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
          private['inode'] = os.fstat(private['s'].fileno()).st_ino
      ready.set(); finished.wait()
  threading.Thread(target=own_table, daemon=True).start(); ready.wait()
  r, w = os.pipe()
  child = os.fork()
  if child == 0:
      signal.alarm(60); os.close(w); os.read(r, 1); os._exit(0)
  os.close(r)
  shared = [lst, c, s, u, u6, a, b, ux, held[0]]
  print(json.dumps({'pid': os.getpid(), 'child': child, 'private': private.get('inode', 0),
      'inodes': [os.fstat(x.fileno()).st_ino for x in shared]}), flush=True)
  sys.stdin.readline()
  os.kill(child, 9); os.waitpid(child, 0)
  """

/// A TCP listener and connection inside a network namespace.
let namespaceScript = """
  import json, socket, sys
  lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
  c = socket.create_connection(lst.getsockname()); s, _ = lst.accept()
  print(json.dumps({'pid': os.getpid(), 'netns': os.stat('/proc/self/ns/net').st_ino,
      'inodes': [os.fstat(x.fileno()).st_ino for x in (lst, c, s)]}), flush=True)
  sys.stdin.readline()
  """

struct Triple: Hashable, CustomStringConvertible {
  var pid: Int32
  var fd: Int32
  var inode: UInt64
  var description: String { "\(pid)/\(fd)=\(inode)" }
}

/// What a source says of one process: its socket descriptors and its descriptor count.
struct Holding: Equatable {
  var sockets: Set<Triple>
  var count: Int
}

@Suite(.serialized, .enabled(if: runningAsRoot, "loading a BPF program needs root"))
struct LiveComparisonTests {
  /// Both sources on the same live system, socket for socket, for every process /proc lets us
  /// read. The system goes on meanwhile: a process fails the test when it differs in every
  /// round; the test's own processes must agree in the last one.
  @Test func theIteratorAndTheProcScanAgreeOnEveryProcess() throws {
    let namespace = "fs-bpf-owners-\(getpid())"
    #expect(system("ip netns add \(namespace) && ip -n \(namespace) link set lo up") == 0)
    defer { _ = system("ip netns delete \(namespace)") }
    let holder = try Peer(holderScript)
    let inside = try Peer(namespaceScript, prefix: ["/usr/sbin/ip", "netns", "exec", namespace])
    let child = Int32(holder.int("child"))
    let ours: Set<Int32> = [holder.pid, child, inside.pid]

    let iterator = try SocketOwnerIterator()
    var persistent: Set<Int32>? = nil
    var last: (bpf: [Int32: Holding], proc: [Int32: Holding]) = ([:], [:])
    for _ in 0..<5 {
      // A /proc scan between two passes: a process whose two passes differ changed meanwhile
      // (a build, another test) and says nothing this round.
      let before = Self.holdings(try iterator.read())
      let proc = Self.holdings(ProcScanner(options: ProcScanOptions(threads: 1)).scan())
      let bpf = Self.holdings(try iterator.read())
      last = (bpf, proc)
      // Processes /proc could read (not the denied ones: /proc/1/fd in a sandbox).
      let none = Holding(sockets: [], count: 0)
      var differing = Set(
        proc.keys.filter { pid in (bpf[pid] ?? none) == (before[pid] ?? none) && (bpf[pid] ?? none) != proc[pid]! })
      // This process's own count differs by what each source holds open while it reads (the
      // iterator's descriptors, or the /proc directories): its sockets must still agree.
      let me = getpid()
      if differing.contains(me), (bpf[me] ?? none).sockets == proc[me]?.sockets { differing.remove(me) }
      persistent = persistent.map { $0.intersection(differing) } ?? differing
      if persistent!.isEmpty { break }
      usleep(100_000)
    }
    let stillDiffering = persistent ?? []
    #expect(
      stillDiffering.isEmpty,
      "\(stillDiffering.sorted().map { "\($0): bpf \(String(describing: last.bpf[$0])) proc \(String(describing: last.proc[$0]))" })"
    )
    for pid in ours {
      #expect(last.bpf[pid] == last.proc[pid], "pid \(pid)")
    }
    // What the test made is there, with the right owners.
    let expected = Set(holder.inodes("inodes"))
    #expect(expected.count == 9)
    for pid in [holder.pid, child] {
      let found = Set((last.bpf[pid]?.sockets ?? []).map(\.inode))
      #expect(expected.isSubset(of: found), "pid \(pid): \(found)")
    }
    // The thread with a table of its own is no owner, in either.
    let privateInode = UInt64(holder.int("private"))
    #expect(privateInode != 0)
    #expect(!last.bpf.values.contains { $0.sockets.contains { $0.inode == privateInode } })
    #expect(!last.proc.values.contains { $0.sockets.contains { $0.inode == privateInode } })
    // The process in the test namespace too.
    let namespaced = Set((last.bpf[inside.pid]?.sockets ?? []).map(\.inode))
    #expect(Set(inside.inodes("inodes")).isSubset(of: namespaced) && namespaced.count >= 3)
  }

  static func holdings(_ known: KnownDescriptors) -> [Int32: Holding] {
    Dictionary(
      uniqueKeysWithValues: known.processes.map { pid, process in
        (
          pid,
          Holding(
            sockets: Set(process.sockets.map { Triple(pid: pid, fd: $0.fd, inode: $0.inode) }), count: process.count)
        )
      })
  }

  /// Only the processes whose descriptors /proc let us read.
  static func holdings(_ scan: ProcScanResult) -> [Int32: Holding] {
    var result: [Int32: Holding] = [:]
    for record in scan.processes where record.fdsReadable {
      result[record.pid] = Holding(
        sockets: Set(record.sockets.map { Triple(pid: record.pid, fd: $0.fd, inode: $0.inode) }),
        count: record.descriptorCounts.total)
    }
    return result
  }
}
