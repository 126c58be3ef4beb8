import Testing

@testable import SockDiag

/// `decodeDumpDatagram(_:query:keepingInodes:each:)`: skipping sockets by inode before decoding.
@Suite("Inode prefilter")
struct InodeFilterTests {
  func decode(_ name: String, keep: ((UInt32) -> Bool)?) throws -> ([SocketRecord], Int) {
    let file = try Fixture.data(name)
    var records: [SocketRecord] = []
    var messages = 0
    try file.withUnsafeBytes { buffer in
      try RecordFile.forEachChunk(in: buffer) { query, datagram in
        let status = decodeDumpDatagram(datagram, query: query, keepingInodes: keep) {
          records.append($0)
        }
        #expect(status.error == nil)
        messages += status.messageCount
      }
    }
    return (records, messages)
  }

  @Test func keepsExactlyTheWantedInodesAndDecodesThemAlike() throws {
    let (all, allMessages) = try decode("tcp4-all.bin", keep: nil)
    #expect(all.count == allMessages && all.count == 5)
    let wanted: Set<UInt32> = [6796, 6805]
    let (kept, keptMessages) = try decode("tcp4-all.bin", keep: { wanted.contains($0) })
    #expect(kept.map(\.inode).sorted() == [6796, 6805])
    #expect(keptMessages == 2)
    #expect(kept == all.filter { wanted.contains($0.inode) })
  }

  @Test func theInodeOffsetMatchesEveryDecoder() throws {
    for (name, query) in [
      ("tcp4-all.bin", SockDiagQuery.inet(family: 2, proto: .tcp)),
      ("unix-all.bin", .unix), ("packet-all.bin", .packet), ("netlink-all.bin", .netlink),
    ] {
      let (all, _) = try decode(name, keep: nil)
      for record in all {
        let (one, _) = try decode(name, keep: { $0 == record.inode })
        #expect(one.contains(record), "\(query) inode \(record.inode)")
      }
    }
    #expect(inodeOffset(.unix) == 4 && inodeOffset(.packet) == 4)
    #expect(inodeOffset(.netlink) == 16 && inodeOffset(.vsock) == 20)
  }
}
