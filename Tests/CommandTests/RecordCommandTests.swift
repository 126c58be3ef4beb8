import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `flowscope record` and `--replay`, as a user runs them, on the sockets of a real process.
@Suite(.serialized)
struct RecordCommandTests {
  static let script = """
    import json, os, socket, sys
    lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
    cli = socket.create_connection(lst.getsockname()); srv, _ = lst.accept()
    cli.sendall(b'x' * 3000); srv.recv(10000)
    gone = socket.create_connection(lst.getsockname()); peer, _ = lst.accept(); peer.close()
    print(json.dumps({'pid': os.getpid(), 'listen': lst.getsockname()[1], 'client': cli.getsockname()[1],
      'gone': gone.getsockname()[1]}), flush=True)
    sys.stdin.readline()
    """

  func temporary(_ name: String) -> String {
    NSTemporaryDirectory() + "flowscope-\(name)-\(getpid()).fsrec"
  }

  @Test func aRecordingReplaysAsItWasWithItsOwnersWithoutReadingThisMachine() throws {
    let peer = try Situation(Self.script)
    let file = temporary("record")
    defer { unlink(file) }
    let recorded = try run(flowscopeBinary, ["record", "--output", file])
    #expect(recorded.status == 0, "\(recorded.stderr)")
    #expect(recorded.stderr.contains("recorded 1 snapshot(s)"))
    var info = stat()
    #expect(stat(file, &info) == 0)
    #expect(info.st_mode & 0o777 == 0o600, "a recording holds names and addresses: mode 0600")
    peer.say("done")  // the process and its sockets are gone: only the recording remembers

    let pid = String(peer.pid)
    let arguments = ["--replay", file, "-a", "-P", pid, "-H", "-o", "local,remote,state,process", "--wide"]
    let first = try run(flowscopeBinary, arguments)
    #expect(first.status == 0, "\(first.stderr)")
    let rows = first.text.split(separator: "\n").map {
      $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }
    let listen = peer.int("listen")
    #expect(rows.contains("127.0.0.1:\(listen) *:* LISTEN python3.\(pid)"), "\(rows)")
    #expect(rows.contains("127.0.0.1:\(peer.int("gone")) 127.0.0.1:\(listen) CLOSE-WAIT python3.\(pid)"), "\(rows)")
    // Again, and with no /proc at all: the same bytes.
    #expect(try run(flowscopeBinary, arguments).text == first.text)
    #expect(try run(flowscopeBinary, arguments + ["--proc-root", "/nonexistent"]).text == first.text)
    // JSON carries the recorded time; proc and check read the recording too.
    let json = try run(flowscopeBinary, ["--replay", file, "--json", "-P", pid])
    let again = try run(flowscopeBinary, ["--replay", file, "--json", "-P", pid])
    #expect(json.text == again.text)
    let proc = try run(flowscopeBinary, ["proc", "--replay", file, "-P", pid, "-H", "-o", "pid,tcp,close-wait"])
    #expect(proc.text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") == "\(pid) 4 1\n")
    let check = try run(flowscopeBinary, ["check", "--replay", file, "-P", pid])
    #expect(check.status == 2)
    #expect(check.text.contains("peer-closed"))
    let query = try run(
      flowscopeBinary, ["--replay", file, "-a", "-H", "-o", "local", "state == close-wait and pid == \(pid)"])
    #expect(query.text.trimmingCharacters(in: .whitespacesAndNewlines) == "127.0.0.1:\(peer.int("gone"))")
  }

  @Test func aSeriesStepsThroughWatch() throws {
    let file = temporary("series")
    defer { unlink(file) }
    let recorded = try run(flowscopeBinary, ["record", "--output", file, "-i", "0.2", "--count", "3"])
    #expect(recorded.status == 0, "\(recorded.stderr)")
    let started = Date()
    let watch = try run(flowscopeBinary, ["watch", "--replay", file, "--json", "--speed", "4", "-p", "tcp", "-a"])
    #expect(watch.status == 0, "\(watch.stderr)")
    let refreshes = Set(
      watch.text.split(separator: "\n").compactMap { line -> Int? in
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["refresh"] as? Int
      })
    #expect(refreshes == [1, 2, 3])
    #expect(Date().timeIntervalSince(started) < 5)
  }

