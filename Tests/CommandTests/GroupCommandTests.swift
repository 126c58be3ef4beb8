import Foundation
import SchemaCheck
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `proc --by`, on real processes: two of one command, each connected to a listener of a third.
@Suite(.serialized)
struct GroupCommandTests {
  static let server = """
    import json, os, socket, sys
    lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
    print(json.dumps({'pid': os.getpid(), 'port': lst.getsockname()[1]}), flush=True)
    conns = [lst.accept()[0] for _ in range(3)]
    sys.stdin.readline()
    """

  static func client(_ port: Int, connections: Int) -> String {
    """
    import json, os, socket, sys
    conns = [socket.create_connection(('127.0.0.1', \(port))) for _ in range(\(connections))]
    for c in conns: c.sendall(b'x' * 1000)
    print(json.dumps({'pid': os.getpid()}), flush=True)
    sys.stdin.readline()
    """
  }

  @Test func groupsAddUpAndRemoteHostsCountConnections() throws {
    let server = try Situation(Self.server)
    defer { server.say("done") }
    let port = server.int("port")
    let one = try Situation(Self.client(port, connections: 1))
    defer { one.say("done") }
    let two = try Situation(Self.client(port, connections: 2))
    defer { two.say("done") }
    let pids = [server.pid, one.pid, two.pid].flatMap { ["-P", String($0)] }
    let outcome = try run(flowscopeBinary, ["proc", "--by", "command", "--json"] + pids)
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let document = try #require(try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any])
    #expect(document["by"] as? String == "command")
    let groups = try #require(document["groups"] as? [[String: Any]])
    #expect(groups.count == 1, "\(groups)")
    #expect(groups.first?["name"] as? String == "python3")
    #expect(groups.first?["processes"] as? Int == 3)
    // 1 listener + 3 accepted + 3 clients.
    #expect((groups.first?["sockets"] as? [String: Any])?["tcp"] as? Int == 7)
    // The same sums as the per-process rows.
    let rows = try run(flowscopeBinary, ["proc", "--json"] + pids)
    let processes = try #require(
      (try JSONSerialization.jsonObject(with: rows.stdout) as? [String: Any])?["processes"] as? [[String: Any]])
    #expect(processes.reduce(0) { $0 + ((($1["sockets"] as? [String: Any])?["tcp"] as? Int) ?? 0) } == 7)

    // NDJSON: a line per group, the document's group with version, time, host and by in front.
    let ndjson = try run(flowscopeBinary, ["proc", "--by", "command", "--format", "ndjson"] + pids)
    #expect(ndjson.status == 0, "\(ndjson.stderr)")
    let records = try ndjson.text.split(separator: "\n").map {
      try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
    let groupLines = records.filter { $0["warning"] == nil }
    #expect(groupLines.count == 1, "\(ndjson.text)")
    #expect(groupLines.first?["version"] as? Int == 1 && groupLines.first?["by"] as? String == "command")
    #expect(groupLines.first?["name"] as? String == "python3" && groupLines.first?["processes"] as? Int == 3)
    #expect(try MiniSchema.load().validate(groupLines[0], against: "#/$defs/groupLine") == [])

    let hosts = try run(flowscopeBinary, ["proc", "--by", "remote", "-H", "--format", "csv"] + pids)
    let lines = hosts.text.split(separator: "\r\n").map(String.init)
    // Each client's connections, grouped by the listener they reach: 3, by 2 processes.
    #expect(lines.contains { $0.hasPrefix("127.0.0.1:\(port),2,3,3,0,3,0,") }, "\(lines)")
    let top = try run(flowscopeBinary, ["proc", "--by", "remote", "--top", "0", "-H"] + pids)
    #expect(top.text.hasPrefix("(other)"), "\(top.text)")
  }

