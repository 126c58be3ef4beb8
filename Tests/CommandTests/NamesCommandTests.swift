import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Units and containers from real cgroups: the test makes a systemd-like service cgroup and a
/// Kubernetes-like pod cgroup in the cgroup v2 hierarchy, moves a process into each, and
/// removes both after. Root only.
@Suite(.serialized)
struct NamesCommandTests {
  static let unified = "/sys/fs/cgroup/unified"
  static let script = """
    import json, os, socket, sys
    lst = socket.socket(); lst.bind(('127.0.0.1', 0)); lst.listen(1)
    print(json.dumps({'pid': os.getpid(), 'port': lst.getsockname()[1]}), flush=True)
    sys.stdin.readline()
    """

  /// Makes `path` under the v2 hierarchy, moves `pid` into it, runs `body`, then moves the
  /// process back to the root and removes the directories it made.
  func inCgroup(_ path: String, pid: Int32, _ body: () throws -> Void) throws {
    var made: [String] = []
    var current = Self.unified
    for component in path.split(separator: "/") {
      current += "/" + component
      if mkdir(current, 0o755) == 0 { made.append(current) }
    }
    defer {
      try? "\(pid)".write(toFile: Self.unified + "/cgroup.procs", atomically: false, encoding: .utf8)
      for directory in made.reversed() { rmdir(directory) }
    }
    try "\(pid)".write(toFile: current + "/cgroup.procs", atomically: false, encoding: .utf8)
    try body()
  }

  func owner(_ peer: Situation) throws -> [String: Any] {
    let outcome = try run(flowscopeBinary, ["--json", "-a", "-p", "tcp", "-P", String(peer.pid)])
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let document = try #require(try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any])
    let flows = try #require(document["flows"] as? [[String: Any]])
    let flow = try #require(flows.first)
    return try #require((flow["processes"] as? [[String: Any]])?.first)
  }

