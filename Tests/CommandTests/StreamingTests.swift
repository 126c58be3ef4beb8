import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Unsorted JSON, NDJSON and CSV are written as the flows are decoded, and an unsorted table
/// keeps its rows as bytes until the widths are known: the same bytes as a listing collected
/// whole first (`--no-stream`, hidden, the path a sort takes).
@Suite(.serialized)
struct StreamingTests {
  /// Loopback connections of this test process: a listener, `count` connected pairs (both
  /// ends held here) and a bound UDP socket, on one port of 127.0.0.1.
  final class Connections {
    var descriptors: [Int32] = []
    let port: UInt16

    init(count: Int) throws {
      let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
      descriptors.append(listener)
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
      var length = socklen_t(MemoryLayout<sockaddr_in>.size)
      let ready = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          bind(listener, $0, length) == 0 && listen(listener, Int32(count + 8)) == 0
            && getsockname(listener, $0, &length) == 0
        }
      }
      guard ready else { throw CocoaError(.fileWriteUnknown) }
      port = UInt16(bigEndian: address.sin_port)
      for _ in 0..<count {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        descriptors.append(client)
        let connected = withUnsafePointer(to: &address) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
          }
        }
        let server = accept(listener, nil, nil)
        guard connected == 0, server >= 0 else { throw CocoaError(.fileWriteUnknown) }
        descriptors.append(server)
      }
      let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
      descriptors.append(udp)
      let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          bind(udp, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      guard bound == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    deinit { descriptors.forEach { close($0) } }
  }

  /// The output without what changes from one run to the next: the `time` (taken when the
  /// listing starts, streamed or not) and the milliseconds since the last packet.
  static func timeless(_ data: Data) -> String {
    String(decoding: data, as: UTF8.self)
      .replacing(/"time":"[^"]*"/, with: "\"time\":\"…\"")
      .replacing(/"last_(send|recv)_ms":[0-9]+/, with: "\"last_ms\":…")
  }

  /// The listing streamed and collected whole. Another test of this process that forks holds
  /// its sockets for a moment (until the child's exec closes them), and the two runs may see
  /// that child among the owners or not: such a pair is made again, up to three times.
  static func pair(_ arguments: [String]) throws -> (streamed: Outcome, collected: Outcome) {
    var outcomes = (
      streamed: try run(flowscopeBinary, arguments), collected: try run(flowscopeBinary, arguments + ["--no-stream"])
    )
    for _ in 0..<2 where timeless(outcomes.streamed.stdout) != timeless(outcomes.collected.stdout) {
      outcomes = (try run(flowscopeBinary, arguments), try run(flowscopeBinary, arguments + ["--no-stream"]))
    }
    return outcomes
  }

  @Test(arguments: [["--json"], ["--format", "ndjson"], ["--format", "csv"], ["--format", "table"]])
  func streamedOutputIsTheCollectedOutput(format: [String]) throws {
    let connections = try Connections(count: 300)
    let selection = ["-a", "-p", "tcp,udp", "--port", String(connections.port)]
    let (streamed, collected) = try Self.pair(format + selection)
    #expect(streamed.status == 0, "\(streamed.stderr)")
    #expect(collected.status == 0, "\(collected.stderr)")
    #expect(Self.timeless(streamed.stdout) == Self.timeless(collected.stdout))
    // Every socket is there with its owner: this process, which holds all of them.
    let text = String(decoding: streamed.stdout, as: UTF8.self)
    let rows = text.split(whereSeparator: \.isNewline).filter { $0.contains(String(connections.port)) }
    #expect(rows.count == 1 + 2 * 300 + 1)
    let owner = format.first == "--format" && format != ["--format", "ndjson"] ? ".\(getpid())" : "\"pid\":\(getpid())"
    #expect(rows.allSatisfy { $0.contains(owner) })
  }

  @Test func streamedOutputOfOneProcessAndOfAQueryIsTheCollectedOutput() throws {
    let connections = try Connections(count: 50)
    let child = try Child(holding: connections.descriptors[0])
    for arguments in [
      ["--json", "-a", "-p", "tcp", "-P", String(child.pid)],
      ["--format", "ndjson", "-a", "-p", "tcp,udp", "lport == \(connections.port) and state != listen"],
      [
        "--format", "csv", "-a", "-p", "tcp", "-o", "proto,local,remote,state,process", "--port",
        String(connections.port),
      ],
      ["-a", "-p", "tcp", "-P", String(child.pid)],
      ["-a", "-p", "tcp,udp", "-o", "process,local,cmdline", "lport == \(connections.port) and state != listen"],
    ] {
      let (streamed, collected) = try Self.pair(arguments)
      #expect(streamed.status == 0, "\(arguments): \(streamed.stderr)")
      #expect(!streamed.stdout.isEmpty)
      #expect(Self.timeless(streamed.stdout) == Self.timeless(collected.stdout), "\(arguments)")
    }
  }

  @Test(arguments: [
    ["--json"], ["--format", "ndjson"], ["--format", "csv"], ["--format", "table", "-o", "proto,local,state,process"],
  ])
  func closedPipeEndsAStreamedListingQuietly(format: [String]) throws {
    let connections = try Connections(count: 200)
    try expectQuietEndOnClosedPipe(format)
    _ = connections
  }
}
