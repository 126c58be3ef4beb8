import FlowModel
import FlowRender
import Synchronization
import Testing

/// The line-flushing mode of `OutputBuffer` (used for large listings).
@Suite struct OutputBufferFlushTests {
  final class Sink: Sendable {
    let chunks = Mutex<[[UInt8]]>([])
    /// How many chunks it takes before it fails, like a pipe whose reader went away.
    let accepted: Int
    init(accept: Bool = true) { accepted = accept ? Int.max : 0 }
    init(failingAfter accepted: Int) { self.accepted = accepted }
    func take(_ chunk: UnsafeRawBufferPointer) -> Bool {
      chunks.withLock {
        guard $0.count < accepted else { return false }
        $0.append(Array(chunk))
        return true
      }
    }
    var all: [UInt8] { chunks.withLock { $0.flatMap { $0 } } }
    var count: Int { chunks.withLock { $0.count } }
  }

  /// 20,000 flows, inodes 0 to 19,999: enough for the renderers' chunks on two threads.
  static func largeSnapshot() -> Snapshot {
    var flows: [Flow] = []
    for i in 0..<20_000 {
      var flow = Sample.flows()[0]
      flow.inode = UInt64(i)
      flows.append(flow)
    }
    return Snapshot(time: 0, host: "h", flows: flows, processes: Sample.processes, warnings: [])
  }

  /// 20,000 flows are rendered in chunks on two threads: the JSON document and the NDJSON
  /// lines stream out whole, in order, and parse.
  @Test func largeJSONRendersInOrderThroughTheSink() throws {
    let snapshot = Self.largeSnapshot()
    let sink = Sink()
    var out = OutputBuffer(threshold: 1 << 16, flushingLinesTo: { sink.take($0) })
    JSONRenderer.render(snapshot, options: Sample.options, into: &out)
    #expect(sink.count > 2)  // it streamed: a flush per pair of chunks at least
    let document = try #require(try parseJSON(sink.all + out.bytes) as? [String: Any])
    let inodes = try #require(document["flows"] as? [[String: Any]]).map { $0["inode"] as? Int }
    #expect(inodes == (0..<20_000).map { $0 })

    let lineSink = Sink()
    var lines = OutputBuffer(threshold: 1 << 16, flushingLinesTo: { lineSink.take($0) })
    JSONRenderer.renderLines(snapshot, options: Sample.options, into: &lines)
    let text = lineSink.all + lines.bytes
    let records = text.split(separator: 0x0A)
    #expect(records.count == 20_000)
    for (i, record) in records.enumerated() {
      let object = try #require(try parseJSON(Array(record)) as? [String: Any])
      guard object["inode"] as? Int == i else {
        Issue.record("line \(i) holds inode \(object["inode"] ?? "none")")
        return
      }
    }
  }

  /// Chunks rendered on two threads go straight to the sink; when it fails midway, the chunks
  /// it refused stay in the buffer, so the sink's bytes and the buffer's are the whole output.
  @Test func chunksASinkRefusesStayInTheBuffer() {
    let snapshot = Self.largeSnapshot()
    var whole = OutputBuffer()
    JSONRenderer.render(snapshot, options: Sample.options, into: &whole)
    let sink = Sink(failingAfter: 3)
    var out = OutputBuffer(threshold: 1 << 16, flushingLinesTo: { sink.take($0) })
    JSONRenderer.render(snapshot, options: Sample.options, into: &out)
    #expect(sink.count == 3)
    #expect(out.sinkFailed)
    #expect(out.flushedCount == sink.all.count)
    #expect(sink.all + out.bytes == whole.bytes)
  }

  @Test func onlyWholeLinesLeaveAndNothingIsLost() {
    let sink = Sink()
    var out = OutputBuffer(threshold: 16, flushingLinesTo: { sink.take($0) })
    var expected: [UInt8] = []
    for i in 0..<200 {
      let start = out.count
      out.append("cell ")
      out.appendDecimal(UInt64(i))
      out.appendSpaces(3)
      // A renderer may measure what it wrote since `start` in the current line.
      #expect(out.count - start == 5 + String(i).utf8.count + 3)
      out.append(i % 2 == 0 ? UInt8(ascii: "\n") : UInt8(ascii: "|"))
      if i % 7 == 0 { out.append(",\n") }
      expected += Array("cell \(i)   ".utf8) + [i % 2 == 0 ? 0x0A : 0x7C]
      if i % 7 == 0 { expected += Array(",\n".utf8) }
    }
    #expect(sink.count > 1)
    #expect(sink.chunks.withLock { $0.allSatisfy { $0.last == 0x0A } })
    #expect(sink.all + out.bytes == expected)
    #expect(out.flushedCount == sink.all.count)
    let flushed = out.flush()
    #expect(flushed)
    #expect(out.bytes.isEmpty && sink.all == expected)
  }

  @Test func aFailingSinkKeepsTheRestInTheBuffer() {
    let sink = Sink(accept: false)
    var out = OutputBuffer(threshold: 8, flushingLinesTo: { sink.take($0) })
    for _ in 0..<10 { out.append("0123456789\n") }
    #expect(out.sinkFailed)
    #expect(out.bytes.count == 110)
    let flushed = out.flush()
    #expect(!flushed)
  }

  @Test func withoutASinkEverythingStays() {
    var out = OutputBuffer(capacity: 4)
    for _ in 0..<100 { out.append("line\n") }
    out.append(repeating: 0x20, count: 70)
    out.append(repeating: 0x2D, count: 3)
    #expect(out.count == 573)
    let flushed = out.flush()
    #expect(!flushed)
  }
}
