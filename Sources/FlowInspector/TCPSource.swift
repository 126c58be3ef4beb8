import BPFOwners
import NetlinkTransport
import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

/// Where a refresh's TCP sockets come from (`--tcp-source`): a sock_diag dump, or one pass of
/// the BPF TCP iterator (`TCPSocketIterator`), which gives the same sockets and fields for
/// about half the kernel's time.
public enum TCPSourceChoice: String, Sendable, CaseIterable {
  /// The iterator when it can be used (root, a kernel that loads it, a refresh of the tool's
  /// own namespace asking for counters only), else the dump.
  case auto
  case netlink
  case bpf
}

/// The TCP source chosen for a collection, and why, as `--explain` says it.
public struct TCPSourceDecision: Sendable, Equatable {
  public var usesBPF: Bool
  public var reason: String

  /// `tcp source: netlink (bpf: not root)`.
  public var explanation: String { "tcp source: \(usesBPF ? "bpf" : "netlink") (\(reason))" }
}

/// `--tcp-source bpf` where the iterator cannot be used: why, in one line.
public struct TCPSourceError: Error, Sendable, Equatable, CustomStringConvertible {
  public var reason: String
  public var description: String { "--tcp-source bpf: \(reason)" }
}

/// The loaded TCP iterator and what loading it gave, kept by an inspector across snapshots.
final class TCPSourceState {
  var iterator: TCPSocketIterator?
  /// Why loading failed, once it did: not tried again.
  var loadFailure: String?
}

extension FlowInspector {
  /// Chooses where the TCP sockets of the tool's own namespace come from for `options`; loads
  /// the iterator (once per inspector) when it is to be used. `incremental`: a refresh
  /// (`watch`, `serve`, `metrics`), which asks for counters only; a listing asks for more
  /// (memory, congestion control, TOS) than the iterator gives. Other namespaces are always
  /// dumped: a pass reads the namespace of the thread that reads it.
  public func decideTCPSource(_ options: InspectOptions, incremental: Bool) throws(TCPSourceError)
    -> TCPSourceDecision
  {
    let choice = options.tcpSource
    if choice == .netlink { return TCPSourceDecision(usesBPF: false, reason: "--tcp-source netlink") }
    func without(_ reason: String) throws(TCPSourceError) -> TCPSourceDecision {
      if choice == .bpf { throw TCPSourceError(reason: reason) }
      return TCPSourceDecision(usesBPF: false, reason: "bpf: " + reason)
    }
    if replaysRecording || !(source is KernelSource) {
      return try without("a recording is replayed: its sockets were recorded")
    }
    if capturesDatagrams { return try without("a recording keeps the dumps' own replies") }
    if geteuid() != 0 { return try without("not root") }
    if !incremental { return try without("a listing asks for more than the counters the iterator gives") }
    if options.inetExtensions != SockDiagRequest.inetInfoOnly {
      return try without("these refreshes ask for more than the counters (memory, congestion control, TOS)")
    }
    if !options.protocols.contains(.tcp) { return try without("TCP is not read") }
    if case .only = options.namespaces { return try without("--netns reads another namespace") }
    if tcpSourceState.iterator == nil, tcpSourceState.loadFailure == nil {
      do {
        tcpSourceState.iterator = try TCPSocketIterator()
      } catch {
        tcpSourceState.loadFailure = "program load failed: \(error)"
      }
    }
    if let failure = tcpSourceState.loadFailure { return try without(failure) }
    return TCPSourceDecision(
      usesBPF: true, reason: "root; each refresh reads this namespace's TCP sockets in one pass")
  }
}
