import FlowModel

/// The report of `flowscope kill`: a line per selected socket saying what became of it, and
/// the same as one JSON document (docs/json.md, "Kill"; `$defs/killReport` of
/// docs/flowscope.schema.json).
public enum KillRenderer {
  /// Column widths with their separating space: outcome, proto, local, remote, state.
  static let widths = [15, 6, 24, 24, 13]

  /// One line per socket, `closed  tcp  127.0.0.1:5432  127.0.0.1:40000  ESTAB  python3.812`,
  /// the reason after the owners when there is one; then a line of counts.
  /// With `only`, the lines of the sockets it accepts (the counts still cover all).
  public static func renderText(
    _ report: KillReport, only shown: (KillOutcome) -> Bool = { _ in true }, into out: inout OutputBuffer
  ) {
    for (flow, outcome) in zip(report.snapshot.flows, report.outcomes) where shown(outcome) {
      var start = out.count
      out.append(utf8: outcome.words)
      EventRenderer.pad(from: start, to: widths[0], into: &out)
      start = out.count
      out.append(utf8: flow.proto.rawValue)
      if flow.family == .inet6 { out.append(UInt8(ascii: "6")) }
      EventRenderer.pad(from: start, to: widths[1], into: &out)
      start = out.count
      EventRenderer.appendEndpointText(flow.local, into: &out)
      EventRenderer.pad(from: start, to: widths[2], into: &out)
      start = out.count
      EventRenderer.appendEndpointText(flow.remote, into: &out)
      EventRenderer.pad(from: start, to: widths[3], into: &out)
      start = out.count
      if let state = flow.socketState { out.append(utf8: state.name) } else { out.appendDecimal(UInt64(flow.state)) }
      EventRenderer.pad(from: start, to: widths[4], into: &out)
      appendOwners(flow, report.snapshot.processes, into: &out)
      if let detail = outcome.detail {
        out.append(": ")
        out.append(utf8: detail)
      }
      out.append(UInt8(ascii: "\n"))
    }
    out.append(utf8: summary(report))
    out.append(UInt8(ascii: "\n"))
  }

  /// `2 closed, 1 not permitted.`: each outcome that occurred, with its count.
  public static func summary(_ report: KillReport) -> String {
    var counts: [(String, Int)] = []
    for outcome in report.outcomes {
      if let index = counts.firstIndex(where: { $0.0 == outcome.words }) {
        counts[index].1 += 1
      } else {
        counts.append((outcome.words, 1))
      }
    }
    if counts.isEmpty { return "No socket matches." }
    return counts.map { "\($0.1) \($0.0)" }.joined(separator: ", ") + "."
  }

  /// `command.pid` of each owner, `-` when none is known.
  static func appendOwners(_ flow: Flow, _ processes: [Int32: OwningProcess], into out: inout OutputBuffer) {
    if flow.owners.isEmpty {
      out.append(UInt8(ascii: "-"))
      return
    }
    var seen = Set<Int32>()
    for owner in flow.owners where seen.insert(owner.pid).inserted {
      if seen.count > 1 { out.append(UInt8(ascii: ",")) }
      if let command = processes[owner.pid]?.command {
        appendSanitized(command, into: &out)
      } else {
        out.append(UInt8(ascii: "?"))
      }
      out.append(UInt8(ascii: "."))
      out.appendDecimal(Int64(owner.pid))
    }
  }

  /// The report as one document: `{"version":1,"host":…,"time":…,"dry_run":…,"summary":{…},
  /// "sockets":[…],"warnings":[…]}`. Each socket is a flow object (the keys of `flow --json`)
  /// with `result` and `detail` after them.
  public static func renderJSON(_ report: KillReport, options: RenderOptions, into out: inout OutputBuffer) {
    let snapshot = report.snapshot
    let context = RenderContext(snapshot, options: options, mode: .csv, namingPeers: false)
    JSONWriter.write(into: &out) { json in
      JSONRenderer.appendDocumentStart(snapshot, into: &json)
      json.key(.dryRun)
      json.bool(report.dryRun)
      json.key(.summary)
      json.beginObject()
      json.field(.selected, UInt64(report.outcomes.count))
      for (result, key) in summaryKeys { json.field(key, UInt64(report.count(result))) }
      json.endObject()
      json.key(.sockets)
      json.beginArray()
      for (flow, outcome) in zip(snapshot.flows, report.outcomes) {
        json.beginObject(onNewLine: true)
        JSONRenderer.appendFlowFields(flow, context: context, into: &json)
        json.key(.result)
        json.string(vocabulary: outcome.key)
        json.key(.detail)
        json.string(outcome.detail)
        json.key(.guard)
        if let reason = outcome.guardReason { json.string(vocabulary: reason.rawValue) } else { json.null() }
        json.endObject()
      }
      if !snapshot.flows.isEmpty { json.breakLine() }
      JSONRenderer.appendWarningsAndClose(snapshot.warnings, into: &json)
    }
  }

  /// The `summary` counts after `selected`, by result.
  static let summaryKeys: [(String, JSONKey)] = [
    ("closed", .closed), ("selected", .wouldClose), ("gone", .gone), ("not-supported", .notSupported),
    ("not-permitted", .notPermitted), ("guarded", .guarded), ("failed", .failed),
  ]
}
