import FlowExport
import FlowModel
import Testing

/// The counters kept across collections: they never go backwards, closes add their last bytes
/// once, groups outlive their processes.
struct LedgerTests {
  let web = GroupKey(values: [Array("web".utf8)])
  let db = GroupKey(values: [Array("db".utf8)])

  func tcp(cookie: UInt64, sent: UInt64?, received: UInt64? = 0, retransmits: UInt32? = 0) -> Flow {
    var flow = Flow(
      proto: .tcp, family: .inet, state: SocketState.established.rawValue, socketType: 1,
      local: .ip(.v4(0x7f00_0001), port: 1000), remote: .ip(.v4(0x7f00_0001), port: 2000),
      inode: cookie, netns: 0)
    flow.cookie = cookie
    flow.owners = [FlowOwner(pid: 1, fd: 3)]
    flow.counters.bytesOut = sent
    flow.counters.bytesIn = received
    flow.counters.retransmitsTotal = retransmits
    return flow
  }

  func unownedFlow(cookie: UInt64, sent: UInt64) -> Flow {
    var flow = tcp(cookie: cookie, sent: sent)
    flow.owners = []
    return flow
  }

  func sent(_ ledger: CounterLedger, _ group: GroupKey) -> UInt64 {
    ledger.counters[CounterKey(group: group, proto: .tcp)]?.sentBytes ?? 0
  }

  @Test func growthIsAddedAndAVanishedFlowKeepsWhatItAdded() {
    var ledger = CounterLedger()
    let group: (Int, Flow) -> GroupKey? = { _, _ in web }
    ledger.absorb([tcp(cookie: 1, sent: 100), tcp(cookie: 2, sent: 50)], group: group)
    #expect(sent(ledger, web) == 150)
    ledger.absorb([tcp(cookie: 1, sent: 130), tcp(cookie: 2, sent: 50)], group: group)
    #expect(sent(ledger, web) == 180)
    // Flow 2 closed without a message: the counter stays where it was.
    ledger.absorb([tcp(cookie: 1, sent: 130)], group: group)
    #expect(sent(ledger, web) == 180)
    ledger.absorb([], group: group)
    ledger.absorb([], group: group)
    #expect(sent(ledger, web) == 180)
    #expect(ledger.trackedCount == 0)
  }

  @Test func aCloseAddsTheLastIntervalOnceAndTheTimeWaitSocketAddsNothing() {
    var ledger = CounterLedger()
    ledger.absorb([tcp(cookie: 7, sent: 1000, retransmits: 1)], group: { _, _ in web })
    let folded = ledger.close(tcp(cookie: 7, sent: 1500, retransmits: 2))
    #expect(folded)
    #expect(sent(ledger, web) == 1500)
    #expect(ledger.counters[CounterKey(group: web, proto: .tcp)]?.retransmittedSegments == 2)
    // The same close again, and the TIME_WAIT socket with the cookie and no counters.
    let again = ledger.close(tcp(cookie: 7, sent: 1500))
    #expect(!again)
    ledger.absorb([tcp(cookie: 7, sent: nil, received: nil, retransmits: nil)], group: { _, _ in db })
    #expect(sent(ledger, web) == 1500)
    #expect(sent(ledger, db) == 0)
    // A close of a socket no collection saw has no group.
    let unknown = ledger.close(tcp(cookie: 99, sent: 5))
    #expect(!unknown)
    #expect(ledger.closesUnattributed == 1)
    #expect(ledger.closesFolded == 1)
  }

  @Test func aSocketFirstSeenWithoutOwnerWaitsOneCollectionForIt() {
    var ledger = CounterLedger()
    let unowned = GroupKey(values: [Array("?".utf8)])
    var flow = tcp(cookie: 5, sent: 100)
    flow.owners = []
    // A new socket of a known process: the owner cache names it one refresh later.
    ledger.absorb([flow], group: { _, _ in unowned })
    #expect(sent(ledger, unowned) == 0)
    flow.owners = [FlowOwner(pid: 10, fd: 3)]
    flow.counters.bytesOut = 150
    ledger.absorb([flow], group: { _, _ in web })
    #expect(sent(ledger, web) == 150)
    #expect(sent(ledger, unowned) == 0)
    // Unowned twice: it is the unowned group's.
    ledger.absorb([unownedFlow(cookie: 6, sent: 10)], group: { _, _ in unowned })
    ledger.absorb([unownedFlow(cookie: 6, sent: 20)], group: { _, _ in unowned })
    #expect(sent(ledger, unowned) == 20)
    // Closed while pending: its final counters still count.
    ledger.absorb([unownedFlow(cookie: 7, sent: 10)], group: { _, _ in unowned })
    ledger.close(tcp(cookie: 7, sent: 30))
    #expect(sent(ledger, unowned) == 50)
  }

