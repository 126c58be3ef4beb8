import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The query language as a user types it, on the sockets of a real process: a TCP listener, an
/// established pair, a connection the peer closed (CLOSE_WAIT), a bound UDP socket, a UNIX
/// listener and an IPv6 listener.
@Suite(.serialized)
struct QueryCommandTests {
  static let script = """
    import json, os, socket, sys, tempfile
    lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
    cli = socket.create_connection(lst.getsockname()); srv, _ = lst.accept()
    cli.sendall(b'x' * 5000); srv.recv(10000)
    gone = socket.create_connection(lst.getsockname()); peer, _ = lst.accept(); peer.close()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(('127.0.0.1', 0))
    path = tempfile.mktemp(prefix='flowscope-query-'); unx = socket.socket(socket.AF_UNIX); unx.bind(path); unx.listen(1)
    six = socket.socket(socket.AF_INET6); six.bind(('::1', 0)); six.listen(1)
    print(json.dumps({'pid': os.getpid(), 'listen': lst.getsockname()[1], 'client': cli.getsockname()[1],
      'gone': gone.getsockname()[1], 'udp': udp.getsockname()[1], 'path': path, 'six': six.getsockname()[1]}), flush=True)
    sys.stdin.readline(); os.unlink(path)
    """

  /// The rows of `flowscope ARGS -P pid -n -H -o local,remote,state` as sorted lines.
  func rows(_ peer: Situation, _ arguments: [String]) throws -> [String] {
    let outcome = try run(
      flowscopeBinary, arguments + ["-P", String(peer.pid), "-H", "-o", "proto,local,remote,state", "--wide"])
    #expect(outcome.status == 0, "\(arguments): \(outcome.stderr)")
    return outcome.text.split(separator: "\n").map {
      $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }.sorted()
  }

