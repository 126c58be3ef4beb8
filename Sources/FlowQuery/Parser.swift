// The grammar, by precedence (not > and > or):
//
//   query   := or?
//   or      := and (("or" | "||") and)*
//   and     := unary (("and" | "&&") unary)*
//   unary   := ("not" | "!") unary | "(" or ")" | test
//   test    := FIELD                               booleans and health flags: `peer-closed`
//            | FIELD OPERATOR value                `dport == 443`, `rtt > 200ms`
//            | FIELD ("in" | "has") set            `dst in 10.0.0.0/8`, `flags has idle`
//            | FIELD value                         ss's shorthand for ==: `state established`
//   set     := value | "(" value ("," value)* ")"
//   value   := WORD | "quoted string" | WORD ".." WORD (a range, inside one word)
//
// The parser checks each value against its field's type as it reads it, so every error points
// at the token that caused it.

import FlowModel

/// Names the query refers to that only the system can resolve (users, interfaces). The parser
/// does no I/O; the command hands it lookups.
public struct QueryEnvironment: Sendable {
  public var userID: @Sendable (String) -> UInt32?
  public var interfaceIndex: @Sendable (String) -> UInt32?

  public init(
    userID: @escaping @Sendable (String) -> UInt32? = { _ in nil },
    interfaceIndex: @escaping @Sendable (String) -> UInt32? = { _ in nil }
  ) {
    self.userID = userID
    self.interfaceIndex = interfaceIndex
  }
}

public struct QueryParser {
  private let tokens: [Token]
  private var position = 0
  private let environment: QueryEnvironment

  /// The expression `text` states; `true` for an empty text. Nesting is limited so that no
  /// input can exhaust the stack.
  public static func parse(_ text: String, environment: QueryEnvironment = QueryEnvironment())
    throws(QueryError) -> QueryExpression
  {
    let scalars = Array(text.unicodeScalars)
    var parser = QueryParser(tokens: try Lexer.tokens(scalars), environment: environment)
    if parser.current.kind == .end { return .constant(true) }
    let expression = try parser.parseOr(depth: 0)
    guard parser.current.kind == .end else {
      throw QueryError(
        "expected 'and', 'or' or the end of the query, not \(parser.current.shown)",
        at: parser.current.range)
    }
    return expression
  }

  static let maximumDepth = 100

  private init(tokens: [Token], environment: QueryEnvironment) {
    self.tokens = tokens
    self.environment = environment
  }

  private var current: Token { tokens[position] }
  private mutating func advance() -> Token {
    defer { position = min(position + 1, tokens.count - 1) }
    return tokens[position]
  }

  private mutating func parseOr(depth: Int) throws(QueryError) -> QueryExpression {
    var left = try parseAnd(depth: depth)
    while current.kind == .or {
      let op = advance()
      guard current.kind != .end else { throw QueryError("expected a test after '\(op.text)'", at: current.range) }
      left = .or(left, try parseAnd(depth: depth))
    }
    return left
  }

  private mutating func parseAnd(depth: Int) throws(QueryError) -> QueryExpression {
    var left = try parseUnary(depth: depth)
    while current.kind == .and {
      let op = advance()
      guard current.kind != .end else { throw QueryError("expected a test after '\(op.text)'", at: current.range) }
      left = .and(left, try parseUnary(depth: depth))
    }
    return left
  }

  private mutating func parseUnary(depth: Int) throws(QueryError) -> QueryExpression {
    guard depth < Self.maximumDepth else {
      throw QueryError("the query nests deeper than \(Self.maximumDepth) levels", at: current.range)
    }
    switch current.kind {
    case .not:
      _ = advance()
      return .not(try parseUnary(depth: depth + 1))
    case .openParen:
      let open = advance()
      if current.kind == .closeParen { throw QueryError("expected a test inside '( )'", at: current.range) }
      let inner = try parseOr(depth: depth + 1)
      guard current.kind == .closeParen else {
        throw QueryError(
          "expected ')' to close the '(' at column \(open.range.lowerBound + 1), not \(current.shown)",
          at: current.range)
      }
      _ = advance()
      return inner
    case .word(let word) where ["true", "false"].contains(word.lowercased()):
      _ = advance()
      return .constant(word.lowercased() == "true")
    case .word:
      return try parseTest()
    case .end:
      throw QueryError("expected a test such as 'state == established'", at: current.range)
    default:
      throw QueryError("expected a field such as state, dport or pid, not \(current.shown)", at: current.range)
    }
  }

