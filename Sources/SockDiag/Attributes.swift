/// Iterates netlink attributes (`struct nlattr`: u16 nla_len including the 4-byte header, u16
/// nla_type; each attribute padded to 4 bytes). It stops at the first malformed attribute and
/// remembers why in `error`, so a caller loops once and checks once (as mdlayher/netlink does).
///
///     var attributes = NetlinkAttributeDecoder(bytes)
///     while attributes.next() { switch attributes.type { ... } }
///     if let error = attributes.error { throw error }
public struct NetlinkAttributeDecoder {
  /// NLA_F_NESTED | NLA_F_NET_BYTEORDER are flags, not part of the type.
  public static let typeMask: UInt16 = 0x3fff
  public static let flagNested: UInt16 = 0x8000
  public static let flagNetByteOrder: UInt16 = 0x4000

  private let buffer: UnsafeRawBufferPointer
  private var offset = 0
  /// The current attribute's type with the flag bits masked off.
  public private(set) var type: UInt16 = 0
  /// The current attribute's flag bits (nested, network byte order).
  public private(set) var flags: UInt16 = 0
  /// The current attribute's payload (after its header, before its padding).
  public private(set) var payload = UnsafeRawBufferPointer(start: nil, count: 0)
  /// Why iteration stopped early, if it did.
  public private(set) var error: SockDiagError?

  public init(_ buffer: UnsafeRawBufferPointer) {
    self.buffer = buffer
  }

  /// Advances to the next attribute; false at the end or on the first error.
  public mutating func next() -> Bool {
    guard error == nil, offset < buffer.count else { return false }
    let remaining = buffer.count - offset
    guard remaining >= 4 else {
      error = .truncated(what: "nlattr header", need: 4, have: remaining)
      return false
    }
    let length = Int(buffer.hostU16(offset))
    let rawType = buffer.hostU16(offset + 2)
    guard length >= 4 else {
      error = .malformed(
        what: "nlattr", detail: "nla_len \(length) < 4 (type \(rawType & Self.typeMask))")
      return false
    }
    guard length <= remaining else {
      error = .truncated(
        what: "nlattr type \(rawType & Self.typeMask)", need: length, have: remaining)
      return false
    }
    type = rawType & Self.typeMask
    flags = rawType & ~Self.typeMask
    payload = buffer.slice(offset + 4, offset + length)
    offset = min(offset + align4(length), buffer.count)
    return true
  }
}

/// Appends one attribute (header, payload, padding) to a request.
func appendAttribute(_ type: UInt16, _ payload: [UInt8], to message: inout [UInt8]) {
  let length = 4 + payload.count
  message.appendHost(UInt16(truncatingIfNeeded: length))
  message.appendHost(type)
  message.append(contentsOf: payload)
  message.appendZeros(align4(length) - length)
}
