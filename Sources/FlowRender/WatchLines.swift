import FlowModel

// The NDJSON records `flowscope watch` writes when it does not draw (piped, or --json).

extension WatchScreen {

  /// One line per flow of the snapshot and per closed flow: the flow object of `flow --ndjson`
  /// followed by `refresh`, `interval`, `change`, `delta_in`, `delta_out`, `rate_in`,
  /// `rate_out`; then one line per warning. `refresh` counts from 1.
  public static func renderFlowLines(
    _ snapshot: Snapshot, rates: RateTable, refresh: Int, options: RenderOptions,
    previousProcesses: [Int32: OwningProcess] = [:], into out: inout OutputBuffer
  ) {
    let context = RenderContext(snapshot, options: options, mode: .csv, namingPeers: false)
    let prefix = JSONRenderer.linePrefix(snapshot)
    JSONWriter.write(into: &out) { json in
      for (index, flow) in snapshot.flows.enumerated() {
        json.reopen(prefix)
        JSONRenderer.appendFlowFields(flow, context: context, into: &json)
        appendRateFields(rates.flows[index], refresh: refresh, seconds: rates.seconds, into: &json)
        json.endObject()
        json.endLine()
      }
      if !rates.closed.isEmpty {
        let closedContext = RenderContext(
          Snapshot(
            time: snapshot.time, host: snapshot.host, flows: rates.closed,
            processes: snapshot.processes.merging(previousProcesses) { current, _ in current },
            warnings: []),
          options: options, mode: .csv, namingPeers: false)
        for (index, flow) in rates.closed.enumerated() {
          json.reopen(prefix)
          JSONRenderer.appendFlowFields(flow, context: closedContext, into: &json)
          appendRateFields(rates.closedRate(at: index), refresh: refresh, seconds: rates.seconds, into: &json)
          json.endObject()
          json.endLine()
        }
      }
      JSONRenderer.appendWarningLines(snapshot.warnings, prefix: prefix, into: &json)
    }
  }

  /// One line per process with flows (open or closed since the last refresh), by pid.
  public static func renderProcessLines(
    _ snapshot: Snapshot, rates: RateTable, refresh: Int, previousProcesses: [Int32: OwningProcess],
    into out: inout OutputBuffer
  ) {
    let prefix = JSONRenderer.linePrefix(snapshot)
    let measured = rates.seconds != nil
    JSONWriter.write(into: &out) { json in
      for pid in rates.processes.keys.sorted() {
        let rate = rates.processes[pid]!
        let process = snapshot.processes[pid] ?? previousProcesses[pid]
        json.reopen(prefix)
        json.field(.pid, Int64(pid))
        json.key(.command)
        if let process { ProcessRenderer.appendCommand(process.command, into: &json) } else { json.null() }
        json.key(.user)
        json.string(process?.user)
        json.field(.uid, process.map { UInt64($0.uid) })
        json.field(.flows, UInt64(rate.flows))
        json.field(.newFlows, UInt64(rate.newFlows))
        json.field(.closedFlows, UInt64(rate.closedFlows))
        json.field(.bytesIn, rate.bytesIn)
        json.field(.bytesOut, rate.bytesOut)
        json.field(.refresh, UInt64(refresh))
        json.key(.interval)
        appendNumber(rates.seconds, into: &json)
        json.field(.deltaIn, measured ? rate.deltaIn : nil)
        json.field(.deltaOut, measured ? rate.deltaOut : nil)
        json.key(.rateIn)
        appendNumber(measured ? rate.rateIn : nil, into: &json)
        json.key(.rateOut)
        appendNumber(measured ? rate.rateOut : nil, into: &json)
        json.endObject()
        json.endLine()
      }
      JSONRenderer.appendWarningLines(snapshot.warnings, prefix: prefix, into: &json)
    }
  }

  private static func appendRateFields(
    _ rate: FlowRate, refresh: Int, seconds: Double?, into json: inout JSONWriter
  ) {
    json.field(.refresh, UInt64(refresh))
    json.key(.interval)
    appendNumber(seconds, into: &json)
    json.key(.change)
    switch rate.change {
    case .new: json.string(vocabulary: "new")
    case .closed: json.string(vocabulary: "closed")
    case .continuing: json.null()
    }
    json.field(.deltaIn, rate.deltaIn)
    json.field(.deltaOut, rate.deltaOut)
    json.key(.rateIn)
    appendNumber(rate.rateIn, into: &json)
    json.key(.rateOut)
    appendNumber(rate.rateOut, into: &json)
  }

  /// A non-negative number with at most three decimals, or `null`.
  static func appendNumber(_ value: Double?, into json: inout JSONWriter) {
    guard let value, value.isFinite else { return json.null() }
    json.value { out in
      let thousandths = UInt64((max(0, value) * 1000).rounded())
      out.appendDecimal(thousandths / 1000)
      let fraction = thousandths % 1000
      if fraction != 0 {
        out.append(UInt8(ascii: "."))
        if fraction < 100 { out.append(UInt8(ascii: "0")) }
        if fraction < 10 { out.append(UInt8(ascii: "0")) }
        var digits = fraction
        while digits % 10 == 0 { digits /= 10 }
        out.appendDecimal(digits)
      }
    }
  }
}
