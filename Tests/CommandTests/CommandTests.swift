import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The built binary, run as a user runs it.
@Suite(.serialized)
struct CommandTests {
  @Test func jsonForOneProcessListsItsSocketWithOwnerAndFD() throws {
    let listener = try Listener()
    let child = try Child(holding: listener.fd)
    let outcome = try flowscope("--json", "-a", "-p", "tcp", "-P", String(child.pid))
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let document = try #require(
      try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any])
    #expect(document["version"] as? Int == 1)
    #expect((document["time"] as? String)?.hasSuffix("Z") == true)
    let flows = try #require(document["flows"] as? [[String: Any]])
    let flow = try #require(flows.first { ($0["inode"] as? UInt64) == listener.inode })
    #expect(flow["proto"] as? String == "tcp")
    #expect(flow["family"] as? String == "inet")
    #expect(flow["state"] as? String == "LISTEN")
    let local = try #require(flow["local"] as? [String: Any])
    #expect(local["address"] as? String == "127.0.0.1")
    #expect(local["port"] as? Int == Int(listener.port))
    let owners = try #require(flow["processes"] as? [[String: Any]])
    #expect(owners.count == 1)
    #expect(owners.first?["pid"] as? Int == Int(child.pid))
    #expect(owners.first?["fd"] as? Int == 3)
    #expect(owners.first?["command"] as? String == "sleep")
    // Asked for one process, the listing holds that process's flows only.
    for other in flows {
      let pids = (other["processes"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
      #expect(pids.contains(Int(child.pid)))
    }
  }

  @Test func tableShowsCommandDotPid() throws {
    let listener = try Listener()
    let child = try Child(holding: listener.fd)
    let outcome = try flowscope("-a", "-p", "tcp", "-P", String(child.pid), "--port", String(listener.port))
    #expect(outcome.status == 0)
    let lines = outcome.text.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(lines.first?.hasPrefix("Proto") == true)
    #expect(lines.last?.contains("127.0.0.1:\(listener.port)") == true)
    #expect(lines.last?.contains("LISTEN") == true)
    #expect(lines.last?.hasSuffix("sleep.\(child.pid)") == true)
  }

  @Test func hostileProcessNameIsEscapedInTheTableAndFaithfulInJSON() throws {
    let directory = NSTemporaryDirectory() + "flowscope-hostile-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // The kernel names a process after the file it executed: a name with an escape sequence.
    let name = "\u{1b}[31mevil"
    let link = directory + "/" + name
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/bin/sleep")
    let listener = try Listener()
    let child = try Child(holding: listener.fd, executable: link)

    let table = try flowscope("-a", "-p", "tcp", "-P", String(child.pid))
    #expect(table.status == 0)
    #expect(!table.stdout.contains(0x1b))
    #expect(table.text.contains("\\x1b[31mevil.\(child.pid)"))

    let json = try flowscope("--json", "-a", "-p", "tcp", "-P", String(child.pid))
    let document = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
    let flows = try #require(document["flows"] as? [[String: Any]])
    let owner = (flows.first?["processes"] as? [[String: Any]])?.first
    #expect(owner?["command"] as? String == name)
  }

  @Test func closedPipeEndsQuietlyWithStatusZero() throws {
    // Repeat the listing so it writes far more than a pipe holds, then close the reading end.
    let listener = try Listener()
    try expectQuietEndOnClosedPipe([])
    _ = listener
  }

  @Test func usageErrorsExitWith64AndAReason() throws {
    let unknownOption = try flowscope("--no-such-option")
    #expect(unknownOption.status == 64)
    #expect(unknownOption.stderr.contains("no-such-option"))
    let unknownState = try flowscope("--state", "sleepy")
    #expect(unknownState.status == 64)
    #expect(unknownState.stderr.contains("unknown state 'sleepy'"))
    let badAddress = try flowscope("--local", "300.1.2.3")
    #expect(badAddress.status == 64)
    #expect(badAddress.stderr.contains("cannot read address"))
  }

  @Test func aRealErrorExitsWith1AndOneLine() throws {
    let outcome = try flowscope("--replay", "/nonexistent/recording")
    #expect(outcome.status == 1)
    #expect(outcome.stderr.contains("cannot replay /nonexistent/recording"))
    #expect(outcome.stderr.split(separator: "\n").count == 1)
  }

  @Test(.enabled(if: runningAsRoot, "switching to nobody needs root"))
  func unprivilegedRunListsSocketsAndSaysWhatItCouldNotSee() throws {
    let copy = try BinaryForNobody("unprivileged")
    let binary = copy.path
    defer { withExtendedLifetime(copy) {} }  // the copy outlives the runs
    let listener = try Listener()  // owned by root: nobody sees the socket, not its owner
    let outcome = try run(
      "/usr/bin/setpriv",
      ["--reuid=65534", "--regid=65534", "--clear-groups", binary, "-a", "-p", "tcp", "--json"])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let lines = outcome.stderr.split(separator: "\n")
    #expect(lines.count == 1)
    #expect(lines.first?.contains("unreadable (permission denied)") == true)
    #expect(lines.first?.contains("sudo") == true)
    let document = try #require(try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any])
    let flows = try #require(document["flows"] as? [[String: Any]])
    let flow = try #require(flows.first { ($0["inode"] as? UInt64) == listener.inode })
    #expect((flow["processes"] as? [Any])?.isEmpty == true)
    #expect((document["warnings"] as? [String])?.contains { $0.contains("unreadable") } == true)
  }

  @Test func everyOptionInHelpIsInTheManPage() throws {
    let help = try flowscope("flow", "--help").text
    let manual = try String(contentsOf: packageRoot.appendingPathComponent("man/flowscope.8"), encoding: .utf8)
    let options = Set(
      help.matches(of: /--([a-z0-9][a-z0-9-]*)/).map { String($0.output.1) })
    #expect(options.count > 20)
    for option in options {
      #expect(manual.contains("Fl -\(option)"), "man/flowscope.8 lacks --\(option)")
    }
    for short in ["P", "C", "u", "p", "4", "6", "I", "l", "a", "J", "o", "H", "n", "r", "i"] {
      #expect(manual.contains("Fl \(short)"), "man/flowscope.8 lacks -\(short)")
    }
    let watchHelp = try flowscope("watch", "--help").text
    for option in Set(watchHelp.matches(of: /--([a-z0-9][a-z0-9-]*)/).map { String($0.output.1) }) {
      #expect(manual.contains("Fl -\(option)"), "man/flowscope.8 lacks watch's --\(option)")
    }
    #expect(manual.contains(".Sh WATCH"))
    #expect(manual.contains("Fl i"))
  }

  /// "Repeat every N seconds" is `-i/--interval` in every command that repeats; `-w`, its
  /// former spelling in flow, proc and check, still works there and is not shown.
  @Test func theIntervalIsDashIEverywhereAndDashWStillWorks() throws {
    for command in ["flow", "proc", "check", "watch", "record"] {
      let help = try flowscope(command, "--help").text
      #expect(help.contains("-i, --interval <seconds>"), "\(command): \(help)")
      #expect(!help.contains(" -w ") && !help.contains(" -w,"), "\(command) shows -w: \(help)")
    }
    for spelling in ["-i", "-w", "--interval"] {
      let outcome = try flowscope("proc", "--json", spelling, "0.1", "--count", "2", "-P", String(getpid()))
      #expect(outcome.status == 0, "\(spelling): \(outcome.stderr)")
      // Two documents, one per repetition.
      #expect(outcome.text.components(separatedBy: "\"version\"").count == 3, "\(spelling): \(outcome.text)")
      let check = try flowscope("check", spelling, "0")
      #expect(check.status == 64 && check.stderr.contains("--interval must be"), "\(spelling): \(check.stderr)")
    }
  }
}

