import Foundation
import SchemaCheck
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Exact totals in `watch`: the bytes a connection moves after the last refresh before it
/// closes count in the refresh that finds it closed (from the kernel's destroy messages).
struct WatchCloseTests {
  /// A connected loopback pair to `listener`: (client, server).
  func connectPair(_ listener: Listener) throws -> (Int32, Int32) {
    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    address.sin_port = listener.port.bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else { throw CocoaError(.fileWriteUnknown) }
    let server = accept(listener.fd, nil, nil)
    guard server >= 0 else { throw CocoaError(.fileReadUnknown) }
    return (client, server)
  }

  func localPort(_ fd: Int32) -> Int {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
  }

  /// Sends `count` bytes from `from`, reads them all at `to` (so both ends count them), then
  /// closes `from` first and `to` after it has read the end of the stream.
  func transfer(_ count: Int, from: Int32, to: Int32) {
    let chunk = [UInt8](repeating: 0x61, count: 65536)
    var sink = [UInt8](repeating: 0, count: 65536)
    var sent = 0
    var received = 0
    while received < count {
      if sent < count {
        let wrote = chunk.withUnsafeBytes {
          send(from, $0.baseAddress, min($0.count, count - sent), Int32(MSG_DONTWAIT))
        }
        if wrote > 0 { sent += wrote }
      }
      let read = sink.withUnsafeMutableBytes { recv(to, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
      if read > 0 { received += read } else if read == 0 { break } else { usleep(1000) }
    }
    close(from)
    while sink.withUnsafeMutableBytes({ recv(to, $0.baseAddress, $0.count, 0) }) > 0 {}
    close(to)
  }

  @Test func closedConnectionsCountTheirLastBytes() throws {
    // Joining the destroy groups may be refused (a kernel that wants CAP_NET_ADMIN): then
    // watch says so and the totals are what they were; this test is about the fold-in.
    let listener = try Listener()
    let port = Int(listener.port)
    let (clientA, serverA) = try connectPair(listener)
    let portA = localPort(clientA)
    let watch = try Spawned(
      flowscopeBinary, ["watch", "--json", "-i", "1.5", "--count", "3", "sport == \(port) or dport == \(port)"])
    // The first refresh has seen connection A, with no data yet.
    #expect(watch.wait(seconds: 20) { out, _ in out.contains("\"refresh\":1") })
    if watch.stderr.contains("destroy groups") {
      watch.stop()
      return
    }
    // Before the second: A moves 300,000 bytes and closes; B opens, moves 200,000 bytes the
    // other way and closes: no refresh ever sees B.
    let payloadA = 300_000
    let payloadB = 200_000
    transfer(payloadA, from: clientA, to: serverA)
    let (clientB, serverB) = try connectPair(listener)
    let portB = localPort(clientB)
    transfer(payloadB, from: serverB, to: clientB)
    watch.finish()
    #expect(watch.process.terminationStatus == 0, "\(watch.stderr)")
    #expect(watch.stderr.isEmpty, "\(watch.stderr)")

    let records = try watch.stdout.split(separator: "\n").map {
      try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
    // Every line, the closed ones with their final counters included, is a watch line of the schema.
    let schema = try MiniSchema.load()
    for record in records {
      #expect(schema.validate(record, against: "#/$defs/watchLine") == [], "\(record)")
    }
    func portOf(_ record: [String: Any], _ side: String) -> Int? {
      (record[side] as? [String: Any])?["port"] as? Int
    }
    /// The deltas summed over the refreshes after the first, of the socket at `local`→`remote`.
    func sums(local: Int, remote: Int) -> (into: Int, out: Int, lines: Int) {
      let lines = records.filter {
        ($0["refresh"] as? Int ?? 0) > 1 && portOf($0, "local") == local && portOf($0, "remote") == remote
      }
      return (
        lines.reduce(0) { $0 + ($1["delta_in"] as? Int ?? 0) }, lines.reduce(0) { $0 + ($1["delta_out"] as? Int ?? 0) },
        lines.count
      )
    }
    // What tcp_info counts: bytes_received (delta_in) counts the peer's FIN as one byte;
    // bytes_acked (delta_out) counts the SYN of the connecting side and its own FIN, once
    // acknowledged. A's SYN was counted before the first refresh (its bytes_out there is 1).
    let aClient = sums(local: portA, remote: port)
    let aServer = sums(local: port, remote: portA)
    #expect(aClient.out == payloadA + 1, "\(records)")
    #expect(aClient.into == 1)
    #expect(aServer.into == payloadA + 1)
    #expect(aServer.out == 1)
    // B, which no refresh saw: one closed line per end with all its bytes.
    let bClient = sums(local: portB, remote: port)
    let bServer = sums(local: port, remote: portB)
    #expect(bClient.lines == 1 && bServer.lines == 1, "\(records)")
    #expect(bServer.out == payloadB + 1)
    #expect(bServer.into == 1)
    #expect(bClient.into == payloadB + 1)
    #expect(bClient.out == 2)
    // The closed lines carry the final counters.
    let closed = records.filter { $0["change"] as? String == "closed" }
    #expect(closed.count == 4)
    #expect(
      closed.contains {
        portOf($0, "local") == port && portOf($0, "remote") == portA && $0["bytes_in"] as? Int == payloadA + 1
      })
  }
}
