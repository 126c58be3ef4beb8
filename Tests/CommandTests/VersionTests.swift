import Foundation
import Testing

/// The version lives in the VERSION file alone: `flowscope --version` (from the generated
/// Sources/flowscope/Version.swift) and the Debian package (`make deb`) both take it from there.
struct VersionTests {
  @Test func versionIsWhatTheVERSIONFileSays() throws {
    let file = packageRoot.appendingPathComponent("VERSION")
    let version = try String(contentsOf: file, encoding: .utf8)
      .trimmingCharacters(in: .whitespacesAndNewlines)
    let outcome = try flowscope("--version")
    #expect(outcome.status == 0, "\(outcome.stderr)")
    #expect(
      outcome.text == version + "\n",
      "VERSION says \(version); after editing it, scripts/sync-version (make build) updates Version.swift")
  }
}
