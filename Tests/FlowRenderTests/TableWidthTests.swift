import FlowModel
import Testing

@testable import FlowRender

/// The table's first pass computes the widths of common cells without writing them: they must
/// be the widths of the cells the second pass writes, or columns would be misaligned.
@Suite struct TableWidthTests {
  @Test func computedWidthsAreThoseOfTheWrittenCells() {
    var flows = Sample.flows()
    // IPv4 endpoints of every shape (wildcards, octets of one to three digits, port 0), counts
    // of every length, an unknown owner, owners shared by several processes.
    let endpoints: [(UInt32, UInt16)] = [
      (0, 0), (0, 80), (0x7f00_0001, 0), (0x0a01_6405, 8), (0xffff_ffff, 65535), (0x6464_6464, 443),
    ]
    let counts: [UInt64?] = [nil, 0, 9, 10, 99_999, UInt64.max]
    let owners: [[FlowOwner]] = [
      [], [FlowOwner(pid: 3001, fd: 3)], [FlowOwner(pid: 99, fd: 1)],
      [FlowOwner(pid: 1234, fd: 6), FlowOwner(pid: 1235, fd: 6), FlowOwner(pid: 2001, fd: 1)],
      [FlowOwner(pid: 4001, fd: 3)], [FlowOwner(pid: 4002, fd: 4), FlowOwner(pid: 4002, fd: 5)],
    ]
    // Byte counts and round trips on both sides of each unit and rounding boundary.
    let byteCounts: [UInt64?] = [
      nil, 0, 1023, 1024, 10_188, 10_189, 1_048_063, 1_048_064, 1 << 30, (1 << 40) * 1023 + (1 << 39),
      UInt64.max,
    ]
    let rtts: [UInt32] = [0, 9, 999, 1000, 1049, 1050, 99_949, 99_950, 999_949, 999_950, 12_345_678, UInt32.max]
    for (i, bytes) in byteCounts.enumerated() {
      var flow = flows[0]
      flow.counters.bytesIn = bytes
      flow.counters.bytesOut = byteCounts[(i + 3) % byteCounts.count]
      flow.tcp?.rttMicros = rtts[i % rtts.count]
      flows.append(flow)
    }
    for i in endpoints.indices {
      var flow = flows[0]
      flow.local = .ip(.v4(endpoints[i].0), port: endpoints[i].1)
      flow.remote = .ip(.v4(endpoints[(i + 1) % endpoints.count].0), port: endpoints[i].1)
      flow.counters.packetsIn = counts[i]
      flow.counters.packetsOut = counts[(i + 2) % counts.count]
      flow.counters.retransmitsTotal = counts[i].map { UInt32(truncatingIfNeeded: $0) }
      flow.interfaceIndex = UInt32(i % 2)
      flow.state = UInt8(i * 3)
      flow.owners = FlowOwners(owners[i])
      flows.append(flow)
    }
    let snapshot = Snapshot(
      time: 0, host: "h", flows: flows, processes: Sample.processes, warnings: [])
    var named = Sample.options
    named.interfaceNames = [1: "eth0"]
    named.hostNames = [.v4(0x7f00_0001): "localhost"]
    var exact = Sample.options
    exact.exactBytes = true
    for options in [Sample.options, named, exact] {
      let context = RenderContext(snapshot, options: options, mode: .table)
      var cell = OutputBuffer()
      var computed = 0
      for flow in flows {
        for column in Column.allCases {
          guard let width = context.tableCellWidth(column, of: flow) else { continue }
          computed += 1
          cell.removeAll()
          context.appendCell(column, of: flow, into: &cell)
          let written = cell.withUnsafeBufferPointer { TableRenderer.cellWidth($0) }
          #expect(width == written, "\(column) of \(String(decoding: cell.bytes, as: UTF8.self))")
        }
      }
      #expect(computed >= flows.count * 8)  // the computed widths were used
    }
  }
}
