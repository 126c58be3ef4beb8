import FlowModel
import Testing

@testable import FlowQuery

let testEnvironment = QueryEnvironment(
  userID: { ["root": 0, "www-data": 33][$0] },
  interfaceIndex: { ["lo": 1, "eth0": 2][$0] })

func parse(_ text: String) throws -> QueryExpression {
  try QueryParser.parse(text, environment: testEnvironment)
}

@Suite("Query parser")
struct ParserTests {
  /// Each query and how it is written back: names resolved, ss's short names, units kept.
  static let written: [(String, String)] = [
    ("", "true"),
    ("state == established", "state == established"),
    ("state established", "state == established"),
    ("STATE = CLOSE_WAIT", "state == close-wait"),
    ("state in (listen, close-wait)", "state in (close-wait, listen)"),
    ("state == fin-wait-1", "state == fin-wait1"),
    ("dport == 443", "dport == 443"),
    ("dport = :443", "dport == 443"),
    ("rport != 22", "not dport == 22"),
    ("remote.port in 1000..2000", "dport in 1000..2000"),
    ("lport in (22, 80..90)", "sport in (22, 80..90)"),
    ("dst in 10.0.0.0/8", "dst in 10.0.0.0/8"),
    ("src == [::1]:53", "src in [::1]:53"),
    ("laddr in (127.0.0.1, ::ffff:0:0/96)", "src in (127.0.0.1, ::ffff:0.0.0.0/96)"),
    ("raddr == :22", "dst in :22"),
    ("rtt > 200ms", "rtt > 200ms"),
    ("rtt_us >= 1.5ms", "rtt_us >= 1500"),
    ("rtt < 1s", "rtt < 1s"),
    ("idle_time > 5m", "idle_time > 300s"),
    ("bytes_in > 10KiB", "bytes_in > 10240"),
    ("bytes_out >= 1.5MB", "bytes_out >= 1500000"),
    ("recv_q > 0x10", "recv_q > 16"),
    ("command == nginx", "command == \"nginx\""),
    ("comm =~ '^ngi.x$'", "command =~ \"^ngi.x$\""),
    ("command !~ \"a\\\"b\"", "not command =~ \"a\\\"b\""),
    ("command contains gin", "command contains \"gin\""),
    ("user == root", "user == 0"),
    ("uid in (root, www-data)", "uid in (0, 33)"),
    ("interface == lo", "interface == 1"),
    ("dev eth0", "interface == 2"),
    ("peer-closed", "peer-closed"),
    ("flags has (idle, stalled)", "flags has (stalled, idle)"),
    ("not peer_closed", "not peer-closed"),
    ("proto == tcp && !stateless", "proto == tcp and not stateless"),
    ("proto in (tcp, udp) || family == unix", "proto in (tcp, udp) or family == unix"),
    ("family == ipv6", "family == inet6"),
    ("type == dgram", "type == dgram"),
    ("pid == 42 and fd_pct > 80", "pid == 42 and fd_pct > 80"),
    ("fd_pct > 80%", "fd_pct > 80"),
    (
      "state == listen or state == established and dport == 80",
      "state == listen or state == established and dport == 80"
    ),
    (
      "(state == listen or state == established) and dport == 80",
      "(state == listen or state == established) and dport == 80"
    ),
    ("not (dport == 1 or dport == 2)", "not (dport == 1 or dport == 2)"),
    ("dport gt 1024 and sport le 100", "dport > 1024 and sport <= 100"),
  ]

  @Test func queriesAreWrittenBackAndReadAgainTheSame() throws {
    for (text, expected) in Self.written where !expected.isEmpty {
      let query = try parse(text)
      #expect(query.description == expected, "\(text)")
      #expect(try parse(query.description) == query, "\(text) → \(query)")
    }
  }

  @Test func precedenceIsNotThenAndThenOr() throws {
    let query = try parse("not owned or dport == 1 and sport == 2")
    guard case .or(.not(.test(let owned)), .and(.test, .test)) = query else {
      Issue.record("wrong tree: \(query)")
      return
    }
    #expect(owned.field == .owned)
  }