  // MARK: - Tests

  private mutating func parseTest() throws(QueryError) -> QueryExpression {
    let nameToken = advance()
    let name = nameToken.text
    guard let field = QueryField.named(name) else {
      if let flag = Literals.flag(name) {
        return .test(QueryTest(field: .flags, comparison: .member([flag.queryValue])))
      }
      throw unknownField(name, at: nameToken.range)
    }
    if field.kind == .boolean {
      if case .comparison = current.kind {
        throw QueryError(
          "'\(field.rawValue)' is true or false: write '\(field.rawValue)' or 'not \(field.rawValue)'",
          at: current.range)
      }
      return .test(.isTrue(field))
    }
    let operatorToken = current
    var op: String
    switch current.kind {
    case .comparison(let text):
      op = text
      _ = advance()
    case .word(let word):
      switch word.lowercased() {
      case "in", "has", "contains": op = word.lowercased()
      case "eq": op = "=="
      case "ne", "neq": op = "!="
      case "lt": op = "<"
      case "le": op = "<="
      case "gt": op = ">"
      case "ge": op = ">="
      default: op = ""  // ss's shorthand: `state established`
      }
      if !op.isEmpty { _ = advance() } else { op = "==" }
    case .string:
      op = "=="
    case .end:
      throw QueryError("expected an operator after '\(name)', such as == or in", at: current.range)
    default:
      throw QueryError("expected an operator after '\(name)', not \(current.shown)", at: current.range)
    }
    let negated = op == "!=" || op == "!~"
    let test = try comparison(field, named: name, op: op, operatorToken: operatorToken)
    return negated ? .not(.test(test)) : .test(test)
  }

  /// The values after the operator: one, or a parenthesised list for `in` and `has`.
  private mutating func values(after operatorToken: Token, allowList: Bool) throws(QueryError) -> [Token] {
    if current.kind == .openParen {
      guard allowList else {
        throw QueryError("a list of values goes with 'in': write 'in (a, b)'", at: current.range)
      }
      _ = advance()
      var list: [Token] = []
      while true {
        guard let value = valueToken() else {
          throw QueryError("expected a value in the list, not \(current.shown)", at: current.range)
        }
        list.append(value)
        if current.kind == .comma {
          _ = advance()
          continue
        }
        guard current.kind == .closeParen else {
          throw QueryError("expected ',' or ')' in the list, not \(current.shown)", at: current.range)
        }
        _ = advance()
        return list
      }
    }
    guard let value = valueToken() else {
      throw QueryError("expected a value after '\(operatorToken.text)'", at: current.range)
    }
    return [value]
  }

  private mutating func valueToken() -> Token? {
    switch current.kind {
    case .word(let word) where !["and", "or", "not"].contains(word.lowercased()): return advance()
    case .string: return advance()
    default: return nil
    }
  }

