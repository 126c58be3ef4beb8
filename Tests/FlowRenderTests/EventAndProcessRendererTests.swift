import FlowModel
import Foundation
import Testing

@testable import FlowRender

@Suite struct EventRendererTests {
  var options: EventRenderer.Options {
    var options = EventRenderer.Options()
    options.host = "h"
    return options
  }

  @Test func aCloseIsOneLineWithEveryKeyInOrder() throws {
    let flow = Sample.flows()[0]
    let event = FlowEvent(
      kind: .close, time: Sample.time + 2.5, flow: flow, processes: Sample.processes, firstSeen: Sample.time)
    let text = Sample.text { EventRenderer.appendJSONLine(event, options: options, into: &$0) }
    #expect(text.hasSuffix("}\n"))
    #expect(text.filter { $0 == "\n" }.count == 1)
    #expect(
      text.hasPrefix(
        "{\"version\":1,\"event\":\"close\",\"time\":\"2026-11-22T12:00:02.623Z\",\"host\":\"h\",\"proto\":\"tcp\",\"family\":\"inet\",\"state\":\"ESTABLISHED\""
      ), "\(text)")
    #expect(text.contains(",\"first_seen\":\"2026-11-22T12:00:00.123Z\",\"lifetime_min_ms\":2500,\"bytes_in\":1536,"))
    #expect(text.contains(",\"owner\":\"known\",\"processes\":[{\"pid\":2001,\"command\":\"postgres\",\"fd\":7,"))
    let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    #expect(object["cookie"] as? Int == 77)
  }

  @Test func anUnseenFlowHasAnUnknownOwner() throws {
    var flow = Sample.flows()[0]
    flow.owners = []
    let event = FlowEvent(kind: .close, time: Sample.time, flow: flow)
    let text = Sample.text { EventRenderer.appendJSONLine(event, options: options, into: &$0) }
    #expect(text.contains(",\"first_seen\":null,\"lifetime_min_ms\":null,"))
    #expect(text.hasSuffix(",\"owner\":\"unknown\",\"processes\":[]}\n"))
  }

  @Test func aLostLineSaysHowManyAndTheBuffer() {
    let text = Sample.text {
      EventRenderer.appendLostLine(count: nil, bufferBytes: 1 << 20, time: 0, options: options, into: &$0)
    }
    #expect(
      text
        == "{\"version\":1,\"event\":\"lost\",\"time\":\"1970-01-01T00:00:00.000Z\",\"host\":\"h\",\"count\":null,\"buffer_bytes\":1048576}\n"
    )
  }

  @Test func theTableLineNamesTheOwner() {
    let event = FlowEvent(
      kind: .close, time: Sample.time, flow: Sample.flows()[0], processes: Sample.processes, firstSeen: Sample.time)
    let header = Sample.text { EventRenderer.appendHeader(into: &$0) }
    let line = Sample.text { EventRenderer.appendTableLine(event, options: options, into: &$0) }
    #expect(header.hasSuffix("\n") && line.hasSuffix("\n"))
    #expect(line.contains("postgres.2001"), "\(line)")
    #expect(line.contains("127.0.0.1:45678"))
  }
}

@Suite struct ProcessRendererTests {
  func summaries() -> [ProcessSummary] {
    ProcessSummary.summarize(Sample.snapshot(), thresholds: HealthThresholds())
  }

  @Test func theDocumentHoldsEveryProcessOneALine() throws {
    let summaries = summaries()
    let bytes = Sample.render { ProcessRenderer.renderJSON(summaries, snapshot: Sample.snapshot(), into: &$0) }
    let text = String(decoding: bytes, as: UTF8.self)
    let document = try #require(try parseJSON(bytes) as? [String: Any])
    let processes = try #require(document["processes"] as? [[String: Any]])
    #expect(processes.count == summaries.count)
    #expect(Set(processes.compactMap { $0["pid"] as? Int }) == Set(summaries.map { Int($0.pid) }))
    #expect(text.split(separator: "\n").count == summaries.count + 2)
    #expect(
      text.hasSuffix(
        "\n],\"system_problems\":[],\"warnings\":[\"" + Sample.snapshot().warnings[0].description + "\",\""
          + Sample.snapshot().warnings[1].description + "\"]}\n"))
    // A name that is not UTF-8 keeps its bytes.
    let invalid = try #require(processes.first { $0["pid"] as? Int == 4002 })
    #expect(invalid["command_bytes"] as? String == "66fffe")
    let postgres = try #require(processes.first { $0["pid"] as? Int == 2001 })
    #expect(same(postgres["sockets"], ["tcp": 1, "udp": 0, "unix": 1, "other": 0, "unlisted": 0]))
  }

  @Test func linesAreOneProcessEachThenTheWarnings() throws {
    let summaries = summaries()
    let bytes = Sample.render { ProcessRenderer.renderLines(summaries, snapshot: Sample.snapshot(), into: &$0) }
    let records = try bytes.split(separator: 0x0A).map { try #require(try parseJSON(Array($0)) as? [String: Any]) }
    #expect(records.count == summaries.count + 2)
    #expect(records.prefix(summaries.count).allSatisfy { $0["pid"] != nil && $0["host"] as? String == "test-host" })
    #expect(records.suffix(2).allSatisfy { $0["warning"] is String })
  }

  @Test func theTableHasAHeaderAndARowPerProcess() {
    let summaries = summaries()
    var options = ProcessRenderOptions()
    options.footer = false
    let text = Sample.text {
      ProcessRenderer.renderTable(summaries, snapshot: Sample.snapshot(), options: options, into: &$0)
    }
    let lines = text.split(separator: "\n")
    #expect(lines.first?.contains("PID") == true)
    #expect(lines.count >= summaries.count + 1)
    #expect(text.contains("postgres"))
    #expect(!text.contains("\u{1b}[31m"))  // the hostile name is escaped
  }
}
