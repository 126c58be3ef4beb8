import BPFOwners
import ProcFS

/// Where a snapshot's socket owners come from (`--owners`): the descriptors of every process
/// read from `/proc/<pid>/fd` (one readlinkat each), or from one pass of the BPF task-file
/// iterator (`BPFOwners`), the rest of each process from /proc either way.
public enum OwnerSourceChoice: String, Sendable, CaseIterable {
  /// The iterator when it can be used (root, a kernel that loads it, a whole listing), else /proc.
  case auto
  case proc
  case bpf
}

/// The owner source chosen for a collection, and why, as `--explain` says it.
public struct OwnerSourceDecision: Sendable, Equatable {
  public var usesBPF: Bool
  public var reason: String

  public init(usesBPF: Bool, reason: String) {
    self.usesBPF = usesBPF
    self.reason = reason
  }

  /// `owner source: proc (bpf: not root)`.
  public var explanation: String { "owner source: \(usesBPF ? "bpf" : "proc") (\(reason))" }
}

/// `--owners bpf` where the iterator cannot be used: why, in one line.
public struct OwnerSourceError: Error, Sendable, Equatable, CustomStringConvertible {
  public var reason: String
  public var description: String { "--owners bpf: \(reason)" }

  public init(reason: String) { self.reason = reason }
}

/// The loaded iterator and what loading it gave, kept by an inspector across its snapshots.
final class OwnerSourceState {
  var iterator: SocketOwnerIterator?
  /// Why loading failed, once it did: not tried again.
  var loadFailure: String?
}

extension FlowInspector {
  /// From how many open files (`/proc/sys/fs/file-nr`) `auto` loads the iterator. Loading it
  /// took 15 ms here (a one-shot listing went from 16 to 31 ms with 350 files open), while the
  /// /proc scan costs about 2 µs per descriptor on two threads.
  public static let openFilesForBPFOwners = 10_000

  /// Chooses where owners come from for `options`; loads the iterator (once per inspector)
  /// when it is to be used. `incremental`: the collection re-reads only the processes that
  /// changed since the last one (`watch`, `serve`, `metrics`), from /proc; the iterator then
  /// serves its whole reads (the first, and those a socket of unknown owner calls for).
  /// With `--owners bpf`, throws when the iterator cannot be used; with `auto`, says why not.
  public func decideOwnerSource(_ options: InspectOptions, incremental: Bool = false) throws(OwnerSourceError)
    -> OwnerSourceDecision
  {
    let choice = options.owners
    if choice == .proc { return OwnerSourceDecision(usesBPF: false, reason: "--owners proc") }
    func without(_ reason: String) throws(OwnerSourceError) -> OwnerSourceDecision {
      if choice == .bpf { throw OwnerSourceError(reason: reason) }
      return OwnerSourceDecision(usesBPF: false, reason: "bpf: " + reason)
    }
    if replaysRecording { return try without("a recording is replayed: its owners were recorded") }
    if let obstacle = SocketOwnerIterator.obstacle(procRoot: options.procRoot) { return try without(obstacle) }
    if choice == .auto, let pids = options.pids {
      return try without("only \(pids.count == 1 ? "one process is" : "\(pids.count) processes are") read")
    }
    // Loading the program (a parse of the kernel's BTF) costs about what a /proc scan of some
    // thousands of descriptors does: a host with few open files is scanned sooner.
    if choice == .auto, let open = ProcScanner.openFiles(root: options.procRoot),
      open < Self.openFilesForBPFOwners
    {
      return try without("only \(open) files are open: reading /proc costs less than loading the program")
    }
    if ownerSourceState.iterator == nil, ownerSourceState.loadFailure == nil {
      do {
        ownerSourceState.iterator = try SocketOwnerIterator()
      } catch {
        ownerSourceState.loadFailure = "program load failed: \(error)"
      }
    }
    if let failure = ownerSourceState.loadFailure { return try without(failure) }
    if incremental {
      return OwnerSourceDecision(
        usesBPF: true,
        reason: "root; the iterator reads every process at the first refresh and whenever a socket's "
          + "owner is unknown, /proc the processes that changed")
    }
    return OwnerSourceDecision(usesBPF: true, reason: "root; the task-file iterator is loaded")
  }
}

/// What the background scan of a BPF snapshot says went wrong: a failed pass, after which the
/// descriptors were read from /proc.
final class PassFailure: @unchecked Sendable {
  var error: BPFError?
}