  private mutating func comparison(_ field: QueryField, named name: String, op: String, operatorToken: Token)
    throws(QueryError) -> QueryTest
  {
    let isList = op == "in" || op == "has"
    let tokens = try values(after: operatorToken, allowList: isList)
    func refuse(_ allowed: String) -> QueryError {
      QueryError("'\(name)' compares with \(allowed), not '\(op)'", at: operatorToken.range)
    }
    switch field.kind {
    case .boolean:
      throw refuse("nothing")
    case .number(let unit, let unitRequired):
      guard !["=~", "!~", "has", "contains"].contains(op) else { throw refuse("== != < <= > >= or in") }
      var ranges: [NumberRange] = []
      for token in tokens {
        ranges.append(try numberRange(token, field: field, unit: unit, unitRequired: unitRequired))
      }
      if let numberOp = NumberOperator(rawValue: op), ranges.count == 1, ranges[0].lower == ranges[0].upper {
        return QueryTest(field: field, comparison: .number(numberOp == .notEqual ? .equal : numberOp, ranges[0].lower))
      }
      guard op == "in" || op == "==" || op == "!=" else {
        throw QueryError("a range goes with 'in' or '=='", at: tokens[0].range)
      }
      return QueryTest(field: field, comparison: .numberIn(ranges))
    case .address:
      guard ["==", "!=", "in"].contains(op) else { throw refuse("==, != or in") }
      var matches: [AddressMatch] = []
      for token in tokens {
        guard let match = parseAddressMatch(token.text) else {
          throw QueryError(
            "cannot read '\(token.text)' as an address; write e.g. 10.0.0.0/8, 127.0.0.1:80, [::1]:53 or :22",
            at: token.range)
        }
        matches.append(match)
      }
      return QueryTest(field: field, comparison: .address(matches))
    case .text:
      switch op {
      case "==", "!=", "in":
        return QueryTest(field: field, comparison: .text(.equals(tokens.map { Array($0.text.utf8) })))
      case "contains":
        return QueryTest(field: field, comparison: .text(.contains(Array(tokens[0].text.utf8))))
      case "=~", "!~":
        do {
          let regex = try Regex(tokens[0].text)
          return QueryTest(field: field, comparison: .text(.regex(QueryRegex(source: tokens[0].text, regex: regex))))
        } catch {
          throw QueryError("not a regular expression: \(error)", at: tokens[0].range)
        }
      default:
        throw refuse("==, !=, =~, !~, contains or in")
      }
    case .member:
      guard ["==", "!=", "in", "has"].contains(op) else { throw refuse("==, != or in") }
      if op == "has" && field != .flags { throw refuse("==, != or in") }
      var values = Set<UInt64>()
      for token in tokens { values.formUnion(try members(field, token)) }
      return QueryTest(field: field, comparison: .member(values))
    }
  }

  private func numberRange(_ token: Token, field: QueryField, unit: NumberUnit, unitRequired: Bool) throws(QueryError)
    -> NumberRange
  {
    let text = token.text
    var parts: [String] = [text]
    let characters = Array(text)
    if let dot = characters.indices.dropLast().first(where: { characters[$0] == "." && characters[$0 + 1] == "." }) {
      parts = [String(characters[..<dot]), String(characters[(dot + 2)...])]
    }
    var bounds: [NumberLiteral] = []
    for part in parts {
      bounds.append(try number(part, token: token, field: field, unit: unit, unitRequired: unitRequired))
    }
    if bounds.count == 2, bounds[0].value > bounds[1].value {
      throw QueryError("this range is empty: \(bounds[0]) is above \(bounds[1])", at: token.range)
    }
    return NumberRange(bounds[0], bounds.last!)
  }

  private func number(_ text: String, token: Token, field: QueryField, unit: NumberUnit, unitRequired: Bool)
    throws(QueryError) -> NumberLiteral
  {
    switch field {
    case .localPort, .remotePort, .port:
      guard let port = Literals.port(text) else {
        throw QueryError("expected a port from 0 to 65535, such as 443 or :443", at: token.range)
      }
      return NumberLiteral(exactly: UInt64(port))
    case .uid, .user:
      if let uid = UInt32(text) { return NumberLiteral(exactly: UInt64(uid)) }
      guard let uid = environment.userID(text) else { throw QueryError("unknown user '\(text)'", at: token.range) }
      return NumberLiteral(exactly: UInt64(uid))
    case .interface:
      if let index = UInt32(text) { return NumberLiteral(exactly: UInt64(index)) }
      guard let index = environment.interfaceIndex(text) else {
        throw QueryError("no interface named '\(text)'", at: token.range)
      }
      return NumberLiteral(exactly: UInt64(index))
    default:
      switch Literals.number(text, unit: unit, unitRequired: unitRequired) {
      case .success(let literal): return literal
      case .failure(let error): throw QueryError(error.message, at: token.range)
      }
    }
  }

