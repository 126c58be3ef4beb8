import FlowModel
import Testing

/// `watch`'s fold of destroy messages into the rates, on snapshots made by hand.
struct CloseFoldTests {
  func flow(cookie: UInt64, in bytesIn: UInt64?, out bytesOut: UInt64?, state: UInt8 = 1, pids: [Int32] = [10]) -> Flow
  {
    var flow = Flow(
      proto: .tcp, family: .inet, state: state, socketType: 1, local: .ip(.v4(0x7f00_0001), port: 1),
      remote: .ip(.v4(0x7f00_0001), port: UInt16(cookie)), inode: cookie, netns: 7)
    flow.cookie = cookie
    flow.counters.bytesIn = bytesIn
    flow.counters.bytesOut = bytesOut
    flow.owners = FlowOwners(pids.map { FlowOwner(pid: $0, fd: 3) })
    return flow
  }

  /// A destroy message's flow: no owner, no inode, namespace unknown.
  func final(cookie: UInt64, in bytesIn: UInt64, out bytesOut: UInt64) -> Flow {
    var final = flow(cookie: cookie, in: bytesIn, out: bytesOut, state: 7, pids: [])
    final.inode = 0
    final.netns = 0
    return final
  }

  func snapshot(_ time: Double, _ flows: [Flow]) -> Snapshot {
    Snapshot(time: time, host: "h", flows: flows, processes: [:], warnings: [])
  }

  func compute(_ previous: Snapshot, _ current: Snapshot, _ fold: inout CloseFold) -> RateTable {
    RateTable.compute(previous: previous, current: current, fold: &fold) { _ in true }
  }

  @Test func aClosedFlowCountsItsLastBytesAndItsOwnerToo() {
    var fold = CloseFold(enabled: true)
    fold.arrive([final(cookie: 1, in: 1500, out: 300)], netns: 7)
    let table = compute(
      snapshot(10, [flow(cookie: 1, in: 1000, out: 100), flow(cookie: 2, in: 0, out: 0)]),
      snapshot(12, [flow(cookie: 2, in: 10, out: 0)]), &fold)
    #expect(table.closed.map(\.cookie) == [1])
    #expect(table.closed[0].owners.first?.pid == 10)
    #expect(table.closed[0].counters.bytesIn == 1500)
    #expect(
      table.closedRate(at: 0) == FlowRate(change: .closed, deltaIn: 500, deltaOut: 200, rateIn: 250, rateOut: 100))
    #expect(table.processes[10]?.deltaIn == 510)
    #expect(table.processes[10]?.closedFlows == 1)
    #expect(table.totalRates?.rateIn == 255)
  }

  @Test func withoutTheFoldNothingChanges() {
    var fold = CloseFold(enabled: false)
    fold.arrive([final(cookie: 1, in: 1500, out: 300)], netns: 7)
    let previous = snapshot(10, [flow(cookie: 1, in: 1000, out: 100)])
    let current = snapshot(12, [])
    let folded = compute(previous, current, &fold)
    let plain = RateTable.compute(previous: previous, current: current)
    #expect(folded.closed == plain.closed)
    #expect(folded.closedRate(at: 0) == FlowRate(change: .closed))
    #expect(folded.processes == plain.processes)
  }

  @Test func timeWaitKeepsTheCookieAndTakesTheFinal() {
    var fold = CloseFold(enabled: true)
    fold.arrive([final(cookie: 1, in: 40, out: 2001)], netns: 7)
    let table = compute(
      snapshot(10, [flow(cookie: 1, in: 0, out: 1)]),
      snapshot(11, [flow(cookie: 1, in: nil, out: nil, state: 6, pids: [])]), &fold)
    #expect(table.closed.isEmpty)
    #expect(table.flows[0].deltaIn == 40)
    #expect(table.flows[0].deltaOut == 2000)
  }

  @Test func aFlowNoRefreshSawIsOneClosedLineWithAllItsBytes() {
    var fold = CloseFold(enabled: true)
    fold.arrive([final(cookie: 9, in: 77, out: 5)], netns: 7)
    let table = compute(snapshot(10, []), snapshot(11, []), &fold)
    #expect(table.closed.map(\.cookie) == [9])
    #expect(table.closed[0].netns == 7)
    #expect(table.closedRate(at: 0).deltaIn == 77)
    #expect(fold.unseenFlows == 1)
    // Refused by the filters: not shown.
    var refusing = CloseFold(enabled: true)
    refusing.arrive([final(cookie: 9, in: 77, out: 5)], netns: 7)
    let none = RateTable.compute(previous: snapshot(10, []), current: snapshot(11, []), fold: &refusing) { _ in false }
    #expect(none.closed.isEmpty)
  }

  @Test func aFinalOfASocketStillListedWaitsForTheRefreshThatFindsItGone() {
    // The socket died after the dump: its message comes with this refresh, its close with the next.
    var fold = CloseFold(enabled: true)
    fold.arrive([final(cookie: 1, in: 900, out: 10)], netns: 7)
    let first = compute(
      snapshot(10, [flow(cookie: 1, in: 100, out: 10)]), snapshot(11, [flow(cookie: 1, in: 800, out: 10)]), &fold)
    #expect(first.closed.isEmpty)
    #expect(first.flows[0].deltaIn == 700)
    fold.arrive([], netns: 7)
    let second = compute(snapshot(11, [flow(cookie: 1, in: 800, out: 10)]), snapshot(12, []), &fold)
    #expect(second.closedRate(at: 0).deltaIn == 100)
  }

  @Test func aLateMessageIsWaitedForOneRefresh() {
    var fold = CloseFold(enabled: true)
    fold.arrive([], netns: 7)
    let gone = compute(snapshot(10, [flow(cookie: 1, in: 100, out: 10)]), snapshot(11, []), &fold)
    // Held back: no line yet.
    #expect(gone.closed.isEmpty)
    fold.arrive([final(cookie: 1, in: 130, out: 10)], netns: 7)
    let next = compute(snapshot(11, []), snapshot(12, []), &fold)
    #expect(next.closed.map(\.cookie) == [1])
    #expect(next.closedRate(at: 0).deltaIn == 30)
    #expect(next.closed[0].owners.first?.pid == 10)
  }

  @Test func aMessageLaterStillIsNotCountedTwice() {
    var fold = CloseFold(enabled: true)
    fold.arrive([], netns: 7)
    _ = compute(snapshot(10, [flow(cookie: 1, in: 100, out: 10)]), snapshot(11, []), &fold)
    fold.arrive([], netns: 7)
    let reported = compute(snapshot(11, []), snapshot(12, []), &fold)
    #expect(reported.closed.map(\.cookie) == [1])
    #expect(reported.closedRate(at: 0).deltaIn == nil)
    fold.arrive([final(cookie: 1, in: 130, out: 10)], netns: 7)
    let late = compute(snapshot(12, []), snapshot(13, []), &fold)
    #expect(late.closed.isEmpty)
  }

  @Test func flowsOfOtherNamespacesAreNotHeld() {
    var fold = CloseFold(enabled: true)
    fold.arrive([], netns: 8)
    let table = compute(snapshot(10, [flow(cookie: 1, in: 100, out: 10)]), snapshot(11, []), &fold)
    #expect(table.closed.map(\.cookie) == [1])
    #expect(table.closedRate(at: 0) == FlowRate(change: .closed))
  }
}
