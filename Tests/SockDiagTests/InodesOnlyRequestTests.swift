import Testing

@testable import SockDiag

/// A walk that only wants inodes asks for no attributes: show flags 0, no inet extensions.
struct InodesOnlyRequestTests {
  func hostU32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    bytes[offset..<offset + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
  }

  @Test func showFlagsAreZeroWithoutDetails() {
    // After the 16-byte nlmsghdr: unix_diag_req's udiag_show at 12, packet's and netlink's at 8.
    let cases: [(SockDiagQuery, Int, UInt32)] = [
      (.unix, 16 + 12, SockDiagRequest.unixShow),
      (.packet, 16 + 8, SockDiagRequest.packetShow),
      (.netlink, 16 + 8, SockDiagRequest.netlinkShow),
    ]
    for (query, offset, show) in cases {
      #expect(hostU32(SockDiagRequest.encode(query, sequence: 1), offset) == show, "\(query)")
      #expect(hostU32(SockDiagRequest.encode(query, sequence: 1, details: false), offset) == 0, "\(query)")
    }
    // inet: idiag_ext is the fourth byte of the request.
    let inet = SockDiagRequest.encode(
      .inet(family: AddressFamily.inet, proto: .udp), sequence: 1, extensions: 0, details: false)
    #expect(inet[16 + 2] == 0)
  }
}
