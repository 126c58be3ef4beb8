/// What one received datagram of a dump said, besides its records.
public struct DumpDatagramStatus: Sendable, Equatable {
  /// NLMSG_DONE or NLMSG_ERROR was seen: the dump is over.
  public var finished: Bool = false
  /// errno (positive) from NLMSG_DONE or NLMSG_ERROR; 0 when the dump ended well.
  /// ENOENT (2) means this kernel has no diag module for the family/protocol.
  public var errno: Int32 = 0
  /// Some message carried NLM_F_DUMP_INTR: the dump was inconsistent and should be retried.
  public var interrupted: Bool = false
  /// The first decoding error; records before and after it (when framing allowed) were kept.
  public var error: SockDiagError?
  /// SOCK_DIAG_BY_FAMILY messages seen, decoded or not.
  public var messageCount: Int = 0

  public init() {}
}

/// Decodes every message of one datagram of a `query` dump, appending the records to `records`.
/// Never throws: a bad record is skipped and remembered in `error` (first one wins), so callers get
/// what was read *and* the error. Messages whose type is none of SOCK_DIAG_BY_FAMILY, DONE,
/// ERROR are ignored (NOOP, OVERRUN).
public func decodeDumpDatagram(
  _ datagram: UnsafeRawBufferPointer, query: SockDiagQuery, into records: inout [SocketRecord]
) -> DumpDatagramStatus {
  var status = DumpDatagramStatus()
  do {
    try forEachNetlinkMessage(in: datagram) { header, payload in
      if header.flags & NetlinkConstants.flagDumpInterrupted != 0 { status.interrupted = true }
      switch header.type {
      case NetlinkConstants.sockDiagByFamily:
        status.messageCount += 1
        do {
          records.append(try decodeSocketRecord(payload, query: query))
        } catch let error as SockDiagError {
          if status.error == nil { status.error = error }
        }
      case NetlinkConstants.done:
        status.finished = true
        status.errno = decodeDoneStatus(payload)
      case NetlinkConstants.error:
        status.finished = true
        do {
          status.errno = try decodeNetlinkError(payload)
        } catch let error as SockDiagError {
          if status.error == nil { status.error = error }
        }
      default:
        break
      }
    }
  } catch let error as SockDiagError {
    if status.error == nil { status.error = error }
  } catch {
    // forEachNetlinkMessage only throws SockDiagError and the body above throws nothing else.
  }
  return status
}
