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
  /// The cgroup path that names the process's service or container: the cgroup v2 line
  /// (`0::/system.slice/nginx.service`) unless it is the root, else systemd's own hierarchy
  /// (`1:name=systemd:/...`, hybrid layouts), else the first line with a path.
  public static func cgroupPath(_ bytes: ArraySlice<UInt8>) -> String? {
    var unified: Substring? = nil
    var systemd: Substring? = nil
    var first: Substring? = nil
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
      let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
      guard fields.count == 3, !fields[2].isEmpty else { continue }
      if first == nil { first = fields[2] }
      if fields[0] == "0" && fields[1].isEmpty && fields[2] != "/" { unified = fields[2] }
      if fields[1] == "name=systemd" { systemd = fields[2] }
    }
    return (unified ?? systemd ?? first).map(String.init)
  }

  /// The systemd unit a cgroup path places a process in: the deepest `.service` or `.scope`
  /// (`nginx.service`, `session-3.scope`, a user's `app.service` under `user@1000.service`);
  /// nil outside units. A container's scope (`docker-<id>.scope`) is the container, not a unit.
  public static func systemdUnit(cgroupPath path: String) -> String? {
    for component in path.split(separator: "/").reversed()
    where component.hasSuffix(".service") || component.hasSuffix(".scope") {
      if containerIdentity(cgroupPath: "/" + component) != nil { continue }
      return String(component)
    }
    return nil
  }

  /// A container's identity from its cgroup path: `docker:0123456789ab` for
  /// `.../docker-<id>.scope` or `/docker/<id>`, likewise `libpod`, `cri-containerd`, `crio`,
  /// and `kubepods` pods; nil for a plain host path.
  public static func containerIdentity(cgroupPath path: String) -> String? {
    containerReference(cgroupPath: path)?.identity
  }

  /// The runtime, full id and pod of the container a cgroup path places a process in.
  public static func containerReference(cgroupPath path: String) -> ContainerReference? {
    let components = path.split(separator: "/")
    // Kubernetes: the pod's UID (`kubepods-burstable-pod<uid>.slice`, `/kubepods/besteffort/pod<uid>`)
    // before the container's id.
    let pod = components.lazy.compactMap { component -> String? in
      guard component.hasPrefix("kubepods") || component.hasPrefix("pod") else { return nil }
      let characters = Array(component)
      guard let at = (0..<max(0, characters.count - 2)).last(where: { String(characters[$0..<($0 + 3)]) == "pod" })
      else { return nil }
      var uid = String(characters[(at + 3)...])
      if uid.hasSuffix(".slice") { uid.removeLast(6) }
      // systemd writes the UID's dashes as underscores.
      uid = String(uid.map { $0 == "_" ? "-" : $0 })
      return uid.count >= 8 && uid.allSatisfy({ $0.isHexDigit || $0 == "-" }) ? uid : nil
    }.first
    func reference(_ runtime: String, _ id: Substring) -> ContainerReference {
      ContainerReference(runtime: runtime, id: String(id), podUID: pod)
    }
    for (index, component) in components.enumerated().reversed() {
      for runtime in ["docker", "libpod", "cri-containerd", "crio", "containerd"] {
        // systemd style: docker-<id>.scope
        if component.hasPrefix(runtime + "-") {
          var id = component.dropFirst(runtime.count + 1)
          if id.hasSuffix(".scope") { id = id.dropLast(6) }
          if id.count >= 12, id.allSatisfy(\.isHexDigit) { return reference(runtime, id) }
        }
        // cgroupfs style: /docker/<id>
        if component == runtime, index + 1 < components.count {
          let id = components[index + 1]
          if id.count >= 12, id.allSatisfy(\.isHexDigit) { return reference(runtime, id) }
        }
      }
      // cgroupfs Kubernetes: /kubepods/<class>/pod<uid>/<container id>
      if pod != nil, component.count >= 12, component.allSatisfy(\.isHexDigit), index > 0,
        components[index - 1].hasPrefix("pod")
      {
        return reference("cri", component)
      }
    }
    return pod.map { ContainerReference(runtime: nil, id: nil, podUID: $0) }
  }
}
