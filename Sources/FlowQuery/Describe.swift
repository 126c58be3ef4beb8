// Queries and kernel filters written back as query text: for `--explain`, and for the flags
// (`--state`, `-p`, …) that are shorthands for a query. What is printed parses back to the
// same query.

import FlowModel
import SockDiag

extension QueryExpression: CustomStringConvertible {
  public var description: String { written(in: .top) }

  enum Position { case top, inAnd, inOr, operand }

  func written(in position: Position) -> String {
    switch self {
    case .constant(let value): return value ? "true" : "false"
    case .test(let test): return test.description
    case .not(let a): return "not " + a.written(in: .operand)
    case .and(let a, let b):
      // The parser groups from the left: a right operand of the same kind keeps its brackets.
      let right = if case .and = b { "(\(b.written(in: .top)))" } else { b.written(in: .inAnd) }
      let text = a.written(in: .inAnd) + " and " + right
      return position == .operand ? "(\(text))" : text
    case .or(let a, let b):
      let right = if case .or = b { "(\(b.written(in: .top)))" } else { b.written(in: .inOr) }
      let text = a.written(in: .inOr) + " or " + right
      return position == .top || position == .inOr ? text : "(\(text))"
    }
  }
}

extension QueryTest: CustomStringConvertible {
  public var description: String {
    let name = field.shortName
    switch comparison {
    case .isTrue: return name
    case .number(let op, let literal): return "\(name) \(op.rawValue) \(written(literal))"
    case .numberIn(let ranges):
      let items = ranges.map { $0.lower == $0.upper ? written($0.lower) : "\(written($0.lower))..\(written($0.upper))" }
      return items.count == 1 ? "\(name) in \(items[0])" : "\(name) in (\(items.joined(separator: ", ")))"
    case .address(let matches):
      let items = matches.map(\.queryText)
      return items.count == 1 ? "\(name) in \(items[0])" : "\(name) in (\(items.joined(separator: ", ")))"
    case .text(.equals(let values)):
      let items = values.map(quoted)
      return items.count == 1 ? "\(name) == \(items[0])" : "\(name) in (\(items.joined(separator: ", ")))"
    case .text(.contains(let needle)): return "\(name) contains \(quoted(needle))"
    case .text(.regex(let regex)): return "\(name) =~ \(quoted(Array(regex.source.utf8)))"
    case .member(let values):
      let names = memberNames(values)
      if field == .flags { return names.count == 1 ? names[0] : "flags has (\(names.joined(separator: ", ")))" }
      return names.count == 1 ? "\(name) == \(names[0])" : "\(name) in (\(names.joined(separator: ", ")))"
    }
  }

  private func memberNames(_ values: Set<UInt64>) -> [String] {
    let sorted = values.sorted()
    switch field {
    case .state:
      return sorted.map { SocketState(rawValue: UInt8(truncatingIfNeeded: $0))?.queryName ?? String($0) }
    case .proto: return sorted.map { TransportProtocol.allCases[Int($0)].rawValue }
    case .family: return sorted.map { AddressFamily.allCases[Int($0)].rawValue }
    case .type: return sorted.map { value in SocketTypeName.all.first { UInt64($0.1) == value }?.0 ?? String(value) }
    default: return sorted.map { HealthFlag.allCases[Int($0)].rawValue }
    }
  }

  /// A literal in the field's unit, with the unit where the field requires one.
  private func written(_ literal: NumberLiteral) -> String {
    guard case .number(let unit, true) = field.kind else { return literal.description }
    let perSecond: UInt64 = unit == .micros ? 1_000_000 : 1_000
    if let exact = literal.exact, exact > 0 {
      if exact % perSecond == 0 { return "\(exact / perSecond)s" }
      if unit == .micros && exact % 1_000 == 0 { return "\(exact / 1_000)ms" }
    }
    return literal.description + (unit == .micros ? "us" : "ms")
  }
}

/// A string literal: quoted, with `"` and `\` escaped and control characters written `\xHH`,
/// so that it reads back the same and prints nothing a terminal would act on.
func quoted(_ bytes: [UInt8]) -> String {
  var text = "\""
  for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
    switch scalar {
    case "\"", "\\": text += "\\" + String(scalar)
    case _ where scalar.value < 0x20 || (0x7f..<0xa0).contains(scalar.value):
      text += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
    default: text.unicodeScalars.append(scalar)
    }
  }
  return text + "\""
}