  @Test func eachFlagAndItsQueryGiveTheSameOutput() throws {
    let peer = try Situation(Self.script)
    defer { peer.say("done") }
    let listen = String(peer.int("listen"))
    let pairs: [([String], [String])] = [
      (["-a", "-p", "tcp"], ["-a", "proto == tcp"]),
      (["-a", "-p", "udp,tcp"], ["-a", "proto in (tcp, udp)"]),
      (["-a", "-p", "unix"], ["-a", "proto == unix"]),
      (["--state", "listen", "-p", "all"], ["proto != udp and state == listen"]),
      (["--state", "close-wait"], ["state == close-wait"]),
      (["-l"], ["state in (listen, close)"]),
      (["-a", "-4"], ["-a", "family == inet"]),
      (["-a", "-6"], ["-a", "family == inet6"]),
      (["-a", "--port", listen], ["-a", "port == \(listen)"]),
      (["-a", "--local", "127.0.0.1:\(listen)"], ["-a", "src == 127.0.0.1:\(listen)"]),
      (["-a", "--remote", ":\(listen)"], ["-a", "dst == :\(listen)"]),
      (["-a", "-C", "ytho"], ["-a", "command contains ytho"]),
      (["-a", "-C", "python3", "--exact"], ["-a", "command == python3"]),
      (["-a", "-u", String(getuid())], ["-a", "uid == \(getuid())"]),
      (["-a", "-I", "0"], ["-a", "interface == 0"]),
    ]
    for (flags, query) in pairs {
      let byFlags = try rows(peer, flags)
      let byQuery = try rows(peer, query)
      #expect(!byFlags.isEmpty, "\(flags) listed nothing")
      #expect(byFlags == byQuery, "\(flags) and \(query) differ")
    }
    // And the query picks what it says.
    #expect(
      try rows(peer, ["-a", "state == close-wait"]) == [
        "tcp 127.0.0.1:\(peer.int("gone")) 127.0.0.1:\(listen) CLOSE-WAIT"
      ])
    let busy = try rows(peer, ["bytes_in > 4KiB and dport != \(listen)"])
    #expect(busy == ["tcp 127.0.0.1:\(listen) 127.0.0.1:\(peer.int("client")) ESTAB"])
    #expect(try rows(peer, ["-a", "local.path == \(peer.info["path"] as? String ?? "")"]).count == 1)
    #expect(try rows(peer, ["-a", "sport == \(peer.int("six")) and src in ::1"]).count == 1)
  }

  @Test func wordsAfterTheOptionsAreOneQueryAndEveryCommandTakesOne() throws {
    let peer = try Situation(Self.script)
    defer { peer.say("done") }
    let listen = String(peer.int("listen"))
    // Unquoted words, joined with spaces.
    let split = try run(
      flowscopeBinary, ["-a", "-P", String(peer.pid), "-H", "sport", "==", listen, "and", "state", "==", "listen"])
    #expect(split.status == 0)
    #expect(split.text.split(separator: "\n").count == 1)
    // proc: flow fields keep the processes holding a matching flow; process fields the process.
    let proc = try run(flowscopeBinary, ["proc", "--json", "-P", String(peer.pid), "state == close-wait"])
    #expect(proc.status == 0, "\(proc.stderr)")
    #expect(proc.text.contains("\"pid\":\(peer.pid)"))
    let none = try run(flowscopeBinary, ["proc", "--json", "-P", String(peer.pid), "state == syn-sent"])
    #expect(!none.text.contains("\"pid\":\(peer.pid)"))
    let byProcess = try run(flowscopeBinary, ["proc", "-H", "-o", "pid", "pid == \(peer.pid) and fd_count > 3"])
    #expect(byProcess.text.trimmingCharacters(in: .whitespacesAndNewlines) == String(peer.pid))
    // check: only the flows the query keeps are looked at.
    let flagged = try run(flowscopeBinary, ["check", "-P", String(peer.pid), "peer-closed"])
    #expect(flagged.status == 2)
    #expect(flagged.text.contains("peer-closed"))
    let calm = try run(flowscopeBinary, ["check", "-P", String(peer.pid), "state == listen"])
    #expect(calm.status == 0, "\(calm.text)")
    // watch's records.
    let watch = try run(
      flowscopeBinary, ["watch", "--json", "--count", "1", "-a", "-P", String(peer.pid), "proto == udp"])
    #expect(watch.status == 0, "\(watch.stderr)")
    #expect(watch.text.contains("\"port\":\(peer.int("udp"))"))
    #expect(!watch.text.contains("\"port\":\(listen)"))
  }

  @Test func explainSaysWhatTheKernelFiltersAndListsNothing() throws {
    let outcome = try flowscope("-a", "--explain", "--owners", "proc", "proto == tcp and dport == 443 and rtt > 200ms")
    #expect(outcome.status == 0)
    #expect(
      outcome.text == """
        query: proto == tcp and dport == 443 and rtt > 200ms
        kernel:
          tcp (IPv4, IPv6): states all; bytecode: dport == 443 (8 bytes)
          not dumped: udp, udplite, mptcp, raw, sctp, dccp, unix, packet, netlink, vsock
        owners: every process scanned in /proc
        after decoding: flows are kept when the whole query holds
        owner source: proc (--owners proc)

        """)
    let shorthand = try flowscope("--state", "listen", "-p", "tcp", "-4", "--explain")
    #expect(shorthand.text.hasPrefix("query: proto == tcp and family == inet and (state == listen or stateless)\n"))
    #expect(shorthand.text.contains("tcp (IPv4): states listen\n"))
  }

  @Test func aBadQueryExits64WithACaretAndListsNothing() throws {
    for command in [[], ["proc"], ["check"], ["watch", "--json"], ["events"]] {
      let outcome = try run(flowscopeBinary, command + ["rttt", ">", "5"])
      #expect(outcome.status == 64, "\(command)")
      #expect(outcome.stdout.isEmpty)
      #expect(
        outcome.stderr.contains("Error: bad query: unknown field 'rttt' (did you mean 'rtt'?)\n  rttt > 5\n  ^^^^\n"),
        "\(outcome.stderr)")
      let name = command.first ?? "flow"
      #expect(outcome.stderr.contains("Usage: flowscope \(name)"), "\(outcome.stderr)")
    }
    let hostile = try flowscope("command == 'a\u{1b}[2J'  >")
    #expect(hostile.status == 64)
    #expect(!hostile.stderr.contains("\u{1b}"))
    #expect(hostile.stderr.contains("\\x1b[2J"))
  }

  @Test func eventsRefusesStateTestsAndOtherProtocols() throws {
    let states = try flowscope("events", "state == established")
    #expect(states.status == 64)
    #expect(states.stderr.contains("do not apply to events"))
    let unix = try flowscope("events", "proto == unix")
    #expect(unix.status == 64)
    #expect(unix.stderr.contains("events follows tcp and udp only"))
  }

  /// A table or CSV asks the kernel for tcp_info alone unless a column or the query needs the
  /// other extensions: the TOS of a connection whose client set one, and its congestion
  /// control, are there when asked for.
  @Test func aColumnOrQueryBeyondTheCountersGetsItsField() throws {
    let peer = try Situation(
      """
      import json, os, socket, sys
      lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(8)
      cli = socket.socket(); cli.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 16)
      cli.connect(lst.getsockname()); srv, _ = lst.accept()
      print(json.dumps({'pid': os.getpid(), 'client': cli.getsockname()[1]}), flush=True)
      sys.stdin.readline()
      """)
    defer { peer.say("done") }
    let pid = String(peer.int("pid"))
    let client = "127.0.0.1:\(peer.int("client"))"
    let algorithm = try defaultCongestionControl()
    let columns = try flowscope("-n", "-H", "-P", pid, "-o", "local,tos,cc", "sport == \(peer.int("client"))")
    #expect(
      columns.text.split(separator: " ", omittingEmptySubsequences: true) == ["\(client)", "16", "\(algorithm)\n"])
    let table = try flowscope("-n", "-H", "-P", pid, "-o", "local", "tos == 16")
    #expect(table.text == "\(client)\n", "\(table.stderr)")
    let csv = try flowscope(
      "-n", "-H", "-P", pid, "--format", "csv", "-o", "local", "tos == 16 and congestion == \(algorithm)")
    // CSV lines end in CRLF.
    #expect(csv.text == "\(client)\r\n", "\(csv.stderr)")
    // And the default table, which asks for less, still lists both ends.
    let plain = try flowscope("-n", "-H", "-P", pid, "-o", "local")
    #expect(plain.text.split(separator: "\n").count == 2, "\(plain.text)")
  }
}
