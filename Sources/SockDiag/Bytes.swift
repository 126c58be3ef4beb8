// Bounds-checked-by-caller loads. Every call site checks `offset + size <= count` first, so
// these never read out of bounds; `loadUnaligned` because netlink payloads are only 4-aligned
// and tcp_info's u64 fields sit at 4-aligned offsets inside an attribute.

extension UnsafeRawBufferPointer {
  /// Host-order (kernel-native) loads: inode, uid, queue lengths, cookies.
  @inline(__always) func hostU16(_ offset: Int) -> UInt16 {
    loadUnaligned(fromByteOffset: offset, as: UInt16.self)
  }
  @inline(__always) func hostU32(_ offset: Int) -> UInt32 {
    loadUnaligned(fromByteOffset: offset, as: UInt32.self)
  }
  @inline(__always) func hostU64(_ offset: Int) -> UInt64 {
    loadUnaligned(fromByteOffset: offset, as: UInt64.self)
  }
  /// Network-order loads: ports, addresses, packet protocol numbers.
  @inline(__always) func bigU16(_ offset: Int) -> UInt16 {
    UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
  }
  @inline(__always) func bigU64(_ offset: Int) -> UInt64 {
    UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }

  /// Loads that yield 0 for a field lying (even partly) past the end: structs the kernel
  /// grows over time (tcp_info, sk_meminfo) are sent at the kernel's own size.
  @inline(__always) func u8OrZero(_ offset: Int) -> UInt8 {
    offset < count ? self[offset] : 0
  }
  @inline(__always) func hostU16OrZero(_ offset: Int) -> UInt16 {
    offset + 2 <= count ? hostU16(offset) : 0
  }
  @inline(__always) func hostU32OrZero(_ offset: Int) -> UInt32 {
    offset + 4 <= count ? hostU32(offset) : 0
  }
  @inline(__always) func hostU64OrZero(_ offset: Int) -> UInt64 {
    offset + 8 <= count ? hostU64(offset) : 0
  }

  /// A view of `[start, end)` without copying. Callers guarantee 0 <= start <= end <= count.
  @inline(__always) func slice(_ start: Int, _ end: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: self[start..<end])
  }

  /// Throws `.truncated` unless at least `need` bytes are present.
  @inline(__always) func require(_ need: Int, _ what: String) throws(SockDiagError) {
    if count < need { throw .truncated(what: what, need: need, have: count) }
  }
}

/// Appends little-endian / host-order integers to a request under construction.
extension Array where Element == UInt8 {
  @inline(__always) mutating func appendHost<T: FixedWidthInteger>(_ value: T) {
    Swift.withUnsafeBytes(of: value) { append(contentsOf: $0) }
  }
  @inline(__always) mutating func appendBig<T: FixedWidthInteger>(_ value: T) {
    Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
  }
  @inline(__always) mutating func appendZeros(_ n: Int) {
    append(contentsOf: repeatElement(0, count: n))
  }
}
