// Text that comes from the outside (process names, socket paths) is bytes, not `String`:
// it may be invalid UTF-8 or hold terminal escape sequences. Everything here works on bytes.

// MARK: - UTF-8

/// The length of the well-formed UTF-8 sequence starting at `i` and its scalar value, or nil
/// when the byte at `i` does not start one (Unicode Table 3-7: no overlongs, no surrogates,
/// nothing above U+10FFFF).
@inline(__always)
func decodeUTF8(_ p: UnsafeBufferPointer<UInt8>, at i: Int) -> (scalar: UInt32, length: Int)? {
  let b0 = p[i]
  if b0 < 0x80 { return (UInt32(b0), 1) }
  let n = p.count - i
  @inline(__always) func cont(_ k: Int) -> UInt32? {
    let b = p[i + k]
    return b & 0xC0 == 0x80 ? UInt32(b & 0x3F) : nil
  }
  switch b0 {
  case 0xC2...0xDF:
    guard n >= 2, let c1 = cont(1) else { return nil }
    return ((UInt32(b0 & 0x1F) << 6) | c1, 2)
  case 0xE0...0xEF:
    guard n >= 3 else { return nil }
    let b1 = p[i + 1]
    switch b0 {
    case 0xE0: guard (0xA0...0xBF).contains(b1) else { return nil }
    case 0xED: guard (0x80...0x9F).contains(b1) else { return nil }
    default: guard (0x80...0xBF).contains(b1) else { return nil }
    }
    guard let c2 = cont(2) else { return nil }
    return ((UInt32(b0 & 0x0F) << 12) | (UInt32(b1 & 0x3F) << 6) | c2, 3)
  case 0xF0...0xF4:
    guard n >= 4 else { return nil }
    let b1 = p[i + 1]
    switch b0 {
    case 0xF0: guard (0x90...0xBF).contains(b1) else { return nil }
    case 0xF4: guard (0x80...0x8F).contains(b1) else { return nil }
    default: guard (0x80...0xBF).contains(b1) else { return nil }
    }
    guard let c2 = cont(2), let c3 = cont(3) else { return nil }
    return (
      (UInt32(b0 & 0x07) << 18) | (UInt32(b1 & 0x3F) << 12) | (c2 << 6) | c3, 4
    )
  default:
    return nil
  }
}

/// True when `bytes` is well-formed UTF-8.
public func isValidUTF8(_ bytes: [UInt8]) -> Bool {
  bytes.withUnsafeBufferPointer { p in
    var i = 0
    while i < p.count {
      if p[i] < 0x80 {
        i += 1
        continue
      }
      guard let (_, length) = decodeUTF8(p, at: i) else { return false }
      i += length
    }
    return true
  }
}

// MARK: - Terminal sanitising

/// Scalars that are valid but must not reach a terminal raw: C1 controls (U+0080–U+009F,
/// e.g. U+009B is an 8-bit CSI), bidirectional overrides/isolates (they reorder the rest of
/// the line) and the line/paragraph separators.
@inline(__always)
func isDangerousScalar(_ s: UInt32) -> Bool {
  switch s {
  case 0x80...0x9F, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: true
  default: false
  }
}

@inline(__always)
func appendByteEscape(_ byte: UInt8, into out: inout OutputBuffer) {
  out.append(UInt8(ascii: "\\"))
  out.append(UInt8(ascii: "x"))
  out.append(hexDigit(byte >> 4))
  out.append(hexDigit(byte & 0xF))
}

/// Appends `p` made safe for a terminal (see `sanitizedForTerminal`).
func appendSanitized(_ p: UnsafeBufferPointer<UInt8>, into out: inout OutputBuffer) {
  var i = 0
  while i < p.count {
    let b = p[i]
    if b >= 0x20 && b < 0x7F {
      if b == UInt8(ascii: "\\") {
        out.append(UInt8(ascii: "\\"))
      }
      out.append(b)
      i += 1
      continue
    }
    if b < 0x80 {  // C0 control or DEL
      appendByteEscape(b, into: &out)
      i += 1
      continue
    }
    guard let (scalar, length) = decodeUTF8(p, at: i) else {
      appendByteEscape(b, into: &out)
      i += 1
      continue
    }
    if isDangerousScalar(scalar) {
      for k in 0..<length { appendByteEscape(p[i + k], into: &out) }
    } else {
      out.append(contentsOf: UnsafeBufferPointer(rebasing: p[i..<(i + length)]))
    }
    i += length
  }
}

