import FlowInspector
import FlowModel
import FlowQuery
import FlowRender
import NetlinkTransport
import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

// One collection: the destroy messages queued since the last one (the final counters of the
// sockets that closed), then a snapshot through the cached path of `watch` (an `OwnerCache`),
// filtered by the selection, grouped, and the counters brought up to date.

public struct MetricsOptions: Sendable {
  public var inspect: InspectOptions
  public var query: QueryExpression
  public var grouping = Grouping()
  public var thresholds = HealthThresholds()
  /// At most this many group-labelled series; the groups with fewest sockets go first.
  public var maxSeries = 10_000
  /// With `--by remote` (or `remote_host`): the remote ends labelled by name, the largest by
  /// sockets; the rest are summed under `other`.
  public var top = 10
  /// Fold in the final counters of closed sockets from the sock_diag destroy groups (needs
  /// CAP_NET_ADMIN; without it the counters still never go backwards, but miss the bytes of
  /// each connection's last interval).
  public var destroyEvents = true
  public var version = ""

  public init(inspect: InspectOptions, query: QueryExpression) {
    self.inspect = inspect
    self.query = query
  }
}

/// Collections in a row, with what they share: the inspector, the owner cache, the destroy
/// socket and the counters. Not thread-safe: `MetricsExporter` runs one collection at a time.
public final class MetricsCollector: @unchecked Sendable {
  public let options: MetricsOptions
  private let inspector: FlowInspector
  /// `watch`'s cache, but a socket whose owner it cannot name (a process that closed one
  /// connection and opened another between two collections: its descriptor count did not move)
  /// sends every collection to a full re-read, not once per 5 s: collections are already at
  /// most one per --min-interval, and bytes counted under the wrong group stay there.
  private let cache = OwnerCache(fullRescanInterval: 0)
  private var feed: CloseFeed?
  /// Why the destroy groups could not be joined (said once by the caller), nil when joined.
  public private(set) var destroyProblem: String?
  private var ledger: CounterLedger
  private var seriesDropped: UInt64 = 0
  private var errors: [String: UInt64] = ["sock_diag": 0, "proc": 0, "destroy_events": 0]

  public init(options: MetricsOptions, inspector: FlowInspector) {
    self.options = options
    self.inspector = inspector
    ledger = CounterLedger(maximumGroups: max(options.maxSeries * 4, 1000))
    if options.destroyEvents {
      do {
        feed = try CloseFeed(options.inspect)
      } catch {
        destroyProblem = CloseFeed.problem(error, missing: "counters miss the last bytes of each closed connection")
      }
    }
  }

  /// Collects once and returns the report (every group's series, the counters, the self
  /// metrics).
  public func collect() -> MetricsReport {
    let started = monotonicSeconds()
    let (closed, destroyOK) = feed?.drain() ?? ([], false)

    var snapshot = inspector.snapshot(options.inspect, ownerCache: cache)
    options.query.filter(&snapshot, thresholds: options.thresholds)

    // The closes first: those sockets are gone from this snapshot, and their last bytes belong
    // to the group the earlier collections counted them under.
    for flow in closed { ledger.close(flow) }

    let grouping = options.grouping
    var table = GroupTable(grouping: grouping, namespaces: snapshot.namespaces)
    if let connection = grouping.connection {
      table.keptConnections = GroupSummary.largestConnectionGroups(
        snapshot, by: connection.key, thresholds: options.thresholds, top: options.top)
    }
    // Each flow's group: its first visible owner's, else the one its counters were first kept
    // under (an orphan finishing its close), else the unowned group of its uid and namespace.
    var flowGroups: [Int] = []
    flowGroups.reserveCapacity(snapshot.flows.count)
    let perConnection = grouping.connection != nil
    // In place, by the owner's pid: a flow or a process copied out costs more than the lookup.
    snapshot.flows.withUnsafeBufferPointer { flows in
      for index in flows.indices {
        var number: Int? = nil
        for owner in flows[index].owners {
          if !perConnection, let known = table.number(ofPID: owner.pid) {
            number = known
            break
          }
          if let process = snapshot.processes[owner.pid] {
            number = table.number(of: process, flow: flows[index])
            break
          }
        }
        if number == nil, let known = ledger.group(ofCookie: flows[index].cookie) {
          number = table.number(of: known)
        }
        flowGroups.append(number ?? table.number(ofUnowned: flows[index]))
      }
    }
    let keys = table.keys
    ledger.absorb(snapshot.flows) { index, _ in keys[flowGroups[index]] }

    var report = MetricsReport(grouping: grouping)
    report.groups = MetricsReport.build(
      snapshot: snapshot, thresholds: options.thresholds, flowGroups: flowGroups, table: &table)
    report.counters = ledger.sorted()
    report.limitSeries(to: options.maxSeries)
    seriesDropped &+= UInt64(report.droppedSeries)

    var sockDiagOK = true
    var procOK = true
    var unreadable = 0
    for warning in snapshot.warnings {
      switch warning {
      case .dumpFailed, .dumpInterrupted, .netnsUnreadable:
        sockDiagOK = false
      case .processesDenied(let count, _):
        unreadable += count
      case .familyUnsupported, .namespacesSkipped, .other:
        break
      }
    }
    if snapshot.processes.isEmpty && !snapshot.flows.isEmpty && unreadable == 0 { procOK = false }
    if !sockDiagOK { errors["sock_diag", default: 0] += 1 }
    if !procOK { errors["proc", default: 0] += 1 }
    if feed != nil && !destroyOK { errors["destroy_events", default: 0] += 1 }

    var metrics = SelfMetrics()
    metrics.version = options.version
    metrics.unreadableProcesses = unreadable
    metrics.seriesDropped = seriesDropped
    // The destroy collector is there for `serve` only (one collection has no closes to fold).
    let destroyCollector = options.destroyEvents
    metrics.collectorSuccess = [("destroy_events", destroyOK), ("proc", procOK), ("sock_diag", sockDiagOK)]
      .filter { destroyCollector || $0.0 != "destroy_events" }
    metrics.scrapeErrors = errors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
      .filter { destroyCollector || $0.0 != "destroy_events" }
    metrics.closesFolded = ledger.closesFolded
    metrics.closesUnattributed = ledger.closesUnattributed
    metrics.destroyMessagesLost = feed?.lost ?? 0
    metrics.collectionSeconds = monotonicSeconds() - started
    report.selfMetrics = metrics
    return report
  }
}

func monotonicSeconds() -> Double {
  var now = timespec()
  // clock_gettime(2)
  clock_gettime(CLOCK_MONOTONIC, &now)
  return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
