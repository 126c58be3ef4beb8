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

/// The counter files of issue 23, as this kernel (6.18) writes them.
struct KernelCounterParserTests {
  @Test func netstatPairsNamesWithValues() {
    let text = """
      TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPTimeouts
      TcpExt: 0 0 31 62 7
      IpExt: InNoRoutes InTruncatedPkts
      IpExt: 0 0
      MPTcpExt: Broken
      MPTcpExt: 1 2

      """
    let parsed = ProcParsers.netstat(Array(text.utf8))
    #expect(parsed["TcpExt"]?["ListenOverflows"] == 31)
    #expect(parsed["TcpExt"]?["ListenDrops"] == 62)
    #expect(parsed["IpExt"]?["InNoRoutes"] == 0)
    // Names and values that disagree in number: left out, not guessed.
    #expect(parsed["MPTcpExt"] == nil)
    #expect(ProcParsers.netstat([]).isEmpty)
  }

  @Test func portRangeIsTwoNumbers() throws {
    #expect(try ProcParsers.portRange(Array("32768\t60999\n".utf8)) == 32768...60999)
    #expect(try ProcParsers.portRange(Array("40000 40099".utf8)) == 40000...40099)
    #expect(throws: ProcParseError.self) { try ProcParsers.portRange(Array("60999\t32768\n".utf8)) }
    #expect(throws: ProcParseError.self) { try ProcParsers.portRange(Array("1 70000\n".utf8)) }
    #expect(throws: ProcParseError.self) { try ProcParsers.portRange(Array("1\n".utf8)) }
    #expect(throws: ProcParseError.empty) { try ProcParsers.portRange([]) }
  }

  @Test func orphansComeFromTheTCPLineOfSockstat() throws {
    let text = "sockets: used 9\nTCP: inuse 402 orphan 200 tw 3 alloc 402 mem 915\nUDP: inuse 0 mem 0\n"
    #expect(try ProcParsers.sockstatOrphans(Array(text.utf8)) == 200)
    #expect(throws: ProcParseError.self) { try ProcParsers.sockstatOrphans(Array("sockets: used 9\n".utf8)) }
    #expect(throws: ProcParseError.self) { try ProcParsers.sockstatOrphans(Array("TCP: inuse 1 orphan x\n".utf8)) }
    #expect(try ProcParsers.sysctlNumber(Array("131072\n".utf8)) == 131072)
    #expect(throws: ProcParseError.self) { try ProcParsers.sysctlNumber(Array("-1\n".utf8)) }
  }

  /// /proc/net/sockstat and sockstat6 as this kernel writes them (recorded with 250k loopback
  /// connections open): the line's name, then name-value pairs.
  @Test func sockstatValuesAreFoundByLineAndField() throws {
    let sockstat = Array(
      """
      sockets: used 500211
      TCP: inuse 500051 orphan 0 tw 7 alloc 500051 mem 249802
      UDP: inuse 50 mem 0
      UDPLITE: inuse 0
      RAW: inuse 0
      FRAG: inuse 0 memory 0

      """.utf8)
    let sockstat6 = Array(
      "TCP6: inuse 3\nUDP6: inuse 0\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n".utf8)
    #expect(try ProcParsers.sockstatValue(sockstat, line: "TCP", field: "inuse") == 500051)
    #expect(try ProcParsers.sockstatValue(sockstat, line: "TCP", field: "tw") == 7)
    #expect(try ProcParsers.sockstatValue(sockstat, line: "UDP", field: "inuse") == 50)
    #expect(try ProcParsers.sockstatValue(sockstat6, line: "TCP6", field: "inuse") == 3)
    // "TCP" is not the start of "TCP6", nor "UDP" of "UDPLITE".
    #expect(throws: ProcParseError.missingField("TCP")) {
      try ProcParsers.sockstatValue(sockstat6, line: "TCP", field: "inuse")
    }
    #expect(throws: ProcParseError.missingField("tw")) {
      try ProcParsers.sockstatValue(sockstat, line: "UDP", field: "tw")
    }
    #expect(throws: ProcParseError.missingField("inuse")) {
      try ProcParsers.sockstatValue(Array("TCP: inuse\n".utf8), line: "TCP", field: "inuse")
    }
    #expect(throws: ProcParseError.invalidField("inuse")) {
      try ProcParsers.sockstatValue(Array("TCP: inuse -1\n".utf8), line: "TCP", field: "inuse")
    }
  }

  @Test func theCountersOfThisNamespaceAreRead() {
    let values = KernelCounterFiles.namespaceCounters()
    #expect(values.errors.isEmpty, "\(values.errors)")
    #expect(values.localPortRange != nil)
    #expect(values.listenDrops != nil)
    #expect(KernelCounterFiles.orphanCounters().orphans != nil)
  }
}

/// `/proc/sys/fs/file-nr`'s count of open files, which decides whether `--owners auto` loads
/// the BPF iterator.
@Suite struct OpenFilesTests {
  @Test func parsesTheFirstNumber() {
    #expect(Array("348\t0\t2466116\n".utf8).withUnsafeBytes { ProcParsers.openFiles($0) } == 348)
    #expect(Array("100512".utf8).withUnsafeBytes { ProcParsers.openFiles($0) } == 100512)
  }

  @Test func refusesAnythingElse() {
    for bad in ["", "\t0\t1\n", "x1\t0\t1\n", "12x\t0\n", "99999999999999999999\t0\n"] {
      #expect(Array(bad.utf8).withUnsafeBytes { ProcParsers.openFiles($0) } == nil, "\(bad)")
    }
  }

  @Test func readsTheLiveFile() {
    #expect((ProcScanner.openFiles() ?? 0) > 0)
    #expect(ProcScanner.openFiles(root: "/nonexistent") == nil)
  }
}
