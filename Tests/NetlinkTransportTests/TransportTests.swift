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

  @Test func anEmptyReplayAnswersEveryQueryWithNothing() {
    let result = ReplaySource.empty.dump(.unix, states: 0xffff_ffff, bytecode: nil, restart: {}) { _ in
      Issue.record("a record from an empty replay")
    }
    #expect(result.status == .failed("not in the recording"))
  }
}
