import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

/// The BPF TCP iterator of `bpf/tcp_sockets.bpf.c`, loaded into the kernel once; each `read` is
/// one pass over the TCP sockets of the network namespace of the thread that reads, giving what
/// a sock_diag dump asking for INET_DIAG_INFO alone gives (see `TCPSocketRecords`) for about
/// half the kernel's time. See `LoadedIterator` for what loading needs.
///
/// It does not see sockets that are bound and nothing more (TCP_CLOSE, in no table the
/// iterator walks); a dump asking for them still must.
public final class TCPSocketIterator: @unchecked Sendable {
  private let iterator: LoadedIterator

  /// The program's name in `tcp_sockets.bpf.c`.
  static let programName = "flowscope_tcp_sockets"

  /// Opens, relocates, loads and attaches the program.
  public init() throws(BPFError) {
    iterator = try LoadedIterator(objectHex: tcpSocketsObjectHex, program: Self.programName)
  }

  /// One pass: hands each socket to `body`, in the kernel's order (listeners, then the
  /// established table). Returns how many there were.
  @discardableResult
  public func read(_ body: (InetSocket) -> Void) throws(BPFError) -> Int {
    var records = TCPSocketRecords()
    var count = 0
    try iterator.pass { chunk in
      records.add(chunk) { socket in
        count += 1
        body(socket)
      }
    }
    if records.trailing != 0 { throw BPFError(operation: "read (a record cut short)", errno: EIO) }
    return count
  }
}
