// A query applied to snapshots: the flows a listing keeps, the processes `proc` and `check`
// keep, and the flows `check` looks at.

import FlowModel

extension QueryExpression {
  /// Drops the flows of `snapshot` the query refuses. Reads flows in place: most listings keep
  /// every flow, and copying one to test it costs as much as rendering it.
  public func filter(_ snapshot: inout Snapshot, thresholds: HealthThresholds) {
    if self == .constant(true) { return }
    let context = QueryContext(
      processes: snapshot.processes, thresholds: thresholds, namespaces: snapshot.namespaces)
    let decided = DecidedKinds(self)
    let refused: [Int] = snapshot.flows.withUnsafeBufferPointer { flows in
      flows.indices.filter { !decided.keep(flows[$0]) && !matches(flows[$0], context) }
    }
    guard !refused.isEmpty else { return }
    var next = refused.startIndex
    var position = 0
    snapshot.flows.removeAll { _ in
      defer { position += 1 }
      guard next < refused.endIndex, refused[next] == position else { return false }
      next += 1
      return true
    }
  }

  /// The processes of `snapshot` that match (see `matches(process:flows:_:)`).
  public func selectedProcesses(_ snapshot: Snapshot, thresholds: HealthThresholds) -> Set<Int32> {
    let context = QueryContext(
      processes: snapshot.processes, thresholds: thresholds, namespaces: snapshot.namespaces)
    if readsOnlyProcesses {
      return Set(snapshot.processes.values.filter { evaluate(process: $0, context) }.map(\.pid))
    }
    var kept = Set<Int32>()
    for flow in snapshot.flows {
      for owner in flow.owners where !kept.contains(owner.pid) {
        if context.processes[owner.pid] != nil, evaluate(flow, context, owner: owner.pid) {
          kept.insert(owner.pid)
        }
      }
    }
    return kept
  }

  /// Whether the query names processes (`pid`, `command`, `user`, …): then sockets with no
  /// visible owner cannot match it.
  public var namesProcesses: Bool { tests.contains { $0.field.needsOwners && $0.field != .owned } }
}

extension QueryExpression {
  /// Keeps the flows `check` looks at: a flow of a kept process that matches with that process
  /// as its owner, and, when the query names no process, an unowned flow that matches.
  public func keepCheckedFlows(
    _ snapshot: inout Snapshot, processes kept: Set<Int32>, thresholds: HealthThresholds
  ) {
    let context = QueryContext(
      processes: snapshot.processes, thresholds: thresholds, namespaces: snapshot.namespaces)
    let unownedCount = !namesProcesses
    snapshot.flows.removeAll { flow in
      if flow.owners.isEmpty { return !unownedCount || !evaluate(flow, context, owner: nil) }
      return !flow.owners.contains { kept.contains($0.pid) && evaluate(flow, context, owner: $0.pid) }
    }
  }
}
