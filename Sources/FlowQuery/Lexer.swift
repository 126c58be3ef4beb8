// Splits a query into tokens, each with where it stands in the text (in Unicode scalars) so
// an error can point at it.

struct Token: Equatable {
  enum Kind: Equatable {
    /// A name or a bare value: `state`, `close-wait`, `10.0.0.0/8`, `200ms`, `[::1]:53`.
    case word(String)
    /// A quoted string, without its quotes, escapes resolved.
    case string(String)
    /// `==` `=` `!=` `<` `<=` `>` `>=` `=~` `!~`
    case comparison(String)
    case not, and, or, openParen, closeParen, comma
    case end
  }
  var kind: Kind
  var range: Range<Int>
}

enum Lexer {
  /// Characters that end a bare word.
  static func endsWord(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar {
    case " ", "\t", "\n", "\r", "(", ")", ",", "\"", "'", "=", "!", "<", ">", "~", "&", "|": true
    default: scalar.value < 0x20 || scalar.value == 0x7f
    }
  }

  static func tokens(_ scalars: [Unicode.Scalar]) throws(QueryError) -> [Token] {
    var tokens: [Token] = []
    var index = 0
    func peek(_ offset: Int = 0) -> Unicode.Scalar? {
      index + offset < scalars.count ? scalars[index + offset] : nil
    }
    while index < scalars.count {
      let start = index
      let scalar = scalars[index]
      switch scalar {
      case " ", "\t", "\n", "\r":
        index += 1
        continue
      case "(":
        index += 1
        tokens.append(Token(kind: .openParen, range: start..<index))
      case ")":
        index += 1
        tokens.append(Token(kind: .closeParen, range: start..<index))
      case ",":
        index += 1
        tokens.append(Token(kind: .comma, range: start..<index))
      case "=", "<", ">":
        index += 1
        if peek() == "=" || (scalar == "=" && peek() == "~") { index += 1 }
        var text = String(String.UnicodeScalarView(scalars[start..<index]))
        if text == "=" { text = "==" }
        tokens.append(Token(kind: .comparison(text), range: start..<index))
      case "!":
        index += 1
        if peek() == "=" || peek() == "~" {
          index += 1
          tokens.append(
            Token(kind: .comparison(String(String.UnicodeScalarView(scalars[start..<index]))), range: start..<index))
        } else {
          tokens.append(Token(kind: .not, range: start..<index))
        }
      case "&", "|":
        guard peek(1) == scalar else {
          throw QueryError(
            "'\(scalar)' alone means nothing; write '\(scalar)\(scalar)' or '\(scalar == "&" ? "and" : "or")'",
            at: start..<start + 1)
        }
        index += 2
        tokens.append(Token(kind: scalar == "&" ? .and : .or, range: start..<index))
      case "~":
        throw QueryError("'~' alone means nothing; write '=~' (matches) or '!~'", at: start..<start + 1)
      case "\"", "'":
        index += 1
        var text = String.UnicodeScalarView()
        var closed = false
        while let next = peek() {
          index += 1
          if next == scalar {
            closed = true
            break
          }
          // `\\`, `\"`, `\'` and `\xHH` are escapes; any other backslash stays, so a regular
          // expression such as '\.sock$' reads as written.
          if next == "\\", let escaped = peek() {
            if escaped == "\\" || escaped == "\"" || escaped == "'" {
              index += 1
              text.append(escaped)
              continue
            }
            if escaped == "x", index + 2 < scalars.count,
              let value = UInt8(String(String.UnicodeScalarView(scalars[(index + 1)...(index + 2)])), radix: 16)
            {
              index += 3
              text.append(Unicode.Scalar(value))
              continue
            }
          }
          text.append(next)
        }
        guard closed else {
          throw QueryError("this string has no closing \(scalar)", at: start..<index)
        }
        tokens.append(Token(kind: .string(String(text)), range: start..<index))
      default:
        if scalar.value < 0x20 || scalar.value == 0x7f {
          throw QueryError("a control character has no place in a query", at: start..<start + 1)
        }
        while let next = peek(), !endsWord(next) { index += 1 }
        let word = String(String.UnicodeScalarView(scalars[start..<index]))
        let kind: Token.Kind =
          switch word.lowercased() {
          case "and": .and
          case "or": .or
          case "not": .not
          default: .word(word)
          }
        tokens.append(Token(kind: kind, range: start..<index))
      }
    }
    tokens.append(Token(kind: .end, range: scalars.count..<scalars.count))
    return tokens
  }
}
