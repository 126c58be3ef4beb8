import Testing

@testable import FlowRender

/// The one JSON writer: commas, nesting, line breaks, and the same escaping as everywhere.
@Suite struct JSONWriterTests {
  func written(_ body: (inout JSONWriter) -> Void) -> String {
    var out = OutputBuffer()
    JSONWriter.write(into: &out, body)
    return String(decoding: out.bytes, as: UTF8.self)
  }

  @Test func commasGoBetweenMembersAndElementsOnly() {
    let text = written { json in
      json.beginObject()
      json.field(.version, 1)
      json.key(.flows)
      json.beginArray()
      for pid in [1, 2] as [Int64] {
        json.beginObject(onNewLine: true)
        json.field(.pid, pid)
        json.field(.uid, nil)
        json.endObject()
      }
      json.breakLine()
      json.endArray()
      json.key(.warnings)
      json.beginArray()
      json.endArray()
      json.key(.dryRun)
      json.bool(false)
      json.key(.portRange)
      json.beginArray()
      json.number(40000 as UInt64)
      json.number(-1 as Int64)
      json.null()
      json.endArray()
      json.endObject()
      json.endLine()
    }
    #expect(
      text
        == "{\"version\":1,\"flows\":[\n{\"pid\":1,\"uid\":null},\n{\"pid\":2,\"uid\":null}\n],\"warnings\":[],"
        + "\"dry_run\":false,\"port_range\":[40000,-1,null]}\n")
  }

  /// NDJSON: a kept open object reopened on every line, each line starting afresh.
  @Test func linesReopenAKeptPrefix() {
    var prefix = JSONWriter()
    prefix.beginObject()
    prefix.field(.version, 1)
    let text = written { json in
      for n in [5, 6] as [UInt64] {
        json.reopen(prefix.out)
        json.field(.count, n)
        json.endObject()
        json.endLine()
      }
    }
    #expect(text == "{\"version\":1,\"count\":5}\n{\"version\":1,\"count\":6}\n")
  }

  /// Strings go through the one escape function; a repaired name carries its exact bytes.
  @Test func stringsAreEscapedOnceAndRepairedNamesKeepTheirBytes() {
    let hostile = Array("a\"\\\u{1b}\n\u{2028}".utf8)
    var direct = OutputBuffer()
    direct.appendJSONString(hostile)
    let text = written { json in
      json.beginArray()
      json.string(hostile)
      json.string("x")
      json.string(nil as String?)
      json.endArray()
    }
    #expect(text == "[" + String(decoding: direct.bytes, as: UTF8.self) + ",\"x\",null]")
    #expect(text == "[\"a\\\"\\\\\\u001b\\n\\u2028\",\"x\",null]")

    let repaired = written { json in
      json.beginObject()
      json.key(.command)
      json.string([0x66, 0xFF, 0xFE], exactIn: .commandBytes)
      json.key(.abstract)
      json.string(Array("a".utf8) + [0] + Array("b".utf8), nulAs: UInt8(ascii: "@"), exactIn: .abstractBytes)
      json.key(.path)
      json.string(Array("/ok".utf8), exactIn: .pathBytes)
      json.endObject()
    }
    #expect(
      repaired
        == "{\"command\":\"f\u{FFFD}\u{FFFD}\",\"command_bytes\":\"66fffe\",\"abstract\":\"a@b\",\"abstract_bytes\":\"610062\",\"path\":\"/ok\"}"
    )
  }

  /// `write(into:)` appends after what the buffer held, and a key that is data is escaped.
  @Test func writesAfterWhatIsThere() {
    var out = OutputBuffer()
    out.append("x=")
    JSONWriter.write(into: &out) { json in
      json.beginObject()
      json.key(data: "a\"b")
      json.quoted { $0.append("2026") }
      json.key(.interval)
      json.value { $0.append("0.5") }
      json.endObject()
    }
    #expect(String(decoding: out.bytes, as: UTF8.self) == "x={\"a\\\"b\":\"2026\",\"interval\":0.5}")
  }
}