/// `-r` against a resolver that never answers: a network namespace of the test's own whose
/// resolv.conf names 127.0.0.1, where a UDP socket takes the queries and stays silent.
@Suite(.serialized, .enabled(if: runningAsRoot, "network namespaces need root"))
struct ResolveTests {
  @Test func deadResolverCostsAtMostTheTimeLimit() throws {
    let namespace = "flowscope-dns-\(getpid())"
    let netnsConfig = "/etc/netns/\(namespace)"
    try FileManager.default.createDirectory(atPath: netnsConfig, withIntermediateDirectories: true)
    try "nameserver 127.0.0.1\noptions timeout:5 attempts:3\n".write(
      toFile: netnsConfig + "/resolv.conf", atomically: true, encoding: .utf8)
    defer {
      _ = try? run("/usr/sbin/ip", ["netns", "del", namespace])
      try? FileManager.default.removeItem(atPath: netnsConfig)
    }
    #expect(try run("/usr/sbin/ip", ["netns", "add", namespace]).status == 0)
    #expect(try run("/usr/sbin/ip", ["netns", "exec", namespace, "ip", "link", "set", "lo", "up"]).status == 0)

    // In the namespace: a silent "resolver" and a connection to 127.0.0.2, which /etc/hosts
    // does not name, so looking it up has to ask the resolver.
    let script = """
      import socket, sys, signal
      signal.alarm(30)
      dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); dns.bind(("127.0.0.1", 53))
      server = socket.socket(); server.bind(("127.0.0.2", 4242)); server.listen()
      client = socket.create_connection(("127.0.0.2", 4242))
      print("ready", flush=True)
      sys.stdin.read()  # until the test closes it
      """
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    holder.arguments = ["netns", "exec", namespace, "python3", "-c", script]
    let ready = Pipe()
    let hold = Pipe()
    holder.standardOutput = ready
    holder.standardInput = hold
    try holder.run()
    defer {
      try? hold.fileHandleForWriting.close()
      holder.waitUntilExit()
    }
    _ = ready.fileHandleForReading.readData(ofLength: 6)

    let start = DispatchTime.now()
    let outcome = try run(
      "/usr/sbin/ip", ["netns", "exec", namespace, flowscopeBinary, "-r", "-p", "tcp", "--port", "4242"])
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    #expect(outcome.status == 0, "\(outcome.stderr)")
    #expect(seconds < 4, "took \(seconds) s")
    // Unanswered in time, the address prints as a number; the port has a service name or a number.
    #expect(outcome.text.contains("127.0.0.2:"))
    #expect(outcome.text.contains("ESTAB"))
  }

  @Test func loopbackResolvesFromTheHostsFile() throws {
    let listener = try Listener()
    let child = try Child(holding: listener.fd)
    let outcome = try flowscope("-a", "-r", "-p", "tcp", "-P", String(child.pid))
    #expect(outcome.text.contains("localhost:"))
    let numeric = try flowscope("-a", "-p", "tcp", "-P", String(child.pid))
    #expect(numeric.text.contains("127.0.0.1:\(listener.port)"))
  }
}
