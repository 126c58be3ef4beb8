import FlowModel

/// What a command says on stderr about a snapshot's warnings: each warning once over the run;
/// a family this kernel lacks only when the query named it; what privilege would show
/// (processes not read, namespaces not entered) in one line with the remedy.
public enum WarningNotes {
  /// The lines to print (without the tool's name), for the warnings not in `reported`, which
  /// takes them in. `asRoot`: root was refused too (another user namespace's process, a
  /// security module), so sudo is no remedy.
  public static func lines(
    _ warnings: [SnapshotWarning], named: Set<TransportProtocol>, reported: inout Set<String>,
    asRoot: Bool = false
  ) -> [String] {
    var lines: [String] = []
    var unseen: [String] = []
    for warning in warnings where reported.insert(warning.description).inserted {
      switch warning {
      case .familyUnsupported(let family)
      where !named.contains(where: { family.hasPrefix($0.rawValue) }):
        continue
      case .processesDenied, .namespacesSkipped:
        unseen.append(warning.description)
      default:
        lines.append(warning.description)
      }
    }
    if !unseen.isEmpty {
      let remedy =
        asRoot
        ? "denied to root as well (another user namespace's process, or a security module)"
        : "run with sudo (or CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH and CAP_SYS_ADMIN) to see them"
      lines.append(unseen.joined(separator: "; ") + "; " + remedy)
    }
    return lines
  }
}
