/// The project's record format for raw dumps, `FSRECv1`: the 8 ASCII bytes "FSRECv1\n", then per
/// received datagram: 1 byte query tag, 4 bytes little-endian length, the datagram's bytes.
/// Shared by the transport (which writes and replays) and the tests (which read fixtures).
public enum RecordFile {
  public static let magic: [UInt8] = Array("FSRECv1\n".utf8)
  /// Tag written for a query no tag describes (an inet family other than 0/2/10, or AF_UNSPEC
  /// with a protocol other than TCP); never read back.
  public static let unrepresentableTag: UInt8 = 255

  /// 0 inet4 tcp, 1 inet6 tcp, 2 inet4 udp, 3 inet6 udp, 4 unix, 5 packet, 6 netlink,
  /// 7 inet4 udplite, 8 inet6 udplite, 9 inet4 mptcp, 10 inet6 mptcp, 11 inet4 raw, 12 inet6 raw,
  /// 13 vsock; added here: 14 inet4 dccp, 15 inet6 dccp, 16 inet4 sctp, 17 inet6 sctp,
  /// 18 TCP of both families (AF_UNSPEC).
  public static func tag(for query: SockDiagQuery) -> UInt8 {
    switch query {
    case .unix: return 4
    case .packet: return 5
    case .netlink: return 6
    case .vsock: return 13
    case .inet(AddressFamily.unspecified, .tcp): return 18
    case .inet(let family, let proto):
      let v6: UInt8
      switch family {
      case AddressFamily.inet: v6 = 0
      case AddressFamily.inet6: v6 = 1
      default: return unrepresentableTag
      }
      switch proto {
      case .tcp: return 0 + v6
      case .udp: return 2 + v6
      case .udplite: return 7 + v6
      case .mptcp: return 9 + v6
      case .raw: return 11 + v6
      case .dccp: return 14 + v6
      case .sctp: return 16 + v6
      }
    }
  }

  public static func query(forTag tag: UInt8) -> SockDiagQuery? {
    let v4 = AddressFamily.inet
    let v6 = AddressFamily.inet6
    switch tag {
    case 0: return .inet(family: v4, proto: .tcp)
    case 1: return .inet(family: v6, proto: .tcp)
    case 2: return .inet(family: v4, proto: .udp)
    case 3: return .inet(family: v6, proto: .udp)
    case 4: return .unix
    case 5: return .packet
    case 6: return .netlink
    case 7: return .inet(family: v4, proto: .udplite)
    case 8: return .inet(family: v6, proto: .udplite)
    case 9: return .inet(family: v4, proto: .mptcp)
    case 10: return .inet(family: v6, proto: .mptcp)
    case 11: return .inet(family: v4, proto: .raw)
    case 12: return .inet(family: v6, proto: .raw)
    case 13: return .vsock
    case 14: return .inet(family: v4, proto: .dccp)
    case 15: return .inet(family: v6, proto: .dccp)
    case 16: return .inet(family: v4, proto: .sctp)
    case 17: return .inet(family: v6, proto: .sctp)
    case 18: return .inet(family: AddressFamily.unspecified, proto: .tcp)
    default: return nil
    }
  }

  /// One datagram as a chunk (tag, length, bytes); append chunks after `magic`.
  public static func encodeChunk(query: SockDiagQuery, datagram: UnsafeRawBufferPointer) -> [UInt8] {
    var chunk: [UInt8] = []
    chunk.reserveCapacity(5 + datagram.count)
    chunk.append(tag(for: query))
    chunk.appendHost(UInt32(truncatingIfNeeded: datagram.count).littleEndian)
    chunk.append(contentsOf: datagram)
    return chunk
  }

  /// Convenience for arrays.
  public static func encodeChunk(query: SockDiagQuery, datagram: [UInt8]) -> [UInt8] {
    datagram.withUnsafeBytes { encodeChunk(query: query, datagram: $0) }
  }

  /// Walks a whole record file, calling body per datagram. Throws on a bad magic, an unknown
  /// tag or a truncated chunk, after having delivered the chunks before it.
  public static func forEachChunk(
    in file: UnsafeRawBufferPointer, _ body: (SockDiagQuery, UnsafeRawBufferPointer) throws -> Void
  ) throws {
    try file.require(magic.count, "FSRECv1 magic")
    for i in 0..<magic.count where file[i] != magic[i] {
      throw SockDiagError.malformed(what: "record file", detail: "missing FSRECv1 magic")
    }
    var offset = magic.count
    while offset < file.count {
      let remaining = file.count - offset
      guard remaining >= 5 else {
        throw SockDiagError.truncated(what: "record chunk header", need: 5, have: remaining)
      }
      let tag = file[offset]
      let length = Int(UInt32(littleEndian: file.hostU32(offset + 1)))
      guard let query = query(forTag: tag) else {
        throw SockDiagError.malformed(
          what: "record chunk", detail: "unknown query tag \(tag) at offset \(offset)")
      }
      guard length <= remaining - 5 else {
        throw SockDiagError.truncated(what: "record chunk", need: length, have: remaining - 5)
      }
      try body(query, file.slice(offset + 5, offset + 5 + length))
      offset += 5 + length
    }
  }
}
