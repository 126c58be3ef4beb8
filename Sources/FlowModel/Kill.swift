// What `flowscope kill` did to each socket it selected: the vocabulary its library, its
// renderers and its JSON share.

/// Why `kill` leaves a selected socket open unless `--force`.
public enum KillGuard: String, Sendable, CaseIterable {
  /// A socket of flowscope itself.
  case own
  /// A socket of the SSH connection flowscope runs under.
  case ssh
  /// A listening socket, and the query does not name the listen state.
  case listening

  /// Why the socket was left open, as a sentence's end.
  public var reason: String {
    switch self {
    case .own: "it is flowscope's own"
    case .ssh: "it carries the SSH connection flowscope runs under"
    case .listening: "it is listening; name the state (state == listen) to close listeners"
    }
  }
}

/// What became of one selected socket.
public enum KillOutcome: Sendable, Equatable {
  /// The kernel aborted it.
  case closed
  /// `--dry-run`: it would have been asked to.
  case selected
  /// ENOENT: it closed before the request, or its addresses now belong to another socket.
  case gone
  /// EOPNOTSUPP, or a protocol SOCK_DESTROY has no handler for: why, as a sentence.
  case notSupported(String)
  /// EPERM: closing needs CAP_NET_ADMIN in the socket's network namespace.
  case notPermitted
  /// A guard kept it open (`--force` lifts it).
  case guarded(KillGuard)
  /// Anything else: the errno's text, or why the request could not be sent.
  case failed(String)

  /// The JSON `result` value.
  public var key: String {
    switch self {
    case .closed: "closed"
    case .selected: "selected"
    case .gone: "gone"
    case .notSupported: "not-supported"
    case .notPermitted: "not-permitted"
    case .guarded: "guarded"
    case .failed: "failed"
    }
  }

  /// The words the report's table starts a line with.
  public var words: String {
    switch self {
    case .closed: "closed"
    case .selected: "would close"
    case .gone: "already gone"
    case .notSupported: "not supported"
    case .notPermitted: "not permitted"
    case .guarded: "left open"
    case .failed: "failed"
    }
  }

  /// The sentence that explains it; nil for a plain `closed` or `selected`.
  public var detail: String? {
    switch self {
    case .closed, .selected: nil
    case .gone: "the socket closed before the request (or its addresses belong to another socket now)"
    case .notSupported(let why): why
    case .notPermitted: "needs CAP_NET_ADMIN in that namespace"
    case .guarded(let guardReason): guardReason.reason + " (--force closes it)"
    case .failed(let why): why
    }
  }

  public var guardReason: KillGuard? {
    if case .guarded(let reason) = self { return reason }
    return nil
  }
}

/// The sockets one `kill` selected and what became of each.
public struct KillReport: Sendable {
  /// The selected sockets, with their owners; `outcomes[i]` is what became of `snapshot.flows[i]`.
  public var snapshot: Snapshot
  public var outcomes: [KillOutcome]
  public var dryRun: Bool

  public init(snapshot: Snapshot, outcomes: [KillOutcome], dryRun: Bool) {
    self.snapshot = snapshot
    self.outcomes = outcomes
    self.dryRun = dryRun
  }

  public func count(_ key: String) -> Int { outcomes.filter { $0.key == key }.count }

  /// 0 when every selected socket was closed (or, with `--dry-run`, none was refused by a
  /// guard), 2 when some were not.
  public var exitStatus: Int32 {
    let wanted = dryRun ? "selected" : "closed"
    return outcomes.allSatisfy { $0.key == wanted } ? 0 : 2
  }
}