  @Test func aServiceAndAPodAreNamedOnTheirOwners() throws {
    guard geteuid() == 0, access(Self.unified + "/cgroup.procs", W_OK) == 0 else { return }
    let service = "flowscope-test-\(getpid()).service"
    let web = try Situation(Self.script)
    defer { web.say("done") }
    try inCgroup("system.slice/\(service)", pid: web.pid) {
      let process = try owner(web)
      #expect(process["unit"] as? String == service)
      #expect(process["container"] is NSNull)
      #expect(process["ppid"] as? Int == Int(getpid()))
      let column = try run(flowscopeBinary, ["-a", "-p", "tcp", "-P", String(web.pid), "-H", "-o", "unit,process"])
      #expect(column.text.split(separator: " ", omittingEmptySubsequences: true).first.map(String.init) == service)
      // The query and proc see it too.
      let query = try run(flowscopeBinary, ["-a", "-H", "-o", "pid", "unit == \(service)"])
      #expect(query.text.trimmingCharacters(in: .whitespacesAndNewlines) == String(web.pid))
      let proc = try run(flowscopeBinary, ["proc", "-H", "-o", "pid,unit", "-P", String(web.pid)])
      #expect(
        proc.text.split(separator: " ", omittingEmptySubsequences: true).map(String.init) == [
          String(web.pid), service + "\n",
        ])
      // And the service is a group of proc --by unit.
      let byUnit = try run(flowscopeBinary, ["proc", "--by", "unit", "--json", "-P", String(web.pid)])
      let document = try #require(try JSONSerialization.jsonObject(with: byUnit.stdout) as? [String: Any])
      let groups = try #require(document["groups"] as? [[String: Any]])
      #expect(groups.map { $0["name"] as? String } == [service])
      #expect((groups.first?["sockets"] as? [String: Any])?["tcp"] as? Int == 1)
      // And a label of the metrics.
      let metrics = try run(flowscopeBinary, ["metrics", "--by", "unit", "-P", String(web.pid)])
      #expect(metrics.status == 0, "\(metrics.stderr)")
      #expect(
        metrics.text.contains("flowscope_sockets{unit=\"\(service)\",proto=\"tcp\",state=\"listen\"} 1"),
        "\(metrics.text)")
    }
    let pod = "0b7a9c1e_3f4d_4a5b_9c8d_\(String(format: "%012x", Int(getpid())))"
    let containerID = String(repeating: "ab", count: 32)
    let worker = try Situation(Self.script)
    defer { worker.say("done") }
    try inCgroup(
      "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(pod).slice/cri-containerd-\(containerID).scope",
      pid: worker.pid
    ) {
      let process = try owner(worker)
      let expected = "k8s:\(pod.replacingOccurrences(of: "_", with: "-"))/cri-containerd:\(containerID.prefix(12))"
      #expect(process["container"] as? String == expected)
      #expect(process["unit"] is NSNull)
      let query = try run(flowscopeBinary, ["-a", "-H", "-o", "pid", "container =~ '^k8s:' and pid == \(worker.pid)"])
      #expect(query.text.trimmingCharacters(in: .whitespacesAndNewlines) == String(worker.pid))
    }
  }

  /// A docker-like cgroup and, under FLOWSCOPE_RUNTIME_ROOT, the config file docker keeps for
  /// it: the owner carries the container's name, as a JSON key, a column and a query field.
  @Test func aDockerContainerIsNamedFromTheRuntimesFile() throws {
    guard geteuid() == 0, access(Self.unified + "/cgroup.procs", W_OK) == 0 else { return }
    let id = String(format: "%08x", Int(getpid())) + String(repeating: "d0", count: 28)
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("flowscope-runtime-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    let config = root + "/var/lib/docker/containers/\(id)/config.v2.json"
    try FileManager.default.createDirectory(
      atPath: (config as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try #"{"ID":"\#(id)","Config":{"Hostname":"x"},"Name":"/shop-web"}"#.write(
      toFile: config, atomically: false, encoding: .utf8)
    var environment = ProcessInfo.processInfo.environment
    environment["FLOWSCOPE_RUNTIME_ROOT"] = root
    let web = try Situation(Self.script)
    defer { web.say("done") }
    try inCgroup("system.slice/docker-\(id).scope", pid: web.pid) {
      let listing = try run(
        flowscopeBinary, ["--json", "-a", "-p", "tcp", "-P", String(web.pid)], environment: environment)
      let document = try #require(try JSONSerialization.jsonObject(with: listing.stdout) as? [String: Any])
      let process = try #require(
        ((document["flows"] as? [[String: Any]])?.first?["processes"] as? [[String: Any]])?.first)
      #expect(process["container"] as? String == "docker:\(id.prefix(12))")
      #expect(process["container_name"] as? String == "shop-web")
      #expect(process["unit"] is NSNull)
      let column = try run(
        flowscopeBinary, ["-a", "-p", "tcp", "-P", String(web.pid), "-H", "-o", "container-name,pid"],
        environment: environment)
      #expect(column.text.split(separator: " ", omittingEmptySubsequences: true) == ["shop-web", "\(web.pid)\n"])
      let query = try run(
        flowscopeBinary, ["-a", "-H", "-o", "pid", "container_name == shop-web"], environment: environment)
      #expect(query.text.trimmingCharacters(in: .whitespacesAndNewlines) == String(web.pid))
      let proc = try run(
        flowscopeBinary, ["proc", "-H", "-o", "pid,container-name", "-P", String(web.pid)], environment: environment)
      #expect(proc.text.split(separator: " ", omittingEmptySubsequences: true) == ["\(web.pid)", "shop-web\n"])
      // Without the runtime's file the identity stays and the name is null.
      let bare = try run(flowscopeBinary, ["--json", "-a", "-p", "tcp", "-P", String(web.pid)])
      let bareDocument = try #require(try JSONSerialization.jsonObject(with: bare.stdout) as? [String: Any])
      let bareProcess = try #require(
        ((bareDocument["flows"] as? [[String: Any]])?.first?["processes"] as? [[String: Any]])?.first)
      #expect(bareProcess["container"] as? String == "docker:\(id.prefix(12))")
      #expect(bareProcess["container_name"] is NSNull)
    }
  }
}