  /// ss writes its raw replies with -D; ss itself reads them back with TCPDIAG_FILE: the oracle.
  @Test func ssRawDumpsReadAsSsReadsThem() throws {
    let peer = try Situation(Self.script)
    defer { peer.say("done") }
    let file = temporary("ss")
    defer { unlink(file) }
    let dumped = shell("ss -tan -D \(file) > /dev/null")
    try #require(dumped.status == 0, "ss -D: \(dumped.output)")
    let ports = [peer.int("listen"), peer.int("client"), peer.int("gone")]
    func isOurs(_ address: Substring) -> Bool { ports.contains { address == "127.0.0.1:\($0)" } }
    let oracle = shell("TCPDIAG_FILE=\(file) ss -tanH").output.split(separator: "\n")
      .map { $0.split(separator: " ", omittingEmptySubsequences: true) }
      .filter { fields in fields.count >= 5 && isOurs(fields[3]) }
      .map { fields in "\(fields[3]) \(fields[4] == "0.0.0.0:*" ? "*:*" : fields[4]) \(fields[0])" }.sorted()
    let replay = try run(flowscopeBinary, ["--replay", file, "-a", "-H", "-o", "local,remote,state", "--wide"])
    #expect(replay.status == 0, "\(replay.stderr)")
    #expect(replay.stderr.contains("records no owners"))
    let rows = replay.text.split(separator: "\n")
      .map { $0.split(separator: " ", omittingEmptySubsequences: true) }
      .filter { fields in fields.count >= 3 && isOurs(fields[0]) }
      .map { fields in "\(fields[0]) \(fields[1]) \(fields[2])" }.sorted()
    #expect(oracle.count >= 5)
    #expect(rows == oracle)
  }

  @Test func everyOptionOfRecordIsInTheManPage() throws {
    let help = try flowscope("record", "--help").text
    let manual = try String(contentsOf: packageRoot.appendingPathComponent("man/flowscope.8"), encoding: .utf8)
    for option in Set(help.matches(of: /--([a-z0-9][a-z0-9-]*)/).map { String($0.output.1) }) where option != "help" {
      #expect(manual.contains("Fl -\(option)"), "man/flowscope.8 lacks record's --\(option)")
    }
    #expect(manual.contains(".Sh RECORD AND REPLAY"))
  }

  /// `-o` is `--columns` wherever it is taken; record's former `-o FILE` says what to write instead
  /// and writes nothing.
  @Test func theFormerDashOIsAUsageErrorNamingOutput() throws {
    let file = temporary("former-o")
    let outcome = try flowscope("record", "-o", file)
    #expect(outcome.status == 64)
    #expect(outcome.stdout.isEmpty)
    #expect(outcome.stderr.hasPrefix("Error: record writes to --output FILE; -o is --columns"), "\(outcome.stderr)")
    #expect(outcome.stderr.contains("\nUsage: flowscope record "))
    #expect(access(file, F_OK) != 0)
    let missing = try flowscope("record")
    #expect(missing.status == 64)
    #expect(missing.stderr.hasPrefix("Error: record needs --output FILE"), "\(missing.stderr)")
    let help = try flowscope("record", "--help").text
    #expect(!help.contains(" -o ") && !help.contains(" -o,"), "\(help)")
  }

  @Test func aDamagedOrNewerRecordingIsAClearError() throws {
    let file = temporary("damaged")
    defer { unlink(file) }
    #expect(try run(flowscopeBinary, ["record", "--output", file]).status == 0)
    let whole = try Data(contentsOf: URL(fileURLWithPath: file))
    try whole.prefix(whole.count - 3).write(to: URL(fileURLWithPath: file))
    let cut = try run(flowscopeBinary, ["--replay", file])
    #expect(cut.status == 1)
    #expect(cut.stdout.isEmpty)
    #expect(cut.stderr.contains("cannot replay \(file): at byte "), "\(cut.stderr)")
    var newer = whole
    newer[8 + 5] = 0x7f  // the header's major version
    try newer.write(to: URL(fileURLWithPath: file))
    let future = try run(flowscopeBinary, ["--replay", file])
    #expect(future.status == 1)
    #expect(future.stderr.contains("made by a newer flowscope"), "\(future.stderr)")
  }
}
