// The processes a program runs under: its parent, the parent's parent, up to init. `kill`
// keeps its hands off the SSH connection it runs under, found through them.

import Glibc
import SystemPackage

/// One process of a chain of parents.
public struct ProcessAncestor: Sendable, Equatable {
  public var pid: Int32
  public var command: [UInt8]
  /// The value of SSH_CONNECTION in its environment, when it has one and it can be read
  /// (another user's `environ` cannot).
  public var sshConnection: String?

  public init(pid: Int32, command: [UInt8], sshConnection: String? = nil) {
    self.pid = pid
    self.command = command
    self.sshConnection = sshConnection
  }
}

public enum ProcAncestry {
  /// `pid` and its parents up to (not including) pid 0, read from `<root>/<pid>/stat` and
  /// `environ`. A process that vanished or cannot be read ends the chain there.
  public static func chain(from pid: Int32, root: String = "/proc", limit: Int = 64) -> [ProcessAncestor] {
    var chain: [ProcessAncestor] = []
    var current = pid
    while current > 0, chain.count < limit, !chain.contains(where: { $0.pid == current }) {
      guard case .success(let bytes) = Sys.readWhole("\(root)/\(current)/stat"),
        let stat = try? ProcParsers.stat(bytes)
      else { break }
      var ancestor = ProcessAncestor(pid: current, command: stat.command)
      if case .success(let environment) = Sys.readWhole("\(root)/\(current)/environ"),
        let value = ProcParsers.environmentValue("SSH_CONNECTION", in: environment)
      {
        ancestor.sshConnection = String(decoding: value, as: UTF8.self)
      }
      chain.append(ancestor)
      current = stat.ppid
    }
    return chain
  }
}

extension ProcParsers {
  /// The value of `name` in a `/proc/<pid>/environ` (NUL-separated `NAME=value` entries).
  public static func environmentValue(_ name: String, in environment: [UInt8]) -> [UInt8]? {
    let prefix = Array(name.utf8) + [UInt8(ascii: "=")]
    for entry in environment.split(separator: 0, omittingEmptySubsequences: true)
    where entry.starts(with: prefix) {
      return Array(entry.dropFirst(prefix.count))
    }
    return nil
  }
}
