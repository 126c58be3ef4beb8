import FlowInspector
import FlowModel
import NetlinkTransport
import SockDiag

// What every listing command shares: where snapshots come from, and how their warnings are said.

/// A live inspector, or one replaying `--replay FILE` (a recording of `flowscope record`, or a
/// raw dump of `ss -D`, whose inet replies are read as the first IP protocol the query names,
/// TCP by default).
///
/// With `--owners bpf`, it fails here, in one line, when the BPF iterator cannot be used (not
/// root, a kernel that refuses it, or a command that re-reads only what changed: `incremental`).
func makeFlowInspector(
  _ debug: DebugOptions, named: Set<TransportProtocol> = [], incremental: Bool = false
) throws -> FlowInspector {
  let inspector = try openFlowInspector(debug, named: named)
  if debug.owners == .bpf {
    var options = InspectOptions()
    options.procRoot = debug.procRoot
    options.owners = .bpf
    do {
      _ = try inspector.decideOwnerSource(options, incremental: incremental)
    } catch {
      throw RuntimeError(error.description)
    }
  }
  return inspector
}

private func openFlowInspector(_ debug: DebugOptions, named: Set<TransportProtocol>) throws -> FlowInspector {
  if let replay = debug.replay {
    let raw: InetProtocol =
      [InetProtocol.tcp, .udp, .udplite, .mptcp, .raw, .sctp, .dccp].first {
        named.contains(TransportProtocol($0))
      } ?? .tcp
    do {
      return try FlowInspector.replaying(path: replay, rawInetProtocol: raw)
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
