import SockDiag
import Testing

@testable import NetlinkTransport

#if canImport(Glibc)
  import Glibc
#endif

/// The transport's own calls, on this machine: files, namespaces, the netlink socket.
@Suite("Netlink transport")
struct TransportTests {
  @Test func aWrittenFileIsPrivateAndReadsBackWhole() throws {
    let path = "/tmp/flowscope-transport-\(getpid())"
    defer { unlink(path) }
    let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    do {
      let file = try FileWriter(path: path)
      try file.write(Array(bytes[..<1000]))
      try file.write(Array(bytes[1000...]))
      #expect(file.bytesWritten == bytes.count)
    }
    var info = stat()
    #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
    #expect(try readWholeFile(path) == bytes)
  }

  @Test func errorsNameTheOperationAndThePath() {
    do {
      _ = try readWholeFile("/nonexistent/flowscope")
      Issue.record("read a file that does not exist")
    } catch {
      #expect(error.description.contains("open /nonexistent/flowscope"), "\(error)")
      #expect(error.errno == ENOENT)
    }
    do {
      _ = try FileWriter(path: "/nonexistent/dir/file")
      Issue.record("wrote into a directory that does not exist")
    } catch {
      #expect(error.errno == ENOENT)
    }
  }

  @Test func workRunsInsideANamespaceAndTheCallerStaysWhereItWas() throws {
    var before = stat()
    #expect(stat("/proc/thread-self/ns/net", &before) == 0)
    let inode = try runInNetworkNamespace(at: "/proc/self/ns/net") { () -> UInt64 in
      var inside = stat()
      return stat("/proc/thread-self/ns/net", &inside) == 0 ? UInt64(inside.st_ino) : 0
    }
    #expect(inode == UInt64(before.st_ino))
    var after = stat()
    #expect(stat("/proc/thread-self/ns/net", &after) == 0 && after.st_ino == before.st_ino)
    #expect(throws: TransportError.self) { try runInNetworkNamespace(at: "/nonexistent") { 0 } }
    // A sock_diag socket opened in a namespace answers a dump.
    let source = KernelSource(channel: try openSockDiagSocket(inNetworkNamespaceAt: "/proc/self/ns/net"))
    var records = 0
    let result = source.dump(.unix, states: 0xffff_ffff, bytecode: nil, restart: {}) { _ in records += 1 }
    #expect(result.status == .complete)
    #expect(records > 0)
  }

  /// Receiving ahead on a helper thread loses nothing and leaves the socket clean: a dump of
  /// more datagrams than the ring has slots (the receiver waits for the decoder), twice on
  /// one socket, against a dump received in turn.
  @Test func aDumpReceivedAheadHasEverySocketOfOneReceivedInTurn() throws {
    let pairs = 3000
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < limit.rlim_max {
      limit.rlim_cur = limit.rlim_max
      setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
    try #require(limit.rlim_cur >= rlim_t(2 * pairs + 256), "RLIMIT_NOFILE too low for the test")
    var descriptors: [Int32] = []
    defer { descriptors.forEach { close($0) } }
    var ours = Set<UInt32>()
    for _ in 0..<pairs {
      var pair: [Int32] = [-1, -1]
      try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
      descriptors += pair
      for fd in pair {
        var info = stat()
        fstat(fd, &info)
        ours.insert(UInt32(truncatingIfNeeded: info.st_ino))
      }
    }
    func dump(_ source: KernelSource) -> (DumpResult, Set<UInt32>, datagrams: Int) {
      var seen = Set<UInt32>()
      var datagrams = 0
      source.onDatagrams = { _, kept in datagrams = kept.count }
      let result = source.dump(.unix, states: 0xffff_ffff, bytecode: nil, restart: {}) { seen.insert($0.inode) }
      return (result, seen, datagrams)
    }
    let inTurn = try KernelSource()
    let ahead = try KernelSource()
    ahead.readsAhead = true
    let reference = dump(inTurn)
    #expect(reference.0.status == .complete)
    #expect(ours.isSubset(of: reference.1))
    for _ in 0..<2 {
      let (result, seen, datagrams) = dump(ahead)
      #expect(result.status == .complete)
      #expect(result.decodeErrors == 0)
      #expect(ours.isSubset(of: seen), "\(ours.subtracting(seen).count) of our sockets missing")
      #expect(datagrams > ReadAhead.slotCount)
    }
  }

  @Test func anEmptyReplayAnswersEveryQueryWithNothing() {
    let result = ReplaySource.empty.dump(.unix, states: 0xffff_ffff, bytecode: nil, restart: {}) { _ in
      Issue.record("a record from an empty replay")
    }
    #expect(result.status == .failed("not in the recording"))
  }
}
