import Foundation
import SchemaCheck
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Sockets no sock_diag dump returns (a TCP socket whose connect failed, never-bound UDP and
/// netlink sockets, a raw socket on a kernel without raw diag), held by real processes: listed
/// with `-a`, counted by `proc` under their protocol, flagged by `check` as `socket-leak`, and
/// checked against util-linux `lsfd`, an oracle nobody here wrote.
@Suite(.serialized) struct UnlistedSocketsTests {
  /// Python that opens `count` TCP sockets, connects each to a loopback port nobody listens
  /// on, and keeps them all: the classic road to "Too many open files".
  static func leaker(_ count: Int) -> String {
    """
    import socket, json, os, sys
    probe = socket.socket(); probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]; probe.close()
    held = []
    refused = 0
    for _ in range(\(count)):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            refused += 1
        held.append(s)
    print(json.dumps({"pid": os.getpid(), "refused": refused,
        "fds": [s.fileno() for s in held], "inodes": [os.fstat(s.fileno()).st_ino for s in held]}), flush=True)
    sys.stdin.read()
    """
  }

  /// The (pid, fd, inode) of every socket descriptor `lsfd` reports for `pids`.
  static func lsfdSockets(_ pids: [Int32]) throws -> Set<[Int]> {
    let lsfd = ["/usr/bin/lsfd", "/bin/lsfd"].first { FileManager.default.isExecutableFile(atPath: $0) }
    let path = try #require(lsfd, "lsfd (util-linux) is missing: make test-deps installs it")
    var found = Set<[Int]>()
    for pid in pids {
      let outcome = try run(path, ["-J", "-o", "PID,ASSOC,TYPE,INODE,NAME", "-p", String(pid)])
      #expect(outcome.status == 0, "\(outcome.stderr)")
      let object = try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any]
      for entry in object?["lsfd"] as? [[String: Any]] ?? [] where entry["type"] as? String == "SOCK" {
        guard let fd = Int(entry["assoc"] as? String ?? ""), let inode = entry["inode"] as? Int,
          let owner = entry["pid"] as? Int
        else { continue }
        found.insert([owner, fd, inode])
      }
    }
    return found
  }

  /// The (pid, fd, inode) of every socket descriptor of `pids` in `flowscope -a -p all`.
  static func flowscopeSockets(_ pids: [Int32]) throws -> Set<[Int]> {
    let outcome = try run(
      flowscopeBinary, ["-a", "-p", "all", "--json"] + pids.flatMap { ["-P", String($0)] })
    #expect(outcome.status == 0, "\(outcome.stderr)")
    var found = Set<[Int]>()
    for flow in try flows(outcome) {
      for owner in flow["processes"] as? [[String: Any]] ?? [] {
        guard let pid = owner["pid"] as? Int, pids.contains(Int32(pid)), let fd = owner["fd"] as? Int,
          let inode = flow["inode"] as? Int
        else { continue }
        found.insert([pid, fd, inode])
      }
    }
    return found
  }

  /// Every socket descriptor lsfd reports, flowscope reports with the same pid, fd and inode
  /// (and nothing else).
  static func expectSameAsLsfd(_ pids: [Int32], _ context: String) throws {
    let oracle = try lsfdSockets(pids)
    let mine = try flowscopeSockets(pids)
    #expect(!oracle.isEmpty)
    #expect(
      oracle.subtracting(mine).isEmpty,
      "\(context): lsfd has, flowscope lacks: \(oracle.subtracting(mine).sorted { $0.lexicographicallyPrecedes($1) })")
    #expect(
      mine.subtracting(oracle).isEmpty,
      "\(context): flowscope has, lsfd lacks: \(mine.subtracting(oracle).sorted { $0.lexicographicallyPrecedes($1) })")
  }

  static func unlisted(_ flows: [[String: Any]]) -> [[String: Any]] {
    flows.filter { $0["listed_by_kernel"] as? Bool == false }
  }

  @Test func failedConnectsNeverClosedAreListedCountedAndFlagged() throws {
    let leaker = try Situation(Self.leaker(50))
    #expect(leaker.int("refused") == 50)
    let pid = String(leaker.pid)
    let fds = leaker.info["fds"] as? [Int] ?? []
    let inodes = leaker.info["inodes"] as? [Int] ?? []

    // The listing: all 50, with their owner, protocol and family, selectable by protocol.
    let listing = try flowscope("-a", "-P", pid, "--json", "proto == tcp")
    #expect(listing.status == 0, "\(listing.stderr)")
    #expect(try MiniSchema.load().validate(try document(listing)) == [])
    let rows = Self.unlisted(try flows(listing))
    #expect(rows.count == 50)
    #expect(Set(rows.compactMap { $0["inode"] as? Int }) == Set(inodes))
    for row in rows {
      #expect(row["proto"] as? String == "tcp")
      #expect(row["family"] as? String == "inet")
      #expect(row["type"] as? String == "stream")
      // Missing from two dumps that read every TCP state: neither bound nor connected.
      #expect(row["state"] as? String == "CLOSE")
      #expect(row["local"] is NSNull && row["cookie"] is NSNull && row["recv_q"] is NSNull)
      let owners = row["processes"] as? [[String: Any]] ?? []
      #expect(owners.count == 1)
      #expect(owners.first?["pid"] as? Int == Int(leaker.pid))
      #expect(owners.first?["command"] as? String == "python3")
      #expect(owners.first?["user"] as? String == (runningAsRoot ? "root" : owners.first?["user"] as? String))
      #expect(fds.contains(owners.first?["fd"] as? Int ?? -1))
    }
    // Not shown without -a (unconnected sockets are not), shown in the table with -a.
    #expect(Self.unlisted(try flows(try flowscope("-P", pid, "--json"))).isEmpty)
    let table = try flowscope("-a", "-P", pid, "-o", "proto,local,state,process,fd")
    #expect(table.text.split(separator: "\n").filter { $0.contains("UNLISTED") && $0.hasPrefix("tcp") }.count == 50)
    #expect(table.text.contains("python3.\(pid)"))
    // `family` and `type` select them too; `state == listen` does not.
    #expect(Self.unlisted(try flows(try flowscope("-a", "-P", pid, "--json", "family == inet6"))).isEmpty)
    #expect(Self.unlisted(try flows(try flowscope("-a", "-P", pid, "--json", "type == stream"))).count == 50)
    #expect(Self.unlisted(try flows(try flowscope("-a", "-P", pid, "--json", "state == listen"))).isEmpty)

    // proc: TCP 50, not Other; 50 unlisted, 50 unconnected, and the flag.
    let proc = try flowscope("proc", "-P", pid, "--json")
    #expect(proc.status == 0, "\(proc.stderr)")
    let procDocument = try document(proc)
    #expect(try MiniSchema.load().validate(procDocument, against: "#/$defs/processDocument") == [])
    let process = try #require((procDocument["processes"] as? [[String: Any]])?.first)
    let sockets = process["sockets"] as? [String: Int] ?? [:]
    #expect(sockets["tcp"] == 50)
    #expect(sockets["unlisted"] == 50)
    #expect(sockets["other"] == 0)
    #expect(process["unconnected"] as? [String: Int] == ["tcp": 50, "udp": 0])
    #expect(process["flags"] as? [String] == ["socket-leak"])
    let procTable = try flowscope("proc", "-P", pid, "--color", "never")
    #expect(procTable.text.contains("socket-leak(50)"))

    // check: exit 2 and the sentence.
    let check = try flowscope("check", "-P", pid, "--color", "never")
    #expect(check.status == 2, "\(check.stderr)")
    #expect(
      check.text.hasPrefix(
        "WARNING   socket-leak     python3.\(pid) holds 50 TCP sockets that are not connected (failed connects never closed?): each holds a descriptor; "
      ), "\(check.text)")
    #expect(check.text.contains(" of its limit of "))
    let checkJSON = try document(try flowscope("check", "-P", pid, "--json"))
    #expect(try MiniSchema.load().validate(checkJSON, against: "#/$defs/checkDocument") == [])
    #expect((checkJSON["problems"] as? [[String: Any]])?.first?["flag"] as? String == "socket-leak")
    // The threshold moves it; the query language names the flag.
    #expect(try flowscope("check", "-P", pid, "--leak-threshold", "51").status == 0)
    #expect(try flowscope("check", "-P", pid, "--leak-threshold", "50").status == 2)
    #expect(try flowscope("check", "-P", pid, "--leak-threshold", "0").status == 0)
    let selected = try document(try flowscope("proc", "--json", "-P", pid, "socket-leak"))
    #expect((selected["processes"] as? [[String: Any]])?.count == 1)
    let notSelected = try document(try flowscope("proc", "--json", "-P", pid, "not socket-leak"))
    #expect((notSelected["processes"] as? [[String: Any]])?.count == 0)

    try Self.expectSameAsLsfd([leaker.pid], "failed connects")
  }

  @Test func healthyTwinsAreNotFlagged() throws {
    // 20 connected sockets (10 connections to itself), and a server with 20 listeners.
    let twins = try Situation(
      """
      import socket, json, os, sys
      server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(16)
      held = [server]
      for _ in range(10):
          c = socket.create_connection(server.getsockname()); a, _ = server.accept(); held += [c, a]
      pid = os.fork()
      if pid == 0:
          import signal; signal.alarm(60)
          for s in held: s.close()
          listeners = []
          for _ in range(20):
              l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4); listeners.append(l)
          sys.stdin.read()
          os._exit(0)
      print(json.dumps({"pid": os.getpid(), "server": pid}), flush=True)
      sys.stdin.read()
      """)
    let pids = [twins.pid, Int32(twins.int("server"))]
    var proc = try document(try flowscope("proc", "--json", "-P", String(pids[0]), "-P", String(pids[1])))
    for _ in 0..<50 where (proc["processes"] as? [[String: Any]])?.count != 2 {
      usleep(20_000)  // the forked server opens its listeners
      proc = try document(try flowscope("proc", "--json", "-P", String(pids[0]), "-P", String(pids[1])))
    }
    let processes = try #require(proc["processes"] as? [[String: Any]])
    #expect(processes.count == 2)
    for process in processes {
      #expect(process["flags"] as? [String] == [])
      #expect(process["unconnected"] as? [String: Int] == ["tcp": 0, "udp": 0])
      #expect((process["sockets"] as? [String: Int])?["unlisted"] == 0)
    }
    let client = try #require(processes.first { $0["pid"] as? Int == Int(pids[0]) })
    #expect((client["states"] as? [String: Int])?["established"] == 20)
    let server = try #require(processes.first { $0["pid"] as? Int == Int(pids[1]) })
    #expect((server["states"] as? [String: Int])?["listen"] == 20)
    let check = try flowscope("check", "-P", String(pids[0]), "-P", String(pids[1]))
    #expect(check.status == 0, "\(check.text)")
    #expect(Self.unlisted(try flows(try flowscope("-a", "-p", "all", "-P", String(pids[0]), "--json"))).isEmpty)
    try Self.expectSameAsLsfd(pids, "healthy twins")
  }

  @Test func twoThousandNeverBoundUDPSockets() throws {
    let holder = try Situation(
      """
      import socket, json, os, sys, resource
      soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
      if soft < 2100: resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
      held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2000)]
      print(json.dumps({"pid": os.getpid(), "limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}), flush=True)
      sys.stdin.read()
      """)
    try #require(holder.int("limit") >= 2100, "RLIMIT_NOFILE's hard limit is below 2100")
    let pid = String(holder.pid)
    let rows = Self.unlisted(try flows(try flowscope("-a", "-P", pid, "--json", "proto == udp")))
    #expect(rows.count == 2000)
    #expect(rows.allSatisfy { $0["state"] as? String == "CLOSE" && $0["type"] as? String == "dgram" })
    let process = try #require(
      (try document(try flowscope("proc", "-P", pid, "--json"))["processes"] as? [[String: Any]])?.first)
    #expect((process["sockets"] as? [String: Int])?["udp"] == 2000)
    #expect(process["unconnected"] as? [String: Int] == ["tcp": 0, "udp": 2000])
    #expect(process["flags"] as? [String] == ["socket-leak"])
    let check = try flowscope("check", "-P", pid, "--color", "never")
    #expect(check.status == 2)
    #expect(check.text.contains("python3.\(pid) holds 2000 UDP sockets that are neither bound nor connected"))
    try Self.expectSameAsLsfd([holder.pid], "never-bound UDP")
  }

  @Test func unboundNetlinkSocket() throws {
    let holder = try Situation(
      """
      import socket, json, os, sys
      n = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
      print(json.dumps({"pid": os.getpid(), "fd": n.fileno(), "inode": os.fstat(n.fileno()).st_ino}), flush=True)
      sys.stdin.read()
      """)
    let pid = String(holder.pid)
    let rows = Self.unlisted(try flows(try flowscope("-a", "-p", "netlink", "-P", pid, "--json")))
    #expect(rows.count == 1)
    #expect(rows.first?["inode"] as? Int == holder.int("inode"))
    #expect(rows.first?["proto"] as? String == "netlink")
    #expect(rows.first?["family"] as? String == "netlink")
    #expect(rows.first?["state"] is NSNull)
    #expect(((rows.first?["processes"] as? [[String: Any]])?.first?["fd"] as? Int) == holder.int("fd"))
    // `-p netlink` alone shows it too: netlink sockets have no state to hide them by.
    #expect(Self.unlisted(try flows(try flowscope("-p", "netlink", "-P", pid, "--json"))).count == 1)
    let process = try #require(
      (try document(try flowscope("proc", "-P", pid, "--json"))["processes"] as? [[String: Any]])?.first)
    #expect((process["sockets"] as? [String: Int])?["other"] == 1)
    #expect((process["sockets"] as? [String: Int])?["unlisted"] == 1)
    #expect(process["flags"] as? [String] == [])
    try Self.expectSameAsLsfd([holder.pid], "unbound netlink")
  }

  @Test(.enabled(if: runningAsRoot, "a raw socket needs root"))
  func rawICMPSocketOnAKernelWithoutRawDiag() throws {
    let holder = try Situation(
      """
      import socket, json, os, sys
      r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
      print(json.dumps({"pid": os.getpid(), "fd": r.fileno(), "inode": os.fstat(r.fileno()).st_ino}), flush=True)
      sys.stdin.read()
      """)
    let pid = String(holder.pid)
    let listing = try flowscope("-a", "-P", pid, "--json", "proto == raw")
    let rows = try flows(listing).filter { $0["inode"] as? Int == holder.int("inode") }
    #expect(rows.count == 1)
    #expect(rows.first?["proto"] as? String == "raw")
    #expect(rows.first?["family"] as? String == "inet")
    #expect(((rows.first?["processes"] as? [[String: Any]])?.first?["fd"] as? Int) == holder.int("fd"))
    if (try document(listing)["warnings"] as? [String] ?? []).contains(where: { $0.hasPrefix("raw: not supported") }) {
      // No raw diag module: found through the descriptor only, its state unknown.
      #expect(rows.first?["listed_by_kernel"] as? Bool == false)
      #expect(rows.first?["state"] is NSNull)
      #expect(rows.first?["type"] as? String == "raw")
    }
    try Self.expectSameAsLsfd([holder.pid], "raw ICMP")
  }

  @Test func socketPassedOverSCMRightsHasTwoOwners() throws {
    let pair = try Situation(
      """
      import socket, json, os, sys
      a, b = socket.socketpair()
      report_r, report_w = os.pipe()
      child = os.fork()
      if child == 0:
          import signal; signal.alarm(60)
          a.close(); os.close(report_r)
          _, fds, _, _ = socket.recv_fds(b, 16, 1)
          os.write(report_w, json.dumps({"fd": fds[0]}).encode()); os.close(report_w)
          sys.stdin.read()
          os._exit(0)
      b.close(); os.close(report_w)
      s = socket.socket()  # never connected: in no TCP table
      socket.send_fds(a, [b"x"], [s.fileno()])
      got = json.loads(os.read(report_r, 4096))
      print(json.dumps({"pid": os.getpid(), "child": child, "fd": s.fileno(), "child_fd": got["fd"],
          "inode": os.fstat(s.fileno()).st_ino}), flush=True)
      sys.stdin.read()
      """)
    let parent = pair.pid
    let child = Int32(pair.int("child"))
    let listing = try flowscope("-a", "-P", String(parent), "-P", String(child), "--json", "proto == tcp")
    let rows = try flows(listing).filter { $0["inode"] as? Int == pair.int("inode") }
    #expect(rows.count == 1)
    #expect(rows.first?["listed_by_kernel"] as? Bool == false)
    let owners = Set(
      (rows.first?["processes"] as? [[String: Any]] ?? []).map { [$0["pid"] as? Int ?? 0, $0["fd"] as? Int ?? 0] })
    #expect(owners == [[Int(parent), pair.int("fd")], [Int(child), pair.int("child_fd")]])
    try Self.expectSameAsLsfd([parent, child], "SCM_RIGHTS")
  }

  @Test func socketsInheritedOverForkListBothProcesses() throws {
    let family = try Situation(
      """
      import socket, json, os, sys
      held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)] + [socket.socket()]
      for s in held: s.set_inheritable(True)
      child = os.fork()
      if child == 0:
          import signal; signal.alarm(60)
          sys.stdin.read()
          os._exit(0)
      print(json.dumps({"pid": os.getpid(), "child": child, "fds": [s.fileno() for s in held],
          "inodes": [os.fstat(s.fileno()).st_ino for s in held]}), flush=True)
      sys.stdin.read()
      """)
    let parent = family.pid
    let child = Int32(family.int("child"))
    let inodes = family.info["inodes"] as? [Int] ?? []
    let fds = family.info["fds"] as? [Int] ?? []
    let rows = Self.unlisted(
      try flows(try flowscope("-a", "-P", String(parent), "-P", String(child), "--json"))
    )
    .filter { inodes.contains($0["inode"] as? Int ?? -1) }
    #expect(rows.count == 4)
    for row in rows {
      let index = try #require(inodes.firstIndex(of: row["inode"] as? Int ?? -1))
      let owners = Set(
        (row["processes"] as? [[String: Any]] ?? []).map { [$0["pid"] as? Int ?? 0, $0["fd"] as? Int ?? 0] })
      #expect(owners == [[Int(parent), fds[index]], [Int(child), fds[index]]])
    }
    // Each process counts each socket once.
    let processes =
      try document(
        try flowscope("proc", "--json", "-P", String(parent), "-P", String(child)))["processes"] as? [[String: Any]]
      ?? []
    #expect(processes.count == 2)
    for process in processes {
      #expect(process["unconnected"] as? [String: Int] == ["tcp": 1, "udp": 3])
    }
    try Self.expectSameAsLsfd([parent, child], "inherited over fork")
  }

  /// Beside many descriptors of a protocol not asked for (more than the walk threshold), a
  /// TCP listing still lists exactly the unlisted TCP sockets.
  @Test func manyUnixDescriptorsBesideUnlistedTCP() throws {
    let holder = try Situation(
      """
      import socket, json, os, sys
      held = []
      for _ in range(400): held += socket.socketpair()
      tcp = [socket.socket() for _ in range(20)]
      print(json.dumps({"pid": os.getpid(), "inodes": [os.fstat(s.fileno()).st_ino for s in tcp]}), flush=True)
      sys.stdin.read()
      """)
    let pid = String(holder.pid)
    let rows = Self.unlisted(try flows(try flowscope("-a", "-p", "tcp", "-P", pid, "--json")))
    #expect(Set(rows.compactMap { $0["inode"] as? Int }) == Set(holder.info["inodes"] as? [Int] ?? []))
    #expect(rows.allSatisfy { $0["proto"] as? String == "tcp" })
    let process = try #require(
      (try document(try flowscope("proc", "-P", pid, "--json"))["processes"] as? [[String: Any]])?.first)
    #expect((process["sockets"] as? [String: Int])?["tcp"] == 20)
    #expect(((process["sockets"] as? [String: Int])?["unix"] ?? 0) >= 800)
    #expect((process["sockets"] as? [String: Int])?["unlisted"] == 20)
    try Self.expectSameAsLsfd([holder.pid], "many UNIX descriptors")
  }
}