  /// A bad query: the message, and the columns the caret marks (0-based, in characters).
  static let errors: [(String, String, Range<Int>)] = [
    ("rtt >", "expected a value after '>'", 5..<5),
    ("rttt > 5", "unknown field 'rttt' (did you mean 'rtt'?)", 0..<4),
    ("dprot == 443", "unknown field 'dprot' (did you mean 'dport'?)", 0..<5),
    ("close-wait", "unknown field 'close-wait' (a state? write 'state == close-wait')", 0..<10),
    ("state == nope", "unknown state 'nope'", 9..<13),
    ("dport == 70000", "expected a port from 0 to 65535, such as 443 or :443", 9..<14),
    ("rtt > 200", "expected a duration such as 200ms or 5s, with its unit", 6..<9),
    ("rtt > 200kb", "unknown duration unit 'kb'; use us, ms, s, m or h", 6..<11),
    ("bytes_in > 5ms", "unknown size unit 'ms'; use B, KB, KiB, MB, MiB, GB, GiB", 11..<14),
    ("dst > 10.0.0.1", "'dst' compares with ==, != or in, not '>'", 4..<5),
    (
      "dst == 300.1.1.1", "cannot read '300.1.1.1' as an address; write e.g. 10.0.0.0/8, 127.0.0.1:80, [::1]:53 or :22",
      7..<16
    ),
    ("command =~ '('", "not a regular expression", 11..<14),
    ("(dport == 1", "expected ')' to close the '(' at column 1, not the end of the query", 11..<11),
    ("dport == 1 dport == 2", "expected 'and', 'or' or the end of the query, not 'dport'", 11..<16),
    ("dport == 1 and", "expected a test after 'and'", 14..<14),
    ("dport == 1 & sport == 2", "'&' alone means nothing; write '&&' or 'and'", 11..<12),
    ("command == 'abc", "this string has no closing '", 11..<15),
    ("owned == 1", "'owned' is true or false: write 'owned' or 'not owned'", 6..<8),
    ("user == nobody-here", "unknown user 'nobody-here'", 8..<19),
    ("dport in 2000..1000", "this range is empty: 2000 is above 1000", 9..<19),
    ("dport < (1, 2)", "a list of values goes with 'in': write 'in (a, b)'", 8..<9),
    ("()", "expected a test inside '( )'", 1..<2),
    ("flags has nonsense", "unknown flag 'nonsense'", 10..<18),
    ("state == listen\u{1b}[31m", "a control character has no place in a query", 15..<16),
  ]

  @Test func badQueriesSayWhatWasExpectedWhere() {
    for (text, message, range) in Self.errors {
      do {
        let query = try parse(text)
        Issue.record("\(text) parsed as \(query)")
      } catch let error as QueryError {
        #expect(error.message.hasPrefix(message), "\(text): \(error.message)")
        #expect(error.range == range, "\(text): \(error.range)")
      } catch {
        Issue.record("\(text): \(error)")
      }
    }
  }

  @Test func theCaretSitsUnderTheOffendingTokenAndControlCharactersAreShownEscaped() throws {
    let error = QueryError("unknown field 'rttt'", at: 0..<4)
    #expect(
      error.rendered(query: "rttt > 5", prefix: "bad query: ") == "bad query: unknown field 'rttt'\n  rttt > 5\n  ^^^^")
    let atEnd = QueryError("expected a value after '>'", at: 5..<5)
    #expect(atEnd.rendered(query: "rtt >") == "expected a value after '>'\n  rtt >\n       ^")
    let escaped = QueryError("a control character has no place in a query", at: 4..<5)
    #expect(
      escaped.rendered(query: "pid \u{1b}") == "a control character has no place in a query\n  pid \\x1b\n      ^^^^")
  }

  @Test func deepNestingIsAnErrorNotACrash() {
    let deep = String(repeating: "(", count: 5000) + "pid == 1" + String(repeating: ")", count: 5000)
    #expect(throws: QueryError.self) { try parse(deep) }
    let nots = String(repeating: "not ", count: 5000) + "owned"
    #expect(throws: QueryError.self) { try parse(nots) }
  }
}

@Suite("Query strings")
struct StringTests {
  @Test func backslashesOtherThanEscapesStaySoRegularExpressionsReadAsWritten() throws {
    let query = try parse(#"command =~ '\.sock$' or command == "a\"b\\c" or command == 'x\x1by'"#)
    #expect(query.description == #"command =~ "\\.sock$" or command == "a\"b\\c" or command == "x\x1by""#)
    #expect(try parse(query.description) == query)
  }

  /// Found by fuzz/run.sh query: an empty address (any address, any port) was written back as
  /// nothing.
  @Test func anEmptyAddressIsWrittenBackAsAStar() throws {
    let query = try parse(#"src"""#)
    #expect(query.description == "src in *")
    #expect(try parse(query.description) == query)
  }

  /// Found by fuzz/run.sh query: a NUL inside a string was written back as `?`.
  @Test func controlCharactersInStringsAreWrittenBackAsEscapes() throws {
    let query = try parse("command =~ '^ns_in >= 6\u{0}\u{0}\u{0}\u{0}gi' && fd_pct > 86")
    #expect(query.description.contains(#"\x00\x00"#))
    #expect(try parse(query.description) == query)
  }
}
