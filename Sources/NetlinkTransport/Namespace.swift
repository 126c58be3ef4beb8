import CMnl

#if canImport(Glibc)
  import Glibc
#endif

/// Opens a sock_diag socket inside the network namespace at `path` (`/proc/<pid>/ns/net` or
/// `/run/netns/NAME`). A netlink socket answers for the namespace it was created in, for good;
/// so only its creation needs the namespace. That happens on a thread of its own, which enters
/// the namespace, opens the socket and goes back before it ends: setns(2) changes only the
/// calling thread, and no other thread of the program ever sees the change.
public func openSockDiagSocket(inNetworkNamespaceAt path: String) throws(TransportError)
  -> NetlinkSocket
{
  let opened = try runInNetworkNamespace(at: path) {
    OpenedSocket(Result { () throws(TransportError) in try NetlinkSocket() })
  }
  return try opened.result.get()
}

/// A socket made on the namespace thread and handed to the caller, who alone uses it after.
private final class OpenedSocket: @unchecked Sendable {
  let result: Result<NetlinkSocket, TransportError>
  init(_ result: Result<NetlinkSocket, TransportError>) { self.result = result }
}

/// Runs `body` on a thread of its own that entered the network namespace at `path` (setns(2)
/// changes the calling thread only), and returns what it returned. For reads that answer for
/// the caller's namespace: /proc/sys/net and /proc/thread-self/net.
public func runInNetworkNamespace<T: Sendable>(
  at path: String, _ body: @escaping @Sendable () -> T
) throws(TransportError) -> T {
  let work = NamespaceCall(path: path, body: body)
  var thread = pthread_t()
  let context = Unmanaged.passRetained(work).toOpaque()
  // pthread_create(3)
  let created = pthread_create(
    &thread, nil,
    { context in
      let work = Unmanaged<AnyNamespaceCall>.fromOpaque(context!).takeRetainedValue()
      work.run()
      return nil
    }, context)
  guard created == 0 else {
    Unmanaged<AnyNamespaceCall>.fromOpaque(context).release()
    throw TransportError(operation: "pthread_create", errno: created)
  }
  // pthread_join(3)
  pthread_join(thread, nil)
  switch work.result {
  case .success(let value): return value
  case .failure(let error): throw error
  case nil: throw TransportError(operation: "setns", errno: EINVAL)
  }
}

/// The thread's side of `runInNetworkNamespace`, seen without its result type.
private class AnyNamespaceCall: @unchecked Sendable {
  func run() {}
}

private final class NamespaceCall<T: Sendable>: AnyNamespaceCall, @unchecked Sendable {
  let path: String
  let body: @Sendable () -> T
  var result: Result<T, TransportError>? = nil

  init(path: String, body: @escaping @Sendable () -> T) {
    self.path = path
    self.body = body
  }

  override func run() {
    let own = retryingInterrupts("open /proc/thread-self/ns/net", failed: { $0 < 0 }) {
      open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
    }
    guard case .success(let ownFD) = own else {
      if case .failure(let error) = own { result = .failure(error) }
      return
    }
    defer { close(ownFD) }
    let target = retryingInterrupts("open \(path)", failed: { $0 < 0 }) {
      open(path, O_RDONLY | O_CLOEXEC)
    }
    guard case .success(let targetFD) = target else {
      if case .failure(let error) = target { result = .failure(error) }
      return
    }
    defer { close(targetFD) }
    // setns(2) into the target namespace, for this thread only.
    if case .failure(let error) = retryingInterrupts(
      "setns \(path)", failed: { $0 < 0 },
      {
        fs_setns(targetFD, fs_clone_newnet())
      })
    {
      result = .failure(error)
      return
    }
    result = .success(body())
    // setns(2) back. Should it fail, the thread ends here anyway, taking the namespace with it.
    _ = fs_setns(ownFD, fs_clone_newnet())
  }
}
