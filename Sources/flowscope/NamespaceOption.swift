import ArgumentParser
import FlowInspector

extension FilterOptions {
  /// `--netns` must name a network namespace that exists: an unknown name, a pid with no
  /// process or a path that is not a network namespace is a usage error (exit 64, nothing on
  /// stdout), not an empty listing. Called from the commands' `validate()`.
  func validateNamespace(_ debug: DebugOptions) throws {
    guard let netns else { return }
    if let problem = checkNetworkNamespace(netns, procRoot: debug.procRoot) {
      throw ValidationError("--netns: \(problem).")
    }
  }
}
