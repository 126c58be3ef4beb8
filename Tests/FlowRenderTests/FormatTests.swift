import FlowModel
import FlowRender
import Foundation
import Testing

@Suite struct FormatTests {
  static func v6(_ g: [UInt16]) -> IPAddress {
    var high: UInt64 = 0
    var low: UInt64 = 0
    for i in 0..<4 { high = high << 16 | UInt64(g[i]) }
    for i in 4..<8 { low = low << 16 | UInt64(g[i]) }
    return .v6(high: high, low: low)
  }

  @Test(
    arguments: [
      ([0, 0, 0, 0, 0, 0, 0, 0], "::"),
      ([0, 0, 0, 0, 0, 0, 0, 1], "::1"),
      ([0xfe80, 0, 0, 0, 0, 0, 0, 1], "fe80::1"),
      // Two runs of two zero groups: the first is compressed (RFC 5952 4.2.3).
      ([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"),
      // The longer run wins even when it comes second.
      ([0x2001, 0, 0, 1, 0, 0, 0, 1], "2001:0:0:1::1"),
      // A single zero group is not compressed (4.2.2).
      ([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"),
      ([1, 0, 0, 0, 0, 0, 0, 0], "1::"),
      (
        [0x2001, 0xDB8, 0xAAAA, 0xBBBB, 0xCCCC, 0xDDDD, 0xEEEE, 0x0001],
        "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"
      ),
      ([0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001], "::ffff:127.0.0.1"),
      ([0, 0, 0, 0, 0, 0xffff, 0, 0], "::ffff:0.0.0.0"),
      // Not v4-mapped: plain hex.
      ([0, 0, 0, 0, 0, 0xfffe, 0x7f00, 0x0001], "::fffe:7f00:1"),
    ] as [([UInt16], String)])
  func ipv6(groups: [UInt16], expected: String) {
    #expect(formatAddress(Self.v6(groups)) == expected)
  }

  @Test func ipv4() {
    #expect(formatAddress(.v4(0xC0A8_0001)) == "192.168.0.1")
    #expect(formatAddress(.v4(0)) == "0.0.0.0")
    #expect(formatAddress(.v4(0xFFFF_FFFF)) == "255.255.255.255")
    #expect(formatAddress(.v4(0x0A00_00FF)) == "10.0.0.255")
  }

  @Test(
    arguments: [
      (0, "0 B"), (1, "1 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1229, "1.2 KiB"),
      (1536, "1.5 KiB"), (10 * 1024 - 1, "10.0 KiB"), (1_048_575, "1.0 MiB"),
      (3 * 1_048_576 + 400 * 1024, "3.4 MiB"), (5 * 1_073_741_824, "5.0 GiB"),
      (1_099_511_627_776, "1.0 TiB"), (UInt64.max, "16.0 EiB"),
    ] as [(UInt64, String)])
  func human(bytes: UInt64, expected: String) {
    #expect(humanBytes(bytes) == expected)
  }

  @Test(
    arguments: [
      (0, "0us"), (850, "850us"), (999, "999us"), (1000, "1.0ms"), (1234, "1.2ms"),
      (1250, "1.3ms"), (999_949, "999.9ms"), (999_950, "1.0s"), (2_500_000, "2.5s"),
    ] as [(UInt64, String)])
  func duration(micros: UInt64, expected: String) {
    var out = OutputBuffer()
    appendDuration(micros: micros, into: &out)
    #expect(String(decoding: out.bytes, as: UTF8.self) == expected)
  }

  @Test(
    arguments: [
      (0, "1970-01-01T00:00:00.000Z"),
      (1_795_348_800.123, "2026-11-22T12:00:00.123Z"),
      (951_782_400, "2000-02-29T00:00:00.000Z"),
      (4_107_542_399.999, "2100-02-28T23:59:59.999Z"),
      (-1, "1969-12-31T23:59:59.000Z"),
      (-0.5, "1969-12-31T23:59:59.500Z"),
      (10_000_000_000, "2286-11-20T17:46:40.000Z"),
    ] as [(Double, String)])
  func timestamps(time: Double, expected: String) {
    #expect(rfc3339(time) == expected)
  }

  /// The hand-written calendar agrees with Foundation's over four centuries.
  @Test func calendarAgreesWithFoundation() {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    formatter.timeZone = TimeZone(identifier: "UTC")
    var time = -2_208_988_800.0  // 1900-01-01
    var mismatches: [String] = []
    while time < 10_413_792_000 {  // 2300-01-01
      let expected = formatter.string(from: Date(timeIntervalSince1970: time))
      let actual = rfc3339(time)
      if expected != actual { mismatches.append("\(time): \(actual) != \(expected)") }
      time += 86_400 * 37 + 3_661.25  // steps through every month, day and time of day
    }
    #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
  }

  @Test func decimalAndHex() {
    var out = OutputBuffer()
    out.appendDecimal(UInt64.max)
    out.append(" ")
    out.appendDecimal(Int64.min)
    out.append(" ")
    out.appendDecimal(Int32(-42))
    out.append(" ")
    out.appendHex(0xBEEF, minDigits: 6)
    out.append(" ")
    out.appendHexBytes([0x00, 0x0F, 0xF0, 0xFF])
    #expect(
      String(decoding: out.bytes, as: UTF8.self)
        == "18446744073709551615 -9223372036854775808 -42 00beef 000ff0ff")
  }
}
