import FlowModel
import FlowRender
import Foundation
import SchemaCheck
import Testing

/// Equality of parsed JSON (NSNumber, NSString, …) with Swift literals.
func same(_ parsed: Any?, _ expected: Any) -> Bool {
  guard let parsed else { return false }
  if let parsed = parsed as? [String: Any], let expected = expected as? [String: Any] {
    return NSDictionary(dictionary: parsed).isEqual(NSDictionary(dictionary: expected))
  }
  if let parsed = parsed as? [Any], let expected = expected as? [Any] {
    return NSArray(array: parsed).isEqual(NSArray(array: expected))
  }
  return false
}

func parseJSON(_ bytes: [UInt8]) throws -> Any {
  try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
}

func hexDecode(_ text: String) -> [UInt8]? {
  let digits = Array(text.utf8)
  guard digits.count % 2 == 0 else { return nil }
  var bytes: [UInt8] = []
  for i in stride(from: 0, to: digits.count, by: 2) {
    guard let byte = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else {
      return nil
    }
    bytes.append(byte)
  }
  return bytes
}

@Suite struct JSONTests {
  func document() throws -> [String: Any] {
    let bytes = Sample.render {
      JSONRenderer.render(Sample.snapshot(), options: Sample.options, into: &$0)
    }
    return try #require(try parseJSON(bytes) as? [String: Any])
  }

  func flows() throws -> [[String: Any]] {
    try #require(try document()["flows"] as? [[String: Any]])
  }

  @Test func documentMatchesSchema() throws {
    let schema = try MiniSchema.load()
    #expect(schema.validate(try document()) == [])
  }

  /// The validator is not a rubber stamp.
  @Test func validatorRejectsBadDocuments() throws {
    let schema = try MiniSchema.load()
    var doc = try document()
    var flows = doc["flows"] as! [[String: Any]]
    flows[0]["extra"] = 1
    flows[1]["bytes_in"] = "12"
    flows[2].removeValue(forKey: "rtt_us")
    flows[3]["state"] = "ESTAB"
    flows[4]["local"] = ["path": 1]
    flows[5]["processes"] = [["pid": 1, "command": "x", "fd": true, "user": NSNull()]]
    doc["flows"] = flows
    doc["version"] = 2
    let errors = schema.validate(doc)
    for fragment in [
      "$.flows[0]: unexpected key extra", "$.flows[1].bytes_in", "$.flows[2]: missing rtt_us",
      "$.flows[3].state", "$.flows[4].local", "$.flows[5].processes[0]", "$.version",
    ] {
      #expect(errors.contains { $0.hasPrefix(fragment) }, "\(fragment) not reported in \(errors)")
    }
  }

