import FlowModel
import FlowRender
import Foundation
import SchemaCheck
import Testing

/// The sentences and JSON of the namespace and host findings, on hand-made findings.
@Suite struct SystemFindingTests {
  static let blue = NetworkNamespace(inode: 4_026_532_178, name: "blue\u{1b}[2J")
  static let own = NetworkNamespace(inode: 4_026_531_840, isOwn: true)
  static let namespaces = [blue.inode: blue, own.inode: own]

  static var ports: Finding {
    var finding = Finding(flag: .portsExhausted, pid: nil, process: nil)
    finding.netns = blue.inode
    finding.endpoints = [.ip(.v4(0x7f00_0001), port: 5432)]
    finding.endpointCount = 1
    finding.localAddress = .ip(.v4(0x7f00_0001), port: 0)
    finding.portsInUse = 100
    finding.timeWait = 60
    finding.portRange = 40000...40099
    finding.severity = .critical
    return finding
  }

  static var orphans: Finding {
    var finding = Finding(flag: .orphans, pid: nil, process: nil)
    finding.orphans = 200
    finding.orphanLimit = 131_072
    finding.flowCount = 198
    finding.endpoints = [.ip(.v4(0x7f00_0001), port: 8080)]
    finding.netns = own.inode
    return finding
  }

  static var drops: Finding {
    var finding = Finding(flag: .listenDrops, pid: nil, process: nil)
    finding.netns = blue.inode
    finding.dropped = 62
    finding.dropSeconds = 2.004
    return finding
  }

  func table(_ findings: [Finding]) -> String {
    Sample.text {
      CheckRenderer.renderTable(
        [], system: findings, namespaces: Self.namespaces, thresholds: HealthThresholds(),
        color: false, into: &$0)
    }
  }

  @Test func sentencesSayWhatAndWhereAndEscapeNames() {
    let text = table([Self.ports, Self.orphans, Self.drops])
    let lines = text.split(separator: "\n").map(String.init)
    #expect(lines.first == "Namespaces and host:")
    #expect(
      lines[1]
        == "CRITICAL  ports-exhausted 127.0.0.1:5432: 100 of 100 local ports in use (TIME_WAIT 60) from 127.0.0.1 in namespace blue\\x1b[2J: connect() to it fails now with EADDRNOTAVAIL (\"Cannot assign requested address\"); reuse connections (keep-alive, a pool), widen net.ipv4.ip_local_port_range (now 40000-40099), or connect from more local addresses"
    )
    #expect(
      lines[2].hasPrefix(
        "WARNING   orphans         host: 200 orphaned TCP sockets (closed by their process, still closing) of the 131072 net.ipv4.tcp_max_orphans allows (0.15 %); 198 seen in FIN_WAIT1/FIN_WAIT2/LAST_ACK/CLOSING, most to 127.0.0.1:8080 in this namespace: "
      ))
    #expect(
      lines[3]
        == "WARNING   listen-drops    namespace blue\\x1b[2J: the kernel dropped 62 connection attempts in 2.0 s (30.9/s) at listeners whose accept queue was full: clients time out or wait for SYN retries. A server there accepts too slowly (its listener's Recv-Q reaches its Send-Q in flowscope -l)"
    )
    #expect(!text.contains("\u{1b}"))
  }

  @Test func processFindingsComeFirstThenTheSection() {
    var peer = Finding(flag: .peerClosed, pid: 7, process: nil)
    peer.flowCount = 1
    peer.tcpCount = 1
    let text = Sample.text {
      CheckRenderer.renderTable(
        [peer], system: [Self.drops], namespaces: Self.namespaces, thresholds: HealthThresholds(),
        color: false, into: &$0)
    }
    #expect(text.hasPrefix("WARNING   peer-closed     process 7 holds 1 connection"))
    #expect(text.contains("\n\nNamespaces and host:\nWARNING   listen-drops"))
    // Without system findings the table is as before: no heading.
    let alone = Sample.text {
      CheckRenderer.renderTable([peer], thresholds: HealthThresholds(), color: false, into: &$0)
    }
    #expect(!alone.contains("Namespaces"))
  }

  @Test func procTotalsNameEachInOneLine() {
    let text = Sample.text {
      CheckRenderer.appendSystemTotals([Self.ports, Self.orphans], namespaces: Self.namespaces, into: &$0)
    }
    #expect(
      text
        == "\nNamespaces and host: ports-exhausted (127.0.0.1:5432 in namespace blue\\x1b[2J), orphans (host): flowscope check explains them.\n"
    )
    #expect(Sample.text { CheckRenderer.appendSystemTotals([], namespaces: [:], into: &$0) }.isEmpty)
  }

  @Test func jsonOfEachKindMatchesTheSchema() throws {
    var snapshot = Snapshot(time: Sample.time, host: "h", flows: [], processes: [:], warnings: [])
    snapshot.namespaces = Self.namespaces
    let bytes = Sample.render {
      CheckRenderer.renderJSON(
        [], system: [Self.ports, Self.orphans, Self.drops], snapshot: snapshot,
        thresholds: HealthThresholds(), into: &$0)
    }
    let document = try #require(try parseJSON(bytes) as? [String: Any])
    #expect(try MiniSchema.load().validate(document, against: "#/$defs/checkDocument") == [])
    let system = try #require(document["system_problems"] as? [[String: Any]])
    #expect(system.map { $0["flag"] as? String } == ["ports-exhausted", "orphans", "listen-drops"])
    #expect(system[0]["severity"] as? String == "critical")
    #expect(system[0]["netns_name"] as? String == "blue\u{1b}[2J")
    #expect(system[0]["port_range"] as? [Int] == [40000, 40099])
    #expect(system[1]["scope"] as? String == "host")
    #expect(system[1]["max_orphans"] as? Int == 131_072)
    #expect(system[2]["dropped"] as? Int == 62)
    #expect(system[2]["drop_interval_s"] as? Double == 2.004)
    // The validator is not a rubber stamp here either.
    var broken = document
    var problems = system
    problems[0]["scope"] = "process"
    broken["system_problems"] = problems
    #expect(try MiniSchema.load().validate(broken, against: "#/$defs/checkDocument") != [])
  }
}
