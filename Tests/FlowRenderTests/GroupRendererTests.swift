import FlowModel
import FlowRender
import SchemaCheck
import Testing

/// `proc --by` and `proc --tree` as JSON: one document, or NDJSON with one line per group or
/// tree row, each the document's object with `version`, `time` and `host` in front.
@Suite struct GroupRendererTests {
  let snapshot = Sample.snapshot()
  var summaries: [ProcessSummary] { ProcessSummary.summarize(snapshot, thresholds: HealthThresholds()) }

  func records(_ bytes: [UInt8]) throws -> [[String: Any]] {
    #expect(bytes.last == 0x0A)
    return try bytes.split(separator: 0x0A).map { try #require(try parseJSON(Array($0)) as? [String: Any]) }
  }

  /// The line without what every NDJSON line starts with (and `by`, for a group).
  func stripped(_ line: [String: Any], also: [String] = []) -> [String: Any] {
    line.filter { !(["version", "time", "host"] + also).contains($0.key) }
  }

  @Test(arguments: GroupBy.allCases)
  func groupLinesAreTheDocumentsGroupsOneALine(_ key: GroupBy) throws {
    let groups = GroupSummary.group(summaries, snapshot: snapshot, by: key, thresholds: HealthThresholds())
    #expect(!groups.isEmpty)
    let document = try #require(
      try parseJSON(Sample.render { GroupRenderer.renderJSON(groups, by: key, snapshot: snapshot, into: &$0) })
        as? [String: Any])
    let lines = try records(Sample.render { GroupRenderer.renderLines(groups, by: key, snapshot: snapshot, into: &$0) })
    let schema = try MiniSchema.load()
    #expect(schema.validate(document, against: "#/$defs/groupDocument") == [])
    let inDocument = try #require(document["groups"] as? [[String: Any]])
    #expect(lines.count == groups.count + snapshot.warnings.count)
    for (line, group) in zip(lines, inDocument) {
      #expect(schema.validate(line, against: "#/$defs/groupLine") == [], "\(line)")
      #expect(line["version"] as? Int == 1 && line["host"] as? String == "test-host" && line["time"] is String)
      #expect(line["by"] as? String == key.rawValue)
      #expect(same(stripped(line, also: ["by"]), group), "\(line) vs \(group)")
    }
    for line in lines.suffix(snapshot.warnings.count) {
      #expect(schema.validate(line, against: "#/$defs/warningLine") == [], "\(line)")
    }
  }

  @Test func treeLinesAreTheDocumentsRowsOneALineInTheTreesOrder() throws {
    let rows = TreeRow.forest(summaries)
    #expect(!rows.isEmpty)
    let document = try #require(
      try parseJSON(Sample.render { GroupRenderer.renderTreeJSON(rows, snapshot: snapshot, into: &$0) })
        as? [String: Any])
    let lines = try records(Sample.render { GroupRenderer.renderTreeLines(rows, snapshot: snapshot, into: &$0) })
    let schema = try MiniSchema.load()
    #expect(schema.validate(document, against: "#/$defs/treeDocument") == [])
    let inDocument = try #require(document["tree"] as? [[String: Any]])
    #expect(lines.count == rows.count + snapshot.warnings.count)
    #expect(lines.prefix(rows.count).map { $0["pid"] as? Int } == rows.map { Int($0.summary.pid) })
    for (line, row) in zip(lines, inDocument) {
      #expect(schema.validate(line, against: "#/$defs/treeLine") == [], "\(line)")
      #expect(same(stripped(line), row), "\(line) vs \(row)")
    }
    for line in lines.suffix(snapshot.warnings.count) {
      #expect(schema.validate(line, against: "#/$defs/warningLine") == [], "\(line)")
    }
  }
}
