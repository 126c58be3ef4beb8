import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The program in a 50-column terminal (tmux), as a user sees it: the table and the watch
/// screen keep Process, State and the addresses, and leave the counters out. A pipe is not a
/// terminal: its table is the full one, as with --wide.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "needs tmux"))
struct NarrowTerminalCommandTests {
  let fixture = packageRoot.appendingPathComponent("Tests/CommandTests/Fixtures/host.bin").path

  /// The fake /proc of GoldenTests: three processes holding sockets of the recording.
  func withFakeProc(_ body: (String) throws -> Void) throws {
    let proc = try FakeProc([
      .init(pid: 100, command: "server", uid: 0, sockets: [3: 6795, 4: 6797, 5: 6801, 6: 6807, 7: 6809]),
      .init(pid: 200, command: "client", uid: 65534, sockets: [3: 6796, 4: 6800, 5: 6802, 6: 6808, 9: 6797]),
      .init(pid: 300, command: "evil\u{1b}[2J", uid: 0, sockets: [3: 6803, 4: 6811]),
    ])
    defer { proc.remove() }
    try body(proc.root)
  }

  @Test func flowTableIn50Columns() throws {
    try withFakeProc { root in
      let arguments = ["--replay", fixture, "--proc-root", root, "-a", "-p", "tcp,udp,unix", "--color", "never"]
      let pane = try Pane(arguments, columns: 50, rows: 30)
      let screen = try #require(
        pane.wait { $0.contains { $0.hasPrefix("EXIT=") } }, "no exit: \(pane.screen.joined(separator: "\n"))")
      let exit = try #require(screen.firstIndex { $0.hasPrefix("EXIT=") })
      #expect(screen[exit] == "EXIT=0")
      let table = screen[..<exit].joined(separator: "\n") + "\n"
      #expect(screen[..<exit].allSatisfy { $0.count <= 50 })
      #expect(screen[0].hasPrefix("Local Addre"))
      #expect(screen[0].hasSuffix("State   Process"))
      // The owners survive; the counters are gone.
      #expect(table.contains("server.100") && table.contains("client.200"))
      #expect(!table.contains("In Bytes"))
      let golden = packageRoot.appendingPathComponent("Tests/CommandTests/Golden/table-50-columns.txt")
      if ProcessInfo.processInfo.environment["FLOWSCOPE_RECORD_GOLDEN"] == "1" {
        try table.write(to: golden, atomically: true, encoding: .utf8)
      } else {
        #expect(table == (try String(contentsOf: golden, encoding: .utf8)), "differs from table-50-columns.txt")
      }

      // Through a pipe, the same listing is the full table, as --wide draws it.
      let piped = try run(flowscopeBinary, arguments)
      let wide = try run(flowscopeBinary, arguments + ["--wide"])
      #expect(piped.status == 0)
      #expect(piped.text == wide.text)
      #expect(piped.text.split(separator: "\n").first?.contains("In Bytes  Out Bytes  In Pkts") == true)
    }
  }

  @Test func watchIn50Columns() throws {
    let listener = try Listener()
    let pane = try Pane(
      ["watch", "-a", "-P", String(getpid()), "-p", "tcp", "-i", "0.3", "--color", "never"], columns: 50, rows: 20)
    let port = ":\(listener.port)"
    let screen = pane.wait { $0.contains { $0.contains(port) } }
    #expect(screen != nil, "the listener never showed: \(pane.screen.joined(separator: "\n"))")
    if let screen {
      #expect(screen.allSatisfy { $0.count <= 50 }, "\(screen.joined(separator: "\n"))")
      #expect(screen[2].hasSuffix("State   Process"), "\(screen[2])")
      #expect(!screen[2].contains("In/s"))
      let row = try #require(screen.first { $0.contains(port) })
      // The listener's owner (this test process) is named, its pid whole.
      #expect(row.hasSuffix(".\(getpid())"), "\(row)")
      #expect(row.contains("LISTEN"))
    }
    pane.keys("q")
    #expect(pane.wait { $0.contains("EXIT=0") } != nil)
    _ = listener
  }
}
