import Foundation
import SchemaCheck
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A fake /proc: processes whose descriptors point at the sockets of a recorded dump.
struct FakeProc {
  struct Process {
    var pid: Int32
    var command: String
    var uid: UInt32
    /// fd → socket inode
    var sockets: [Int32: UInt64]
  }

  let root: String

  init(_ processes: [Process]) throws {
    root = NSTemporaryDirectory() + "flowscope-fakeproc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let files = FileManager.default
    for process in processes {
      let directory = "\(root)/\(process.pid)"
      try files.createDirectory(atPath: directory + "/fd", withIntermediateDirectories: true)
      // /proc/<pid>/stat: pid (comm) state ppid ... starttime is field 22.
      let fields = ["S", "1"] + Array(repeating: "0", count: 17) + ["4242"] + Array(repeating: "0", count: 30)
      try "\(process.pid) (\(process.command)) \(fields.joined(separator: " "))\n".write(
        toFile: directory + "/stat", atomically: false, encoding: .utf8)
      try "Name:\t\(process.command)\nUid:\t\(process.uid)\t\(process.uid)\t\(process.uid)\t\(process.uid)\n".write(
        toFile: directory + "/status", atomically: false, encoding: .utf8)
      try """
      Limit                     Soft Limit           Hard Limit           Units
      Max open files            1024                 4096                 files

      """.write(toFile: directory + "/limits", atomically: false, encoding: .utf8)
      for (fd, inode) in process.sockets {
        try files.createSymbolicLink(atPath: "\(directory)/fd/\(fd)", withDestinationPath: "socket:[\(inode)]")
      }
    }
  }

  func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// The whole program on a recorded dump and a fake /proc, compared with golden files
/// (re-recorded with FLOWSCOPE_RECORD_GOLDEN=1). Times and host names are masked.
@Suite(.serialized)
struct GoldenTests {
  let fixture = packageRoot.appendingPathComponent("Tests/CommandTests/Fixtures/host.bin").path

  /// Sockets of the recording (tcp4-all, tcp6-all, udp4-all, udp6-all and unix-all of
  /// Tests/SockDiagTests/Fixtures), given to three processes; some stay unowned.
  func withFakeProc(_ body: (String) throws -> Void) throws {
    let proc = try FakeProc([
      .init(pid: 100, command: "server", uid: 0, sockets: [3: 6795, 4: 6797, 5: 6801, 6: 6807, 7: 6809]),
      .init(pid: 200, command: "client", uid: 65534, sockets: [3: 6796, 4: 6800, 5: 6802, 6: 6808, 9: 6797]),
      .init(pid: 300, command: "evil\u{1b}[2J", uid: 0, sockets: [3: 6803, 4: 6811]),
    ])
    defer { proc.remove() }
    try body(proc.root)
  }

  func check(_ name: String, _ arguments: [String], mask: (String) -> String = { $0 }) throws {
    try withFakeProc { root in
      let outcome = try run(flowscopeBinary, ["--replay", fixture, "--proc-root", root] + arguments)
      #expect(outcome.status == 0, "\(outcome.stderr)")
      let text = mask(outcome.text)
      let golden = packageRoot.appendingPathComponent("Tests/CommandTests/Golden/\(name)")
      if ProcessInfo.processInfo.environment["FLOWSCOPE_RECORD_GOLDEN"] == "1" {
        try text.write(to: golden, atomically: true, encoding: .utf8)
        return
      }
      let expected = try String(contentsOf: golden, encoding: .utf8)
      #expect(text == expected, "\(name) differs from its golden file")
    }
  }

  static func maskTimeAndHost(_ text: String) -> String {
    text.replacing(/"time":"[^"]*"/, with: "\"time\":\"TIME\"")
      .replacing(/"host":"[^"]*"/, with: "\"host\":\"HOST\"")
  }

  @Test func table() throws {
    try check("table.txt", ["-a", "-p", "tcp,udp,unix", "--wide", "--color", "never"])
  }

  @Test func tableWithChosenColumnsSortedByInode() throws {
    try check(
      "table-columns.txt",
      ["-a", "-p", "all", "-o", "proto,local,remote,state,process,fd,user,inode,peer", "--sort", "-inode", "--wide"])
  }

  @Test func json() throws {
    try check("flows.json", ["-a", "-p", "tcp,udp,unix", "--json"], mask: Self.maskTimeAndHost)
  }

  @Test func jsonOfTheReplayAndOfThisHostMatchTheSchema() throws {
    let schema = try MiniSchema.load()
    try withFakeProc { root in
      let replayed = try run(
        flowscopeBinary, ["--replay", fixture, "--proc-root", root, "-a", "-p", "tcp,udp,unix", "--json"])
      let document = try JSONSerialization.jsonObject(with: replayed.stdout)
      #expect(schema.validate(document) == [])
    }
    // The live host, every family this kernel has.
    let live = try flowscope("-a", "-p", "all", "--json")
    #expect(live.status == 0)
    let document = try JSONSerialization.jsonObject(with: live.stdout)
    #expect(schema.validate(document) == [])
    #expect(((document as? [String: Any])?["flows"] as? [Any])?.isEmpty == false)
  }

  @Test func csv() throws {
    try check("flows.csv", ["-a", "-p", "tcp,udp", "--format", "csv"])
  }

  @Test func filtersApplyToTheReplay() throws {
    try withFakeProc { root in
      let byCommand = try run(
        flowscopeBinary, ["--replay", fixture, "--proc-root", root, "-a", "-C", "client", "-H", "-o", "inode"])
      #expect(
        byCommand.text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
          == ["6796", "6797", "6800", "6802"])
      let listeners = try run(
        flowscopeBinary, ["--replay", fixture, "--proc-root", root, "-l", "-p", "tcp", "-4", "-H", "-o", "inode"])
      #expect(
        listeners.text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
          == ["6805", "6795", "6798"])
      let remote = try run(
        flowscopeBinary, ["--replay", fixture, "--proc-root", root, "--remote", "[::1]:40601", "-H", "-o", "inode"])
      #expect(remote.text.trimmingCharacters(in: .whitespacesAndNewlines) == "6800")
    }
  }
}
