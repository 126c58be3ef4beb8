// Little-endian writing and bounds-checked reading for the recording format.

struct ByteWriter {
  var bytes: [UInt8] = []

  mutating func u8(_ value: UInt8) { bytes.append(value) }
  mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
  mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
  mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
  mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }
  mutating func f64(_ value: Double) { u64(value.bitPattern) }
  mutating func data(_ value: [UInt8]) {
    u32(UInt32(truncatingIfNeeded: value.count))
    bytes += value
  }
  mutating func text(_ value: String) { data(Array(value.utf8)) }
  /// An optional integer: a presence byte, then the value.
  mutating func optionalU64(_ value: UInt64?) {
    u8(value == nil ? 0 : 1)
    u64(value ?? 0)
  }

  /// A record: kind, length, payload.
  mutating func record(_ kind: RecordingFormat.Kind, _ payload: (inout ByteWriter) -> Void) {
    var inner = ByteWriter()
    payload(&inner)
    u8(kind.rawValue)
    u32(UInt32(truncatingIfNeeded: inner.bytes.count))
    bytes += inner.bytes
  }
}

/// Reads a payload; every read checks the bounds and throws with the file offset.
struct ByteReader {
  let bytes: UnsafeRawBufferPointer
  /// Where `bytes` starts in the file, for errors.
  let base: Int
  var offset = 0

  init(_ bytes: UnsafeRawBufferPointer, base: Int) {
    self.bytes = bytes
    self.base = base
  }

  var atEnd: Bool { offset >= bytes.count }

  mutating func take(_ count: Int, _ what: String) throws(RecordingError) -> UnsafeRawBufferPointer {
    guard count >= 0, count <= bytes.count - offset else {
      throw RecordingError("truncated \(what): \(count) bytes needed, \(bytes.count - offset) left", at: base + offset)
    }
    defer { offset += count }
    return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
  }

  mutating func u8(_ what: String) throws(RecordingError) -> UInt8 { try take(1, what)[0] }
  mutating func u16(_ what: String) throws(RecordingError) -> UInt16 {
    UInt16(littleEndian: try take(2, what).loadUnaligned(as: UInt16.self))
  }
  mutating func u32(_ what: String) throws(RecordingError) -> UInt32 {
    UInt32(littleEndian: try take(4, what).loadUnaligned(as: UInt32.self))
  }
  mutating func u64(_ what: String) throws(RecordingError) -> UInt64 {
    UInt64(littleEndian: try take(8, what).loadUnaligned(as: UInt64.self))
  }
  mutating func i32(_ what: String) throws(RecordingError) -> Int32 { Int32(bitPattern: try u32(what)) }
  mutating func f64(_ what: String) throws(RecordingError) -> Double { Double(bitPattern: try u64(what)) }
  mutating func data(_ what: String) throws(RecordingError) -> [UInt8] {
    let count = try u32(what)
    return Array(try take(Int(count), what))
  }
  mutating func text(_ what: String) throws(RecordingError) -> String {
    String(decoding: try data(what), as: UTF8.self)
  }
  mutating func optionalU64(_ what: String) throws(RecordingError) -> UInt64? {
    let present = try u8(what)
    let value = try u64(what)
    return present != 0 ? value : nil
  }
}
