import FlowTerminal
import Testing

/// Bytes as terminals send them → keys.
struct KeyDecoderTests {
  func keys(_ bytes: [UInt8]) -> [Key] {
    var decoder = KeyDecoder()
    return decoder.feed(bytes) + decoder.flush()
  }

  @Test func plainKeysAndControls() {
    #expect(keys(Array("q/?".utf8)) == [.character("q"), .character("/"), .character("?")])
    #expect(keys([0x03]) == [.control("c")])
    #expect(keys([0x15]) == [.control("u")])
    #expect(keys([0x09, 0x0D, 0x0A, 0x7F, 0x08]) == [.tab, .enter, .enter, .backspace, .backspace])
  }

  @Test(arguments: [
    ("\u{1b}[A", Key.up), ("\u{1b}[B", .down), ("\u{1b}[C", .right), ("\u{1b}[D", .left),
    ("\u{1b}OA", .up), ("\u{1b}OB", .down), ("\u{1b}[5~", .pageUp), ("\u{1b}[6~", .pageDown),
    ("\u{1b}[H", .home), ("\u{1b}[F", .end), ("\u{1b}[1~", .home), ("\u{1b}[4~", .end),
    ("\u{1b}OH", .home), ("\u{1b}[7~", .home), ("\u{1b}[8~", .end), ("\u{1b}[3~", .delete),
    ("\u{1b}[Z", .backTab), ("\u{1b}[1;5A", .up), ("\u{1b}[5;2~", .pageUp), ("\u{1b}[15~", .unknown),
    ("\u{1b}[?1;2c", .unknown),
  ])
  func sequences(text: String, key: Key) {
    #expect(keys(Array(text.utf8)) == [key])
  }

  @Test func loneEscapeWaitsForFlush() {
    var decoder = KeyDecoder()
    #expect(decoder.feed([0x1B]).isEmpty)
    #expect(decoder.hasPending)
    #expect(decoder.flush() == [.escape])
    #expect(!decoder.hasPending)
  }

  @Test func sequenceSplitAcrossReads() {
    var decoder = KeyDecoder()
    #expect(decoder.feed([0x1B]).isEmpty)
    #expect(decoder.feed(Array("[".utf8)).isEmpty)
    #expect(decoder.feed(Array("6".utf8)).isEmpty)
    #expect(decoder.feed(Array("~j".utf8)) == [.pageDown, .character("j")])
  }

  @Test func escapeThenKeyAndDoubleEscape() {
    #expect(keys([0x1B, UInt8(ascii: "q")]) == [.escape, .character("q")])
    #expect(keys([0x1B, 0x1B]) == [.escape, .escape])
    #expect(keys([0x1B, 0x1B, UInt8(ascii: "["), UInt8(ascii: "A")]) == [.escape, .up])
  }

  @Test func utf8Characters() {
    #expect(keys(Array("é€😀".utf8)) == [.character("é"), .character("€"), .character("😀")])
    var decoder = KeyDecoder()
    let euro = Array("€".utf8)
    #expect(decoder.feed(euro[0..<2]).isEmpty)
    #expect(decoder.feed(euro[2...]) == [.character("€")])
    // Malformed: a stray continuation byte, a lead byte cut by an ASCII one.
    #expect(keys([0x80, UInt8(ascii: "a")]) == [.unknown, .character("a")])
    #expect(keys([0xE2, UInt8(ascii: "a")]) == [.unknown, .character("a")])
  }

  @Test func unfinishedSequenceFlushesAsUnknown() {
    var decoder = KeyDecoder()
    #expect(decoder.feed(Array("\u{1b}[1;".utf8)).isEmpty)
    #expect(decoder.flush() == [.unknown])
  }

  @Test func runawaySequenceIsDropped() {
    let bytes: [UInt8] = [0x1B, UInt8(ascii: "[")] + Array(repeating: UInt8(ascii: "1"), count: 40)
    var decoder = KeyDecoder()
    let decoded = decoder.feed(bytes)
    #expect(decoded == [.unknown])
    #expect(!decoder.hasPending)
  }
}