  @Test func theExecutableAndCommandLineAreReadWhenAskedFor() throws {
    let server = try Situation(Self.server)
    defer { server.say("done") }
    func owner(_ extra: [String]) throws -> [String: Any] {
      let outcome = try run(flowscopeBinary, ["--json", "-a", "-p", "tcp", "-P", String(server.pid)] + extra)
      #expect(outcome.status == 0, "\(outcome.stderr)")
      let document = try #require(try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any])
      let flow = try #require((document["flows"] as? [[String: Any]])?.first)
      return try #require((flow["processes"] as? [[String: Any]])?.first)
    }
    let plain = try owner([])
    #expect(plain["exe"] is NSNull && plain["cmdline"] is NSNull)
    let asked = try owner(["-o", "+cmdline,exe"])
    let arguments = try #require(asked["cmdline"] as? [String])
    #expect(arguments.first == "/usr/bin/python3" && arguments.dropFirst().first == "-c")
    let executable = try #require(asked["exe"] as? String)
    #expect(executable.hasPrefix("/") && executable.contains("python"))
    // A query that names them reads them too.
    let query = try run(flowscopeBinary, ["-a", "-H", "-o", "pid", "cmdline =~ 'SIGALRM' and pid == \(server.pid)"])
    #expect(query.text.trimmingCharacters(in: .whitespacesAndNewlines) == String(server.pid))
  }

  @Test func treeShowsAChildUnderItsParentWithTheSubtreeSummed() throws {
    let parent = try Situation(
      """
      import json, os, socket, subprocess, sys
      lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
      child = subprocess.Popen([sys.executable, '-c',
        "import socket, sys; s = [socket.socket() for _ in range(2)]; print('up', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
      child.stdout.readline()
      print(json.dumps({'pid': os.getpid(), 'child': child.pid}), flush=True)
      sys.stdin.readline(); child.stdin.close(); child.wait()
      """)
    defer { parent.say("done") }
    let outcome = try run(
      flowscopeBinary, ["proc", "--tree", "--json", "-P", String(parent.pid), "-P", String(parent.int("child"))])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let document = try #require(try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any])
    let rows = try #require(document["tree"] as? [[String: Any]])
    #expect(rows.map { $0["pid"] as? Int } == [Int(parent.pid), parent.int("child")])
    #expect(rows.map { $0["depth"] as? Int } == [0, 1])
    // The parent's listener and the child's two unbound TCP sockets (counted under other: no
    // dump lists an unbound socket), rolled up into the parent.
    let total = try #require(rows.first?["total"] as? [String: Any])
    #expect(total["processes"] as? Int == 2)
    let sockets = try #require(total["sockets"] as? [String: Any])
    #expect((sockets["tcp"] as? Int ?? 0) + (sockets["other"] as? Int ?? 0) == 3, "\(sockets)")
    // NDJSON: a line per row, in the tree's order.
    let lines = try run(
      flowscopeBinary,
      ["proc", "--tree", "--format", "ndjson", "-P", String(parent.pid), "-P", String(parent.int("child"))])
    let records = try lines.text.split(separator: "\n").map {
      try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }.filter { $0["warning"] == nil }
    #expect(records.map { $0["pid"] as? Int } == [Int(parent.pid), parent.int("child")], "\(lines.text)")
    #expect(records.allSatisfy { $0["version"] as? Int == 1 && $0["host"] is String })
    let schema = try MiniSchema.load()
    for record in records { #expect(schema.validate(record, against: "#/$defs/treeLine") == [], "\(record)") }
    let table = try run(
      flowscopeBinary, ["proc", "--tree", "-P", String(parent.pid), "-P", String(parent.int("child"))])
    #expect(table.text.contains("└─ python3"), "\(table.text)")
  }

  @Test func byRefusesWhatDoesNotApply() throws {
    for arguments in [
      ["--by", "command", "--sort", "pid"], ["--by", "unit", "-o", "pid"], ["--top", "3"], ["--by", "nonsense"],
      ["--tree", "--by", "unit"], ["--tree", "--sort", "pid"],
    ] {
      let outcome = try run(flowscopeBinary, ["proc"] + arguments)
      #expect(outcome.status == 64, "\(arguments)")
    }
  }
}
