import FlowModel

// Formatting of single values into an OutputBuffer: addresses, sizes, durations, times.

// MARK: - Addresses

/// Appends `address` in its text form: dotted quad for IPv4; RFC 5952 for IPv6 (lower-case hex,
/// no leading zeros, the first longest run of two or more zero groups as `::`, and
/// IPv4-mapped addresses as `::ffff:1.2.3.4`).
public func formatAddress(_ address: IPAddress, into out: inout OutputBuffer) {
  switch address {
  case .v4(let value):
    appendDottedQuad(value, into: &out)
  case .v6(let high, let low):
    if high == 0 && low >> 32 == 0xFFFF {
      out.append("::ffff:")
      appendDottedQuad(UInt32(truncatingIfNeeded: low), into: &out)
      return
    }
    var groups: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) = (
      UInt16(truncatingIfNeeded: high >> 48), UInt16(truncatingIfNeeded: high >> 32),
      UInt16(truncatingIfNeeded: high >> 16), UInt16(truncatingIfNeeded: high),
      UInt16(truncatingIfNeeded: low >> 48), UInt16(truncatingIfNeeded: low >> 32),
      UInt16(truncatingIfNeeded: low >> 16), UInt16(truncatingIfNeeded: low)
    )
    withUnsafeBytes(of: &groups) { raw in
      let g = raw.bindMemory(to: UInt16.self)
      // The first longest run of zero groups, if at least 2 long (RFC 5952 4.2.2, 4.2.3).
      var bestStart = -1
      var bestLength = 1
      var i = 0
      while i < 8 {
        if g[i] == 0 {
          var j = i
          while j < 8 && g[j] == 0 { j += 1 }
          if j - i > bestLength {
            bestStart = i
            bestLength = j - i
          }
          i = j
        } else {
          i += 1
        }
      }
      i = 0
      while i < 8 {
        if i == bestStart {
          out.append("::")
          i += bestLength
          continue
        }
        if i > 0 && i != bestStart + bestLength { out.append(UInt8(ascii: ":")) }
        out.appendHex(UInt64(g[i]))
        i += 1
      }
    }
  }
}

/// `address` as text (see `formatAddress(_:into:)`).
public func formatAddress(_ address: IPAddress) -> String {
  var out = OutputBuffer(capacity: 48)
  formatAddress(address, into: &out)
  return String(decoding: out.bytes, as: UTF8.self)
}

private func appendDottedQuad(_ value: UInt32, into out: inout OutputBuffer) {
  // At most 15 bytes, written at once: 100k addresses per listing.
  out.appendUnsafe(atMost: 15) { destination in
    var length = writeDecimal(UInt64(value >> 24), to: destination)
    for shift in stride(from: UInt32(16), through: 0, by: -8) {
      destination[length] = UInt8(ascii: ".")
      length += 1 + writeDecimal(UInt64((value >> shift) & 0xFF), to: destination + length + 1)
    }
    return length
  }
}

extension IPAddress {
  var isUnspecified: Bool {
    switch self {
    case .v4(let v): v == 0
    case .v6(let high, let low): high == 0 && low == 0
    }
  }
}

// MARK: - Sizes and durations

/// Appends `count` bytes in IEC units for people: `0 B`, `1023 B`, `1.2 KiB`, `3.4 MiB`,
/// `5.0 GiB` … `EiB`; one decimal, rounded half up, moving to the next unit rather than
/// printing `1024.0`.
public func appendHumanBytes(_ count: UInt64, into out: inout OutputBuffer) {
  let (value, unit) = humanBytes(count)
  if unit == 0 {
    out.appendDecimal(value)
    out.append(" B")
    return
  }
  out.appendDecimal(value / 10)
  out.append(UInt8(ascii: "."))
  out.appendDecimal(value % 10)
  switch unit {
  case 1: out.append(" KiB")
  case 2: out.append(" MiB")
  case 3: out.append(" GiB")
  case 4: out.append(" TiB")
  case 5: out.append(" PiB")
  default: out.append(" EiB")
  }
}

/// The width of `appendHumanBytes(count)`, without writing it.
func humanBytesWidth(_ count: UInt64) -> Int {
  let (value, unit) = humanBytes(count)
  return unit == 0 ? decimalWidth(value) + 2 : decimalWidth(value / 10) + 6
}

/// A byte count as shown: below 1 KiB the count itself (unit 0); above, tenths of the
/// largest binary unit (1 KiB ... 6 EiB) that keeps it under 1024.0.
private func humanBytes(_ count: UInt64) -> (value: UInt64, unit: Int) {
  if count < 1024 { return (count, 0) }
  var unit = 1
  while unit < 6 && count >> (10 * UInt64(unit + 1)) != 0 { unit += 1 }
  var tenths = roundedTenths(count, shift: 10 * UInt64(unit))
  if tenths >= 10240 && unit < 6 {
    unit += 1
    tenths = roundedTenths(count, shift: 10 * UInt64(unit))
  }
  return (tenths, unit)
}

