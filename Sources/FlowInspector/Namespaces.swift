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

/// Why `--netns NAME|PATH|PID` does not name a network namespace.
public enum NamespaceLookupError: Error, Equatable, Sendable, CustomStringConvertible {
  /// Not a name under /run/netns, and neither a pid nor an absolute path.
  case unknownName(String)
  /// A pid with no process (its /proc/<pid>/ns/net does not exist).
  case noSuchProcess(Int32)
  /// An absolute path that does not exist.
  case noSuchPath(String)
  /// A file that is not a namespace (NS_GET_NSTYPE refused it).
  case notANamespace(String)
  /// A namespace of another kind: `mount`, `pid`, `user`, ….
  case otherKind(String, kind: String)
  /// Any other failure to reach it: stat(2) or open(2) failing with `errno`.
  case unreadable(String, errno: Int32)

  public var description: String {
    switch self {
    case .unknownName(let name):
      "no network namespace named '\(name)' in /run/netns (give a name of `ip netns list`, a path or a pid)"
    case .noSuchProcess(let pid): "no process \(pid)"
    case .noSuchPath(let path): "\(path): no such file"
    case .notANamespace(let path): "\(path) is not a namespace file"
    case .otherKind(let path, let kind): "\(path) is a \(kind) namespace, not a network namespace"
    case .unreadable(let path, let code): "\(path): " + String(decoding: strerrorBytes(code), as: UTF8.self)
    }
  }
}

/// What `--netns` names, before any look at the file: a name of /run/netns, or the path of a
/// pid's namespace or an absolute path. Pure.
enum NamespaceSpec: Equatable {
  case named(NamedNetworkNamespace)
  case pid(Int32, path: String)
  case path(String)

  init(_ spec: String, procRoot: String, named: [NamedNetworkNamespace]) throws(NamespaceLookupError) {
    if let namespace = named.first(where: { $0.name == spec }) {
      self = .named(namespace)
    } else if let pid = Int32(spec) {
      self = .pid(pid, path: "\(procRoot)/\(pid)/ns/net")
    } else if spec.hasPrefix("/") {
      self = .path(spec)
    } else {
      throw .unknownName(spec)
    }
  }

  var path: String {
    switch self {
    case .named(let namespace): namespace.path
    case .pid(_, let path), .path(let path): path
    }
  }
}

/// `--netns NAME|PATH|PID` → the namespace's inode and a path to enter it by.
/// The namespace `--netns SPEC` names (a name under /run/netns, a path, a pid): its inode and
/// a path to enter it by; a description of what is wrong otherwise.
public func networkNamespaceTarget(_ spec: String, procRoot: String = "/proc") -> Result<
  (inode: UInt64, path: String), NamespaceLookupError
> {
  resolveNamespace(spec, procRoot: procRoot, named: NetworkNamespaces.named())
}

func resolveNamespace(_ spec: String, procRoot: String, named: [NamedNetworkNamespace])
  -> Result<(inode: UInt64, path: String), NamespaceLookupError>
{
  let parsed: NamespaceSpec
  do {
    parsed = try NamespaceSpec(spec, procRoot: procRoot, named: named)
  } catch {
    return .failure(error)
  }
  if case .named(let namespace) = parsed { return .success((namespace.inode, namespace.path)) }
  var info = stat()
  // stat(2): the namespace file's inode is the namespace's identity.
  guard stat(parsed.path, &info) == 0 else {
    return .failure(.unreadable(parsed.path, errno: errno))
  }
  return .success((UInt64(info.st_ino), parsed.path))
}

/// ioctl(2) request NS_GET_NSTYPE of <linux/nsfs.h>: `_IO(0xb7, 0x3)`, the CLONE_NEW* flag of
/// the namespace a descriptor refers to (Linux 4.11).
let nsGetNamespaceType: UInt = 0xb703
/// CLONE_NEWNET of <linux/sched.h>: what NS_GET_NSTYPE answers for a network namespace.
let cloneNewNet: Int32 = 0x4000_0000

/// Whether `--netns` names a network namespace that exists: a name under /run/netns, the pid
/// of a live process, or a path of a network namespace file. nil when it does; the reason when
/// it does not. A namespace this user may not open (another user's process) is not refused
/// here: whether it can be read is the collection's business, which reports it.
///
/// Commands call it before any output, so that an unknown namespace is a usage error rather
/// than an empty listing.
public func checkNetworkNamespace(
  _ spec: String, procRoot: String = "/proc",
  named: [NamedNetworkNamespace] = NetworkNamespaces.named()
) -> NamespaceLookupError? {
  let parsed: NamespaceSpec
  do {
    parsed = try NamespaceSpec(spec, procRoot: procRoot, named: named)
  } catch {
    return error
  }
  let path = parsed.path
  // open(2): /proc/<pid>/ns/net is a link to the namespace, a name under /run/netns a bind
  // mount of one. O_NONBLOCK, so that a FIFO given as the path cannot hang the check.
  let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
  guard fd >= 0 else {
    let code = errno
    switch (parsed, code) {
    case (.pid(let pid, _), ENOENT), (.pid(let pid, _), ESRCH): return .noSuchProcess(pid)
    case (_, ENOENT), (_, ENOTDIR): return .noSuchPath(path)
    case (_, EACCES), (_, EPERM): return nil
    default: return .unreadable(path, errno: code)
    }
  }
  defer { close(fd) }
  // ioctl(2) NS_GET_NSTYPE: fails (ENOTTY) on anything but a namespace file.
  let kind = ioctl(fd, nsGetNamespaceType)
  guard kind >= 0 else { return .notANamespace(path) }
  guard kind != cloneNewNet else { return nil }
  return .otherKind(path, kind: namespaceKindName(kind))
}

/// The name of a namespace kind as /proc/<pid>/ns names it, from its CLONE_NEW* flag of
/// <linux/sched.h> (Glibc hides them from Swift without _GNU_SOURCE).
func namespaceKindName(_ flag: Int32) -> String {
  switch flag {
  case 0x0002_0000: "mount"  // CLONE_NEWNS
  case 0x0400_0000: "uts"  // CLONE_NEWUTS
  case 0x0800_0000: "ipc"  // CLONE_NEWIPC
  case 0x1000_0000: "user"  // CLONE_NEWUSER
  case 0x2000_0000: "pid"  // CLONE_NEWPID
  case 0x4000_0000: "network"  // CLONE_NEWNET
  case 0x0200_0000: "cgroup"  // CLONE_NEWCGROUP
  case 0x0000_0080: "time"  // CLONE_NEWTIME
  default: "0x" + String(flag, radix: 16)
  }
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