func appendSanitized(_ bytes: [UInt8], into out: inout OutputBuffer) {
  bytes.withUnsafeBufferPointer { appendSanitized($0, into: &out) }
}

/// `bytes` made safe to print on a terminal: C0 controls, DEL, C1 controls (U+0080–U+009F),
/// bidirectional controls (U+200E/F, U+202A–E, U+2066–9), U+2028/9 and every byte that is not
/// part of well-formed UTF-8 become `\xNN` (one escape per byte, lower-case hex); a backslash
/// becomes `\\` so an escape can't be forged. Valid printable UTF-8 passes unchanged.
public func sanitizedForTerminal(_ bytes: [UInt8]) -> [UInt8] {
  var out = OutputBuffer(capacity: bytes.count + 8)
  appendSanitized(bytes, into: &out)
  return out.bytes
}

// MARK: - Display width

/// East Asian Wide and Fullwidth ranges (abridged from EastAsianWidth.txt) and the emoji blocks.
private let wideRanges: [(UInt32, UInt32)] = [
  (0x1100, 0x115F), (0x231A, 0x231B), (0x2329, 0x232A), (0x23E9, 0x23EC), (0x23F0, 0x23F0),
  (0x23F3, 0x23F3), (0x25FD, 0x25FE), (0x2614, 0x2615), (0x2648, 0x2653), (0x267F, 0x267F),
  (0x2693, 0x2693), (0x26A1, 0x26A1), (0x26AA, 0x26AB), (0x26BD, 0x26BE), (0x26C4, 0x26C5),
  (0x26CE, 0x26CE), (0x26D4, 0x26D4), (0x26EA, 0x26EA), (0x26F2, 0x26F3), (0x26F5, 0x26F5),
  (0x26FA, 0x26FA), (0x26FD, 0x26FD), (0x2705, 0x2705), (0x270A, 0x270B), (0x2728, 0x2728),
  (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755), (0x2757, 0x2757), (0x2795, 0x2797),
  (0x27B0, 0x27B0), (0x27BF, 0x27BF), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55),
  (0x2E80, 0x303E), (0x3041, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA000, 0xA4CF),
  (0xA960, 0xA97F), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFE10, 0xFE19), (0xFE30, 0xFE6F),
  (0xFF00, 0xFF60), (0xFFE0, 0xFFE6), (0x16FE0, 0x16FE4), (0x17000, 0x18CFF),
  (0x1B000, 0x1B2FF), (0x1F004, 0x1F004), (0x1F0CF, 0x1F0CF), (0x1F18E, 0x1F18E),
  (0x1F191, 0x1F19A), (0x1F200, 0x1F202), (0x1F210, 0x1F23B), (0x1F240, 0x1F248),
  (0x1F250, 0x1F251), (0x1F260, 0x1F265), (0x1F300, 0x1F64F), (0x1F680, 0x1F6FF),
  (0x1F7E0, 0x1F7EB), (0x1F90C, 0x1F9FF), (0x1FA00, 0x1FAFF), (0x20000, 0x2FFFD),
  (0x30000, 0x3FFFD),
]

private func isWide(_ s: UInt32) -> Bool {
  var lo = 0
  var hi = wideRanges.count - 1
  while lo <= hi {
    let mid = (lo + hi) / 2
    let (a, b) = wideRanges[mid]
    if s < a {
      hi = mid - 1
    } else if s > b {
      lo = mid + 1
    } else {
      return true
    }
  }
  return false
}

/// The number of terminal cells `scalar` takes: 0 for combining marks, format characters
/// (zero-width space/joiners, variation selectors) and controls, 2 for East Asian Wide and
/// Fullwidth characters and emoji, else 1.
func scalarWidth(_ scalar: UInt32) -> Int {
  if scalar < 0x300 { return scalar < 0x20 || (0x7F...0x9F).contains(scalar) ? 0 : 1 }
  if (0x1160...0x11FF).contains(scalar) { return 0 }  // Hangul medial vowels, final consonants
  if isWide(scalar) { return 2 }
  guard let s = Unicode.Scalar(scalar) else { return 1 }
  switch s.properties.generalCategory {
  case .nonspacingMark, .enclosingMark, .format: return 0
  default: return 1
  }
}

/// Display width of a byte sequence on a terminal. Bytes that are not well-formed UTF-8
/// count 1 each (they are shown escaped or as U+FFFD elsewhere).
public func displayWidth(of utf8: ArraySlice<UInt8>) -> Int {
  utf8.withUnsafeBufferPointer { displayWidth($0) }
}