  @Test func topLevelFields() throws {
    let doc = try document()
    #expect(doc["version"] as? Int == 1)
    #expect(doc["host"] as? String == "test-host")
    #expect(doc["time"] as? String == "2026-11-22T12:00:00.123Z")
    #expect(
      doc["warnings"] as? [String] == [
        "sctp: not supported by this kernel",
        "3 process(es) unreadable (permission denied), their sockets show no owner: pid 1,2,…",
      ])
    #expect((doc["flows"] as? [Any])?.count == 11)
  }

  @Test func flowFields() throws {
    let flows = try flows()
    #expect(!same(["port": 1] as NSDictionary as? [String: Any], ["port": 2]))
    let tcp = flows[0]
    #expect(tcp["proto"] as? String == "tcp")
    #expect(tcp["family"] as? String == "inet")
    #expect(tcp["state"] as? String == "ESTABLISHED")
    #expect(tcp["type"] as? String == "stream")
    #expect(same(tcp["local"], ["address": "127.0.0.1", "port": 45678]))
    #expect(same(tcp["remote"], ["address": "127.0.0.1", "port": 5432]))
    #expect(tcp["bytes_in"] as? Int == 1536)
    #expect(tcp["bytes_out"] as? Int == 3_555_328)
    #expect(tcp["retrans_bytes"] as? Int == 1448)
    #expect(tcp["retransmits_total"] as? Int == 2)
    #expect(tcp["rtt_us"] as? Int == 1234)
    #expect(tcp["congestion"] as? String == "cubic")
    #expect(tcp["mark"] as? Int == 42)
    #expect(tcp["netns"] as? Int == 4_026_531_840)
    #expect(tcp["protocol"] is NSNull)
    let process = try #require((tcp["processes"] as? [[String: Any]])?.first)
    #expect(process["pid"] as? Int == 2001)
    #expect(process["command"] as? String == "postgres")
    #expect(process["fd"] as? Int == 7)
    #expect(process["user"] as? String == "postgres")

    // UDP: no counters, no TCP details — null, never 0.
    let udp = flows[2]
    for key in [
      "bytes_in", "bytes_out", "packets_in", "packets_out", "rtt_us", "cwnd", "congestion",
    ] {
      #expect(udp[key] is NSNull, "\(key)")
    }
    #expect(udp["state"] as? String == "CLOSE")
    #expect(udp["interface"] as? Int == 2)
    #expect(udp["interface_name"] as? String == "eth0")

    #expect(
      same(
        flows[1]["processes"],
        [
          [
            "pid": 1235, "command": "nginx", "fd": 6, "user": "www-data", "ppid": 0, "unit": NSNull(),
            "container": NSNull(), "container_name": NSNull(), "exe": NSNull(), "cmdline": NSNull(),
          ],
          [
            "pid": 1234, "command": "nginx", "fd": 6, "user": "root", "ppid": 0, "unit": NSNull(),
            "container": NSNull(), "container_name": NSNull(), "exe": NSNull(), "cmdline": NSNull(),
          ],
        ]))
    #expect(same(flows[3]["local"], ["address": "2001:db8::1:0:0:1", "port": 443]))
    #expect(same(flows[3]["remote"], ["address": "::ffff:192.0.2.1", "port": 50123]))
    #expect(flows[3]["state"] as? String == "CLOSE_WAIT")
    #expect(same(flows[4]["local"], ["path": "/run/postgresql/.s.PGSQL.5432"]))
    #expect(flows[4]["remote"] is NSNull)
    #expect(same(flows[5]["remote"], ["peer_inode": 2003]))
    #expect(flows[5]["type"] as? String == "seqpacket")
    #expect(flows[6]["local"] is NSNull)
    #expect(same(flows[7]["local"], ["interface": 2, "ethertype": 3]))
    #expect(flows[7]["state"] is NSNull)
    #expect(flows[7]["drops"] as? Int == 5)
    #expect(same(flows[8]["local"], ["port_id": 5000, "group": 0]))
    #expect(flows[8]["protocol"] as? Int == 0)
    #expect(flows[8]["state"] is NSNull)
    #expect((flows[9]["processes"] as? [Any])?.isEmpty == true)
    #expect(flows[10]["state"] as? String == "TIME_WAIT")
    #expect(flows[10]["interface_name"] as? String == "wlan0")
  }

  @Test func invalidNamesRoundTripThroughBytesFields() throws {
    let flows = try flows()
    // Valid UTF-8 with controls: exact in the string, no *_bytes field.
    let hostile = try #require((flows[7]["processes"] as? [[String: Any]])?.first)
    #expect(hostile["command"] as? String == "\u{1b}[31mred\n)x")
    #expect(hostile["command_bytes"] == nil)
    // Invalid UTF-8: U+FFFD in the string, exact bytes in hex beside it.
    let invalid = try #require((flows[6]["processes"] as? [[String: Any]])?.first)
    #expect(invalid["command"] as? String == "f\u{FFFD}\u{FFFD}")
    #expect((invalid["command_bytes"] as? String).flatMap(hexDecode) == Sample.invalidCommand)
    let path = try #require(flows[9]["local"] as? [String: Any])
    #expect(path["path"] as? String == "/tmp/sock-\u{FFFD}.\u{FFFD}")
    #expect((path["path_bytes"] as? String).flatMap(hexDecode) == Sample.invalidPath)
    // An abstract name with a NUL: `@` in the string, exact bytes beside it.
    let abstract = try #require(flows[5]["local"] as? [String: Any])
    #expect(abstract["abstract"] as? String == "flowscope@pair")
    #expect((abstract["abstract_bytes"] as? String).flatMap(hexDecode) == Sample.abstractName)
    // Valid names carry no *_bytes field.
    #expect((flows[0]["processes"] as? [[String: Any]])?.first?["command_bytes"] == nil)
    #expect((flows[4]["local"] as? [String: Any])?["path_bytes"] == nil)
  }

  @Test func ndjsonLines() throws {
    let schema = try MiniSchema.load()
    let text = Sample.text {
      JSONRenderer.renderLines(Sample.snapshot(), options: Sample.options, into: &$0)
    }
    #expect(text.hasSuffix("\n"))
    let lines = text.split(separator: "\n")
    #expect(lines.count == 11 + 2)
    for (i, line) in lines.enumerated() {
      let object = try #require(try parseJSON(Array(line.utf8)) as? [String: Any])
      #expect(schema.validate(object, against: "#/$defs/line") == [], "line \(i)")
      #expect(object["version"] as? Int == 1)
      #expect(object["time"] as? String == "2026-11-22T12:00:00.123Z")
      #expect(object["host"] as? String == "test-host")
      if i < 11 {
        #expect(object["proto"] is String)
        #expect(object["warning"] == nil)
      } else {
        #expect(object["warning"] is String)
        #expect(object["proto"] == nil)
      }
    }
    // Flow lines are the document's flows plus version/time/host.
    let flows = try flows()
    let first = try #require(try parseJSON(Array(lines[0].utf8)) as? NSDictionary)
    let expected = NSMutableDictionary(dictionary: flows[0])
    expected["version"] = 1
    expected["time"] = "2026-11-22T12:00:00.123Z"
    expected["host"] = "test-host"
    #expect(first == expected)
  }

  @Test func emptySnapshot() {
    let snapshot = Snapshot(time: 0, host: "h\"x", flows: [], processes: [:], warnings: [])
    #expect(
      Sample.text { JSONRenderer.render(snapshot, options: RenderOptions(), into: &$0) }
        == #"{"version":1,"host":"h\"x","time":"1970-01-01T00:00:00.000Z","flows":[],"warnings":[]}"#
        + "\n")
    #expect(
      Sample.text { JSONRenderer.renderLines(snapshot, options: RenderOptions(), into: &$0) } == "")
  }

  @Test func largeNumbersAreExact() throws {
    var flow = Sample.flows()[0]
    flow.cookie = UInt64.max
    flow.counters.bytesIn = UInt64.max - 1
    let snapshot = Snapshot(time: 1, host: "h", flows: [flow], processes: [:], warnings: [])
    let text = Sample.text { JSONRenderer.render(snapshot, options: RenderOptions(), into: &$0) }
    #expect(text.contains(#""cookie":18446744073709551615,"#))
    #expect(text.contains(#""bytes_in":18446744073709551614,"#))
    // An owner whose process was not read: command, user and where it comes from are null.
    #expect(
      text.contains(
        #""processes":[{"pid":2001,"command":null,"fd":7,"user":null,"ppid":null,"unit":null,"container":null,"container_name":null,"exe":null,"cmdline":null}]"#
      ))
  }

  @Test func columnsDoNotChangeJSON() {
    var narrow = Sample.options
    narrow.columns = [.proto]
    narrow.exactBytes = true
    narrow.header = false
    let a = Sample.render {
      JSONRenderer.render(Sample.snapshot(), options: Sample.options, into: &$0)
    }
    let b = Sample.render { JSONRenderer.render(Sample.snapshot(), options: narrow, into: &$0) }
    #expect(a == b)
  }
}
