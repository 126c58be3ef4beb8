import FlowModel
import FlowRender
import Foundation
import Testing

// Snapshots made by hand, and the golden-file helper.

enum Sample {
  static let hostileCommand = Array("\u{1b}[31mred\n)x".utf8)
  static let invalidCommand: [UInt8] = [0x66, 0xFF, 0xFE]
  static let invalidPath: [UInt8] = Array("/tmp/sock-".utf8) + [0xFF, 0x2E, 0xC3]
  static let abstractName: [UInt8] = Array("flowscope".utf8) + [0] + Array("pair".utf8)
  /// 2026-11-22T12:00:00.123Z
  static let time = 1_795_348_800.123

  static func v4(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32) -> IPAddress {
    .v4(a << 24 | b << 16 | c << 8 | d)
  }

  static func process(_ pid: Int32, _ command: [UInt8], user: String?, uid: UInt32 = 0)
    -> OwningProcess
  {
    var p = OwningProcess(pid: pid, command: command)
    p.user = user
    p.uid = uid
    return p
  }

  static let processes: [Int32: OwningProcess] = [
    1234: process(1234, Array("nginx".utf8), user: "root"),
    1235: process(1235, Array("nginx".utf8), user: "www-data", uid: 33),
    2001: process(2001, Array("postgres".utf8), user: "postgres", uid: 111),
    3001: process(3001, Array("数据库".utf8), user: "root"),
    4001: process(4001, hostileCommand, user: nil, uid: 1000),
    4002: process(4002, invalidCommand, user: nil, uid: 1000),
    5000: process(5000, Array("systemd-resolve".utf8), user: "systemd-resolve", uid: 990),
  ]

  /// One flow of every kind the renderers distinguish.
  static func flows() -> [Flow] {
    var flows: [Flow] = []

    // 0: TCP v4 established, full counters.
    var tcp4 = Flow(
      proto: .tcp, family: .inet, state: SocketState.established.rawValue, socketType: 1,
      local: .ip(v4(127, 0, 0, 1), port: 45678), remote: .ip(v4(127, 0, 0, 1), port: 5432),
      inode: 1001, netns: 4_026_531_840)
    tcp4.cookie = 77
    tcp4.uid = 111
    tcp4.sendQueue = 0
    tcp4.receiveQueue = 12
    tcp4.counters.bytesIn = 1536
    tcp4.counters.bytesOut = 3 * 1024 * 1024 + 400 * 1024
    tcp4.counters.packetsIn = 42
    tcp4.counters.packetsOut = 57
    tcp4.counters.bytesRetransmitted = 1448
    tcp4.counters.retransmitsTotal = 2
    tcp4.tcp = TCPDetails(
      rttMicros: 1234, rttVarMicros: 300, minRttMicros: 40, congestionWindow: 10, retransmits: 0,
      lost: 0, lastDataSentMs: 12, lastDataReceivedMs: 13, congestionControl: "cubic")
    tcp4.shutdown = 0
    tcp4.cgroupID = 9876
    tcp4.mark = 0x2a
    tcp4.tos = 0
    tcp4.socketDrops = 0
    tcp4.owners = [FlowOwner(pid: 2001, fd: 7)]
    flows.append(tcp4)

    // 1: TCP v6 listening, held by two nginx processes (master and worker).
    var listen6 = Flow(
      proto: .tcp, family: .inet6, state: SocketState.listen.rawValue, socketType: 1,
      local: .ip(.v6(high: 0, low: 0), port: 443), remote: .ip(.v6(high: 0, low: 0), port: 0),
      inode: 1002, netns: 4_026_531_840)
    listen6.cookie = 78
    listen6.uid = 0
    listen6.sendQueue = 511
    listen6.tcp = TCPDetails(congestionWindow: 10, congestionControl: "cubic")
    listen6.owners = [FlowOwner(pid: 1235, fd: 6), FlowOwner(pid: 1234, fd: 6)]
    flows.append(listen6)

    // 2: UDP v4 unconnected: no counters at all.
    var udp = Flow(
      proto: .udp, family: .inet, state: SocketState.close.rawValue, socketType: 2,
      local: .ip(v4(0, 0, 0, 0), port: 5353), remote: .ip(v4(0, 0, 0, 0), port: 0),
      inode: 1003, netns: 4_026_531_840)
    udp.uid = 990
    udp.interfaceIndex = 2
    udp.cookie = 79
    udp.owners = [FlowOwner(pid: 5000, fd: 12)]
    flows.append(udp)

    // 3: TCP v6 established between documentation addresses, owned by the worker.
    var tcp6 = Flow(
      proto: .tcp, family: .inet6, state: SocketState.closeWait.rawValue, socketType: 1,
      local: .ip(.v6(high: 0x2001_0db8_0000_0000, low: 0x0001_0000_0000_0001), port: 443),
      remote: .ip(.v6(high: 0, low: 0x0000_ffff_c000_0201), port: 50123),
      inode: 1004, netns: 4_026_531_840)
    tcp6.cookie = 80
    tcp6.uid = 33
    tcp6.counters.bytesIn = 0
    tcp6.counters.bytesOut = 5 * 1024 * 1024 * 1024
    tcp6.counters.packetsIn = 1
    tcp6.counters.packetsOut = 3_000_000
    tcp6.counters.bytesRetransmitted = 0
    tcp6.counters.retransmitsTotal = 0
    tcp6.tcp = TCPDetails(
      rttMicros: 850, rttVarMicros: 100, minRttMicros: 700, congestionWindow: 42,
      congestionControl: "bbr")
    tcp6.owners = [FlowOwner(pid: 1235, fd: 9)]
    flows.append(tcp6)

    // 4: UNIX stream listening on a path.
    var unixListen = Flow(
      proto: .unix, family: .unix, state: SocketState.listen.rawValue, socketType: 1,
      local: .unixPath(Array("/run/postgresql/.s.PGSQL.5432".utf8)), remote: .none,
      inode: 2001, netns: 4_026_531_840)
    unixListen.uid = 111
    unixListen.owners = [FlowOwner(pid: 2001, fd: 5)]
    flows.append(unixListen)

    // 5 and 6: a socketpair, one end named in the abstract namespace (with a NUL).
    var pairA = Flow(
      proto: .unix, family: .unix, state: SocketState.established.rawValue, socketType: 5,
      local: .unixAbstract(abstractName), remote: .none, inode: 2002, netns: 4_026_531_840)
    pairA.peerInode = 2003
    pairA.owners = [FlowOwner(pid: 3001, fd: 3)]
    flows.append(pairA)
    var pairB = Flow(
      proto: .unix, family: .unix, state: SocketState.established.rawValue, socketType: 5,
      local: .none, remote: .none, inode: 2003, netns: 4_026_531_840)
    pairB.peerInode = 2002
    pairB.owners = [FlowOwner(pid: 4002, fd: 4)]
    flows.append(pairB)

    // 7: a packet socket on eth0 for all protocols, held by the hostile name.
    var packet = Flow(
      proto: .packet, family: .packet, state: SocketState.close.rawValue, socketType: 3,
      local: .packet(interfaceIndex: 2, ethertype: 0x0003), remote: .none, inode: 3001,
      netns: 4_026_531_840)
    packet.interfaceIndex = 2
    packet.uid = 0
    packet.socketDrops = 5
    packet.owners = [FlowOwner(pid: 4001, fd: 3)]
    flows.append(packet)

    // 8: a netlink route socket.
    var netlink = Flow(
      proto: .netlink, family: .netlink, state: 7, socketType: 3,
      local: .netlink(portID: 5000, group: 0), remote: .netlink(portID: 0, group: 0),
      inode: 3002, netns: 4_026_531_840)
    netlink.protocolNumber = 0
    netlink.owners = [FlowOwner(pid: 5000, fd: 15)]
    flows.append(netlink)

    // 9: an unowned UNIX datagram socket whose path is not UTF-8, with an unknown peer.
    var unowned = Flow(
      proto: .unix, family: .unix, state: SocketState.close.rawValue, socketType: 2,
      local: .unixPath(invalidPath), remote: .none, inode: 2004, netns: 4_026_531_840)
    unowned.peerInode = 999_999
    flows.append(unowned)

    // 10: an unowned TCP v6 socket in TIME-WAIT between link-local addresses.
    var timeWait = Flow(
      proto: .tcp, family: .inet6, state: SocketState.timeWait.rawValue, socketType: 1,
      local: .ip(.v6(high: 0xfe80_0000_0000_0000, low: 1), port: 22),
      remote: .ip(.v6(high: 0xfe80_0000_0000_0000, low: 0x0abc_00ff_fe00_0002), port: 61000),
      inode: 0, netns: 4_026_531_840)
    timeWait.interfaceIndex = 3
    flows.append(timeWait)
    return flows
  }