func displayWidth(_ p: UnsafeBufferPointer<UInt8>) -> Int {
  var width = 0
  var i = 0
  while i < p.count {
    let b = p[i]
    if b < 0x80 {
      width += (b >= 0x20 && b != 0x7F) ? 1 : 0
      i += 1
      continue
    }
    if let (scalar, length) = decodeUTF8(p, at: i) {
      width += scalarWidth(scalar)
      i += length
    } else {
      width += 1
      i += 1
    }
  }
  return width
}

// MARK: - Truncation

/// The ellipsis that marks a truncated cell (U+2026, one cell wide).
let ellipsis: StaticString = "…"

/// The end (exclusive) of the longest prefix of `p[from..<to]` that fits in `width` cells,
/// never splitting a UTF-8 sequence, and the width it takes. Zero-width scalars that follow
/// the last kept scalar are kept with it.
func prefixFitting(
  _ p: UnsafeBufferPointer<UInt8>, from: Int, to: Int, width: Int
) -> (end: Int, width: Int) {
  var i = from
  var used = 0
  while i < to {
    let (scalar, length) = decodeUTF8(p, at: i) ?? (0xFFFD, 1)
    let w = p[i] < 0x80 ? 1 : scalarWidth(scalar)
    if used + w > width { break }
    used += w
    i += length
  }
  return (i, used)
}

/// The start of the longest suffix of `p[from..<to]` that fits in `width` cells, and its width.
/// The suffix starts at a scalar boundary and never with a combining mark.
func suffixFitting(
  _ p: UnsafeBufferPointer<UInt8>, from: Int, to: Int, width: Int
) -> (start: Int, width: Int) {
  // Scalar boundaries are found going forward (the bytes may hold invalid sequences).
  var starts: [Int] = []
  var widths: [Int] = []
  var i = from
  while i < to {
    let (scalar, length) = decodeUTF8(p, at: i) ?? (0xFFFD, 1)
    starts.append(i)
    widths.append(p[i] < 0x80 ? 1 : scalarWidth(scalar))
    i += length
  }
  var used = 0
  var best = to
  var bestWidth = 0
  var k = starts.count - 1
  while k >= 0 {
    used += widths[k]
    if used > width { break }
    if widths[k] > 0 {
      best = starts[k]
      bestWidth = used
    }
    k -= 1
  }
  return (best, bestWidth)
}

/// How a cell is shortened when its column is narrower than the text.
enum TruncationStyle {
  /// Keep the start: `longcommandna…`.
  case end
  /// Keep the end: `…/run/docker.sock`.
  case start
  /// Keep the part from the last `separator` (a port, a pid) and cut before it:
  /// `2001:db8:85a3…:443`, `postgres-wor….1234`. Falls back to `.end` when that part is too wide.
  case keepingSuffix(from: UInt8)
}

/// Appends `p` cut to exactly `width` cells or fewer, marked with `…`; returns the width written.
/// `p` must be wider than `width`.
func appendTruncated(
  _ p: UnsafeBufferPointer<UInt8>, width: Int, style: TruncationStyle,
  into out: inout OutputBuffer
) -> Int {
  if width <= 0 { return 0 }
  if width == 1 {
    out.append(ellipsis)
    return 1
  }
  switch style {
  case .end:
    let (end, used) = prefixFitting(p, from: 0, to: p.count, width: width - 1)
    out.append(contentsOf: UnsafeBufferPointer(rebasing: p[0..<end]))
    out.append(ellipsis)
    return used + 1
  case .start:
    let (start, used) = suffixFitting(p, from: 0, to: p.count, width: width - 1)
    out.append(ellipsis)
    out.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<p.count]))
    return used + 1
  case .keepingSuffix(let separator):
    var cut = p.count - 1
    while cut > 0 && p[cut] != separator { cut -= 1 }
    // Keep the bracket of an IPv6 address with its port: `[2001:db8:…]:443`.
    if cut > 1 && separator == UInt8(ascii: ":") && p[cut - 1] == UInt8(ascii: "]") { cut -= 1 }
    if cut > 0 {
      let suffixWidth = displayWidth(UnsafeBufferPointer(rebasing: p[cut..<p.count]))
      if suffixWidth + 2 <= width {
        let (end, used) = prefixFitting(p, from: 0, to: cut, width: width - 1 - suffixWidth)
        out.append(contentsOf: UnsafeBufferPointer(rebasing: p[0..<end]))
        out.append(ellipsis)
        out.append(contentsOf: UnsafeBufferPointer(rebasing: p[cut..<p.count]))
        return used + 1 + suffixWidth
      }
    }
    return appendTruncated(p, width: width, style: .end, into: &out)
  }
}

