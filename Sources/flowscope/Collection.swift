import FlowInspector
import FlowModel
import FlowRender
import NetlinkTransport
import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

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

/// Says each warning once on stderr (`WarningNotes` chooses what).
func reportWarnings(
  _ snapshot: Snapshot, named: Set<TransportProtocol>, reported: inout Set<String>
) {
  for line in WarningNotes.lines(snapshot.warnings, named: named, reported: &reported, asRoot: geteuid() == 0) {
    printError(line)
  }
}
