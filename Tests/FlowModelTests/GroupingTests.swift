import Testing

@testable import FlowModel

@Suite("proc --by")
struct GroupingTests {
  func tcp(_ local: UInt16, _ remote: (UInt32, UInt16), state: SocketState = .established, owners: [FlowOwner]) -> Flow
  {
    var flow = Flow(
      proto: .tcp, family: .inet, state: state.rawValue, socketType: 1, local: .ip(.v4(0x7f00_0001), port: local),
      remote: .ip(.v4(remote.0), port: remote.1), inode: UInt64(local), netns: 1)
    flow.owners = FlowOwners(owners)
    flow.counters.bytesIn = 100
    flow.counters.bytesOut = 10
    return flow
  }

  var snapshot: Snapshot {
    var web1 = OwningProcess(pid: 10, command: Array("nginx".utf8))
    web1.unit = "nginx.service"
    web1.descriptorCount = 20
    web1.socketCount = 2
    var web2 = OwningProcess(pid: 11, command: Array("nginx".utf8))
    web2.unit = "nginx.service"
    web2.descriptorCount = 30
    web2.socketCount = 1
    var client = OwningProcess(pid: 20, command: Array("curl".utf8))
    client.descriptorCount = 5
    client.socketCount = 1
    let db: UInt32 = 0x0a00_0005
    let flows = [
      tcp(80, (0, 0), state: .listen, owners: [FlowOwner(pid: 10, fd: 3), FlowOwner(pid: 11, fd: 3)]),
      tcp(40000, (db, 5432), owners: [FlowOwner(pid: 10, fd: 4)]),
      tcp(40001, (db, 5432), state: .closeWait, owners: [FlowOwner(pid: 20, fd: 3)]),
      tcp(40002, (0x0a00_0006, 443), state: .timeWait, owners: []),
    ]
    return Snapshot(
      time: 0, host: "h", flows: flows, processes: [10: web1, 11: web2, 20: client], warnings: [])
  }

  @Test func groupsSumTheirMembersAndUnownedSocketsHaveARow() {
    let snapshot = self.snapshot
    let summaries = ProcessSummary.summarize(snapshot, thresholds: HealthThresholds())
    let groups = GroupSummary.group(summaries, snapshot: snapshot, by: .command, thresholds: HealthThresholds())
    #expect(groups.map { String(decoding: $0.name, as: UTF8.self) } == ["nginx", "(no owner)", "curl"])
    let nginx = groups[0]
    #expect(nginx.processes == 2)
    #expect(nginx.descriptors == 50)
    #expect(nginx.sockets.tcp == 3)  // the shared listener counts once per process, as in proc
    #expect(nginx.states.listen == 2 && nginx.states.established == 1)
    // Group totals equal the sum of the rows they group.
    let perProcess = summaries.reduce(0) { $0 + $1.sockets.total }
    #expect(groups.filter { $0.name != GroupSummary.noOwner }.reduce(0) { $0 + $1.sockets.total } == perProcess)
    #expect(groups[1].sockets.tcp == 1 && groups[1].states.other == 1)
    #expect(groups[2].flags.contains(.peerClosed))

    let byUnit = GroupSummary.group(summaries, snapshot: snapshot, by: .unit, thresholds: HealthThresholds())
    #expect(byUnit.map { String(decoding: $0.name, as: UTF8.self) } == ["nginx.service", "(no owner)", "(none)"])
  }

  @Test func topSumsTheRestIntoOther() {
    let snapshot = self.snapshot
    let summaries = ProcessSummary.summarize(snapshot, thresholds: HealthThresholds())
    let groups = GroupSummary.group(summaries, snapshot: snapshot, by: .command, thresholds: HealthThresholds(), top: 1)
    #expect(groups.map { String(decoding: $0.name, as: UTF8.self) } == ["nginx", "(other)"])
    #expect(groups[1].sockets.total == 2)
    #expect(groups[1].processes == 1)
  }

