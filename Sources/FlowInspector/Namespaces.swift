import Dispatch
import FlowModel
import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

/// Runs `work` on another thread at once; `wait()` returns its result.
final class BackgroundTask<Value: Sendable>: @unchecked Sendable {
  private var value: Value?
  private let done = DispatchSemaphore(value: 0)

  init(_ work: @escaping @Sendable () -> Value) {
    DispatchQueue.global().async {
      self.value = work()
      self.done.signal()
    }
  }

  func wait() -> Value {
    done.wait()
    return value!
  }
}

struct NamespaceLookupError: Error {
  var detail: String
}

/// `--netns NAME|PATH|PID` → the namespace's inode and a path to enter it by.
func resolveNamespace(_ spec: String, procRoot: String, named: [NamedNetworkNamespace])
  -> Result<(inode: UInt64, path: String), NamespaceLookupError>
{
  let path: String
  if let namespace = named.first(where: { $0.name == spec }) {
    return .success((namespace.inode, namespace.path))
  } else if let pid = Int32(spec) {
    path = "\(procRoot)/\(pid)/ns/net"
  } else if spec.hasPrefix("/") {
    path = spec
  } else {
    return .failure(.init(detail: "no such namespace in /run/netns (give a name, a path or a pid)"))
  }
  var info = stat()
  // stat(2): the namespace file's inode is the namespace's identity.
  guard stat(path, &info) == 0 else {
    return .failure(.init(detail: "\(path): " + String(decoding: strerrorBytes(errno), as: UTF8.self)))
  }
  return .success((UInt64(info.st_ino), path))
}

func namespaceName(_ inode: UInt64, _ named: [NamedNetworkNamespace]) -> String {
  named.first { $0.inode == inode }?.name ?? String(inode)
}

/// Names and container identities of the namespaces in `inodes`.
func describeNamespaces(
  _ inodes: Set<UInt64>, own: UInt64, named: [NamedNetworkNamespace], scan: ProcScanResult,
  procRoot: String
) -> [UInt64: NetworkNamespace] {
  var described: [UInt64: NetworkNamespace] = [:]
  for inode in inodes {
    var namespace = NetworkNamespace(inode: inode, isOwn: inode == own)
    namespace.name = named.first { $0.inode == inode }?.name
    if inode != own,
      let member = scan.processes.first(where: { $0.netnsInode == inode }),
      let cgroup = NetworkNamespaces.cgroupPath(pid: member.pid, root: procRoot)
    {
      namespace.container = ProcParsers.containerIdentity(cgroupPath: cgroup)
    }
    described[inode] = namespace
  }
  return described
}

func strerrorBytes(_ code: Int32) -> [UInt8] {
  guard let text = strerror(code) else { return [] }
  return Array(UnsafeRawBufferPointer(start: text, count: strlen(text)))
}