/// `count` × 10 / 2^shift, rounded half up, without overflow.
private func roundedTenths(_ count: UInt64, shift: UInt64) -> UInt64 {
  let whole = count >> shift
  let rest = count & ((1 << shift) - 1)
  return whole * 10 + ((rest * 10 + (1 << (shift - 1))) >> shift)
}

/// `count` in IEC units (see `appendHumanBytes`).
public func humanBytes(_ count: UInt64) -> String {
  var out = OutputBuffer(capacity: 16)
  appendHumanBytes(count, into: &out)
  return String(decoding: out.bytes, as: UTF8.self)
}

/// Appends a round-trip time: `850us` below a millisecond, `1.2ms` below a second, `2.5s` above.
public func appendDuration(micros: UInt64, into out: inout OutputBuffer) {
  let (value, unit) = duration(micros: micros)
  switch unit {
  case .microseconds:
    out.appendDecimal(value)
    out.append("us")
  case .milliseconds, .seconds:
    out.appendDecimal(value / 10)
    out.append(UInt8(ascii: "."))
    out.appendDecimal(value % 10)
    out.append(unit == .milliseconds ? "ms" : "s")
  }
}

/// The width of `appendDuration(micros:)`, without writing it.
func durationWidth(micros: UInt64) -> Int {
  let (value, unit) = duration(micros: micros)
  switch unit {
  case .microseconds: return decimalWidth(value) + 2
  case .milliseconds: return decimalWidth(value / 10) + 4
  case .seconds: return decimalWidth(value / 10) + 3
  }
}

private enum DurationUnit { case microseconds, milliseconds, seconds }

/// A duration as shown: whole microseconds below 1 ms, else tenths of milliseconds below
/// 1000.0 ms, else tenths of seconds; rounded half up.
private func duration(micros: UInt64) -> (value: UInt64, unit: DurationUnit) {
  if micros < 1000 { return (micros, .microseconds) }
  let tenthsOfMs = (micros + 50) / 100
  if tenthsOfMs < 10000 { return (tenthsOfMs, .milliseconds) }
  return ((micros + 50_000) / 100_000, .seconds)
}

// MARK: - Time

/// Appends `time` (seconds since the epoch) as an RFC 3339 UTC timestamp with milliseconds:
/// `2026-11-22T12:00:00.123Z`. No Foundation: the calendar date comes from Howard Hinnant's
/// civil-from-days algorithm (proleptic Gregorian).
public func appendRFC3339(_ time: Double, into out: inout OutputBuffer) {
  let millis: Int64 = time.isFinite ? Int64(max(min((time * 1000).rounded(), 9.0e15), -9.0e15)) : 0
  var seconds = millis / 1000
  var fraction = millis % 1000
  if fraction < 0 {
    fraction += 1000
    seconds -= 1
  }
  var days = seconds / 86400
  var secondOfDay = seconds % 86400
  if secondOfDay < 0 {
    secondOfDay += 86400
    days -= 1
  }
  let (year, month, day) = civilFromDays(days)
  appendPadded(year, digits: 4, into: &out)
  out.append(UInt8(ascii: "-"))
  appendPadded(month, digits: 2, into: &out)
  out.append(UInt8(ascii: "-"))
  appendPadded(day, digits: 2, into: &out)
  out.append(UInt8(ascii: "T"))
  appendPadded(secondOfDay / 3600, digits: 2, into: &out)
  out.append(UInt8(ascii: ":"))
  appendPadded(secondOfDay / 60 % 60, digits: 2, into: &out)
  out.append(UInt8(ascii: ":"))
  appendPadded(secondOfDay % 60, digits: 2, into: &out)
  out.append(UInt8(ascii: "."))
  appendPadded(fraction, digits: 3, into: &out)
  out.append(UInt8(ascii: "Z"))
}

/// `time` as an RFC 3339 UTC timestamp (see `appendRFC3339`).
public func rfc3339(_ time: Double) -> String {
  var out = OutputBuffer(capacity: 32)
  appendRFC3339(time, into: &out)
  return String(decoding: out.bytes, as: UTF8.self)
}

/// (year, month 1–12, day 1–31) of the day `days` after 1970-01-01.
func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
  let z = days + 719_468
  let era = (z >= 0 ? z : z - 146_096) / 146_097
  let doe = z - era * 146_097  // [0, 146096]
  let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365  // [0, 399]
  let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)  // [0, 365]
  let mp = (5 * doy + 2) / 153  // [0, 11], March-based
  let day = doy - (153 * mp + 2) / 5 + 1
  let month = mp < 10 ? mp + 3 : mp - 9
  let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  return (year, month, day)
}

private func appendPadded(_ value: Int64, digits: Int, into out: inout OutputBuffer) {
  if value < 0 {
    out.append(UInt8(ascii: "-"))
    appendPadded(-value, digits: digits, into: &out)
    return
  }
  var width = 1
  var v = value
  while v >= 10 {
    v /= 10
    width += 1
  }
  out.append(repeating: UInt8(ascii: "0"), count: digits - width)
  out.appendDecimal(UInt64(value))
}
