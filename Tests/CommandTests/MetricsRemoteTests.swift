import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `metrics --by remote --top N`: the largest remote ends by name, the rest as `other`, real
/// sockets of this test process on loopback.
struct MetricsRemoteTests {
  func connect(to port: UInt16) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    address.sin_port = port.bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else { throw CocoaError(.fileWriteUnknown) }
    return fd
  }

  @Test func theLargestRemoteEndsKeepTheirNameTheRestAreOther() throws {
    // Three connections to one listener, one to another: with --top 1, the first listener's
    // address is a label of its own; the second's, and the accepted ends (each a different
    // client port), are `other`; the listeners have no remote end.
    let big = try Listener()
    let small = try Listener()
    var fds: [Int32] = []
    defer { fds.forEach { close($0) } }
    for _ in 0..<3 { fds.append(try connect(to: big.port)) }
    fds.append(try connect(to: small.port))
    for _ in 0..<3 { fds.append(accept(big.fd, nil, nil)) }
    fds.append(accept(small.fd, nil, nil))
    let query = "sport in (\(big.port), \(small.port)) or dport in (\(big.port), \(small.port))"
    let outcome = try flowscope("metrics", "--by", "remote", "--top", "1", query)
    #expect(outcome.status == 0, "\(outcome.stderr)")
    let text = outcome.text
    #expect(
      text.contains("flowscope_sockets{remote=\"127.0.0.1:\(big.port)\",proto=\"tcp\",state=\"established\"} 3\n"),
      "\(text)")
    #expect(text.contains("flowscope_sockets{remote=\"other\",proto=\"tcp\",state=\"established\"} 5\n"))
    #expect(text.contains("flowscope_sockets{remote=\"none\",proto=\"tcp\",state=\"listen\"} 2\n"))
    #expect(!text.contains("\(small.port)\""))
    // A process's sockets are in several groups: no per-process families.
    #expect(!text.contains("flowscope_open_fds{"))
    if promtoolInstalled {
      let file = NSTemporaryDirectory() + "fs-metrics-remote-\(getpid()).prom"
      defer { unlink(file) }
      try outcome.stdout.write(to: URL(fileURLWithPath: file))
      let check = shell("/usr/bin/promtool check metrics < \(file) 2>&1")
      #expect(check.status == 0, "\(check.output)")
    }
    // With the command too, and remote-host: one host here.
    let hosts = try flowscope("metrics", "--by", "command,remote-host", "--top", "1", query)
    #expect(hosts.status == 0, "\(hosts.stderr)")
    #expect(hosts.text.contains(",remote_host=\"127.0.0.1\",proto=\"tcp\",state=\"established\"} 8\n"), "\(hosts.text)")
  }

  @Test func topGoesWithRemote() throws {
    for arguments in [
      ["metrics", "--top", "3"], ["metrics", "--by", "remote,remote-host"],
      ["metrics", "--by", "remote", "--top", "-1"],
    ] {
      let outcome = try run(flowscopeBinary, arguments)
      #expect(outcome.status == 64, "\(arguments): \(outcome.stderr)")
    }
  }
}
