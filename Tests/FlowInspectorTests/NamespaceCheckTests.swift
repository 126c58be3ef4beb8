import Foundation
import Testing

@testable import FlowInspector
@testable import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

/// `--netns NAME|PATH|PID` is checked before any output: what names no network namespace is
/// refused with a reason, what does (or may, but cannot be opened) passes.
@Suite("Namespace check")
struct NamespaceCheckTests {
  let named = [NamedNetworkNamespace(name: "blue", path: "/run/netns/blue", inode: 4_026_532_999)]

  @Test func specsAreNamesPidsOrAbsolutePaths() throws {
    #expect(try NamespaceSpec("blue", procRoot: "/proc", named: named) == .named(named[0]))
    #expect(try NamespaceSpec("42", procRoot: "/fake", named: named) == .pid(42, path: "/fake/42/ns/net"))
    #expect(try NamespaceSpec("/run/x", procRoot: "/proc", named: named) == .path("/run/x"))
    for bad in ["nope", "ns/net", "", "12a"] {
      #expect(throws: NamespaceLookupError.unknownName(bad)) {
        try NamespaceSpec(bad, procRoot: "/proc", named: named)
      }
    }
  }

  @Test func whatNamesNoNetworkNamespaceIsRefused() throws {
    let file = NSTemporaryDirectory() + "flowscope-not-a-namespace-\(getpid())"
    _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
    defer { unlink(file) }
    let cases: [(String, NamespaceLookupError)] = [
      ("nope", .unknownName("nope")),
      // Above the largest pid_max (2^22): no such process, ever.
      ("2147483647", .noSuchProcess(2_147_483_647)),
      ("-5", .noSuchProcess(-5)),
      ("/nonexistent/ns", .noSuchPath("/nonexistent/ns")),
      (file, .notANamespace(file)),
      ("/tmp", .notANamespace("/tmp")),
      ("/proc/self/ns/mnt", .otherKind("/proc/self/ns/mnt", kind: "mount")),
      ("/proc/self/ns/uts", .otherKind("/proc/self/ns/uts", kind: "uts")),
    ]
    for (spec, expected) in cases {
      #expect(checkNetworkNamespace(spec, named: named) == expected, "\(spec)")
    }
    #expect(
      NamespaceLookupError.otherKind("/proc/self/ns/mnt", kind: "mount").description
        == "/proc/self/ns/mnt is a mount namespace, not a network namespace")
    #expect(NamespaceLookupError.noSuchProcess(7).description == "no process 7")
  }

  @Test func networkNamespacesPass() {
    #expect(checkNetworkNamespace("/proc/self/ns/net", named: []) == nil)
    #expect(checkNetworkNamespace(String(getpid()), named: []) == nil)
    #expect(checkNetworkNamespace("/proc/thread-self/ns/net", named: []) == nil)
  }

  @Test func kindNames() {
    #expect(namespaceKindName(cloneNewNet) == "network")
    #expect(namespaceKindName(0x0002_0000) == "mount")
    #expect(namespaceKindName(0x1) == "0x1")
  }
}
