// The byte buffer every renderer writes into. Rendering appends bytes and never builds a
// `String` per field: at 100k flows that is the difference between ~30 ms and ~200 ms.
// The caller writes `bytes` to a file descriptor (e.g. with `write(1, …)`).

/// A growable buffer of output bytes with appenders for the pieces renderers need.
///
/// Made with `init(flushingLinesTo:)`, it hands complete lines to a sink whenever more than
/// `threshold` bytes are pending, so a 100k-flow listing never holds its whole output (60 MB of
/// JSON) in memory. Only whole lines leave: a renderer may still measure what it appended since
/// the start of a line with `count`. The caller writes what is left in `bytes` at the end.
///
/// The bytes live in storage of its own rather than an `[UInt8]`: renderers append a few bytes
/// at a time, millions of times per listing, and `Array.append(contentsOf:)` costs several
/// times a short copy there. It is still a value: a copy is made before writing to shared storage.
public struct OutputBuffer: Sendable {
  final class Storage: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    init(capacity: Int) {
      self.capacity = Swift.max(capacity, 16)
      base = .allocate(capacity: self.capacity)
    }
    deinit { base.deallocate() }
  }

  private var storage: Storage
  /// How many bytes the buffer holds.
  public private(set) var count = 0
  /// Takes complete lines when `count` reaches `flushThreshold`; false means it failed.
  private var sink: (@Sendable (UnsafeRawBufferPointer) -> Bool)? = nil
  private var flushThreshold = Int.max
  /// Set when the sink refused bytes: nothing more is handed to it, the rest stays in `bytes`
  /// (so the caller's final write of `bytes` meets the same error and reports it).
  public private(set) var sinkFailed = false
  /// Bytes handed to the sink so far.
  public private(set) var flushedCount = 0

  public init(capacity: Int = 1 << 16) {
    storage = Storage(capacity: capacity)
  }

  /// A buffer that passes complete lines to `sink` once `threshold` bytes are pending.
  public init(
    threshold: Int = 1 << 18,
    flushingLinesTo sink: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool
  ) {
    storage = Storage(capacity: threshold + (threshold >> 2))
    self.sink = sink
    flushThreshold = Swift.max(1, threshold)
  }

  /// The pending bytes, copied out; `withUnsafeBufferPointer` reads them in place.
  public var bytes: [UInt8] {
    get { Array(UnsafeBufferPointer(start: storage.base, count: count)) }
    set {
      count = 0
      newValue.withUnsafeBytes { appendRaw($0.baseAddress, $0.count) }
    }
  }

  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R)
    rethrows -> R
  {
    // `self`, borrowed for the call, keeps the storage alive.
    try body(UnsafeBufferPointer(start: storage.base, count: count))
  }

  public var isEmpty: Bool { count == 0 }

  /// Room for `n` more bytes, in storage this buffer alone holds; returns where they go.
  @inline(__always)
  private mutating func reserve(_ n: Int) -> UnsafeMutablePointer<UInt8> {
    if _slowPath(count &+ n > storage.capacity || !isKnownUniquelyReferenced(&storage)) {
      grow(toHold: count + n)
    }
    return storage.base + count
  }

  @inline(never)
  private mutating func grow(toHold needed: Int) {
    let capacity =
      needed > storage.capacity ? Swift.max(needed, storage.capacity * 2) : storage.capacity
    let larger = Storage(capacity: capacity)
    larger.base.update(from: storage.base, count: count)
    storage = larger
  }

  /// Copies `n` bytes from `source`: the one place bytes come in.
  @inline(__always)
  mutating func appendRaw(_ source: UnsafeRawPointer?, _ n: Int) {
    guard n > 0, let source else { return }
    let destination = reserve(n)
    if n <= 16 {
      // Cells and literals are short: a loop beats a call to memcpy.
      for i in 0..<n { destination[i] = source.load(fromByteOffset: i, as: UInt8.self) }
    } else {
      UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: n)
    }
    count &+= n
  }

  /// Hands everything up to the last newline to the sink (`init(flushingLinesTo:)`).
  @inline(never)
  mutating func flushLines() {
    guard let sink, !sinkFailed else { return }
    var end = count
    while end > 0 && storage.base[end - 1] != 0x0A { end -= 1 }
    guard end > 0 else { return }
    let written = withExtendedLifetime(storage) {
      sink(UnsafeRawBufferPointer(start: storage.base, count: end))
    }
    guard written else {
      sinkFailed = true
      flushThreshold = Int.max
      return
    }
    flushedCount += end
    removeFirst(end)
  }

  /// Drops the first `n` bytes, keeping the rest (a part of a line) at the start.
  private mutating func removeFirst(_ n: Int) {
    _ = reserve(0)
    storage.base.update(from: storage.base + n, count: count - n)
    count -= n
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
    if count == 0 { return true }
    let written = withExtendedLifetime(storage) {
      sink(UnsafeRawBufferPointer(start: storage.base, count: count))
    }
    guard written else {
      sinkFailed = true
      flushThreshold = Int.max
      return false
    }
    flushedCount += count
    count = 0
    return true
  }

  /// Appends another buffer's bytes straight to the sink when there is one, after the bytes
  /// pending here: a large listing's chunks (`appendChunked`) are not copied a second time.
  /// Without a sink, or once it failed, they are appended as usual.
  mutating func appendBypassingBuffer(_ other: OutputBuffer) {
    guard let sink, flush() else { return append(contentsOf: other) }
    let written = other.withUnsafeBufferPointer { sink(UnsafeRawBufferPointer($0)) }
    if written {
      flushedCount += other.count
    } else {
      sinkFailed = true
      flushThreshold = Int.max
      append(contentsOf: other)
    }
  }

  /// Empties the buffer, keeping its storage (for a renderer that is called again, e.g. `watch`).
  public mutating func removeAll() { count = 0 }

  @inline(__always)
  public mutating func append(_ byte: UInt8) {
    reserve(1).pointee = byte
    count &+= 1
    if byte == 0x0A && count >= flushThreshold { flushLines() }
  }

  /// Appends a literal; its bytes are copied as they are (literals are trusted text).
  @inline(__always)
  public mutating func append(_ text: StaticString) {
    if text.hasPointerRepresentation {
      appendRaw(text.utf8Start, text.utf8CodeUnitCount)
      // Lines also end inside literals ("]}\n", ",\n{"): a flush may start there, never
      // mid-line, where a renderer may be measuring a cell with `count`.
      if count >= flushThreshold { flushLines(ifLineEndsIn: text) }
    } else {
      text.withUTF8Buffer { appendRaw($0.baseAddress, $0.count) }
    }
  }

  /// Appends the UTF-8 of a `String` as it is: no escaping. Use only for trusted text.
  public mutating func append(utf8 text: String) {
    var text = text
    text.withUTF8 { appendRaw($0.baseAddress, $0.count) }
  }

  public mutating func append(contentsOf other: [UInt8]) {
    other.withUnsafeBytes { appendRaw($0.baseAddress, $0.count) }
  }
  public mutating func append(contentsOf other: ArraySlice<UInt8>) {
    other.withUnsafeBytes { appendRaw($0.baseAddress, $0.count) }
  }
  public mutating func append(contentsOf other: UnsafeBufferPointer<UInt8>) {
    appendRaw(other.baseAddress, other.count)
  }
  /// Appends another buffer's bytes; when they end a line, whole lines may leave for the sink
  /// (as with a literal holding a newline).
  public mutating func append(contentsOf other: OutputBuffer) {
    let endsLine = other.withUnsafeBufferPointer { p in
      appendRaw(p.baseAddress, p.count)
      return p.lastIndex(of: 0x0A) != nil  // from the end: a chunk of lines ends near one
    }
    if endsLine && count >= flushThreshold { flushLines() }
  }

  /// Appends `count` copies of `byte` (padding).
  public mutating func append(repeating byte: UInt8, count n: Int) {
    guard n > 0 else { return }
    reserve(n).update(repeating: byte, count: n)
    count &+= n
  }

  public mutating func appendSpaces(_ count: Int) { append(repeating: 0x20, count: count) }

  /// Room for `n` bytes; `body` writes some (no newline among them) and says how many.
  @inline(__always)
  mutating func appendUnsafe(atMost n: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
    count &+= body(reserve(n))
  }

  /// `spaces` spaces, then `bytes` (no newline among them), with one check for room: a table
  /// cell with the padding before it.
  mutating func append(spaces: Int, then bytes: UnsafeBufferPointer<UInt8>) {
    let n = spaces + bytes.count
    guard n > 0 else { return }
    let destination = reserve(n)
    for i in 0..<spaces { destination[i] = 0x20 }
    if let base = bytes.baseAddress { (destination + spaces).update(from: base, count: bytes.count) }
    count &+= n
  }

  /// Appends `value` in decimal, without allocating.
  public mutating func appendDecimal(_ value: UInt64) {
    if value < 10 {
      append(0x30 &+ UInt8(truncatingIfNeeded: value))
      return
    }
    count &+= writeDecimal(value, to: reserve(20))
  }

  public mutating func appendDecimal(_ value: Int64) {
    if value < 0 {
      append(UInt8(ascii: "-"))
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
      append(hexDigit(UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 0xF))
      shift -= 4
    }
  }

  /// Appends every byte as two lower-case hex digits (the `*_bytes` fields of the JSON output).
  public mutating func appendHexBytes(_ data: [UInt8]) {
    for byte in data {
      append(hexDigit(byte >> 4))
      append(hexDigit(byte & 0xF))
    }
  }
}

