import FlowModel
import Foundation
import Testing

@testable import FlowRender

/// The pure pieces of `watch`: the rows and their order, and the NDJSON records.
@Suite struct WatchTests {
  /// Three TCP flows of the sample's postgres, with rates in of 10, nil and 30 bytes/s.
  func model() -> WatchModel {
    var flows: [Flow] = []
    for (i, port) in [5432, 80, 443].enumerated() {
      var flow = Sample.flows()[0]
      flow.inode = UInt64(100 + i)
      flow.cookie = UInt64(200 + i)
      flow.remote = .ip(Sample.v4(10, 0, 0, UInt32(i + 1)), port: UInt16(port))
      flow.counters.bytesIn = UInt64(1000 * (3 - i))
      flows.append(flow)
    }
    let snapshot = Snapshot(time: Sample.time, host: "h", flows: flows, processes: Sample.processes, warnings: [])
    var rates = RateTable.compute(previous: nil, current: snapshot)
    rates.seconds = 1
    rates.flows = [
      FlowRate(deltaIn: 10, rateIn: 10, rateOut: 0), FlowRate(),
      FlowRate(change: .new, deltaIn: 30, rateIn: 30, rateOut: 1),
    ]
    var closed = Sample.flows()[3]
    closed.inode = 999
    rates.closed = [closed]
    return WatchModel(snapshot: snapshot, rates: rates)
  }

  @Test func flowsSortByRateBusiestFirstUnknownLastBothWays() {
    var model = model()
    model.sort = .rateIn
    model.descending = true
    #expect(WatchScreen.arrange(model) == [.flow(2), .flow(0), .flow(1), .closed(0)])
    model.descending = false
    // Unknown rates (the flow without counters, the closed one) stay last, in their order.
    #expect(WatchScreen.arrange(model) == [.flow(0), .flow(2), .flow(1), .closed(0)])
  }

  @Test func flowsSortByRemoteAddressNumerically() {
    var model = model()
    model.rates.closed = []
    model.sort = .remote
    model.descending = false
    #expect(WatchScreen.arrange(model) == [.flow(0), .flow(1), .flow(2)])
    model.descending = true
    #expect(WatchScreen.arrange(model) == [.flow(2), .flow(1), .flow(0)])
    model.sort = .bytesIn
    #expect(WatchScreen.arrange(model) == [.flow(0), .flow(1), .flow(2)])
  }

  @Test func theFilterKeepsRowsAndTheProcessesViewListsPids() {
    var model = model()
    model.rowFilter = WatchRowFilter(
      keepsFlow: { flow, _ in flow.inode != 101 }, processes: { _ in [2001] })
    #expect(WatchScreen.arrange(model) == [.flow(2), .flow(0), .closed(0)])
    model.view = .processes
    model.rates.processes = [2001: ProcessRate(pid: 2001), 1235: ProcessRate(pid: 1235)]
    #expect(WatchScreen.arrange(model) == [.process(2001)])
    model.rowFilter = nil
    model.sort = .pid
    model.descending = false
    #expect(WatchScreen.arrange(model) == [.process(1235), .process(2001)])
  }

  @Test func sortFieldsCycleThroughTheColumnsOfAView() {
    #expect(WatchSortField.cycle(.flows).first == .rate)
    #expect(WatchSortField.cycle(.processes).contains(.pid))
    #expect(!WatchSortField.cycle(.flows).contains(.pid))
  }

  func lines(_ bytes: [UInt8]) throws -> [[String: Any]] {
    try bytes.split(separator: 0x0A).map {
      try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any])
    }
  }

  /// A flow record is the flow object followed by the refresh's fields; a closed flow is named
  /// with the processes of the refresh before.
  @Test func flowRecordsCarryTheRefreshAndTheRates() throws {
    let model = model()
    let bytes = Sample.render {
      WatchScreen.renderFlowLines(
        model.snapshot, rates: model.rates, refresh: 4, options: Sample.options,
        previousProcesses: Sample.processes, into: &$0)
    }
    let records = try lines(bytes)
    #expect(records.count == 4)
    #expect(records.allSatisfy { $0["version"] as? Int == 1 && $0["refresh"] as? Int == 4 })
    #expect(records.map { $0["change"] as? String } == [nil, nil, "new", "closed"])
    #expect(records[0]["rate_in"] as? Double == 10)
    #expect(records[1]["rate_in"] is NSNull)
    #expect(records[2]["delta_in"] as? Int == 30)
    let last = String(decoding: bytes.split(separator: 0x0A)[2], as: UTF8.self)
    #expect(
      last.hasSuffix(
        ",\"refresh\":4,\"interval\":1,\"change\":\"new\",\"delta_in\":30,\"delta_out\":null,\"rate_in\":30,\"rate_out\":1}"
      ))
  }

  @Test func processRecordsAndRatesWithThreeDecimalsAtMost() throws {
    var model = model()
    var rate = ProcessRate(pid: 2001)
    rate.flows = 3
    rate.rateIn = 1.23456
    rate.rateOut = 2
    rate.deltaIn = 7
    model.rates.processes = [2001: rate, 9999: ProcessRate(pid: 9999)]
    model.rates.seconds = 0.5
    let bytes = Sample.render {
      WatchScreen.renderProcessLines(
        model.snapshot, rates: model.rates, refresh: 2, previousProcesses: [:], into: &$0)
    }
    let text = String(decoding: bytes, as: UTF8.self)
    #expect(text.contains("\"pid\":2001,\"command\":\"postgres\",\"user\":\"postgres\",\"uid\":111,\"flows\":3"))
    #expect(text.contains("\"interval\":0.5,\"delta_in\":7,\"delta_out\":null,\"rate_in\":1.235,\"rate_out\":2}"))
    // A pid no snapshot knows: command and user null.
    #expect(text.contains("\"pid\":9999,\"command\":null,\"user\":null,\"uid\":null"))
    #expect(try lines(bytes).map { $0["pid"] as? Int } == [2001, 9999])
  }
}
