import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

/// How one dump ended. Records read before a failure have been delivered all the same.
public enum DumpStatus: Sendable, Equatable {
  case complete
  /// The kernel has no diag handler for this family/protocol (ENOENT, EOPNOTSUPP...).
  case unsupported(errno: Int32)
  /// NLM_F_DUMP_INTR persisted through every retry; the last attempt's records were kept.
  case interrupted(attempts: Int)
  case failed(String)
}

public struct DumpResult: Sendable, Equatable {
  public var status: DumpStatus
  public var records: Int = 0
  /// Messages that could not be decoded; they were skipped, the first error is kept.
  public var decodeErrors: Int = 0
  public var firstDecodeError: SockDiagError? = nil
  public init(status: DumpStatus) { self.status = status }
}

/// Where socket records come from: the kernel, or a recording of it.
public protocol SockDiagSource: AnyObject {
  /// Dumps one query, handing each decoded record to `record`. Before a retry `restart` is called
  /// so the caller can drop what this query gave it so far.
  func dump(
    _ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?,
    restart: () -> Void, record: (SocketRecord) -> Void
  ) -> DumpResult

  /// As `dump(_:states:bytecode:restart:record:)`, handing on only the sockets whose inode
  /// `keep` accepts. The kernel and replay sources test the inode before decoding a message, so
  /// `-P pid` pays for the dump, not for decoding 100k records it drops; `records` then counts
  /// the kept ones. The default implementation decodes everything and filters.
  func dump(
    _ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?,
    keepingInodes keep: @escaping (UInt32) -> Bool,
    restart: () -> Void, record: (SocketRecord) -> Void
  ) -> DumpResult
}

extension SockDiagSource {
  public func dump(
    _ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?,
    keepingInodes keep: @escaping (UInt32) -> Bool,
    restart: () -> Void, record: (SocketRecord) -> Void
  ) -> DumpResult {
    dump(query, states: states, bytecode: bytecode, restart: restart) { socket in
      if keep(socket.inode) { record(socket) }
    }
  }
}

/// Errors the kernel returns for a family or protocol it has no diag handler for.
func isUnsupported(_ code: Int32) -> Bool {
  code == ENOENT || code == EOPNOTSUPP || code == EPROTONOSUPPORT || code == EAFNOSUPPORT
}

/// Consumes the datagrams of one dump; shared by the live and the replayed source.
struct DumpReader {
  let query: SockDiagQuery
  /// Messages whose inode this refuses are skipped undecoded.
  var keep: ((UInt32) -> Bool)? = nil
  var result = DumpResult(status: .complete)
  var interrupted = false
  var finished = false

  init(query: SockDiagQuery, keep: ((UInt32) -> Bool)? = nil) {
    self.query = query
    self.keep = keep
  }

  /// Decodes one datagram, hands its records on as they are decoded (no intermediate array:
  /// a record is a few hundred bytes), and notes whether the dump ended.
  mutating func consume(_ datagram: UnsafeRawBufferPointer, record: (SocketRecord) -> Void) {
    // `record` itself, not a closure around it: each hop would copy the record (~500 bytes).
    let status = decodeDumpDatagram(datagram, query: query, keepingInodes: keep, each: record)
    result.records += status.decodedCount
    if status.interrupted { interrupted = true }
    let undecoded = status.messageCount - status.decodedCount
    if undecoded > 0 || status.error != nil {
      result.decodeErrors += max(undecoded, 1)
      if result.firstDecodeError == nil { result.firstDecodeError = status.error }
    }
    if status.finished {
      finished = true
      if status.errno != 0 { end(withErrno: status.errno) }
    }
  }

  private mutating func end(withErrno code: Int32) {
    if isUnsupported(code) {
      result.status = .unsupported(errno: code)
    } else {
      result.status = .failed(String(cString: strerror(code)))
    }
  }
}
