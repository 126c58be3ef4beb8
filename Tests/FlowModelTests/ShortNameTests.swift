import FlowModel
import Testing

/// The inline name that TCP details keep their congestion control module in.
struct ShortNameTests {
  @Test func keepsUpToSixteenBytesAndStopsAtNUL() {
    #expect(ShortName(nil).string == nil)
    #expect(ShortName(nil).isEmpty)
    #expect(ShortName("cubic").string == "cubic")
    #expect(ShortName("0123456789abcdef").string == "0123456789abcdef")
    #expect(ShortName("0123456789abcdefXYZ").string == "0123456789abcdef")
    let kernel: [UInt8] = Array("bbr".utf8) + [0, 0x41, 0x42]  // NUL-terminated, then junk
    let name = kernel.withUnsafeBytes { ShortName(bytes: $0) }
    #expect(name.string == "bbr")
    #expect(name == ShortName("bbr"))
    #expect(name != ShortName("bbr2"))
    #expect(name.withBytes { Array($0) } == Array("bbr".utf8))
  }

  @Test func detailsKeepTheNameAsAString() {
    var tcp = TCPDetails(congestionControl: "reno")
    #expect(tcp.congestionControl == "reno")
    tcp.congestionControl = nil
    #expect(tcp.congestionControl == nil)
    #expect(tcp.congestion.isEmpty)
  }
}
