import FlowExport
import FlowModel
import Testing

/// The writer's bytes: family headers in both formats, label escaping, numbers.
struct ExpositionTests {
  func text(_ writer: ExpositionWriter) -> String { String(decoding: writer.out.bytes, as: UTF8.self) }

  @Test func prometheusCounterKeepsTotalInHelpAndType() {
    var writer = ExpositionWriter(format: .prometheus)
    writer.family("flowscope_sent_bytes_total", .counter, unit: "bytes", help: "Bytes sent.")
    writer.sample(group: ["command"], [Array("nginx".utf8)], [("proto", Array("tcp".utf8))], UInt64(42))
    writer.finish()
    #expect(
      text(writer) == """
        # HELP flowscope_sent_bytes_total Bytes sent.
        # TYPE flowscope_sent_bytes_total counter
        flowscope_sent_bytes_total{command="nginx",proto="tcp"} 42

        """)
  }

  @Test func openMetricsNamesTheFamilyWithoutSuffixAndGivesUnitAndEOF() {
    var writer = ExpositionWriter(format: .openMetrics)
    writer.family("flowscope_sent_bytes_total", .counter, unit: "bytes", help: "Bytes sent.")
    writer.sample(UInt64(7))
    writer.family("flowscope_build_info", .info, help: "Version.")
    writer.sample([("version", Array("1.2".utf8))], UInt64(1))
    writer.finish()
    #expect(
      text(writer) == """
        # TYPE flowscope_sent_bytes counter
        # UNIT flowscope_sent_bytes bytes
        # HELP flowscope_sent_bytes Bytes sent.
        flowscope_sent_bytes_total 7
        # TYPE flowscope_build info
        # HELP flowscope_build Version.
        flowscope_build_info{version="1.2"} 1
        # EOF

        """)
  }

  @Test func labelValuesEscapeBackslashQuoteAndNewline() {
    var writer = ExpositionWriter(format: .prometheus)
    writer.family("x", .gauge, help: "h")
    writer.sample([("v", Array("a\\b\"c\nd".utf8))], UInt64(1))
    #expect(text(writer).hasSuffix("x{v=\"a\\\\b\\\"c\\nd\"} 1\n"))
  }

  @Test func doublesAreWrittenPlainly() {
    var writer = ExpositionWriter(format: .prometheus)
    writer.family("x", .gauge, help: "h")
    writer.sample(0.25)
    writer.sample(3.0)
    writer.sample(Double.nan)
    writer.sample(Double.infinity)
    #expect(text(writer).hasSuffix("x 0.25\nx 3\nx NaN\nx +Inf\n"))
  }

  @Test func acceptHeaderChoosesOpenMetricsOnlyWhenPreferred() {
    #expect(ExpositionFormat.negotiate(accept: nil) == .prometheus)
    #expect(ExpositionFormat.negotiate(accept: "*/*") == .prometheus)
    // What Prometheus 2.42 sends.
    #expect(
      ExpositionFormat.negotiate(
        accept:
          "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
      ) == .openMetrics)
    #expect(
      ExpositionFormat.negotiate(accept: "text/plain;version=0.0.4, application/openmetrics-text;q=0.2")
        == .prometheus)
  }
}

/// Groups: label values from processes, hostile names made valid UTF-8, units and containers.
struct GroupingTests {
  @Test func parsesListsAndRefusesUnknown() throws {
    #expect(try Grouping.parse([]).dimensions == [.command])
    #expect(try Grouping.parse(["user,command", "user"]).dimensions == [.user, .command])
    #expect(throws: GroupingError.self) { try Grouping.parse(["color"]) }
    #expect(try Grouping.parse(["unit,container"]).dimensions == [.unit, .container])
    #expect(try Grouping.parse(["pid"]).isPerProcess)
  }

  @Test func unitsAndContainersAreLabelValuesAndTheirAbsenceIsAQuestionMark() throws {
    var process = OwningProcess(pid: 7, command: Array("nginx".utf8))
    process.unit = "nginx.service"
    let grouping = try Grouping.parse(["unit,container"])
    #expect(grouping.key(of: process, namespaces: [:]).values == [Array("nginx.service".utf8), Array("?".utf8)])
  }
}