  private func members(_ field: QueryField, _ token: Token) throws(QueryError) -> Set<UInt64> {
    let text = token.text
    switch field {
    case .state:
      guard let states = Literals.states(text) else {
        throw QueryError(
          "unknown state '\(text)'; try established, listen, close-wait, time-wait, syn-sent, or a group: connected, listening, closing, all",
          at: token.range)
      }
      return Set(states.map(UInt64.init))
    case .proto:
      guard let protocols = Literals.transportProtocols(text) else {
        throw QueryError(
          "unknown protocol '\(text)'; known: " + TransportProtocol.allCases.map(\.rawValue).joined(separator: ", ")
            + ", inet", at: token.range)
      }
      return Set(protocols.map(\.queryValue))
    case .family:
      guard let family = Literals.family(text) else {
        throw QueryError(
          "unknown family '\(text)'; known: " + AddressFamily.allCases.map(\.rawValue).joined(separator: ", "),
          at: token.range)
      }
      return [family.queryValue]
    case .type:
      guard let type = Literals.socketType(text) else {
        throw QueryError(
          "unknown socket type '\(text)'; known: " + SocketTypeName.all.map(\.0).joined(separator: ", "),
          at: token.range)
      }
      return [UInt64(type)]
    default:
      guard let flag = Literals.flag(text) else {
        throw QueryError(
          "unknown flag '\(text)'; known: " + HealthFlag.allCases.map(\.rawValue).joined(separator: ", "),
          at: token.range)
      }
      return [flag.queryValue]
    }
  }

  private func unknownField(_ name: String, at range: Range<Int>) -> QueryError {
    if Literals.states(name) != nil {
      return QueryError("unknown field '\(name)' (a state? write 'state == \(name)')", at: range)
    }
    if Literals.transportProtocols(name) != nil {
      return QueryError("unknown field '\(name)' (a protocol? write 'proto == \(name)')", at: range)
    }
    let candidates = QueryField.allNames + HealthFlag.allCases.map(\.rawValue)
    let lowered = name.lowercased()
    let best = candidates.map { ($0, editDistance(lowered, $0)) }.min { $0.1 < $1.1 }
    if let best, best.1 <= (name.count >= 4 ? 2 : 1) {
      return QueryError("unknown field '\(name)' (did you mean '\(best.0)'?)", at: range)
    }
    return QueryError("unknown field '\(name)'; see FILTERS in flowscope(8) for the fields", at: range)
  }
}

extension Token {
  /// The token's text as written (strings without their quotes).
  var text: String {
    switch kind {
    case .word(let text), .string(let text), .comparison(let text): text
    case .not: "not"
    case .and: "and"
    case .or: "or"
    case .openParen: "("
    case .closeParen: ")"
    case .comma: ","
    case .end: ""
    }
  }

  /// How an error names the token.
  var shown: String { kind == .end ? "the end of the query" : "'\(text)'" }
}

/// Edit distance with transpositions (optimal string alignment), for "did you mean": `dprot`
/// is one step from `dport`.
func editDistance(_ a: String, _ b: String) -> Int {
  let a = Array(a.unicodeScalars.prefix(64))
  let b = Array(b.unicodeScalars.prefix(64))
  if a.isEmpty { return b.count }
  if b.isEmpty { return a.count }
  var rows = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
  for i in 0...a.count { rows[i][0] = i }
  for j in 0...b.count { rows[0][j] = j }
  for i in 1...a.count {
    for j in 1...b.count {
      rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
      if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
        rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
      }
    }
  }
  return rows[a.count][b.count]
}

extension HealthFlag {
  /// Its value in a member test: its place in `allCases`.
  var queryValue: UInt64 { UInt64(HealthFlag.allCases.firstIndex(of: self)!) }
}

extension TransportProtocol {
  var queryValue: UInt64 { UInt64(TransportProtocol.allCases.firstIndex(of: self)!) }
}

extension AddressFamily {
  var queryValue: UInt64 { UInt64(AddressFamily.allCases.firstIndex(of: self)!) }
}
