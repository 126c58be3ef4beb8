import FlowInspector
import FlowModel
import NetlinkTransport

// What every listing command shares: where snapshots come from, and how their warnings are said.

/// A live inspector, or a replayed one with the hidden `--replay`.
func makeFlowInspector(_ debug: DebugOptions) throws -> FlowInspector {
  if let replay = debug.replay {
    do {
      return FlowInspector(source: try ReplaySource(path: replay))
    } catch {
      throw RuntimeError("cannot replay \(replay): \(error)")
    }
  }
  do {
    return try FlowInspector(recordingTo: debug.record)
  } catch {
    throw RuntimeError("cannot open a sock_diag netlink socket: \(error)")
  }
}

/// Says each warning once on stderr; a family this kernel lacks only when it was named. What
/// privilege would show (unreadable processes, namespaces not entered) is said in one line.
func reportWarnings(
  _ snapshot: Snapshot, named: Set<TransportProtocol>, reported: inout Set<String>
) {
  var unseen: [String] = []
  for warning in snapshot.warnings where reported.insert(warning.description).inserted {
    switch warning {
    case .familyUnsupported(let family)
    where !named.contains(where: { family.hasPrefix($0.rawValue) }):
      continue
    case .processesDenied, .namespacesSkipped:
      unseen.append(warning.description)
    default:
      printError(warning.description)
    }
  }
  if !unseen.isEmpty {
    printError(
      unseen.joined(separator: "; ")
        + "; run with sudo (or CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH and CAP_SYS_ADMIN) to see them")
  }
}
