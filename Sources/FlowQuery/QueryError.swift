// A query that cannot be read: what was expected, and where. Rendered as jq and lsfd do, with
// the query echoed and a caret under the offending token.

public struct QueryError: Error, Sendable, Equatable, CustomStringConvertible {
  public var message: String
  /// Where, in Unicode scalars of the query.
  public var range: Range<Int>

  public init(_ message: String, at range: Range<Int>) {
    self.message = message
    self.range = range
  }

  public var description: String { message }

  /// Three lines: the message, the query (control characters and escapes made visible), and a
  /// caret line under the offending part.
  public func rendered(query: String, prefix: String = "") -> String {
    var line = ""
    var caret = ""
    let scalars = Array(query.unicodeScalars)
    for (offset, scalar) in scalars.enumerated() {
      let shown: String =
        if scalar.value < 0x20 || scalar.value == 0x7f || (0x80..<0xa0).contains(scalar.value) {
          "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
        } else {
          String(scalar)
        }
      line += shown
      let width = shown.unicodeScalars.count
      let marked = range.contains(offset) || (range.isEmpty && range.lowerBound == offset)
      caret += String(repeating: marked ? "^" : " ", count: width)
    }
    if range.lowerBound >= scalars.count { caret += "^" }
    while caret.hasSuffix(" ") { caret.removeLast() }
    return "\(prefix)\(message)\n  \(line)\n  \(caret)"
  }
}

extension String {
  func leftPadded(to width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}