extension SocketState {
  /// The name a query writes: the kernel's, lower case, `-` for `_` (`close-wait`).
  public var queryName: String {
    String(kernelName.description.lowercased().map { $0 == "_" ? "-" : $0 })
  }
}

extension AddressMatch {
  /// `10.0.0.0/8`, `[::1]:53`, `:22`.
  var queryText: String {
    var text: String
    switch address {
    case nil: text = ""
    case .v4(let value)?:
      text = IPAddress.v4(value).text
      if prefixLength != 32 { text += "/\(prefixLength)" }
    case .v6?:
      text = address!.text
      if prefixLength != 128 { text += "/\(prefixLength)" }
      if port != nil { text = "[\(text)]" }
    }
    if let port { text += ":\(port)" }
    return text.isEmpty ? "*" : text
  }
}

extension InetFilter: CustomStringConvertible {
  /// The kernel filter in query words (`dport == 443 or dst in 10.0.0.0/8`).
  public var description: String { written(top: true) }

  private func written(top: Bool) -> String {
    switch self {
    case .always: return "true"
    case .never: return "false"
    case .sourcePort(let comparison): return "sport " + comparison.written
    case .destinationPort(let comparison): return "dport " + comparison.written
    case .local(let condition): return "src in " + condition.written
    case .remote(let condition): return "dst in " + condition.written
    case .device(let index): return "interface == \(index)"
    case .mark(let value, let mask): return mask == .max ? "mark == \(value)" : "mark & \(mask) == \(value)"
    case .cgroup(let id): return "cgroup_id == \(id)"
    case .not(let a): return "not " + a.written(top: false)
    case .and(let a, let b):
      let text = a.written(top: false) + " and " + b.written(top: false)
      return top ? text : "(\(text))"
    case .or(let a, let b):
      let text = a.written(top: false) + " or " + b.written(top: false)
      return top ? text : "(\(text))"
    }
  }
}

extension InetFilter.PortComparison {
  var written: String {
    switch self {
    case .equals(let port): "== \(port)"
    case .atLeast(let port): ">= \(port)"
    case .atMost(let port): "<= \(port)"
    }
  }
}

extension InetFilterProgram.HostCondition {
  var written: String {
    var match = AddressMatch(address: nil, prefixLength: Int(prefixLength), port: port)
    if family == 2, address.count == 4 {
      match.address = .v4(address.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    } else if family == 10, address.count == 16 {
      let high = address[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      let low = address[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      match.address = .v6(high: high, low: low)
    }
    return match.queryText
  }
}

extension KernelPlan {
  /// What `--explain` prints: the whole query, then what the kernel is asked for, then what is
  /// checked after decoding.
  public func explanation(of query: QueryExpression, scope: String) -> String {
    var lines = ["query: \(query)", "kernel:"]
    let order = TransportProtocol.allCases.filter { protocols.contains($0) }
    if order.isEmpty { lines.append("  nothing is dumped: no socket can match") }
    // Protocols asked for alike share a line.
    var groups: [(line: String, protocols: [String])] = []
    for proto in order {
      guard let request = requests[proto] else { continue }
      var line = ""
      if proto.families.contains(.inet) {
        line += " (" + [ipv4 ? "IPv4" : nil, ipv6 ? "IPv6" : nil].compactMap { $0 }.joined(separator: ", ") + ")"
      }
      line += proto.hasConnectionStates ? ": states " + Self.stateNames(request.states) : ": every socket (no states)"
      if let inet = request.inet {
        let size = inet.compile()?.count
        line += "; bytecode: \(inet)" + (size.map { " (\($0) bytes)" } ?? " (too long: filtered here)")
      }
      if let index = groups.firstIndex(where: { $0.line == line }) {
        groups[index].protocols.append(proto.rawValue)
      } else {
        groups.append((line, [proto.rawValue]))
      }
    }
    for group in groups { lines.append("  " + group.protocols.joined(separator: ", ") + group.line) }
    let skipped = TransportProtocol.allCases.filter { !protocols.contains($0) }.map(\.rawValue)
    if !skipped.isEmpty { lines.append("  not dumped: " + skipped.joined(separator: ", ")) }
    if let pids {
      lines.append("owners: only pid " + pids.sorted().map(String.init).joined(separator: ", ") + " scanned in /proc")
    } else {
      lines.append("owners: every process scanned in /proc")
    }
    lines.append("after decoding: \(scope) are kept when the whole query holds")
    return lines.joined(separator: "\n") + "\n"
  }
}
