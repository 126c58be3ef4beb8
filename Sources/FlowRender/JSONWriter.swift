// The one JSON writer: every JSON document and NDJSON line of flowscope (flows, processes,
// groups, findings, kill reports, events, watch records) is written through it. It appends
// bytes to an `OutputBuffer`, never builds a `String`, and puts the commas itself, so that a
// renderer says only which keys and values come in which order. Keys are `JSONKey`s, each
// declared once (JSONKey.swift); strings are escaped by one function (`appendJSONStringBody`).

/// Writes JSON into an `OutputBuffer`: objects, arrays, keys and values, with the commas
/// between members and elements. No whitespace is added except the line breaks asked for
/// (`beginObject(onNewLine:)`, `breakLine()`, `endLine()`).
public struct JSONWriter {
  /// The bytes written so far (and what was in the buffer before).
  public var out: OutputBuffer
  /// Whether the next member or element needs a comma before it: false after `{`, `[` and a
  /// key, true after a value.
  var needsComma = false

  public init(_ out: OutputBuffer = OutputBuffer(capacity: 16)) {
    self.out = out
  }

  /// Writes JSON at the end of `out` through a writer: the buffer moves into the writer and back,
  /// its bytes are not copied.
  @inline(__always)
  public static func write(into out: inout OutputBuffer, _ body: (inout JSONWriter) -> Void) {
    var writer = JSONWriter(OutputBuffer(capacity: 16))
    swap(&writer.out, &out)
    body(&writer)
    swap(&writer.out, &out)
  }

  @inline(__always)
  mutating func separate() {
    if needsComma { out.append(UInt8(ascii: ",")) }
  }

  // MARK: - Structure

  /// `{`, after a comma when a member or element came before; `onNewLine` puts it at the start
  /// of a line (the documents' one item a line).
  @inline(__always)
  public mutating func beginObject(onNewLine: Bool = false) {
    separate()
    if onNewLine { out.append(UInt8(ascii: "\n")) }
    out.append(UInt8(ascii: "{"))
    needsComma = false
  }

  @inline(__always)
  public mutating func endObject() {
    out.append(UInt8(ascii: "}"))
    needsComma = true
  }

  @inline(__always)
  public mutating func beginArray() {
    separate()
    out.append(UInt8(ascii: "["))
    needsComma = false
  }

  @inline(__always)
  public mutating func endArray() {
    out.append(UInt8(ascii: "]"))
    needsComma = true
  }

  /// A line break between items, before the `]` that closes a document's list; no comma.
  @inline(__always)
  public mutating func breakLine() {
    out.append(UInt8(ascii: "\n"))
  }

  /// Ends an NDJSON line (after its object): a newline, and the next line starts afresh.
  @inline(__always)
  public mutating func endLine() {
    out.append(UInt8(ascii: "\n"))
    needsComma = false
  }

  // MARK: - Keys

  /// `"name":`, after a comma when a member came before; one check for room.
  @inline(__always)
  public mutating func key(_ key: JSONKey) {
    let comma = needsComma
    out.appendUnsafe(atMost: key.name.utf8CodeUnitCount &+ 4) { Self.writeKey(key, comma: comma, to: $0) }
    needsComma = false
  }

  /// Writes `,"name":` (the comma when asked) at `destination`; returns how many bytes.
  @inline(__always)
  static func writeKey(_ key: JSONKey, comma: Bool, to destination: UnsafeMutablePointer<UInt8>) -> Int {
    let name = key.name
    let length = name.utf8CodeUnitCount
    var at = 0
    if comma {
      destination[0] = UInt8(ascii: ",")
      at = 1
    }
    destination[at] = UInt8(ascii: "\"")
    let source = name.utf8Start
    for i in 0..<length { destination[at &+ 1 &+ i] = source[i] }
    destination[at &+ 1 &+ length] = UInt8(ascii: "\"")
    destination[at &+ 2 &+ length] = UInt8(ascii: ":")
    return at &+ length &+ 3
  }

  /// A key that is data, not vocabulary (a flag's name in `flag_counts`): escaped as a string.
  public mutating func key(data text: String) {
    separate()
    out.appendJSONString(text)
    out.append(UInt8(ascii: ":"))
    needsComma = false
  }

  /// A key and a number or `null`, with one check for room: a flow object has some thirty.
  @inline(__always)
  public mutating func field(_ key: JSONKey, _ value: UInt64?) {
    let comma = needsComma
    out.appendUnsafe(atMost: key.name.utf8CodeUnitCount &+ 24) { destination in
      let at = Self.writeKey(key, comma: comma, to: destination)
      guard let value else {
        (destination + at).initialize(from: nullLiteral.utf8Start, count: 4)
        return at &+ 4
      }
      return at &+ writeDecimal(value, to: destination + at)
    }
    needsComma = true
  }

