// Bytes from a terminal → keys. Pure: no I/O, so it is tested on byte strings.

/// One key press as `watch` understands it.
public enum Key: Sendable, Equatable {
  /// A printable character (ASCII or a whole UTF-8 sequence).
  case character(Unicode.Scalar)
  /// Ctrl with a letter: `.control("c")` for 0x03.
  case control(Character)
  case up, down, left, right
  case pageUp, pageDown, home, end
  case enter, tab, backTab, backspace, delete, escape
  /// A sequence this decoder does not know (e.g. F5): ignored by callers, never split into keys.
  case unknown
}

/// Turns terminal input bytes into keys. A chunk may end inside a sequence (`ESC [`): the rest
/// is kept for the next `feed`. A lone ESC is ambiguous (the Escape key or the start of a
/// sequence): it stays pending until more bytes come or the caller, after a short quiet
/// time, calls `flush()`.
public struct KeyDecoder: Sendable {
  private var pending: [UInt8] = []

  public init() {}

  /// Whether bytes are waiting for more input (an ESC, an unfinished sequence or UTF-8).
  public var hasPending: Bool { !pending.isEmpty }

  /// The keys in `bytes` (after any bytes left from the last call).
  public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Key] {
    pending.append(contentsOf: bytes)
    var keys: [Key] = []
    var index = 0
    while index < pending.count {
      guard let (key, length) = Self.decodeOne(pending, at: index) else { break }
      keys.append(key)
      index += length
    }
    pending.removeFirst(index)
    return keys
  }

  /// What is pending, taken as it stands: a lone ESC is the Escape key; an unfinished sequence
  /// (`ESC [`, half a UTF-8 character) is `.unknown`, except that `ESC x` is Escape then `x`.
  public mutating func flush() -> [Key] {
    defer { pending.removeAll() }
    if pending.isEmpty { return [] }
    if pending == [0x1B] { return [.escape] }
    return [.unknown]
  }

  /// The key starting at `index` and its length in bytes, or nil when more bytes are needed.
  static func decodeOne(_ b: [UInt8], at index: Int) -> (Key, Int)? {
    let byte = b[index]
    switch byte {
    case 0x1B:
      guard index + 1 < b.count else { return nil }
      let next = b[index + 1]
      if next == UInt8(ascii: "[") { return csi(b, at: index) }
      if next == UInt8(ascii: "O") {
        // SS3: application cursor keys (ESC O A) and Home/End (ESC O H / F).
        guard index + 2 < b.count else { return nil }
        let key: Key =
          switch b[index + 2] {
          case UInt8(ascii: "A"): .up
          case UInt8(ascii: "B"): .down
          case UInt8(ascii: "C"): .right
          case UInt8(ascii: "D"): .left
          case UInt8(ascii: "H"): .home
          case UInt8(ascii: "F"): .end
          default: .unknown
          }
        return (key, 3)
      }
      if next == 0x1B { return (.escape, 1) }
      // ESC followed by an ordinary key (Alt-x): Escape, and the key on its own.
      return (.escape, 1)
    case 0x0D, 0x0A: return (.enter, 1)
    case 0x09: return (.tab, 1)
    case 0x7F, 0x08: return (.backspace, 1)
    case 0x00..<0x20:
      return (.control(Character(Unicode.Scalar(byte + 0x60))), 1)
    case 0x20..<0x7F: return (.character(Unicode.Scalar(byte)), 1)
    default: return utf8(b, at: index)
    }
  }

  /// `ESC [` parameters (digits and `;`) and a final byte 0x40–0x7E.
  private static func csi(_ b: [UInt8], at index: Int) -> (Key, Int)? {
    var end = index + 2
    var first: Int? = nil
    var number = 0
    var sawDigit = false
    while end < b.count {
      let c = b[end]
      if c >= 0x30 && c <= 0x3F {
        if c >= 0x30 && c <= 0x39 {
          if first == nil {
            number = number * 10 + Int(c - 0x30)
            if number > 9999 { number = 9999 }
            sawDigit = true
          }
        } else if first == nil {
          first = sawDigit ? number : 0
        }
        end += 1
        continue
      }
      if c >= 0x20 && c <= 0x2F {  // intermediate bytes
        end += 1
        continue
      }
      let parameter = first ?? (sawDigit ? number : 0)
      let length = end - index + 1
      guard c >= 0x40 && c <= 0x7E else { return (.unknown, length) }
      let key: Key =
        switch c {
        case UInt8(ascii: "A"): .up
        case UInt8(ascii: "B"): .down
        case UInt8(ascii: "C"): .right
        case UInt8(ascii: "D"): .left
        case UInt8(ascii: "H"): .home
        case UInt8(ascii: "F"): .end
        case UInt8(ascii: "Z"): .backTab
        case UInt8(ascii: "~"):
          switch parameter {
          case 1, 7: .home
          case 4, 8: .end
          case 3: .delete
          case 5: .pageUp
          case 6: .pageDown
          default: .unknown
          }
        default: .unknown
        }
      return (key, length)
    }
    if end - index > 32 { return (.unknown, end - index) }  // runaway: drop it
    return nil
  }

  /// One UTF-8 character; a malformed byte is `.unknown` on its own.
  private static func utf8(_ b: [UInt8], at index: Int) -> (Key, Int)? {
    let lead = b[index]
    let length: Int
    var value: UInt32
    switch lead {
    case 0xC2...0xDF:
      length = 2
      value = UInt32(lead & 0x1F)
    case 0xE0...0xEF:
      length = 3
      value = UInt32(lead & 0x0F)
    case 0xF0...0xF4:
      length = 4
      value = UInt32(lead & 0x07)
    default: return (.unknown, 1)
    }
    var k = 1
    while k < length {
      guard index + k < b.count else { return nil }
      let c = b[index + k]
      guard c & 0xC0 == 0x80 else { return (.unknown, k) }
      value = value << 6 | UInt32(c & 0x3F)
      k += 1
    }
    guard let scalar = Unicode.Scalar(value) else { return (.unknown, length) }
    return (.character(scalar), length)
  }
}
