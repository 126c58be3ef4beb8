// The byte buffer every renderer writes into. Rendering appends bytes and never builds a
// `String` per field: at 100k flows that is the difference between ~30 ms and ~200 ms.
// The caller writes `bytes` to a file descriptor (e.g. with `write(1, …)`).

/// A growable buffer of output bytes with appenders for the pieces renderers need.
///
/// Made with `init(flushingLinesTo:)`, it hands complete lines to a sink whenever more than
/// `threshold` bytes are pending, so a 100k-flow listing never holds its whole output (60 MB of
/// JSON) in memory. Only whole lines leave: a renderer may still measure what it appended since
/// the start of a line with `count`. The caller writes what is left in `bytes` at the end.
public struct OutputBuffer: Sendable {
  public var bytes: [UInt8]
  /// Takes complete lines when `bytes.count` reaches `flushThreshold`; false means it failed.
  private var sink: (@Sendable (UnsafeRawBufferPointer) -> Bool)? = nil
  private var flushThreshold = Int.max
  /// Set when the sink refused bytes: nothing more is handed to it, the rest stays in `bytes`
  /// (so the caller's final write of `bytes` meets the same error and reports it).
  public private(set) var sinkFailed = false
  /// Bytes handed to the sink so far.
  public private(set) var flushedCount = 0

  public init(capacity: Int = 1 << 16) {
    bytes = []
    bytes.reserveCapacity(capacity)
  }

  /// A buffer that passes complete lines to `sink` once `threshold` bytes are pending.
  public init(
    threshold: Int = 1 << 18,
    flushingLinesTo sink: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool
  ) {
    bytes = []
    bytes.reserveCapacity(threshold + (threshold >> 2))
    self.sink = sink
    flushThreshold = max(1, threshold)
  }

  /// Hands everything up to the last newline to the sink (`init(flushingLinesTo:)`).
  @inline(never)
  mutating func flushLines() {
    guard let sink, !sinkFailed else { return }
    var end = bytes.count
    while end > 0 && bytes[end - 1] != 0x0A { end -= 1 }
    guard end > 0 else { return }
    let written = bytes.withUnsafeBytes { sink(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
    guard written else {
      sinkFailed = true
      flushThreshold = Int.max
      return
    }
    flushedCount += end
    bytes.removeSubrange(0..<end)
  }

  @inline(never)
  mutating func flushLines(ifLineEndsIn text: StaticString) {
    if UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount).contains(0x0A) {
      flushLines()
    }
  }

  /// Hands every pending byte to the sink; false if there is none or it failed (the bytes then
  /// stay in `bytes`).
  public mutating func flush() -> Bool {
    guard let sink, !sinkFailed else { return false }
    if bytes.isEmpty { return true }
    guard bytes.withUnsafeBytes({ sink($0) }) else {
      sinkFailed = true
      flushThreshold = Int.max
      return false
    }
    flushedCount += bytes.count
    bytes.removeAll(keepingCapacity: true)
    return true
  }

  public var count: Int { bytes.count }
  public var isEmpty: Bool { bytes.isEmpty }

  /// Empties the buffer, keeping its storage (for a renderer that is called again, e.g. `watch`).
  public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

  @inline(__always)
  public mutating func append(_ byte: UInt8) {
    bytes.append(byte)
    if byte == 0x0A && bytes.count >= flushThreshold { flushLines() }
  }

  /// Appends a literal; its bytes are copied as they are (literals are trusted text).
  @inline(__always)
  public mutating func append(_ text: StaticString) {
    if text.hasPointerRepresentation {
      bytes.append(
        contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
      // Lines also end inside literals ("]}\n", ",\n{"): a flush may start there, never
      // mid-line, where a renderer may be measuring a cell with `count`.
      if bytes.count >= flushThreshold { flushLines(ifLineEndsIn: text) }
    } else {
      text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }
  }

  /// Appends the UTF-8 of a `String` as it is: no escaping. Use only for trusted text.
  public mutating func append(utf8 text: String) {
    var text = text
    text.withUTF8 { bytes.append(contentsOf: $0) }
  }

  public mutating func append(contentsOf other: [UInt8]) { bytes.append(contentsOf: other) }
  public mutating func append(contentsOf other: ArraySlice<UInt8>) {
    bytes.append(contentsOf: other)
  }
  public mutating func append(contentsOf other: UnsafeBufferPointer<UInt8>) {
    bytes.append(contentsOf: other)
  }

  /// Appends `count` copies of `byte` (padding).
  public mutating func append(repeating byte: UInt8, count: Int) {
    guard count > 0 else { return }
    if byte == 0x20 && count <= 64 {
      // Padding is spaces, a few at a time: one copy from a literal beats a generic append.
      let spaces: StaticString = "                                                                "
      bytes.append(contentsOf: UnsafeBufferPointer(start: spaces.utf8Start, count: count))
    } else {
      bytes.append(contentsOf: repeatElement(byte, count: count))
    }
  }

  public mutating func appendSpaces(_ count: Int) { append(repeating: 0x20, count: count) }

  /// Appends `value` in decimal, without allocating.
  public mutating func appendDecimal(_ value: UInt64) {
    if value < 10 {
      bytes.append(0x30 &+ UInt8(truncatingIfNeeded: value))
      return
    }
    // 20 digits hold UInt64.max.
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
    withUnsafeMutableBytes(of: &digits) { raw in
      var v = value
      var index = 24
      while v > 0 {
        index -= 1
        raw[index] = 0x30 &+ UInt8(truncatingIfNeeded: v % 10)
        v /= 10
      }
      bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[index..<24]))
    }
  }

  public mutating func appendDecimal(_ value: Int64) {
    if value < 0 {
      bytes.append(UInt8(ascii: "-"))
      appendDecimal(value.magnitude)
    } else {
      appendDecimal(UInt64(value))
    }
  }

  public mutating func appendDecimal(_ value: some BinaryInteger) {
    if value < 0 {
      appendDecimal(Int64(value))
    } else {
      appendDecimal(UInt64(value))
    }
  }

  /// Appends `value` in lower-case hexadecimal with at least `minDigits` digits, no prefix.
  public mutating func appendHex(_ value: UInt64, minDigits: Int = 1) {
    var digits = 1
    while digits < 16 && (value >> (4 * UInt64(digits))) != 0 { digits += 1 }
    digits = max(digits, min(minDigits, 16))
    var shift = 4 * (digits - 1)
    while shift >= 0 {
      bytes.append(hexDigit(UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 0xF))
      shift -= 4
    }
  }

  /// Appends every byte as two lower-case hex digits (the `*_bytes` fields of the JSON output).
  public mutating func appendHexBytes(_ data: [UInt8]) {
    bytes.reserveCapacity(bytes.count + 2 * data.count)
    for byte in data {
      bytes.append(hexDigit(byte >> 4))
      bytes.append(hexDigit(byte & 0xF))
    }
  }
}

@inline(__always)
func hexDigit(_ nibble: UInt8) -> UInt8 {
  nibble < 10 ? 0x30 &+ nibble : 0x57 &+ nibble  // 0x57 + 10 = "a"
}