/// How many digits `value` has in decimal.
@inline(__always)
func decimalWidth(_ value: UInt64) -> Int {
  var length = 1
  var bound: UInt64 = 10
  while length < 20 && value >= bound {
    length &+= 1
    bound = bound &* 10
  }
  return length
}

/// Writes `value` in decimal at `destination` (room for 20 bytes), returns how many bytes.
/// The digits are counted, then written backwards, two at a time.
@inline(__always)
func writeDecimal(_ value: UInt64, to destination: UnsafeMutablePointer<UInt8>) -> Int {
  let length = decimalWidth(value)
  let pairs = decimalDigitPairs.utf8Start
  var v = value
  var index = length
  while v >= 100 {
    let pair = 2 &* Int(truncatingIfNeeded: v % 100)
    v /= 100
    index &-= 2
    destination[index] = pairs[pair]
    destination[index &+ 1] = pairs[pair &+ 1]
  }
  if v >= 10 {
    let pair = 2 &* Int(truncatingIfNeeded: v)
    destination[0] = pairs[pair]
    destination[1] = pairs[pair &+ 1]
  } else {
    destination[0] = 0x30 &+ UInt8(truncatingIfNeeded: v)
  }
  return length
}

/// "00" to "99": the two digits of each value below 100.
private let decimalDigitPairs: StaticString = """
  00010203040506070809101112131415161718192021222324252627282930313233343536373839\
  40414243444546474849505152535455565758596061626364656667686970717273747576777879\
  8081828384858687888990919293949596979899
  """

@inline(__always)
func hexDigit(_ nibble: UInt8) -> UInt8 {
  nibble < 10 ? 0x30 &+ nibble : 0x57 &+ nibble  // 0x57 + 10 = "a"
}
