// The vocabulary of `flowscope events`: flows that end (from the kernel's sock_diag destroy
// messages) and flows first seen (from the periodic scans), with what the scans knew of them.

/// One line of the event log.
public struct FlowEvent: Sendable, Equatable {
  public enum Kind: String, Sendable {
    /// The kernel destroyed the socket; `flow` carries its final state and counters.
    case close
    /// A periodic scan saw the flow for the first time (`--new`).
    case new
  }

  public var kind: Kind
  /// Seconds since the epoch: when the destroy message was read, or when the scan ended.
  public var time: Double
  /// For a close: the kernel's final record (inode 0), with the owners remembered from the scans.
  public var flow: Flow
  /// The processes of `flow.owners`, as the last scan that saw the flow read them.
  public var processes: [Int32: OwningProcess]
  /// When a scan first saw the flow (the end of that scan), nil when no scan saw it: it was
  /// born and gone between two scans, and its owner is unknown.
  public var firstSeen: Double?

  public init(
    kind: Kind, time: Double, flow: Flow, processes: [Int32: OwningProcess] = [:],
    firstSeen: Double? = nil
  ) {
    self.kind = kind
    self.time = time
    self.flow = flow
    self.processes = processes
    self.firstSeen = firstSeen
  }

  /// Whether any scan saw the flow; when false the owner is unknown (`?`), not absent.
  public var wasSeen: Bool { firstSeen != nil }

  /// A lower bound of the flow's life: from the end of the first scan that saw it to `time`.
  /// The flow may be older by up to one scan interval (and by however long it existed before
  /// the first scan). Nil when no scan saw it.
  public var lifetimeAtLeast: Double? {
    firstSeen.map { max(0, time - $0) }
  }
}

extension FlowEvent {
  /// The protocols whose closes the kernel announces (the sock_diag destroy groups).
  public static let announcedProtocols: Set<TransportProtocol> = [.tcp, .udp]

  /// What `events` follows of the protocols a query plans for, and those the query named that
  /// it cannot follow (sorted by name; a usage error when any).
  public static func protocolsToFollow(
    named: Set<TransportProtocol>, planned: Set<TransportProtocol>
  ) -> (follow: Set<TransportProtocol>, unsupported: [TransportProtocol]) {
    let unsupported = named.subtracting(announcedProtocols).sorted { $0.rawValue < $1.rawValue }
    return (planned.intersection(announcedProtocols), unsupported)
  }
}
