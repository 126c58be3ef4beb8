// Values as written in a query: numbers with sizes or durations, addresses with prefixes and
// ports, and the names of states, protocols, families, socket types and flags. Pure (inet_pton
// only reads its arguments).

import FlowModel

#if canImport(Glibc)
  import Glibc
#endif

struct LiteralError: Error {
  var message: String
  init(_ message: String) { self.message = message }
}

enum Literals {
  /// A number in `unit`: `42`, `0x10`, `1.5MB` (bytes), `200ms` (durations).
  static func number(_ text: String, unit: NumberUnit, unitRequired: Bool) -> Result<NumberLiteral, LiteralError> {
    let lower = text.lowercased()
    if lower.hasPrefix("0x") {
      guard !unitRequired, let value = UInt64(lower.dropFirst(2), radix: 16) else {
        return .failure(LiteralError("cannot read '\(text)' as a number"))
      }
      return .success(NumberLiteral(exactly: value))
    }
    let digits = lower.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
    let suffix = String(lower.dropFirst(digits.count))
    guard !digits.isEmpty, digits.filter({ $0 == "." }).count <= 1, digits.first != ".",
      digits.last != ".", let magnitude = Double(digits)
    else {
      return .failure(LiteralError(expectation(unit, unitRequired) + ", not '\(text)'"))
    }
    if suffix.isEmpty {
      if unitRequired { return .failure(LiteralError(expectation(unit, unitRequired) + ", with its unit")) }
      if let exact = UInt64(digits) { return .success(NumberLiteral(exactly: exact)) }
      return .success(NumberLiteral(magnitude))
    }
    switch unit {
    case .bytes:
      guard let scale = sizeUnits[suffix] else {
        return .failure(LiteralError("unknown size unit '\(suffix)'; use B, KB, KiB, MB, MiB, GB, GiB"))
      }
      return .success(scaled(magnitude, digits, by: scale, over: 1))
    case .micros, .millis:
      guard let nanoseconds = durationUnits[suffix] else {
        return .failure(LiteralError("unknown duration unit '\(suffix)'; use us, ms, s, m or h"))
      }
      return .success(scaled(magnitude, digits, by: nanoseconds, over: unit == .micros ? 1_000 : 1_000_000))
    case .percent where suffix == "%":
      return .success(NumberLiteral(magnitude))
    case .count, .percent:
      return .failure(LiteralError("'\(text)': this field takes a plain number"))
    }
  }

  /// `digits × scale ÷ divisor`, exact for whole results.
  private static func scaled(_ magnitude: Double, _ digits: Substring, by scale: UInt64, over divisor: UInt64)
    -> NumberLiteral
  {
    if let whole = UInt64(digits) {
      let (product, overflow) = whole.multipliedReportingOverflow(by: scale)
      if !overflow && product % divisor == 0 { return NumberLiteral(exactly: product / divisor) }
    }
    return NumberLiteral(magnitude * Double(scale) / Double(divisor))
  }

  static func expectation(_ unit: NumberUnit, _ unitRequired: Bool) -> String {
    switch unit {
    case .bytes: "expected a size such as 4096 or 10KiB"
    case .micros, .millis:
      unitRequired ? "expected a duration such as 200ms or 5s" : "expected a number or a duration such as 200ms"
    case .percent: "expected a percentage such as 80"
    case .count: "expected a number"
    }
  }

  static let sizeUnits: [String: UInt64] = [
    "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1_000, "m": 1 << 20, "mib": 1 << 20, "mb": 1_000_000,
    "g": 1 << 30, "gib": 1 << 30, "gb": 1_000_000_000, "t": 1 << 40, "tib": 1 << 40,
    "tb": 1_000_000_000_000,
  ]

  /// In nanoseconds.
  static let durationUnits: [String: UInt64] = [
    "ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
    "min": 60_000_000_000, "h": 3_600_000_000_000,
  ]

  /// A port: `443` or `:443`.
  static func port(_ text: String) -> UInt16? {
    UInt16(text.hasPrefix(":") ? String(text.dropFirst()) : text)
  }

  /// The states a name stands for: a state in any case, with `-` or `_`, or a group
  /// (`connected`, `listening`, …) as `--state` knows them.
  static func states(_ text: String) -> Set<UInt8>? { StateGroup.states(named: text) }

  static func transportProtocols(_ text: String) -> [TransportProtocol]? {
    switch text.lowercased() {
    case "inet", "ip": TransportProtocol.ipProtocols
    case "all": TransportProtocol.allCases
    default: TransportProtocol(rawValue: text.lowercased()).map { [$0] }
    }
  }

  static func family(_ text: String) -> AddressFamily? {
    switch text.lowercased() {
    case "ipv4", "ip4", "4": .inet
    case "ipv6", "ip6", "6": .inet6
    default: AddressFamily(rawValue: text.lowercased())
    }
  }

  static func socketType(_ text: String) -> UInt8? {
    SocketTypeName.all.first { $0.0 == text.lowercased() }?.1
  }

  static func flag(_ text: String) -> HealthFlag? {
    HealthFlag(rawValue: String(text.lowercased().map { $0 == "_" ? "-" : $0 }))
  }
}

/// Parses `127.0.0.0/8:80`, `[::1]:53`, `::1`, `10.0.0.1`, `:22` or `*:22`; nil when it is none
/// of these.
public func parseAddressMatch(_ text: String) -> AddressMatch? {
  var addressPart = Substring(text)
  var port: UInt16? = nil
  if addressPart.hasPrefix("[") {
    guard let close = addressPart.firstIndex(of: "]") else { return nil }
    let rest = addressPart[addressPart.index(after: close)...]
    if rest.hasPrefix(":") {
      guard let number = UInt16(rest.dropFirst()) else { return nil }
      port = number
    } else if !rest.isEmpty {
      return nil
    }
    addressPart = addressPart[addressPart.index(after: addressPart.startIndex)..<close]
  } else if addressPart.filter({ $0 == ":" }).count == 1, let colon = addressPart.firstIndex(of: ":") {
    // One colon: IPv4 (or nothing) with a port. More colons: a bare IPv6 address.
    guard let number = UInt16(addressPart[addressPart.index(after: colon)...]) else { return nil }
    port = number
    addressPart = addressPart[..<colon]
  }
  var prefixLength: Int? = nil
  if let slash = addressPart.firstIndex(of: "/") {
    guard let bits = Int(addressPart[addressPart.index(after: slash)...]) else { return nil }
    prefixLength = bits
    addressPart = addressPart[..<slash]
  }
  if addressPart.isEmpty || addressPart == "*" {
    guard prefixLength == nil else { return nil }
    return AddressMatch(address: nil, prefixLength: 0, port: port)
  }
  guard let address = parseIPAddress(String(addressPart)) else { return nil }
  let maximum = if case .v4 = address { 32 } else { 128 }
  let bits = prefixLength ?? maximum
  guard (0...maximum).contains(bits) else { return nil }
  return AddressMatch(address: address, prefixLength: bits, port: port)
}

/// inet_pton(3) for either family.
public func parseIPAddress(_ text: String) -> IPAddress? {
  guard !text.utf8.contains(0) else { return nil }
  var v4 = in_addr()
  if inet_pton(AF_INET, text, &v4) == 1 {
    return .v4(UInt32(bigEndian: v4.s_addr))
  }
  var v6 = in6_addr()
  if inet_pton(AF_INET6, text, &v6) == 1 {
    let bytes = withUnsafeBytes(of: v6) { Array($0) }
    let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    return .v6(high: high, low: low)
  }
  return nil
}