  /// A key and a signed number.
  @inline(__always)
  public mutating func field(_ key: JSONKey, _ value: Int64) {
    self.key(key)
    out.appendDecimal(value)
    needsComma = true
  }

  // MARK: - Values

  @inline(__always)
  public mutating func null() {
    separate()
    out.append(nullLiteral)
    needsComma = true
  }

  @inline(__always)
  public mutating func bool(_ value: Bool) {
    separate()
    out.append(value ? "true" : "false")
    needsComma = true
  }

  @inline(__always)
  public mutating func number(_ value: UInt64?) {
    separate()
    if let value { out.appendDecimal(value) } else { out.append(nullLiteral) }
    needsComma = true
  }

  @inline(__always)
  public mutating func number(_ value: Int64) {
    separate()
    out.appendDecimal(value)
    needsComma = true
  }

  /// A string of bytes, escaped; returns false when bytes that are not UTF-8 (or, with `nulAs`,
  /// a NUL) were replaced, so the caller can add the exact bytes (`string(_:exactIn:)`).
  @discardableResult
  public mutating func string(_ bytes: [UInt8], nulAs: UInt8? = nil) -> Bool {
    separate()
    needsComma = true
    return out.appendJSONString(bytes, nulAs: nulAs)
  }

  @discardableResult
  public mutating func string(_ p: UnsafeBufferPointer<UInt8>, nulAs: UInt8? = nil) -> Bool {
    separate()
    needsComma = true
    return out.appendJSONString(p, nulAs: nulAs)
  }

  public mutating func string(_ text: String) {
    separate()
    out.appendJSONString(text)
    needsComma = true
  }

  /// A string or `null`.
  public mutating func string(_ text: String?) {
    if let text { string(text) } else { null() }
  }

  /// A name as a string, and when it had to be repaired (not UTF-8, or a NUL written as
  /// `nulAs`), its exact bytes in hex under `bytesKey` (`command_bytes`, `path_bytes`, …).
  public mutating func string(_ bytes: [UInt8], nulAs: UInt8? = nil, exactIn bytesKey: JSONKey) {
    if !string(bytes, nulAs: nulAs) {
      key(bytesKey)
      value { $0.appendHexString(bytes) }
    }
  }

  /// A string of vocabulary (a protocol, a state, a flag's name): written as it is, unescaped.
  @inline(__always)
  public mutating func string(vocabulary text: StaticString) {
    separate()
    out.append(UInt8(ascii: "\""))
    out.append(text)
    out.append(UInt8(ascii: "\""))
    needsComma = true
  }

  /// A string of vocabulary held in a `String` (an enum's raw value): written as it is.
  @inline(__always)
  public mutating func string(vocabulary text: String) {
    separate()
    out.append(UInt8(ascii: "\""))
    out.append(utf8: text)
    out.append(UInt8(ascii: "\""))
    needsComma = true
  }

  /// A value whose bytes `body` writes as they are: a number in a format of its own, or a string
  /// that needs no escaping (a time, an address) with its quotes.
  @inline(__always)
  public mutating func value(_ body: (inout OutputBuffer) -> Void) {
    separate()
    body(&out)
    needsComma = true
  }

  /// A string whose inside `body` writes (no escaping is done: a time, an address).
  @inline(__always)
  public mutating func quoted(_ body: (inout OutputBuffer) -> Void) {
    separate()
    out.append(UInt8(ascii: "\""))
    body(&out)
    out.append(UInt8(ascii: "\""))
    needsComma = true
  }

  /// JSON written before by a writer and kept (a process's cached fields): a value, possibly
  /// followed by more members, or members of the open object. Appended as it is.
  @inline(__always)
  public mutating func encoded(_ bytes: UnsafeBufferPointer<UInt8>) {
    separate()
    out.append(contentsOf: bytes)
    needsComma = true
  }

  /// An open object written before (`{"version":1,…` of an NDJSON line, kept for every line of
  /// a refresh), to add members to.
  @inline(__always)
  public mutating func reopen(_ openObject: OutputBuffer) {
    separate()
    out.append(contentsOf: openObject)
    needsComma = true
  }
}

extension OutputBuffer {
  /// `"…"` with every byte as two lower-case hex digits (the `*_bytes` fields).
  mutating func appendHexString(_ bytes: [UInt8]) {
    append(UInt8(ascii: "\""))
    appendHexBytes(bytes)
    append(UInt8(ascii: "\""))
  }
}

private let nullLiteral: StaticString = "null"
