import FlowModel
import FlowRender
import Testing

@Suite struct TextTests {
  func sanitized(_ bytes: [UInt8]) -> String {
    String(decoding: sanitizedForTerminal(bytes), as: UTF8.self)
  }

  @Test func sanitisingEscapesControlsAndInvalidBytes() {
    #expect(sanitized(Sample.hostileCommand) == #"\x1b[31mred\x0a)x"#)
    #expect(sanitized(Sample.invalidCommand) == #"f\xff\xfe"#)
    // A literal backslash can't forge an escape.
    #expect(sanitized(Array(#"a\x1b"#.utf8)) == #"a\\x1b"#)
    #expect(sanitized([0x7F, 0x00, 0x09]) == #"\x7f\x00\x09"#)
    #expect(sanitized(Array("\u{9B}2J".utf8)) == #"\xc2\x9b2J"#)  // C1 CSI
    // Right-to-left override.
    #expect(sanitized(Array("ab\u{202E}cd".utf8)) == #"ab\xe2\x80\xaecd"#)
    // Overlong, surrogate and truncated sequences are invalid.
    #expect(sanitized([0xC0, 0xAF]) == #"\xc0\xaf"#)
    #expect(sanitized([0xED, 0xA0, 0x80]) == #"\xed\xa0\x80"#)
    #expect(sanitized([0xE6, 0x95]) == #"\xe6\x95"#)
    #expect(sanitized([0xF4, 0x90, 0x80, 0x80]) == #"\xf4\x90\x80\x80"#)
    // Printable UTF-8 passes unchanged.
    let text = "数据库 café e\u{301} 😀 ｱ"
    #expect(sanitizedForTerminal(Array(text.utf8)) == Array(text.utf8))
  }

  @Test(
    arguments: [
      ("", 0), ("abc", 3), ("数据库", 6), ("e\u{301}", 1), ("a\u{20DD}", 1), ("😀", 2), ("🧪x", 3),
      ("한국", 4), ("Ａ", 2), ("ｱ", 1), ("a\u{200B}b", 2), ("\u{1100}\u{1161}", 2),
    ] as [(String, Int)])
  func widths(text: String, expected: Int) {
    #expect(displayWidth(of: ArraySlice(text.utf8)) == expected)
  }

  @Test func invalidBytesCountOneEach() {
    #expect(displayWidth(of: ArraySlice([0x66, 0xFF, 0xFE])) == 3)
  }

  /// Cutting at every width keeps whole UTF-8 sequences and never exceeds the width.
  @Test(arguments: ["数据库abc", "e\u{301}e\u{301}e\u{301}e\u{301}", "a😀b😀c", "plain-ascii-name"])
  func truncationRespectsWidthAndSequences(text: String) throws {
    let bytes = Array(text.utf8)
    let full = displayWidth(of: ArraySlice(bytes))
    for width in 0...(full + 1) {
      let cut = truncated(bytes, toWidth: width)
      let cutWidth = displayWidth(of: ArraySlice(cut))
      #expect(cutWidth <= width, "width \(width): \(String(decoding: cut, as: UTF8.self))")
      #expect(String(validating: cut, as: UTF8.self) != nil, "width \(width) split a sequence")
      if width >= full {
        #expect(cut == bytes)
      } else if width > 0 {
        #expect(cut.suffix(3) == Array("…".utf8))
        // As much as fits: at most one cell is lost to a wide character.
        #expect(cutWidth >= width - 1)
      }
    }
  }

  @Test func truncationExamples() {
    #expect(String(decoding: truncated(Array("数据库abc".utf8), toWidth: 4), as: UTF8.self) == "数…")
    #expect(String(decoding: truncated(Array("数据库abc".utf8), toWidth: 5), as: UTF8.self) == "数据…")
    #expect(
      String(decoding: truncated(Array("cafe\u{301}s".utf8), toWidth: 5), as: UTF8.self)
        == "cafe\u{301}s")
    #expect(
      String(decoding: truncated(Array("cafe\u{301}s!".utf8), toWidth: 5), as: UTF8.self)
        == "cafe\u{301}…")
  }

  @Test func jsonStringEscaping() {
    var out = OutputBuffer()
    var all: [UInt8] = Array(0...0x20) + Array("\"\\/ \u{7F}\u{85}\u{2028}\u{2029}é数".utf8)
    let exact = out.appendJSONString(all)
    #expect(exact)
    let text = String(decoding: out.bytes, as: UTF8.self)
    #expect(text.hasPrefix(#""\u0000\u0001"#))
    #expect(text.contains(#"\b"#) == false)  // \u0008 stays numeric: one rule for all controls
    #expect(text.contains(#"\t\n\u000b\u000c\r"#))
    #expect(text.hasSuffix(#" \"\\/ \u007f\u0085\u2028\u2029é数""#))
    // Invalid bytes: replaced, and reported so the caller adds *_bytes.
    out.removeAll()
    all = [0x66, 0xFF, 0xFE]
    let replaced = out.appendJSONString(all)
    #expect(replaced == false)
    #expect(String(decoding: out.bytes, as: UTF8.self) == "\"f\u{FFFD}\u{FFFD}\"")
    // NULs in abstract names.
    out.removeAll()
    let substituted = out.appendJSONString([0x61, 0, 0x62], nulAs: UInt8(ascii: "@"))
    #expect(substituted == false)
    #expect(String(decoding: out.bytes, as: UTF8.self) == "\"a@b\"")
  }

  /// Whatever the names hold, the table carries no control byte but its newlines.
  @Test func hostileNamesNeverReachTheTerminal() {
    var snapshot = Sample.snapshot()
    // Every byte value, in a command and in a path.
    snapshot.processes[4001]?.command = (0...255).map { UInt8($0) }
    snapshot.flows[4].local = .unixPath((0...255).map { UInt8($0) })
    var options = Sample.options
    options.columns = Column.allCases
    let table = Sample.render { TableRenderer.render(snapshot, options: options, into: &$0) }
    #expect(!table.contains(where: { ($0 < 0x20 && $0 != 0x0A) || $0 == 0x7F }))
    #expect(String(validating: table, as: UTF8.self) != nil)
    let text = String(decoding: table, as: UTF8.self)
    #expect(!text.unicodeScalars.contains { (0x80...0x9F).contains($0.value) })
    #expect(text.contains(#"\x1b[31mred\x0a)x.4001"#) == false)  // replaced above
    #expect(text.contains(#"\x1b\x1c\x1d\x1e\x1f !"#))
    #expect(text.contains(#"f\xff\xfe.4002"#))
    #expect(text.split(separator: "\n").count == snapshot.flows.count + 1)
  }

  @Test func defaultHostileCommandInTable() {
    let table = Sample.text {
      TableRenderer.render(Sample.snapshot(), options: Sample.options, into: &$0)
    }
    #expect(table.contains(#"\x1b[31mred\x0a)x.4001"#))
    #expect(!table.utf8.contains(0x1B))
  }
}