  static func snapshot() -> Snapshot {
    Snapshot(
      time: time, host: "test-host", flows: flows(), processes: processes,
      warnings: [
        .familyUnsupported("sctp"),
        .processesDenied(count: 3, samplePIDs: [1, 2]),
      ])
  }

  static var options: RenderOptions {
    var options = RenderOptions()
    options.interfaceNames = [2: "eth0", 3: "wlan0"]
    return options
  }

  static func render(_ body: (inout OutputBuffer) -> Void) -> [UInt8] {
    var out = OutputBuffer()
    body(&out)
    return out.bytes
  }

  static func text(_ body: (inout OutputBuffer) -> Void) -> String {
    String(decoding: render(body), as: UTF8.self)
  }
}

/// Compares `bytes` with `Golden/<name>` next to this file; with FLOWSCOPE_RECORD_GOLDEN=1 it
/// writes the file instead (and passes).
func expectGolden(
  _ bytes: [UInt8], named name: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Golden").appendingPathComponent(name)
  if ProcessInfo.processInfo.environment["FLOWSCOPE_RECORD_GOLDEN"] == "1" {
    try FileManager.default.createDirectory(
      at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(bytes).write(to: url)
    return
  }
  guard let expected = FileManager.default.contents(atPath: url.path) else {
    Issue.record(
      "missing golden file \(url.path); run with FLOWSCOPE_RECORD_GOLDEN=1 to record it",
      sourceLocation: sourceLocation)
    return
  }
  if [UInt8](expected) != bytes {
    let expectedLines = String(decoding: expected, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: false)
    let actualLines = String(decoding: bytes, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: false)
    var firstDifference = "lengths differ"
    for i in 0..<max(expectedLines.count, actualLines.count) {
      let e = i < expectedLines.count ? String(expectedLines[i]) : "<none>"
      let a = i < actualLines.count ? String(actualLines[i]) : "<none>"
      if e != a {
        firstDifference =
          "line \(i + 1):\n  expected: \(e.debugDescription)\n  actual:   \(a.debugDescription)"
        break
      }
    }
    Issue.record(
      "output differs from golden \(name) (FLOWSCOPE_RECORD_GOLDEN=1 re-records): \(firstDifference)",
      sourceLocation: sourceLocation)
  }
}
