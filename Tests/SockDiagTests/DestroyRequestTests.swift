import Testing

@testable import SockDiag

@Suite("SOCK_DESTROY request")
struct DestroyRequestTests {
  /// A TCP connection 127.0.0.1:40000 → 127.0.0.1:5432 on this little-endian machine, every
  /// byte written out with the field it belongs to.
  @Test func tcp4IsAnnotatedFieldByField() {
    let id = InetSocketID(
      family: 2, proto: .tcp, sourcePort: 40000, destinationPort: 5432,
      sourceAddress: InetAddressBytes(bytes: [127, 0, 0, 1]),
      destinationAddress: InetAddressBytes(bytes: [127, 0, 0, 1]), interfaceIndex: 0,
      cookie: 0x0000_0002_0000_1234)
    let expected: [UInt8] = [
      // struct nlmsghdr
      72, 0, 0, 0,  // nlmsg_len: 16 + 56
      21, 0,  // nlmsg_type: SOCK_DESTROY
      0x05, 0x00,  // nlmsg_flags: NLM_F_REQUEST (1) | NLM_F_ACK (4)
      9, 0, 0, 0,  // nlmsg_seq
      0, 0, 0, 0,  // nlmsg_pid: the kernel
      // struct inet_diag_req_v2
      2,  // sdiag_family: AF_INET
      6,  // sdiag_protocol: IPPROTO_TCP
      0,  // idiag_ext
      0,  // pad
      0, 0, 0, 0,  // idiag_states
      // struct inet_diag_sockid
      0x9c, 0x40,  // idiag_sport: 40000, big-endian
      0x15, 0x38,  // idiag_dport: 5432, big-endian
      127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // idiag_src: IPv4 in the first word
      127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // idiag_dst
      0, 0, 0, 0,  // idiag_if
      0x34, 0x12, 0, 0,  // idiag_cookie[0]: low half, host order
      2, 0, 0, 0,  // idiag_cookie[1]: high half
    ]
    #expect(SockDiagRequest.encodeDestroy(id, sequence: 9) == expected)
  }

  @Test func udp6KeepsTheInterfaceAndTheWholeAddresses() {
    let source: [UInt8] = [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1]
    let destination: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [7]
    let id = InetSocketID(
      family: 10, proto: .udplite, sourcePort: 53, destinationPort: 1,
      sourceAddress: InetAddressBytes(bytes: source), destinationAddress: InetAddressBytes(bytes: destination),
      interfaceIndex: 3, cookie: .max)
    let bytes = SockDiagRequest.encodeDestroy(id, sequence: 1)
    #expect(bytes.count == 72)
    #expect(bytes[16] == 10 && bytes[17] == 136)  // AF_INET6, IPPROTO_UDPLITE
    #expect(Array(bytes[24..<28]) == [0, 53, 0, 1])
    #expect(Array(bytes[28..<44]) == source)
    #expect(Array(bytes[44..<60]) == destination)
    #expect(Array(bytes[60..<64]) == [3, 0, 0, 0])
    #expect(Array(bytes[64..<72]) == [UInt8](repeating: 0xff, count: 8))
  }

  /// The id a dump decoded is the id a destroy request sends back: the same bytes at the same
  /// offsets of inet_diag_msg (from 4) and inet_diag_req_v2 (from 8).
  @Test func theDumpedIdRoundTrips() throws {
    var message: [UInt8] = [2, 1, 0, 0]  // family, state, timer, retrans
    message += [0x1f, 0x90, 0xc3, 0x50]  // sport 8080, dport 50000
    message += [10, 0, 0, 1] + [UInt8](repeating: 0, count: 12)
    message += [10, 0, 0, 2] + [UInt8](repeating: 0, count: 12)
    message += [0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12, 0x01, 0, 0, 0]  // if, cookie
    message += [UInt8](repeating: 0, count: 20)  // expires, rqueue, wqueue, uid, inode
    let socket = try message.withUnsafeBytes { try decodeInetSocket($0, proto: .tcp) }
    let request = SockDiagRequest.encodeDestroy(InetSocketID(socket), sequence: 1)
    #expect(Array(request[24..<72]) == Array(message[4..<52]))
  }
}
