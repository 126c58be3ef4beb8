// The typed syntax tree of a query: what `flowscope 'state == established and dport == 443'`
// means once parsed. Every test names a field of the catalogue (Fields.swift) and a value of
// that field's type, so evaluation never meets an ill-typed comparison.

import FlowModel

/// A parsed query: a boolean expression over one flow and the processes holding it.
public indirect enum QueryExpression: Sendable, Equatable {
  case constant(Bool)
  case test(QueryTest)
  case and(QueryExpression, QueryExpression)
  case or(QueryExpression, QueryExpression)
  case not(QueryExpression)

  /// `a and b`, leaving out a `true` side.
  public static func all(_ parts: [QueryExpression]) -> QueryExpression {
    let kept = parts.filter { $0 != .constant(true) }
    guard var result = kept.first else { return .constant(true) }
    for part in kept.dropFirst() { result = .and(result, part) }
    return result
  }

  /// `a or b or …`; false when empty.
  public static func any(_ parts: [QueryExpression]) -> QueryExpression {
    guard var result = parts.first else { return .constant(false) }
    for part in parts.dropFirst() { result = .or(result, part) }
    return result
  }

  /// Every test of the expression, in order.
  public var tests: [QueryTest] {
    switch self {
    case .constant: []
    case .test(let test): [test]
    case .and(let a, let b), .or(let a, let b): a.tests + b.tests
    case .not(let a): a.tests
    }
  }

  /// Whether any test reads a field of `kinds`.
  public func mentions(_ fields: Set<QueryField>) -> Bool {
    tests.contains { fields.contains($0.field) }
  }
}

/// One comparison of one field.
public struct QueryTest: Sendable, Equatable {
  public var field: QueryField
  public var comparison: Comparison

  public init(field: QueryField, comparison: Comparison) {
    self.field = field
    self.comparison = comparison
  }

  public enum Comparison: Sendable, Equatable {
    /// Numbers, in the field's own unit: counts, bytes, microseconds, milliseconds, percent.
    case number(NumberOperator, NumberLiteral)
    case numberIn([NumberRange])
    case address([AddressMatch])
    case text(TextMatch)
    /// States, protocols, families, socket types and flags: one of these raw values.
    case member(Set<UInt64>)
    /// Booleans: the field itself (`peer-closed`, `stateless`).
    case isTrue
  }

  /// A boolean test of a field (`peer-closed`).
  public static func isTrue(_ field: QueryField) -> QueryTest {
    QueryTest(field: field, comparison: .isTrue)
  }
}

public enum NumberOperator: String, Sendable, Equatable {
  case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">"
  case greaterOrEqual = ">="
}

/// A number in a field's unit, exact when it is a whole number that fits 64 bits; compared
/// exactly then (cookies and inodes need every bit), as a double otherwise.
public struct NumberLiteral: Sendable, Equatable, CustomStringConvertible {
  public var value: Double
  public var exact: UInt64?

  public init(_ value: Double) {
    self.value = value
    exact =
      value >= 0 && value < 18_446_744_073_709_551_616.0 && value.rounded() == value
      ? UInt64(value) : nil
  }
  public init(exactly value: UInt64) {
    self.value = Double(value)
    exact = value
  }

  public var description: String {
    if let exact { return String(exact) }
    return String(value)
  }
}

/// An inclusive range of numbers (`1000..2000`); one number is a range of one.
public struct NumberRange: Sendable, Equatable {
  public var lower: NumberLiteral
  public var upper: NumberLiteral
  public init(_ lower: NumberLiteral, _ upper: NumberLiteral) {
    self.lower = lower
    self.upper = upper
  }
}

/// How a text field is matched.
public enum TextMatch: Sendable, Equatable {
  case equals([[UInt8]])
  case contains([UInt8])
  case regex(QueryRegex)
}

/// A compiled regular expression, kept with its source (the source is what equality and
/// printing use).
public struct QueryRegex: Sendable, Equatable {
  public let source: String
  let box: RegexBox

  init(source: String, regex: Regex<AnyRegexOutput>) {
    self.source = source
    self.box = RegexBox(regex)
  }

  public static func == (a: QueryRegex, b: QueryRegex) -> Bool { a.source == b.source }

  func matches(_ bytes: [UInt8]) -> Bool {
    let text = String(decoding: bytes, as: UTF8.self)
    return (try? box.regex.firstMatch(in: text)) != nil
  }
}

/// Regex values are not Sendable; this one is never mutated after it is built.
final class RegexBox: @unchecked Sendable {
  let regex: Regex<AnyRegexOutput>
  init(_ regex: Regex<AnyRegexOutput>) { self.regex = regex }
}

extension QueryExpression {
  /// Whether the query asks for sockets in `state` by name: a test of the state whose values
  /// include it, under no `not` (`state == listen`, `state in (listen, established)`,
  /// `state_code == 10`, and the flags `-l` and `--state listening`). `state != established`
  /// and `not state == established` let such sockets through without naming them.
  public func namesState(_ state: UInt8) -> Bool { names(state, negated: false) }

  private func names(_ state: UInt8, negated: Bool) -> Bool {
    switch self {
    case .constant: return false
    case .and(let a, let b), .or(let a, let b):
      return a.names(state, negated: negated) || b.names(state, negated: negated)
    case .not(let a): return a.names(state, negated: !negated)
    case .test(let test):
      guard !negated else { return false }
      switch (test.field, test.comparison) {
      case (.state, .member(let values)): return values.contains(UInt64(state))
      case (.stateCode, .number(.equal, let value)): return value.exact == UInt64(state)
      case (.stateCode, .numberIn(let ranges)):
        return ranges.contains { $0.lower.value <= Double(state) && Double(state) <= $0.upper.value }
      default: return false
      }
    }
  }
}
