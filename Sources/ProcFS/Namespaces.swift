import Glibc
import SystemPackage

/// A network namespace named by `ip netns add` (a bind mount under /run/netns).
public struct NamedNetworkNamespace: Sendable, Equatable {
  public var name: String
  public var path: String
  public var inode: UInt64
}

public enum NetworkNamespaces {
  /// The namespaces named under `directory` (default /run/netns); none when it does not exist.
  public static func named(in directory: String = "/run/netns") -> [NamedNetworkNamespace] {
    guard case .success(let dirfd) = Sys.openat(AT_FDCWD, directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    else { return [] }
    guard case .success(let stream) = Sys.fdopendir(dirfd) else {
      Sys.close(dirfd)
      return []
    }
    defer { Sys.closedir(stream) }
    var found: [NamedNetworkNamespace] = []
    while case .success(let entry?) = Sys.readdir(stream) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name == "." || name == ".." { continue }
      let path = directory + "/" + name
      // stat(2) follows the bind mount to the nsfs inode, the namespace's identity.
      if case .success(let info) = path.withCString({ Sys.fstatat(AT_FDCWD, $0, 0) }) {
        found.append(NamedNetworkNamespace(name: name, path: path, inode: UInt64(info.st_ino)))
      }
    }
    return found.sorted { $0.name < $1.name }
  }

  /// The first line of `/proc/<pid>/cgroup` under `root` that names a path, e.g.
  /// `/system.slice/docker-0123abcd.scope`; nil when unreadable.
  public static func cgroupPath(pid: Int32, root: String = "/proc") -> String? {
    guard case .success(let fd) = Sys.openat(AT_FDCWD, "\(root)/\(pid)/cgroup", O_RDONLY | O_CLOEXEC)
    else { return nil }
    defer { Sys.close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    guard case .success(let count) = buffer.withUnsafeMutableBytes({ Sys.read(fd, $0) }), count > 0
    else { return nil }
    return ProcParsers.cgroupPath(buffer[0..<count])
  }
}

extension ProcParsers {
  /// The path of the first `hierarchy:controllers:path` line of a cgroup file (cgroup v2 has one).
  public static func cgroupPath(_ bytes: ArraySlice<UInt8>) -> String? {
    let line = bytes.prefix { $0 != UInt8(ascii: "\n") }
    guard let first = line.firstIndex(of: UInt8(ascii: ":")),
      let second = line[(first + 1)...].firstIndex(of: UInt8(ascii: ":"))
    else { return nil }
    let path = line[(second + 1)...]
    return path.isEmpty ? nil : String(decoding: path, as: UTF8.self)
  }

  /// A container's identity from its cgroup path: `docker:0123456789ab` for
  /// `.../docker-<id>.scope` or `/docker/<id>`, likewise `libpod`, `cri-containerd`, `crio`,
  /// and `kubepods` pods; nil for a plain host path.
  public static func containerIdentity(cgroupPath path: String) -> String? {
    let components = path.split(separator: "/")
    for (index, component) in components.enumerated().reversed() {
      for runtime in ["docker", "libpod", "cri-containerd", "crio", "containerd"] {
        // systemd style: docker-<id>.scope
        if component.hasPrefix(runtime + "-") {
          var id = component.dropFirst(runtime.count + 1)
          if id.hasSuffix(".scope") { id = id.dropLast(6) }
          if id.count >= 12, id.allSatisfy(\.isHexDigit) { return "\(runtime):\(id.prefix(12))" }
        }
        // cgroupfs style: /docker/<id>
        if component == runtime, index + 1 < components.count {
          let id = components[index + 1]
          if id.count >= 12, id.allSatisfy(\.isHexDigit) { return "\(runtime):\(id.prefix(12))" }
        }
      }
    }
    return nil
  }
}
