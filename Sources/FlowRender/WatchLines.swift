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
    for (index, flow) in snapshot.flows.enumerated() {
      out.append(contentsOf: prefix)
      JSONRenderer.appendFlowFields(flow, context: context, into: &out)
      appendRateFields(rates.flows[index], refresh: refresh, seconds: rates.seconds, into: &out)
      out.append("}\n")
    }
    if !rates.closed.isEmpty {
      let closedContext = RenderContext(
        Snapshot(
          time: snapshot.time, host: snapshot.host, flows: rates.closed,
          processes: snapshot.processes.merging(previousProcesses) { current, _ in current },
          warnings: []),
        options: options, mode: .csv, namingPeers: false)
      for flow in rates.closed {
        out.append(contentsOf: prefix)
        JSONRenderer.appendFlowFields(flow, context: closedContext, into: &out)
        appendRateFields(FlowRate(change: .closed), refresh: refresh, seconds: rates.seconds, into: &out)
        out.append("}\n")
      }
    }
    appendWarningLines(snapshot, prefix: prefix, refresh: refresh, into: &out)
  }

  /// One line per process with flows (open or closed since the last refresh), by pid.
  public static func renderProcessLines(
    _ snapshot: Snapshot, rates: RateTable, refresh: Int, previousProcesses: [Int32: OwningProcess],
    into out: inout OutputBuffer
  ) {
    let prefix = JSONRenderer.linePrefix(snapshot)
    for pid in rates.processes.keys.sorted() {
      let rate = rates.processes[pid]!
      let process = snapshot.processes[pid] ?? previousProcesses[pid]
      out.append(contentsOf: prefix)
      out.append("\"pid\":")
      out.appendDecimal(Int64(pid))
      out.append(",\"command\":")
      if let process {
        ProcessRenderer.appendCommand(process.command, into: &out)
      } else {
        out.append("null")
      }
      out.append(",\"user\":")
      if let user = process?.user { out.appendJSONString(user) } else { out.append("null") }
      out.append(",\"uid\":")
      JSONRenderer.appendOptional(process.map { UInt64($0.uid) }, into: &out)
      out.append(",\"flows\":")
      out.appendDecimal(UInt64(rate.flows))
      out.append(",\"new_flows\":")
      out.appendDecimal(UInt64(rate.newFlows))
      out.append(",\"closed_flows\":")
      out.appendDecimal(UInt64(rate.closedFlows))
      out.append(",\"bytes_in\":")
      JSONRenderer.appendOptional(rate.bytesIn, into: &out)
      out.append(",\"bytes_out\":")
      JSONRenderer.appendOptional(rate.bytesOut, into: &out)
      out.append(",\"refresh\":")
      out.appendDecimal(UInt64(refresh))
      out.append(",\"interval\":")
      appendNumber(rates.seconds, into: &out)
      out.append(",\"delta_in\":")
      JSONRenderer.appendOptional(rates.seconds == nil ? nil : rate.deltaIn, into: &out)
      out.append(",\"delta_out\":")
      JSONRenderer.appendOptional(rates.seconds == nil ? nil : rate.deltaOut, into: &out)
      out.append(",\"rate_in\":")
      appendNumber(rates.seconds == nil ? nil : rate.rateIn, into: &out)
      out.append(",\"rate_out\":")
      appendNumber(rates.seconds == nil ? nil : rate.rateOut, into: &out)
      out.append("}\n")
    }
    appendWarningLines(snapshot, prefix: prefix, refresh: refresh, into: &out)
  }

  private static func appendWarningLines(
    _ snapshot: Snapshot, prefix: OutputBuffer, refresh: Int, into out: inout OutputBuffer
  ) {
    for warning in snapshot.warnings {
      out.append(contentsOf: prefix)
      out.append("\"warning\":")
      out.appendJSONString(warning.description)
      out.append("}\n")
    }
  }

  private static func appendRateFields(
    _ rate: FlowRate, refresh: Int, seconds: Double?, into out: inout OutputBuffer
  ) {
    out.append(",\"refresh\":")
    out.appendDecimal(UInt64(refresh))
    out.append(",\"interval\":")
    appendNumber(seconds, into: &out)
    out.append(",\"change\":")
    switch rate.change {
    case .new: out.append("\"new\"")
    case .closed: out.append("\"closed\"")
    case .continuing: out.append("null")
    }
    out.append(",\"delta_in\":")
    JSONRenderer.appendOptional(rate.deltaIn, into: &out)
    out.append(",\"delta_out\":")
    JSONRenderer.appendOptional(rate.deltaOut, into: &out)
    out.append(",\"rate_in\":")
    appendNumber(rate.rateIn, into: &out)
    out.append(",\"rate_out\":")
    appendNumber(rate.rateOut, into: &out)
  }

  /// A non-negative number with at most three decimals, or `null`.
  static func appendNumber(_ value: Double?, into out: inout OutputBuffer) {
    guard let value, value.isFinite else { return out.append("null") }
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
