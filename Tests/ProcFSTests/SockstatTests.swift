import Testing

@testable import ProcFS

/// `/proc/net/sockstat`'s socket count, the capacity hint of a listing.
@Suite struct SockstatTests {
  @Test func parsesTheSocketsUsedLine() {
    let text = Array(
      "sockets: used 100237\nTCP: inuse 100051 orphan 0 tw 0 alloc 100051 mem 50172\n".utf8)
    #expect(text.withUnsafeBytes { ProcParsers.socketsInUse($0) } == 100237)
  }

  @Test func refusesAnythingElse() {
    for bad in ["", "sockets: used \n", "TCP: inuse 3\n", "sockets: used x1\n"] {
      #expect(Array(bad.utf8).withUnsafeBytes { ProcParsers.socketsInUse($0) } == nil)
    }
  }

  @Test func readsTheLiveFile() {
    // Every Linux /proc has it; the count is at least this process's few sockets or zero.
    #expect((ProcScanner.socketsInUse() ?? -1) >= 0)
  }
}
