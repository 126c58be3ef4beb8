import FlowModel
import Testing

/// Rates, new and closed flows between two snapshots made by hand.
struct RatesTests {
  func flow(
    cookie: UInt64, inode: UInt64 = 0, in bytesIn: UInt64?, out bytesOut: UInt64?, pids: [Int32] = [10],
    netns: UInt64 = 1
  ) -> Flow {
    var flow = Flow(
      proto: .tcp, family: .inet, state: 1, socketType: 1, local: .ip(.v4(0x7f00_0001), port: 1),
      remote: .ip(.v4(0x7f00_0001), port: 2), inode: inode, netns: netns)
    flow.cookie = cookie
    flow.counters.bytesIn = bytesIn
    flow.counters.bytesOut = bytesOut
    flow.owners = FlowOwners(pids.map { FlowOwner(pid: $0, fd: 3) })
    return flow
  }

  func snapshot(_ time: Double, _ flows: [Flow]) -> Snapshot {
    Snapshot(time: time, host: "h", flows: flows, processes: [:], warnings: [])
  }

  @Test func firstSnapshotHasNoRatesAndNothingNew() {
    let table = RateTable.compute(previous: nil, current: snapshot(100, [flow(cookie: 1, in: 5, out: 5)]))
    #expect(table.seconds == nil)
    #expect(table.flows == [FlowRate()])
    #expect(table.closed.isEmpty)
    #expect(table.newCount == 0)
    #expect(table.processes[10]?.flows == 1)
    #expect(table.processes[10]?.rateIn == nil)
  }

  @Test func ratesNewAndClosed() {
    let before = snapshot(
      100,
      [
        flow(cookie: 1, in: 1000, out: 100),
        flow(cookie: 2, in: 50, out: 50, pids: [11]),
        flow(cookie: 3, in: nil, out: nil),
      ])
    let after = snapshot(
      102,
      [
        flow(cookie: 3, in: nil, out: nil),
        flow(cookie: 1, in: 3000, out: 100),
        flow(cookie: 4, in: 400, out: 0),
      ])
    let table = RateTable.compute(previous: before, current: after)
    #expect(table.seconds == 2)
    #expect(table.flows[0] == FlowRate())  // no counters: no rate
    #expect(table.flows[1] == FlowRate(change: .continuing, deltaIn: 2000, deltaOut: 0, rateIn: 1000, rateOut: 0))
    #expect(table.flows[2] == FlowRate(change: .new, deltaIn: 400, deltaOut: 0, rateIn: 200, rateOut: 0))
    #expect(table.newCount == 1)
    #expect(table.closed.map(\.cookie) == [2])
    let mine = table.processes[10]
    #expect(mine?.flows == 3)
    #expect(mine?.newFlows == 1)
    #expect(mine?.deltaIn == 2400)
    #expect(mine?.rateIn == 1200)
    #expect(mine?.bytesIn == 3400)
    #expect(table.processes[11]?.closedFlows == 1)
    #expect(table.processes[11]?.flows == 0)
  }

  @Test func keyedByNamespaceAndCookieOrInode() {
    // The same cookie in another namespace is another flow; no cookie falls back to the inode.
    let before = snapshot(0, [flow(cookie: 7, in: 10, out: 10, netns: 1), flow(cookie: 0, inode: 99, in: 10, out: 10)])
    let after = snapshot(1, [flow(cookie: 7, in: 20, out: 10, netns: 2), flow(cookie: 0, inode: 99, in: 30, out: 10)])
    let table = RateTable.compute(previous: before, current: after)
    #expect(table.flows[0].change == .new)
    #expect(table.flows[1].change == .continuing)
    #expect(table.flows[1].deltaIn == 20)
    #expect(table.closed.count == 1)
  }

  @Test func matchingSurvivesReorderingClosesAndOpensAtEveryPlace() {
    // 200 flows, then: every 7th closed, a new one after every 11th, and the last 30 moved to
    // the front (a rehash). Each surviving flow gains its own cookie's worth of bytes.
    let before = (1...200).map { flow(cookie: UInt64($0), in: 1000, out: 0) }
    var after: [Flow] = []
    for cookie in 1...200 where cookie % 7 != 0 {
      after.append(flow(cookie: UInt64(cookie), in: 1000 + UInt64(cookie), out: 0))
      if cookie % 11 == 0 { after.append(flow(cookie: UInt64(1000 + cookie), in: 5, out: 0)) }
    }
    after = Array(after.suffix(30) + after.dropLast(30))
    let table = RateTable.compute(previous: snapshot(0, before), current: snapshot(1, after))
    for (position, flow) in after.enumerated() {
      if flow.cookie > 1000 {
        #expect(table.flows[position].change == .new)
        #expect(table.flows[position].deltaIn == 5)
      } else {
        #expect(table.flows[position].change == .continuing)
        #expect(table.flows[position].deltaIn == flow.cookie)
      }
    }
    #expect(table.closed.map(\.cookie) == (1...200).filter { $0 % 7 == 0 }.map(UInt64.init))
    #expect(table.newCount == 16)  // multiples of 11 up to 198, but 77 and 154
  }

  @Test func counterGoingBackwardsGivesNoRate() {
    let table = RateTable.compute(
      previous: snapshot(0, [flow(cookie: 1, in: 500, out: 500)]),
      current: snapshot(1, [flow(cookie: 1, in: 100, out: 600)]))
    #expect(table.flows[0].rateIn == nil)
    #expect(table.flows[0].rateOut == 100)
  }

  @Test func aSocketHeldTwiceByOneProcessCountsOnce() {
    let table = RateTable.compute(
      previous: snapshot(0, [flow(cookie: 1, in: 0, out: 0, pids: [10, 10, 12])]),
      current: snapshot(1, [flow(cookie: 1, in: 100, out: 0, pids: [10, 10, 12])]))
    #expect(table.processes[10]?.flows == 1)
    #expect(table.processes[10]?.rateIn == 100)
    #expect(table.processes[12]?.rateIn == 100)
  }
}
