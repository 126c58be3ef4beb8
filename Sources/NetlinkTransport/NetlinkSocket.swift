import CMnl

#if canImport(Glibc)
  import Glibc
#endif

/// A failed call on the netlink socket, with the operation that failed.
public struct TransportError: Error, Sendable, Equatable, CustomStringConvertible {
  public var operation: String
  public var errno: Int32

  public init(operation: String, errno: Int32) {
    self.operation = operation
    self.errno = errno
  }

  public var description: String {
    "\(operation): \(String(cString: strerror(errno)))"
  }
}

/// Runs one C call that signals failure with -1 (or NULL) and errno, reading errno at once and
/// retrying when the call was interrupted by a signal. Every libmnl/socket call goes through here.
@inline(__always)
func retryingInterrupts<T>(
  _ operation: String, failed: (T) -> Bool, _ call: () -> T
) -> Result<T, TransportError> {
  while true {
    let value = call()
    if !failed(value) { return .success(value) }
    let code = fs_errno()
    if code == EINTR { continue }
    return .failure(TransportError(operation: operation, errno: code))
  }
}

/// A NETLINK_SOCK_DIAG socket opened through libmnl, closed on deinit.
public final class NetlinkSocket {
  private let handle: OpaquePointer
  /// Receive buffer for one datagram. libmnl suggests 4 KiB here; dumps come faster with more.
  private var buffer: UnsafeMutableRawBufferPointer
  public static let receiveBufferSize = 64 * 1024

  /// Opens and binds a socket on `bus` (NETLINK_SOCK_DIAG by default), joining `groups`.
  public init(bus: Int32 = NETLINK_SOCK_DIAG, groups: UInt32 = 0) throws(TransportError) {
    // mnl_socket_open(3)
    let opened = retryingInterrupts("mnl_socket_open", failed: { $0 == nil }) {
      mnl_socket_open(bus)
    }
    guard case .success(let maybeHandle) = opened, let handle = maybeHandle else {
      if case .failure(let error) = opened { throw error }
      throw TransportError(operation: "mnl_socket_open", errno: EINVAL)
    }
    self.handle = handle
    self.buffer = .allocate(byteCount: Self.receiveBufferSize, alignment: 8)
    // mnl_socket_bind(3): pid 0 lets the kernel pick our port id.
    if case .failure(let error) = retryingInterrupts(
      "mnl_socket_bind", failed: { $0 < 0 },
      {
        mnl_socket_bind(handle, groups, 0)
      })
    {
      mnl_socket_close(handle)
      buffer.deallocate()
      throw error
    }
  }

  deinit {
    // mnl_socket_close(3)
    mnl_socket_close(handle)
    buffer.deallocate()
  }

  public var fileDescriptor: Int32 { mnl_socket_get_fd(handle) }
  public var portID: UInt32 { mnl_socket_get_portid(handle) }

  /// Sends one complete netlink message.
  public func send(_ message: [UInt8]) throws(TransportError) {
    // mnl_socket_sendto(3)
    let result = message.withUnsafeBytes { bytes in
      retryingInterrupts("mnl_socket_sendto", failed: { $0 < 0 }) {
        mnl_socket_sendto(handle, bytes.baseAddress, bytes.count)
      }
    }
    if case .failure(let error) = result { throw error }
  }

  /// Receives one datagram; the returned view is valid until the next call.
  public func receive() throws(TransportError) -> UnsafeRawBufferPointer {
    // mnl_socket_recvfrom(3)
    let base = buffer.baseAddress
    let size = buffer.count
    switch retryingInterrupts(
      "mnl_socket_recvfrom", failed: { $0 < 0 },
      {
        mnl_socket_recvfrom(handle, base, size)
      })
    {
    case .success(let count): return UnsafeRawBufferPointer(rebasing: buffer[0..<count])
    case .failure(let error): throw error
    }
  }

  /// Receives one datagram into `destination` (at least `receiveBufferSize` bytes, or the
  /// datagram is cut); returns its length.
  public func receive(into destination: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int {
    // mnl_socket_recvfrom(3)
    let result = retryingInterrupts("mnl_socket_recvfrom", failed: { $0 < 0 }) {
      mnl_socket_recvfrom(handle, destination.baseAddress, destination.count)
    }
    switch result {
    case .success(let count): return count
    case .failure(let error): throw error
    }
  }

  /// Sets a SOL_SOCKET option such as SO_RCVBUF(FORCE).
  public func setSocketOption(_ option: Int32, _ value: Int32) throws(TransportError) {
    var value = value
    // setsockopt(2)
    let result = retryingInterrupts("setsockopt", failed: { $0 < 0 }) {
      setsockopt(
        mnl_socket_get_fd(handle), SOL_SOCKET, option, &value, socklen_t(MemoryLayout<Int32>.size))
    }
    if case .failure(let error) = result { throw error }
  }
}
