import FlowModel

// The model of `flowscope watch`'s screen: what it shows (the view, the sort, the filter, the
// scroll) and which rows it has. Pure: the drawing is in WatchScreen.swift.

/// Which table the screen shows.
public enum WatchView: Sendable, Equatable {
  case flows, processes
}

/// Everything one screen shows.
public struct WatchModel: Sendable {
  public var snapshot: Snapshot
  public var rates: RateTable
  /// Processes of the previous snapshot, to name the owners of closed flows.
  public var previousProcesses: [Int32: OwningProcess] = [:]
  public var view: WatchView = .flows
  public var sort: WatchSortField = .rate
  public var descending = true
  /// Byte columns show the bytes since the previous refresh instead of totals.
  public var showDeltas = false
  public var paused = false
  /// The `/` filter as typed: a query, as after the options.
  public var filter: [UInt8] = []
  /// The rows it keeps; nil while nothing valid was typed.
  public var rowFilter: WatchRowFilter? = nil
  /// Why the typed filter cannot be read, shown while it is edited.
  public var filterError: [UInt8] = []
  public var editingFilter = false
  public var showHelp = false
  /// The first row shown.
  public var scroll = 0
  public var rows = 24
  public var columns = 80
  public var interval: Double = 1
  public var color = false
  public var exactBytes = false
  /// The clock, as the caller formats it (local time).
  public var clock: [UInt8] = []
  /// A line for the user (an error, a hint), shown in place of the warnings.
  public var message: [UInt8] = []
  /// `listen-drops` of each namespace since the previous refresh, shown in place of the
  /// warnings (after a message).
  public var listenDrops: [Finding] = []
  /// The flow `x` asks to close, marked `x` on its row while the question is open.
  public var closing: Flow? = nil

  public init(snapshot: Snapshot, rates: RateTable) {
    self.snapshot = snapshot
    self.rates = rates
  }
}

/// Which rows the `/` filter keeps: the command builds it from a query (FlowQuery), so the
/// screen needs no parser.
public struct WatchRowFilter: Sendable {
  /// Whether a flow (current or closed) is kept, read with the processes of `snapshot`.
  public var keepsFlow: @Sendable (Flow, Snapshot) -> Bool
  /// The processes kept in the processes view.
  public var processes: @Sendable (Snapshot) -> Set<Int32>

  public init(
    keepsFlow: @escaping @Sendable (Flow, Snapshot) -> Bool,
    processes: @escaping @Sendable (Snapshot) -> Set<Int32>
  ) {
    self.keepsFlow = keepsFlow
    self.processes = processes
  }
}

/// One row of the table, in display order: a current flow, a closed one, or a process.
public enum WatchRow: Sendable, Equatable {
  case flow(Int)
  case closed(Int)
  case process(Int32)
}
