import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Every usage error, whether `validate()` or `run()` found it, exits with 64, prints nothing on
/// stdout, and names the subcommand it came from in its usage line.
@Suite struct UsageErrorTests {
  /// Bad values of the options every listing command shares (thrown while the selection is
  /// built, in `run()`), and a bad --netns of every kind (refused in `validate()`).
  static let sharedBadInputs: [(arguments: [String], message: String)] = [
    (["-u", "nosuchuser"], "unknown user 'nosuchuser'"),
    (["--local", "300.1.1.1"], "cannot read address '300.1.1.1'"),
    (["--remote", "[::1"], "cannot read address '[::1'"),
    (["-I", "nosuchif0"], "no interface named 'nosuchif0'"),
    (["-4", "-6"], "-4 and -6 exclude each other"),
  ]

  static let namespaceBadInputs: [(arguments: [String], message: String)] = [
    (["--netns", "nope"], "--netns: no network namespace named 'nope' in /run/netns"),
    (["--netns", "2147483647"], "--netns: no process 2147483647"),
    (["--netns", "/etc/passwd"], "--netns: /etc/passwd is not a namespace file"),
    (["--netns", "/proc/self/ns/mnt"], "--netns: /proc/self/ns/mnt is a mount namespace, not a network namespace"),
    (["--netns", "/nonexistent/netns"], "--netns: /nonexistent/netns: no such file"),
  ]

  /// Per subcommand: the arguments that keep a run short should a bad input be accepted, and
  /// the bad inputs of its own.
  static let commands: [(name: String, bounded: [String], own: [(arguments: [String], message: String)])] = [
    (
      "flow", ["--json"],
      [
        (["--sort", "nonsense"], "cannot sort by 'nonsense'"), (["-o", "bogus"], "unknown column 'bogus'"),
        (["-p", "bogus"], "unknown protocol 'bogus'"), (["--state", "sleepy"], "unknown state 'sleepy'"),
      ] + namespaceBadInputs
    ),
    (
      "proc", ["--json"],
      [(["--sort", "nonsense"], "cannot sort by 'nonsense'"), (["-p", "bogus"], "unknown protocol 'bogus'")]
        + namespaceBadInputs
    ),
    ("check", ["--json"], [(["--idle", "0"], "--idle must be")] + namespaceBadInputs),
    (
      "watch", ["--json", "--count", "1", "-i", "0.1"],
      [(["--sort", "nonsense"], "cannot sort by 'nonsense'"), (["--state", "sleepy"], "unknown state 'sleepy'")]
        + namespaceBadInputs
    ),
    (
      "kill", ["--dry-run", "dport == 1"],
      [
        (["--sort", "nonsense"], "cannot sort by 'nonsense'"),
        (["-o", "bogus"], "unknown column 'bogus'"),
        (["-p", "bogus"], "unknown protocol 'bogus'"), (["--state", "sleepy"], "unknown state 'sleepy'"),
      ] + namespaceBadInputs
    ),
    (
      "events", ["--json", "--count", "1", "--duration", "0.5"],
      [
        (["-p", "unix"], "events follows tcp and udp only")
      ] + namespaceBadInputs
    ),
  ]

  @Test(arguments: commands.map(\.name))
  func everyUsageErrorNamesItsCommand(_ name: String) throws {
    let command = try #require(Self.commands.first { $0.name == name })
    for bad in Self.sharedBadInputs + command.own {
      let arguments = [name] + bad.arguments + command.bounded
      let outcome = try run(flowscopeBinary, arguments)
      let shown = arguments.joined(separator: " ")
      #expect(outcome.status == 64, "\(shown): \(outcome.stderr)")
      #expect(outcome.stdout.isEmpty, "\(shown) printed \(outcome.text)")
      let lines = outcome.stderr.split(separator: "\n").map(String.init)
      #expect(lines.count == 3, "\(shown): \(outcome.stderr)")
      #expect(lines.first?.hasPrefix("Error: " + bad.message) == true, "\(shown): \(outcome.stderr)")
      #expect(lines.dropFirst().first?.hasPrefix("Usage: flowscope \(name) ") == true, "\(shown): \(outcome.stderr)")
      #expect(lines.last == "  See 'flowscope \(name) --help' for more information.", "\(shown)")
    }
  }

  /// `flowscope` alone is `flowscope flow`: its errors name `flow` too.
  @Test func theDefaultCommandsErrorsNameFlow() throws {
    for arguments in [["-u", "nosuchuser"], ["--netns", "nope"], ["--count", "0"]] {
      let outcome = try run(flowscopeBinary, arguments)
      #expect(outcome.status == 64)
      #expect(outcome.stdout.isEmpty)
      #expect(outcome.stderr.contains("\nUsage: flowscope flow "), "\(arguments): \(outcome.stderr)")
    }
  }

  /// An error of `run()` is shaped exactly as one of `validate()`.
  @Test func runAndValidateErrorsLookAlike() throws {
    let fromValidate = try flowscope("proc", "--count", "0")
    let fromRun = try flowscope("proc", "-u", "nosuchuser")
    #expect(fromValidate.stderr.split(separator: "\n").dropFirst() == fromRun.stderr.split(separator: "\n").dropFirst())
  }
}
