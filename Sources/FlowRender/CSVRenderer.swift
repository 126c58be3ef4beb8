import FlowModel

/// CSV (RFC 4180): a header row of the columns' `-o` names, then one row per flow; CRLF line
/// ends; a field is quoted when it holds `,` `"` CR or LF, or starts or ends with a space.
/// Numbers are exact (bytes, RTT in microseconds, mark in decimal); missing values are empty
/// fields. Names lose what a terminal or spreadsheet must not see: invalid UTF-8 and control
/// characters become U+FFFD (JSON keeps the exact bytes).
public enum CSVRenderer {
  public static func render(
    _ snapshot: Snapshot, options: RenderOptions, into out: inout OutputBuffer
  ) {
    let columns = options.columns
    guard !columns.isEmpty else { return }
    let context = RenderContext(snapshot, options: options, mode: .csv)
    appendTable(
      snapshot.flows, columns: columns, header: options.header ? columns.map(\.rawValue) : nil,
      into: &out
    ) { column, flow, field in context.appendCell(column, of: flow, into: &field) }
  }

  /// A header row (when given), then one row per item, a field per column from `cell`: the
  /// tables of flows, processes and groups.
  static func appendTable<Row, Column>(
    _ rows: [Row], columns: [Column], header: [String]?, into out: inout OutputBuffer,
    cell: (Column, Row, inout OutputBuffer) -> Void
  ) {
    if let header {
      out.append(utf8: header.joined(separator: ","))
      out.append("\r\n")
    }
    var field = OutputBuffer(capacity: 256)
    for row in rows {
      for (j, column) in columns.enumerated() {
        if j > 0 { out.append(UInt8(ascii: ",")) }
        field.removeAll()
        cell(column, row, &field)
        appendField(field.bytes, into: &out)
      }
      out.append("\r\n")
    }
  }

  static func appendField(_ field: [UInt8], into out: inout OutputBuffer) {
    var needsQuotes = field.first == 0x20 || field.last == 0x20
    if !needsQuotes {
      for byte in field
      where byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\"") || byte == 0x0A || byte == 0x0D {
        needsQuotes = true
        break
      }
    }
    guard needsQuotes else { return out.append(contentsOf: field) }
    out.append(UInt8(ascii: "\""))
    for byte in field {
      if byte == UInt8(ascii: "\"") { out.append(UInt8(ascii: "\"")) }
      out.append(byte)
    }
    out.append(UInt8(ascii: "\""))
  }
}
