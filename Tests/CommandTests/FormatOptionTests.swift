import Foundation
import Testing

/// `-J` is the command's JSON form, the same rule everywhere: `--format json` (one document)
/// where the command prints once, `--format ndjson` (one object a line) where it streams.
@Suite(.serialized)
struct FormatOptionTests {
  let fixture = packageRoot.appendingPathComponent("Tests/CommandTests/Fixtures/host.bin").path

  func replayed(_ arguments: [String]) throws -> Outcome {
    let proc = try FakeProc([.init(pid: 100, command: "server", uid: 0, sockets: [3: 6795, 4: 6797])])
    defer { proc.remove() }
    return try run(flowscopeBinary, arguments + ["--replay", fixture, "--proc-root", proc.root], quietInput: true)
  }

  @Test(arguments: [
    (["flow", "-a"], "--format", "json"),
    (["proc"], "--format", "json"),
    (["check"], "--format", "json"),
    (["watch", "--count", "1"], "--format", "ndjson"),
    (["watch", "--count", "1", "--procs"], "--format", "ndjson"),
  ])
  func jsonIsTheCommandsJSONForm(_ command: [String], _ option: String, _ format: String) throws {
    let short = try replayed(command + ["-J"])
    let long = try replayed(command + ["--json"])
    let named = try replayed(command + [option, format])
    #expect([0, 2].contains(named.status), "\(command): \(named.stderr)")
    let text = GoldenTests.maskTimeAndHost(named.text)
    #expect(!text.isEmpty)
    #expect(GoldenTests.maskTimeAndHost(short.text) == text, "\(command) -J")
    #expect(GoldenTests.maskTimeAndHost(long.text) == text, "\(command) --json")
    let lines = text.split(separator: "\n")
    if format == "json" {
      #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil, "\(command): one document")
    } else {
      #expect(lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
    }
  }

  /// A format a command does not write is a usage error that lists those it does.
  @Test(arguments: [
    (["check", "--format", "ndjson"], "--format ndjson does not apply here; known: table, json."),
    (["kill", "--format", "csv", "--dry-run"], "--format csv does not apply here; known: table, json."),
    (
      ["watch", "--format", "json"],
      "--format json does not apply here; known: table, ndjson (this command streams: its JSON form is ndjson, as -J gives)."
    ),
    (["events", "--format", "csv"], "--format csv does not apply here; known: table, ndjson."),
  ])
  func formatsACommandDoesNotWriteAreRefused(_ arguments: [String], _ message: String) throws {
    let outcome = try run(flowscopeBinary, arguments, quietInput: true)
    #expect(outcome.status == 64)
    #expect(outcome.stdout.isEmpty)
    #expect(outcome.stderr.hasPrefix("Error: " + message + "\n"), "\(outcome.stderr)")
  }

  /// `watch --format table` is the screen: without a terminal it says so instead of writing
  /// records.
  @Test func watchTableNeedsATerminal() throws {
    let outcome = try replayed(["watch", "--count", "1", "--format", "table"])
    #expect(outcome.status == 64)
    #expect(outcome.stdout.isEmpty)
    #expect(
      outcome.stderr.hasPrefix("Error: --format table draws the screen, which needs a terminal"), "\(outcome.stderr)")
  }
}