  @Test func anOrphanKeepsTheGroupItWasFirstCountedUnder() {
    var ledger = CounterLedger()
    ledger.absorb([tcp(cookie: 3, sent: 10)], group: { _, _ in web })
    // Its process closed the descriptor: the caller now gives another group.
    ledger.absorb([tcp(cookie: 3, sent: 25)], group: { _, _ in db })
    #expect(sent(ledger, web) == 25)
    #expect(ledger.group(ofCookie: 3) == web)
  }

  @Test func countersNeverDecreaseOverRandomCollections() {
    var generator = SystemRandomNumberGenerator()
    var ledger = CounterLedger()
    var live: [UInt64: UInt64] = [:]
    var nextCookie: UInt64 = 1
    var previous: UInt64 = 0
    for _ in 0..<200 {
      for cookie in Array(live.keys) where Bool.random(using: &generator) {
        live[cookie]! += UInt64.random(in: 0..<1000)
      }
      if Int.random(in: 0..<3, using: &generator) == 0, let cookie = live.keys.randomElement() {
        let final = live.removeValue(forKey: cookie)! + 10
        ledger.close(tcp(cookie: cookie, sent: final))
      }
      if Bool.random(using: &generator) {
        live[nextCookie] = 0
        nextCookie += 1
      }
      ledger.absorb(live.map { tcp(cookie: $0.key, sent: $0.value) }, group: { _, _ in web })
      let now = sent(ledger, web)
      #expect(now >= previous)
      previous = now
    }
  }
}

/// The report: gauges per group, series limit, and an exposition Prometheus' rules accept.
struct ReportTests {
  func snapshot() -> Snapshot {
    var processes: [Int32: OwningProcess] = [:]
    var flows: [Flow] = []
    for (index, name) in ["web", "web", "db", "ev\"il\\\n"].enumerated() {
      let pid = Int32(100 + index)
      var process = OwningProcess(pid: pid, command: Array(name.utf8))
      process.descriptorCount = 10 * (index + 1)
      process.fdLimitSoft = 100
      if name == "db" {
        // 14 over 10,000 as a percentage over 100 would be 0.0014000000000000002.
        process.descriptorCount = 14
        process.fdLimitSoft = 10_000
      }
      processes[pid] = process
      var flow = Flow(
        proto: .tcp, family: .inet, state: SocketState.closeWait.rawValue, socketType: 1,
        local: .ip(.v4(0x7f00_0001), port: UInt16(1000 + index)), remote: .ip(.v4(0x7f00_0001), port: 80),
        inode: UInt64(index + 1), netns: 0)
      flow.owners = [FlowOwner(pid: pid, fd: 3)]
      flows.append(flow)
    }
    return Snapshot(time: 0, host: "h", flows: flows, processes: processes, warnings: [])
  }

  func report(maxSeries: Int = 10_000) -> MetricsReport {
    let snapshot = snapshot()
    let grouping = Grouping([.command])
    var report = MetricsReport(grouping: grouping)
    report.groups = MetricsReport.build(
      snapshot: snapshot, grouping: grouping, thresholds: HealthThresholds(),
      groupOf: { flow in
        grouping.key(of: snapshot.processes[flow.owners.first!.pid]!, namespaces: [:])
      })
    report.limitSeries(to: maxSeries)
    return report
  }

  @Test func groupsSumSocketsAndDescriptorsAndKeepTheWorstRatio() {
    let text = String(decoding: report().write(.prometheus).bytes, as: UTF8.self)
    #expect(text.contains("flowscope_sockets{command=\"web\",proto=\"tcp\",state=\"close-wait\"} 2\n"))
    #expect(text.contains("flowscope_open_fds{command=\"web\"} 30\n"))
    #expect(text.contains("flowscope_max_fds{command=\"web\"} 200\n"))
    #expect(text.contains("flowscope_fd_usage_ratio{command=\"web\"} 0.2\n"))
    #expect(text.contains("flowscope_fd_usage_ratio{command=\"db\"} 0.0014\n"), "\(text)")
    #expect(text.contains("flowscope_flagged_flows{command=\"db\",flag=\"peer-closed\"} 1\n"))
    // The hostile name: the newline as \x0a, the backslash doubled (as the table shows it),
    // then both escaped for the exposition.
    #expect(text.contains("flowscope_processes{command=\"ev\\\"il\\\\\\\\\\\\x0a\"} 1\n"))
  }

  @Test func maxSeriesDropsTheSmallestGroupsAndCountsThem() {
    let limited = report(maxSeries: 7)
    #expect(limited.groups.keys.map { String(decoding: $0.values[0], as: UTF8.self) } == ["web"])
    #expect(limited.droppedGroups == 2)
    #expect(limited.droppedSeries > 0)
  }
}
