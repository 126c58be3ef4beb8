import Testing

@testable import FlowInspector

#if canImport(Glibc)
  import Glibc
#endif

/// Whether another namespace's TCP tables are dumped: not when the sockstat of one of its
/// processes counts no TCP socket (a dump there walks every namespace's sockets to find none).
/// On files laid out as /proc lays them out.
@Suite struct EmptyNamespaceTests {
  /// A /proc of one process whose namespace's sockstat and sockstat6 say these.
  func procRoot(_ sockstat: String, _ sockstat6: String?) throws -> String {
    let root = "/tmp/flowscope-sockstat-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    for directory in [root, root + "/4242", root + "/4242/net"] { mkdir(directory, 0o755) }
    func write(_ text: String, _ path: String) {
      let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
      _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
      close(fd)
    }
    write(sockstat, root + "/4242/net/sockstat")
    if let sockstat6 { write(sockstat6, root + "/4242/net/sockstat6") }
    return root
  }

  func remove(_ root: String) {
    unlink(root + "/4242/net/sockstat")
    unlink(root + "/4242/net/sockstat6")
    for directory in [root + "/4242/net", root + "/4242", root] { rmdir(directory) }
  }

  let empty6 = "TCP6: inuse 0\nUDP6: inuse 2\n"

  @Test(
    arguments: [
      // (sockstat, sockstat6, no TCP socket in the namespace)
      ("sockets: used 5\nTCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\nUDP: inuse 2 mem 0\n", "TCP6: inuse 0\n", true),
      ("sockets: used 5\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 0\n", "TCP6: inuse 0\n", false),
      // Only TIME-WAIT: dumped (`--state time-wait` lists them).
      ("sockets: used 5\nTCP: inuse 0 orphan 0 tw 1 alloc 0 mem 0\n", "TCP6: inuse 0\n", false),
      ("sockets: used 5\nTCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\n", "TCP6: inuse 4\n", false),
      // No IPv6 in this kernel: no sockstat6, and no IPv6 socket.
      ("sockets: used 5\nTCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\n", nil, true),
      // Unparsable: the dump decides.
      ("sockets: used 5\nTCP: inuse x orphan 0 tw 0 alloc 0 mem 0\n", "TCP6: inuse 0\n", false),
      ("", "TCP6: inuse 0\n", false),
    ] as [(String, String?, Bool)])
  func theSockstatOfAProcessDecides(sockstat: String, sockstat6: String?, holdsNone: Bool) throws {
    let root = try procRoot(sockstat, sockstat6)
    defer { remove(root) }
    #expect(FlowInspector.holdsNoTCPSockets([root + "/4242/ns/net"], procRoot: root) == holdsNone)
    // A name under /run/netns has no process to read: dumped.
    #expect(!FlowInspector.holdsNoTCPSockets(["/run/netns/x"], procRoot: root))
    // A process that is gone: dumped.
    #expect(!FlowInspector.holdsNoTCPSockets([root + "/4343/ns/net"], procRoot: root))
  }

  @Test func theFirstProcessThatCanBeReadDecides() throws {
    let root = try procRoot("TCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\n", empty6)
    defer { remove(root) }
    #expect(
      FlowInspector.holdsNoTCPSockets(
        ["/run/netns/x", root + "/4343/ns/net", root + "/4242/ns/net"], procRoot: root))
  }
}
