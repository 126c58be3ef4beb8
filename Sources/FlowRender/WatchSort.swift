import FlowModel

// The rows of `flowscope watch` and their order: which flows or processes the view shows after
// the `/` filter, sorted by a `WatchSortField` (the fields the `<`/`>` keys step through).

/// What the rows are ordered by. The rate fields and `flows` apply to both views; the rest to
/// the view whose column they name.
public enum WatchSortField: String, Sendable, CaseIterable {
  case rate
  case rateIn = "rate-in"
  case rateOut = "rate-out"
  case bytesIn = "bytes-in"
  case bytesOut = "bytes-out"
  case proto, local, remote, state, process
  case pid, command, flows

  /// `--sort`: `-rate` (busiest first) or `rate` (ascending); a leading `-` sorts descending,
  /// as in `flow` and `proc`. Nil for a field it does not know.
  public static func parse(_ text: String) -> (field: WatchSortField, descending: Bool)? {
    let descending = text.hasPrefix("-")
    guard let field = WatchSortField(rawValue: String(text.dropFirst(descending ? 1 : 0))) else { return nil }
    return (field, descending)
  }

  /// The fields the `<`/`>` keys step through in a view, in column order.
  public static func cycle(_ view: WatchView) -> [WatchSortField] {
    switch view {
    case .flows: [.rate, .proto, .local, .remote, .state, .rateIn, .rateOut, .bytesIn, .bytesOut, .process]
    case .processes: [.rate, .pid, .command, .flows, .rateIn, .rateOut, .bytesIn, .bytesOut]
    }
  }
}

extension WatchScreen {

  /// The rows of the model's view after the text filter, in its sort order.
  public static func arrange(_ model: WatchModel) -> [WatchRow] {
    let snapshot = model.snapshot
    let processes = mergedProcesses(model)
    var rows: [WatchRow]
    switch model.view {
    case .flows:
      rows = snapshot.flows.indices.map { .flow($0) } + model.rates.closed.indices.map { .closed($0) }
    case .processes:
      rows = model.rates.processes.keys.sorted().map { .process($0) }
    }
    if let filter = model.rowFilter {
      // Closed flows are named with the processes of the refresh before.
      let named = Snapshot(
        time: snapshot.time, host: snapshot.host, flows: [], processes: processes, warnings: [])
      var withNames = named
      withNames.namespaces = snapshot.namespaces
      switch model.view {
      case .flows:
        rows.removeAll { row in
          switch row {
          case .flow(let index): !filter.keepsFlow(snapshot.flows[index], withNames)
          case .closed(let index): !filter.keepsFlow(model.rates.closed[index], withNames)
          case .process: false
          }
        }
      case .processes:
        var all = withNames
        all.flows = snapshot.flows + model.rates.closed
        let kept = filter.processes(all)
        rows.removeAll { row in
          if case .process(let pid) = row { return !kept.contains(pid) }
          return false
        }
      }
    }
    sortRows(&rows, model, processes)
    return rows
  }

  static func mergedProcesses(_ model: WatchModel) -> [Int32: OwningProcess] {
    var processes = model.snapshot.processes
    for flow in model.rates.closed {
      for owner in flow.owners where processes[owner.pid] == nil {
        if let process = model.previousProcesses[owner.pid] { processes[owner.pid] = process }
      }
    }
    return processes
  }

  private enum SortValue {
    case number(Double?)
    case text([UInt8])
  }

  private static func sortRows(_ rows: inout [WatchRow], _ model: WatchModel, _ processes: [Int32: OwningProcess]) {
    let snapshot = model.snapshot
    let rates = model.rates
    let sort = model.sort
    func value(_ row: WatchRow) -> SortValue {
      switch row {
      case .flow(let index), .closed(let index):
        let isClosed = if case .closed = row { true } else { false }
        let rate = isClosed ? rates.closedRate(at: index) : rates.flows[index]
        switch sort {
        case .rate, .flows: return .number(rate.rateTotal)
        case .rateIn: return .number(rate.rateIn)
        case .rateOut: return .number(rate.rateOut)
        default: break
        }
        // Only the other fields need the flow (a copy of a Flow is not free at 100k rows).
        let flow = isClosed ? rates.closed[index] : snapshot.flows[index]
        switch sort {
        case .rate, .flows, .rateIn, .rateOut: return .number(nil)
        case .bytesIn:
          return .number((model.showDeltas ? rate.deltaIn : flow.counters.bytesIn).map(Double.init))
        case .bytesOut:
          return .number((model.showDeltas ? rate.deltaOut : flow.counters.bytesOut).map(Double.init))
        case .proto: return .text(Array(flow.proto.rawValue.utf8))
        case .local, .remote:
          var out = OutputBuffer(capacity: 64)
          let endpoint = sort == .local ? flow.local : flow.remote
          if case .ip(let address, let port) = endpoint {
            // Numeric order of addresses, then ports.
            switch address {
            case .v4(let v): out.appendHex(UInt64(v), minDigits: 8)
            case .v6(let high, let low):
              out.appendHex(high, minDigits: 16)
              out.appendHex(low, minDigits: 16)
            }
            out.appendHex(UInt64(port), minDigits: 4)
          }
          return .text(out.bytes)
        case .state: return .number(Double(flow.state))
        case .process, .command:
          return .text(flow.owners.first.flatMap { processes[$0.pid]?.command } ?? [0xFF])
        case .pid: return .number(flow.owners.first.map { Double($0.pid) })
        }
      case .process(let pid):
        let rate = rates.processes[pid] ?? ProcessRate(pid: pid)
        switch sort {
        case .rate: return .number(rate.rateTotal)
        case .rateIn: return .number(rate.rateIn)
        case .rateOut: return .number(rate.rateOut)
        case .bytesIn: return .number((model.showDeltas ? rate.deltaIn : rate.bytesIn).map(Double.init))
        case .bytesOut: return .number((model.showDeltas ? rate.deltaOut : rate.bytesOut).map(Double.init))
        case .flows: return .number(Double(rate.flows))
        case .command, .process: return .text(processes[pid]?.command ?? [0xFF])
        default: return .number(Double(pid))
        }
      }
    }
    let descending = model.descending
    let keyed = rows.enumerated().map { (offset: $0.offset, value: value($0.element)) }
    let order = keyed.sorted { a, b in
      switch (a.value, b.value) {
      case (.number(let x), .number(let y)):
        switch (x, y) {
        case (nil, nil): return a.offset < b.offset
        case (nil, _): return false  // unknown last, either way
        case (_, nil): return true
        case (let x?, let y?):
          if x == y { return a.offset < b.offset }
          return descending ? x > y : x < y
        }
      case (.text(let x), .text(let y)):
        if x == y { return a.offset < b.offset }
        return descending ? y.lexicographicallyPrecedes(x) : x.lexicographicallyPrecedes(y)
      default: return a.offset < b.offset
      }
    }
    rows = order.map { rows[$0.offset] }
  }
}
