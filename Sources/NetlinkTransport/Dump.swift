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
}

/// Errors the kernel returns for a family or protocol it has no diag handler for.
func isUnsupported(_ code: Int32) -> Bool {
  code == ENOENT || code == EOPNOTSUPP || code == EPROTONOSUPPORT || code == EAFNOSUPPORT
}

/// Consumes the datagrams of one dump; shared by the live and the replayed source.
struct DumpReader {
  let query: SockDiagQuery
  var result = DumpResult(status: .complete)
  var interrupted = false
  var finished = false

  init(query: SockDiagQuery) { self.query = query }

  /// Decodes every message of one datagram; returns when the dump ended or more is needed.
  mutating func consume(_ datagram: UnsafeRawBufferPointer, record: (SocketRecord) -> Void) {
    do {
      try forEachNetlinkMessage(in: datagram) { header, payload in
        if finished { return }
        if header.flags & NetlinkConstants.flagDumpInterrupted != 0 { interrupted = true }
        switch header.type {
        case NetlinkConstants.sockDiagByFamily:
          do {
            record(try decodeSocketRecord(payload, query: query))
            result.records += 1
          } catch let error as SockDiagError {
            noteDecodeError(error)
          }
        case NetlinkConstants.done:
          let code = decodeDoneStatus(payload)
          if code != 0 { end(withErrno: code) } else { finished = true }
        case NetlinkConstants.error:
          let code = (try? decodeNetlinkError(payload)) ?? EPROTO
          if code != 0 { end(withErrno: code) } else { finished = true }
        case NetlinkConstants.overrun:
          end(withErrno: ENOBUFS)
        default:
          break  // NOOP and anything unknown carry nothing for us.
        }
      }
    } catch let error as SockDiagError {
      // A broken frame: the rest of this datagram is lost, later ones may still be fine.
      noteDecodeError(error)
    } catch {
      noteDecodeError(.malformed(what: "netlink", detail: "\(error)"))
    }
  }

  private mutating func noteDecodeError(_ error: SockDiagError) {
    result.decodeErrors += 1
    if result.firstDecodeError == nil { result.firstDecodeError = error }
  }

  private mutating func end(withErrno code: Int32) {
    finished = true
    let positive = code < 0 ? -code : code
    if isUnsupported(positive) {
      result.status = .unsupported(errno: positive)
    } else {
      result.status = .failed(String(cString: strerror(positive)))
    }
  }
}
