import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A process started inside a network namespace with `ip netns exec`, running a python3
/// script that prints "ready" and holds its sockets until its stdin closes.
final class NamespacedProcess {
  let process = Process()
  private let input = Pipe()

  init(namespace: String, script: String) throws {
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    process.arguments = ["netns", "exec", namespace, "python3", "-c", script]
    let output = Pipe()
    process.standardOutput = output
    process.standardInput = input
    try process.run()
    let line = output.fileHandleForReading.readData(ofLength: 6)
    guard String(decoding: line, as: UTF8.self).hasPrefix("ready") else {
      throw CocoaError(.executableLoad)
    }
  }

  /// `ip netns exec` execs the command, so this is python's pid.
  var pid: Int32 { process.processIdentifier }

  deinit {
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
  }
}

func ip(_ arguments: String...) throws {
  let outcome = try run("/usr/sbin/ip", arguments)
  guard outcome.status == 0 else {
    throw CocoaError(.executableLoad, userInfo: ["ip": arguments, "stderr": outcome.stderr])
  }
}

/// Two namespaces of the test's own joined by a veth pair, with addresses of the documentation
/// range that exist only inside them.
@Suite(.serialized, .enabled(if: runningAsRoot, "network namespaces need root"))
struct NamespaceTests {
  let server = "flowscope-a-\(getpid())"
  let client = "flowscope-b-\(getpid())"

  func withNamespaces(_ body: () throws -> Void) throws {
    defer {
      _ = try? run("/usr/sbin/ip", ["netns", "del", server])
      _ = try? run("/usr/sbin/ip", ["netns", "del", client])
    }
    try ip("netns", "add", server)
    try ip("netns", "add", client)
    let veth = "fsv\(getpid() % 100000)"
    try ip("link", "add", veth + "a", "netns", server, "type", "veth", "peer", "name", veth + "b", "netns", client)
    try ip("-n", server, "addr", "add", "192.0.2.1/24", "dev", veth + "a")
    try ip("-n", client, "addr", "add", "192.0.2.2/24", "dev", veth + "b")
    for namespace in [server, client] {
      try ip("-n", namespace, "link", "set", "lo", "up")
    }
    try ip("-n", server, "link", "set", veth + "a", "up")
    try ip("-n", client, "link", "set", veth + "b", "up")
    try body()
  }

  static let serverScript = """
    import socket, sys, signal
    signal.alarm(60)
    listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("192.0.2.1", 7000)); listener.listen()
    same = socket.socket(); same.bind(("127.0.0.1", 7001)); same.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("192.0.2.1", 7002))
    print("ready", flush=True)
    conn, _ = listener.accept()
    sys.stdin.read()
    """

  static let clientScript = """
    import socket, sys, signal, time
    signal.alarm(60)
    same = socket.socket(); same.bind(("127.0.0.1", 7001)); same.listen()
    for attempt in range(100):
        try:
            conn = socket.create_connection(("192.0.2.1", 7000), timeout=1); break
        except OSError:
            time.sleep(0.05)
    conn.sendall(b"hello")
    print("ready", flush=True)
    sys.stdin.read()
    """

  func namespaceInode(_ name: String) -> UInt64 {
    var info = stat()
    stat("/run/netns/\(name)", &info)
    return UInt64(info.st_ino)
  }

