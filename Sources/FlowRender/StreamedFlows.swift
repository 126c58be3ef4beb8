import Dispatch
import FlowModel

/// Writes the flows of a listing one at a time, as they are decoded, in the bytes the
/// whole-snapshot renderers write (`JSONRenderer.render`, `renderLines`, `CSVRenderer.render`):
/// nothing is kept per flow, so memory does not grow with the number of sockets.
///
/// Made from the snapshot without its flows (time, host, processes, namespaces), it writes the
/// start (`begin`), each flow (`write`), then the end with the warnings known by then (`end`).
/// The table is the exception: its widths depend on every row, so its rows are kept, as the
/// bytes of their cells (`StreamedTableRows`), and written at the end.
/// The `remote` column names a UNIX peer from the peer's own flow, which may come later: a
/// table or CSV listing of UNIX sockets with that column cannot be streamed (`canStream`).
public struct StreamedFlowWriter {
  public enum Format: Sendable { case json, ndjson, csv, table }

  private let format: Format
  private let context: RenderContext
  private let columns: [Column]
  /// NDJSON: what every line starts with.
  private let prefix: OutputBuffer
  private var field = OutputBuffer(capacity: 256)
  private var tableRows: StreamedTableRows?
  /// Flows written so far.
  public private(set) var count = 0

  /// `provisionalNamespaceColumn` (table): the NetNS column of `options` was added in case the
  /// flows are of several namespaces, and is left out if they are not.
  public init(
    _ format: Format, start snapshot: Snapshot, options: RenderOptions,
    provisionalNamespaceColumn: Bool = false
  ) {
    self.format = format
    context = RenderContext(
      snapshot, options: options, mode: format == .table ? .table : .csv, namingPeers: false)
    columns = options.columns
    prefix = format == .ndjson ? JSONRenderer.linePrefix(snapshot) : OutputBuffer(capacity: 16)
    tableRows =
      format == .table
      ? StreamedTableRows(context: context, provisionalNamespaceColumn: provisionalNamespaceColumn)
      : nil
  }

  /// Whether a table or CSV listing with these columns, of sockets of these protocols, is
  /// written the same streamed: not when a UNIX peer is to be named in `remote`.
  public static func canStream(columns: [Column], protocols: Set<TransportProtocol>) -> Bool {
    !(columns.contains(.remote) && protocols.contains(.unix))
  }

  /// The document's start (JSON), or the header row (CSV, when `options.header`).
  public func begin(_ snapshot: Snapshot, into out: inout OutputBuffer) {
    switch format {
    case .json:
      JSONWriter.write(into: &out) { json in
        JSONRenderer.appendDocumentStart(snapshot, into: &json)
        json.key(.flows)
        json.beginArray()
      }
    case .ndjson: break
    case .csv:
      if context.options.header, !columns.isEmpty {
        out.append(utf8: columns.map(\.rawValue).joined(separator: ","))
        out.append("\r\n")
      }
    case .table: break
    }
  }

  public mutating func write(_ flow: Flow, into out: inout OutputBuffer) {
    switch format {
    case .json:
      JSONWriter.write(into: &out) { json in
        // Each call starts a writer afresh: the comma is the one between flows.
        json.needsComma = count > 0
        json.beginObject(onNewLine: true)
        JSONRenderer.appendFlowFields(flow, context: context, into: &json)
        json.endObject()
      }
    case .ndjson:
      JSONWriter.write(into: &out) { json in
        json.reopen(prefix)
        JSONRenderer.appendFlowFields(flow, context: context, into: &json)
        json.endObject()
        json.endLine()
      }
    case .csv:
      guard !columns.isEmpty else { return }
      for (j, column) in columns.enumerated() {
        if j > 0 { out.append(UInt8(ascii: ",")) }
        field.removeAll()
        context.appendCell(column, of: flow, into: &field)
        CSVRenderer.appendField(field.bytes, into: &out)
      }
      out.append("\r\n")
    case .table:
      tableRows?.add(flow)
    }
    count += 1
  }

  /// The end: the warnings and the closing bracket (JSON), a line per warning (NDJSON), the
  /// whole table (whose warnings go to standard error).
  public func end(warnings: [SnapshotWarning], into out: inout OutputBuffer) {
    switch format {
    case .json:
      JSONWriter.write(into: &out) { json in
        if count > 0 { json.breakLine() }
        JSONRenderer.appendWarningsAndClose(warnings, into: &json)
      }
    case .ndjson:
      JSONWriter.write(into: &out) { json in
        JSONRenderer.appendWarningLines(warnings, prefix: prefix, into: &json)
      }
    case .csv: break
    case .table: tableRows?.append(into: &out)
    }
  }
}

/// Writes streamed flows on a helper thread while the caller decodes the next ones: the
/// caller hands over flows in batches through a bounded queue, so the dump and the rendering
/// use both CPUs and no more than a few batches are held at once.
public final class StreamedFlowPipeline: @unchecked Sendable {
  /// Touched only on `queue` once the first batch is sent, and by `finish` after it drains.
  private var writer: StreamedFlowWriter
  private var out: OutputBuffer
  private var batch: [Flow] = []
  private let queue = DispatchQueue(label: "flowscope.stream")
  /// Batches sent and not yet written.
  private let slots = DispatchSemaphore(value: 4)
  static let batchSize = 512

  /// `out` holds what `writer.begin` wrote; its sink gets the lines as they are made.
  public init(writer: StreamedFlowWriter, out: OutputBuffer) {
    self.writer = writer
    self.out = out
    batch.reserveCapacity(Self.batchSize)
  }

  public func add(_ flow: Flow) {
    batch.append(flow)
    if batch.count >= Self.batchSize { send() }
  }

  private func send() {
    guard !batch.isEmpty else { return }
    let flows = batch
    batch = []
    batch.reserveCapacity(Self.batchSize)
    slots.wait()
    queue.async {
      // A closed output takes nothing more: the pending bytes meet its error at the end.
      if !self.out.sinkFailed {
        for flow in flows { self.writer.write(flow, into: &self.out) }
      }
      self.slots.signal()
    }
  }

  /// Writes what is left, waits for the helper, and gives back the writer and the output
  /// (for `end` and the final write).
  public func finish() -> (writer: StreamedFlowWriter, out: OutputBuffer) {
    send()
    queue.sync {}
    return (writer, out)
  }
}