/// `utf8` cut to at most `width` display cells, marked with `…` when cut. Never splits a
/// UTF-8 sequence; the result is never wider than `width`.
public func truncated(_ utf8: [UInt8], toWidth width: Int) -> [UInt8] {
  utf8.withUnsafeBufferPointer { p in
    if displayWidth(p) <= width { return utf8 }
    var out = OutputBuffer(capacity: utf8.count + 3)
    _ = appendTruncated(p, width: width, style: .end, into: &out)
    return out.bytes
  }
}

// MARK: - JSON and CSV text

private let replacementCharacter: StaticString = "\u{FFFD}"

/// Appends `p` as the inside of a JSON string (no quotes). Valid UTF-8 passes with JSON
/// escaping (`"` `\` as `\"` `\\`, controls U+0000–U+001F, U+007F–U+009F, U+2028, U+2029 as
/// `\u00XX`/`\u20XX`); each byte that is not part of well-formed UTF-8 becomes U+FFFD.
/// When `nulAs` is set, NUL bytes are written as that byte instead. Returns false when the
/// text was not written exactly (a replacement or a NUL substitution happened).
@discardableResult
func appendJSONStringBody(
  _ p: UnsafeBufferPointer<UInt8>, nulAs: UInt8? = nil, into out: inout OutputBuffer
) -> Bool {
  var exact = true
  var i = 0
  while i < p.count {
    let b = p[i]
    if b >= 0x20 && b < 0x7F {
      if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
      out.append(b)
      i += 1
      continue
    }
    if b < 0x80 {
      if b == 0, let nulAs {
        out.append(nulAs)
        exact = false
      } else {
        switch b {
        case 0x0A: out.append("\\n")
        case 0x09: out.append("\\t")
        case 0x0D: out.append("\\r")
        default:
          out.append("\\u00")
          out.append(hexDigit(b >> 4))
          out.append(hexDigit(b & 0xF))
        }
      }
      i += 1
      continue
    }
    guard let (scalar, length) = decodeUTF8(p, at: i) else {
      out.append(replacementCharacter)
      exact = false
      i += 1
      continue
    }
    if scalar <= 0x9F || scalar == 0x2028 || scalar == 0x2029 {
      out.append("\\u")
      out.appendHex(UInt64(scalar), minDigits: 4)
    } else {
      out.append(contentsOf: UnsafeBufferPointer(rebasing: p[i..<(i + length)]))
    }
    i += length
  }
  return exact
}

extension OutputBuffer {
  /// Appends a quoted JSON string of `bytes` (see the invalid-UTF-8 scheme in docs/json.md).
  /// Returns false when invalid UTF-8 (or, with `nulAs`, a NUL) had to be replaced, so the
  /// caller adds the exact `*_bytes` field.
  @discardableResult
  public mutating func appendJSONString(_ bytes: [UInt8], nulAs: UInt8? = nil) -> Bool {
    bytes.withUnsafeBufferPointer { appendJSONString($0, nulAs: nulAs) }
  }

  @discardableResult
  public mutating func appendJSONString(_ p: UnsafeBufferPointer<UInt8>, nulAs: UInt8? = nil)
    -> Bool
  {
    append(UInt8(ascii: "\""))
    let exact = appendJSONStringBody(p, nulAs: nulAs, into: &self)
    append(UInt8(ascii: "\""))
    return exact
  }

  /// Appends a quoted JSON string of `text`.
  public mutating func appendJSONString(_ text: String) {
    var text = text
    text.withUTF8 { _ = appendJSONString($0) }
  }
}

/// Appends `p` as CSV text content: each byte that is not well-formed UTF-8 and every control
/// (C0 including tab and newline, DEL, C1) and bidirectional control becomes U+FFFD, so a CSV
/// file is one record per line and safe to `cat`. Quoting is done by the caller.
func appendCSVText(_ p: UnsafeBufferPointer<UInt8>, into out: inout OutputBuffer) {
  var i = 0
  while i < p.count {
    let b = p[i]
    if b >= 0x20 && b < 0x7F {
      out.append(b)
      i += 1
      continue
    }
    if b < 0x80 {
      out.append(replacementCharacter)
      i += 1
      continue
    }
    guard let (scalar, length) = decodeUTF8(p, at: i) else {
      out.append(replacementCharacter)
      i += 1
      continue
    }
    if isDangerousScalar(scalar) {
      out.append(replacementCharacter)
    } else {
      out.append(contentsOf: UnsafeBufferPointer(rebasing: p[i..<(i + length)]))
    }
    i += length
  }
}