  func flows(_ arguments: String...) throws -> [[String: Any]] {
    let outcome = try run(flowscopeBinary, ["--json", "-a", "-p", "tcp,udp"] + arguments)
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let document = try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any]
    return document?["flows"] as? [[String: Any]] ?? []
  }

  static func owners(_ flow: [String: Any]) -> [Int] {
    (flow["processes"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
  }

  static func local(_ flow: [String: Any]) -> String {
    let local = flow["local"] as? [String: Any]
    return "\(local?["address"] as? String ?? "?"):\(local?["port"] as? Int ?? -1)"
  }

  @Test func everyNamespaceIsReadAndJoinedWithItsProcesses() throws {
    try withNamespaces {
      let serverProcess = try NamespacedProcess(namespace: server, script: Self.serverScript)
      let clientProcess = try NamespacedProcess(namespace: client, script: Self.clientScript)
      let serverNetns = namespaceInode(server)
      let clientNetns = namespaceInode(client)

      let all = try flows()
      func find(_ netns: UInt64, _ local: String, _ state: String) -> [String: Any]? {
        all.first {
          ($0["netns"] as? UInt64) == netns && Self.local($0) == local && ($0["state"] as? String) == state
        }
      }
      let listener = try #require(find(serverNetns, "192.0.2.1:7000", "LISTEN"))
      #expect(Self.owners(listener) == [Int(serverProcess.pid)])
      #expect(listener["netns_name"] as? String == server)
      let udp = try #require(find(serverNetns, "192.0.2.1:7002", "CLOSE"))
      #expect(Self.owners(udp) == [Int(serverProcess.pid)])
      // Both ends of the connection across the veth, each in its own namespace.
      let accepted = try #require(find(serverNetns, "192.0.2.1:7000", "ESTABLISHED"))
      #expect(Self.owners(accepted) == [Int(serverProcess.pid)])
      #expect(accepted["bytes_in"] as? Int == 5)
      let connected = try #require(
        all.first {
          ($0["netns"] as? UInt64) == clientNetns && ($0["remote"] as? [String: Any])?["port"] as? Int == 7000
        })
      #expect(Self.owners(connected) == [Int(clientProcess.pid)])
      #expect(connected["netns_name"] as? String == client)
      // The same address and port in two namespaces stays two flows, one per owner.
      let twins = all.filter { Self.local($0) == "127.0.0.1:7001" && ($0["state"] as? String) == "LISTEN" }
      #expect(twins.count == 2)
      #expect(Set(twins.compactMap { $0["netns"] as? UInt64 }) == [serverNetns, clientNetns])
      #expect(Set(twins.flatMap(Self.owners)) == [Int(serverProcess.pid), Int(clientProcess.pid)])

      // A diag module this kernel lacks is said once, not once for each of the three namespaces.
      let everyProtocol = try run(flowscopeBinary, ["--json", "-a", "-p", "all"])
      let document = try JSONSerialization.jsonObject(with: everyProtocol.stdout) as? [String: Any]
      let warnings = try #require(document?["warnings"] as? [String])
      #expect(Set(warnings).count == warnings.count, "\(warnings)")
      #expect(
        everyProtocol.stderr.split(separator: "\n").count == Set(everyProtocol.stderr.split(separator: "\n")).count)

      // The per-process view sees them too, with their namespace.
      let proc = try run(flowscopeBinary, ["proc", "--json", "-P", String(serverProcess.pid)])
      let procDocument = try JSONSerialization.jsonObject(with: proc.stdout) as? [String: Any]
      let summary = try #require((procDocument?["processes"] as? [[String: Any]])?.first)
      #expect(summary["pid"] as? Int == Int(serverProcess.pid))
      #expect(summary["netns"] as? UInt64 == serverNetns)
      #expect(summary["netns_name"] as? String == server)
      #expect((summary["sockets"] as? [String: Any])?["tcp"] as? Int == 3)
      #expect((summary["states"] as? [String: Any])?["listen"] as? Int == 2)

      // So does watch, through its owner cache.
      let watch = try run(flowscopeBinary, ["watch", "--json", "--count", "1", "-i", "0.2", "-a", "-p", "tcp"])
      let watched = watch.text.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      }
      let watchedListener = try #require(
        watched.first { ($0["netns"] as? UInt64) == serverNetns && Self.local($0) == "192.0.2.1:7000" })
      #expect(Self.owners(watchedListener) == [Int(serverProcess.pid)])

      // The table names the namespace when there are several.
      let table = try run(flowscopeBinary, ["-a", "-p", "tcp", "--port", "7001", "--wide"])
      #expect(table.text.split(separator: "\n").first?.contains("NetNS") == true)
      #expect(table.text.contains(server))
      #expect(table.text.contains(client))
      // Flows of one namespace, though several were read: no column for it (as kill).
      let one = try run(flowscopeBinary, ["-a", "-p", "tcp", "-P", String(serverProcess.pid), "--wide"])
      #expect(one.text.split(separator: "\n").count > 1, "\(one.text)")
      #expect(one.text.split(separator: "\n").first?.contains("NetNS") == false, "\(one.text)")
    }
  }

  /// A namespace whose processes hold no TCP socket is not dumped for TCP (its sockstat says
  /// so); its other sockets are listed all the same, and a namespace whose only TCP socket
  /// waits in TIME-WAIT is still dumped.
  @Test func namespacesWithoutTCPSocketsKeepTheirOtherFlowsAndTheirTimeWait() throws {
    try withNamespaces {
      let udpOnly = try NamespacedProcess(
        namespace: server,
        script: """
          import socket, sys, signal
          signal.alarm(60)
          udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("192.0.2.1", 7003))
          print("ready", flush=True)
          sys.stdin.read()
          """)
      // The client closes first: its end waits in TIME-WAIT, owned by no process.
      let timeWait = try NamespacedProcess(
        namespace: client,
        script: """
          import socket, sys, signal
          signal.alarm(60)
          listener = socket.socket(); listener.bind(("127.0.0.1", 7004)); listener.listen()
          client = socket.create_connection(("127.0.0.1", 7004))
          accepted, _ = listener.accept()
          client.close(); accepted.recv(1); accepted.close(); listener.close()
          print("ready", flush=True)
          sys.stdin.read()
          """)
      let all = try flows("--state", "all")
      let udp = try #require(
        all.first { ($0["netns"] as? UInt64) == namespaceInode(server) && Self.local($0) == "192.0.2.1:7003" })
      #expect(Self.owners(udp) == [Int(udpOnly.pid)])
      #expect(!all.contains { ($0["netns"] as? UInt64) == namespaceInode(server) && ($0["proto"] as? String) == "tcp" })
      let waiting = all.filter {
        ($0["netns"] as? UInt64) == namespaceInode(client) && ($0["state"] as? String) == "TIME_WAIT"
      }
      #expect(waiting.count == 1, "\(all.filter { ($0["netns"] as? UInt64) == namespaceInode(client) })")
      #expect(timeWait.pid > 0)
    }
  }

  @Test func streamedListingsOfSeveralNamespacesAreTheCollectedOnes() throws {
    try withNamespaces {
      let serverProcess = try NamespacedProcess(namespace: server, script: Self.serverScript)
      let clientProcess = try NamespacedProcess(namespace: client, script: Self.clientScript)
      for format in [["--json"], ["--format", "ndjson"], ["--format", "csv"], ["--format", "table"]] {
        let arguments = format + ["-a", "-p", "tcp,udp", "--port", "7001"]
        let streamed = try run(flowscopeBinary, arguments)
        let collected = try run(flowscopeBinary, arguments + ["--no-stream"])
        #expect(streamed.status == 0, "\(streamed.stderr)")
        let text = StreamingTests.timeless(streamed.stdout)
        #expect(text == StreamingTests.timeless(collected.stdout), "\(format)")
        // Both listeners, each with its namespace's name.
        #expect(text.contains(server) && text.contains(client), "\(format)")
        // CSV of several namespaces gains the netns column (decided on the flows: not streamed).
        if format == ["--format", "csv"] {
          #expect(text.split(separator: "\r\n").first?.contains("netns") == true)
        }
        // So does the table, decided on its rows.
        if format == ["--format", "table"] {
          #expect(text.split(separator: "\n").first?.contains("NetNS") == true)
        }
      }
      _ = (serverProcess, clientProcess)
    }
  }

  @Test func netnsAndHostNetnsRestrictTheListing() throws {
    try withNamespaces {
      let serverProcess = try NamespacedProcess(namespace: server, script: Self.serverScript)
      let clientProcess = try NamespacedProcess(namespace: client, script: Self.clientScript)
      let serverNetns = namespaceInode(server)

      let byName = try flows("--netns", server)
      #expect(!byName.isEmpty)
      #expect(byName.allSatisfy { ($0["netns"] as? UInt64) == serverNetns })
      #expect(byName.contains { Self.local($0) == "192.0.2.1:7000" })

      let byPid = try flows("--netns", String(clientProcess.pid))
      #expect(byPid.contains { Self.owners($0) == [Int(clientProcess.pid)] })
      #expect(!byPid.contains { ($0["netns"] as? UInt64) == serverNetns })

      let byPath = try flows("--netns", "/run/netns/\(server)", "--port", "7000")
      #expect(byPath.count == 2)

      let host = try flows("--host-netns")
      #expect(!host.contains { Self.owners($0).contains(Int(serverProcess.pid)) })
      #expect(!host.contains { ($0["netns"] as? UInt64) == serverNetns })

      // -P of a process in another namespace reads that namespace.
      let onePid = try flows("-P", String(serverProcess.pid))
      #expect(onePid.contains { Self.local($0) == "192.0.2.1:7000" && ($0["state"] as? String) == "LISTEN" })
      #expect(onePid.allSatisfy { Self.owners($0) == [Int(serverProcess.pid)] })
    }
  }

  @Test func namespacesMadeByTheTestAreGone() throws {
    try withNamespaces {}
    let listing = try run("/usr/sbin/ip", ["netns", "list"])
    #expect(!listing.text.contains(server))
    #expect(!listing.text.contains(client))
  }
}