  @Test func remoteHostsCountConnectionsAndTheirProcesses() {
    let snapshot = self.snapshot
    let summaries = ProcessSummary.summarize(snapshot, thresholds: HealthThresholds())
    let hosts = GroupSummary.group(summaries, snapshot: snapshot, by: .remoteHost, thresholds: HealthThresholds())
    #expect(hosts.map { String(decoding: $0.name, as: UTF8.self) } == ["10.0.0.5", "10.0.0.6"])
    #expect(hosts[0].sockets.tcp == 2 && hosts[0].processes == 2)
    #expect(hosts[0].bytesIn == 200)
    #expect(hosts[1].processes == 0)  // only a TIME_WAIT socket, which no process holds
    let remotes = GroupSummary.group(summaries, snapshot: snapshot, by: .remote, thresholds: HealthThresholds())
    #expect(remotes.map { String(decoding: $0.name, as: UTF8.self) } == ["10.0.0.5:5432", "10.0.0.6:443"])
  }

  @Test func ipv6AddressesAreWrittenAsRFC5952() {
    #expect(AddressText.address(.v6(high: 0x2001_0db8_0000_0000, low: 0x0000_0000_0001_0001)) == "2001:db8::1:1")
    #expect(AddressText.address(.v6(high: 0, low: 1)) == "::1")
    #expect(AddressText.address(.v6(high: 0, low: 0xffff_0a00_0001)) == "10.0.0.1")
    #expect(AddressText.endpoint(.v6(high: 0, low: 1), 53) == "[::1]:53")
  }
}

@Suite("proc --tree")
struct TreeTests {
  func summary(_ pid: Int32, parent: Int32, tcp: Int) -> ProcessSummary {
    var process = OwningProcess(pid: pid, command: Array("p\(pid)".utf8))
    process.ppid = parent
    process.descriptorCount = tcp + 3
    var summary = ProcessSummary(process: process)
    summary.sockets.tcp = tcp
    return summary
  }

  @Test func childrenSitUnderTheirParentsAndSubtreesRollUp() {
    let rows = TreeRow.forest([
      summary(10, parent: 1, tcp: 1), summary(11, parent: 10, tcp: 2), summary(12, parent: 11, tcp: 4),
      summary(13, parent: 10, tcp: 8), summary(20, parent: 1, tcp: 16),
      // A parent cycle (reused pids) is still shown, once.
      summary(30, parent: 31, tcp: 0), summary(31, parent: 30, tcp: 0),
    ])
    #expect(rows.map(\.summary.pid) == [10, 11, 12, 13, 20, 30, 31])
    #expect(rows.map(\.depth) == [0, 1, 2, 1, 0, 0, 1])
    #expect(rows.map(\.total.sockets.tcp) == [15, 6, 4, 8, 16, 0, 0])
    #expect(rows[0].total.processes == 4)
    #expect(rows[0].total.descriptors == 15 + 12)
    #expect(rows.map(\.isLast) == [true, false, true, true, true, true, true])
  }
}

#if canImport(Glibc)
  import Glibc
#endif

@Suite("Address text")
struct AddressTextTests {
  /// inet_ntop(3) is the oracle: the same text for every shape of address.
  @Test func ipv6TextIsWhatInetNtopWrites() {
    var random: UInt64 = 0x1234_5678
    func next() -> UInt64 {
      random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return random
    }
    var cases: [(UInt64, UInt64)] = [
      (0, 0), (0, 1), (0, 0xffff_0a00_0001), (0, 0x0102_0304), (0x2001_0db8_0000_0000, 0x0000_0000_0001_0001),
      (0xfe80_0000_0000_0000, 7), (0x2001_0db8_0000_0001, 0), (0, 0xffff_0000_0000), (0, 0x1_0000_0000),
    ]
    for _ in 0..<2000 {
      // Words with many zero groups, so the runs and their ties are exercised.
      let mask = next()
      let high = next() & (mask & 0x00ff_00ff_00ff_00ff != 0 ? 0xffff_0000_ffff_0000 : 0x0000_ffff_0000_ffff)
      let low = next() & (mask >> 8 & 1 == 0 ? 0xffff_0000_0000_ffff : 0x0000_0000_ffff_0000)
      cases.append((high, low))
    }
    for (high, low) in cases {
      var bytes = [UInt8](repeating: 0, count: 16)
      for index in 0..<8 {
        bytes[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(index)))
        bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(index)))
      }
      var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
      _ = bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
      let expected = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      #expect(
        IPAddress.v6(high: high, low: low).text == expected, "\(String(high, radix: 16)) \(String(low, radix: 16))")
    }
    #expect(IPAddress.v4(0x7f00_0001).text == "127.0.0.1")
  }
}
