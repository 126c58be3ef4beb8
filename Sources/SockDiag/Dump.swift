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
  /// Those of them that decoded (and went to the caller).
  public var decodedCount: Int = 0

  public init() {}
}

/// Decodes every message of one datagram of a `query` dump, appending the records to `records`.
/// Never throws: a bad record is skipped and remembered in `error` (first one wins), so callers get
/// what was read *and* the error. Messages whose type is none of SOCK_DIAG_BY_FAMILY, DONE,
/// ERROR are ignored (NOOP, OVERRUN).
public func decodeDumpDatagram(
  _ datagram: UnsafeRawBufferPointer, query: SockDiagQuery, into records: inout [SocketRecord]
) -> DumpDatagramStatus {
  decodeDumpDatagram(datagram, query: query) { records.append($0) }
}

/// As `decodeDumpDatagram(_:query:into:)`, handing each record to `body` as it is decoded
/// instead of collecting them: a dump's records are then never copied into an array.
public func decodeDumpDatagram(
  _ datagram: UnsafeRawBufferPointer, query: SockDiagQuery, each body: (SocketRecord) -> Void
) -> DumpDatagramStatus {
  decodeDumpDatagram(datagram, query: query, keepingInodes: nil, each: body)
}

/// Offset of the socket's inode (host order u32) in each reply struct: inet_diag_msg.idiag_inode,
/// unix_diag_msg.udiag_ino, packet_diag_msg.pdiag_ino, netlink_diag_msg.ndiag_ino,
/// vsock_diag_msg.vdiag_ino.
@inline(__always) func inodeOffset(_ query: SockDiagQuery) -> Int {
  switch query {
  case .inet: 68
  case .unix, .packet: 4
  case .netlink: 16
  case .vsock: 20
  }
}

/// As `decodeDumpDatagram(_:query:each:)`, but a message whose inode `keep` refuses is skipped
/// before it is decoded (and not counted in `messageCount`): asking about one process's sockets
/// among 100k then costs a 4-byte load per message, not a decode. A message too short to hold an
/// inode is decoded as usual (and fails as usual).
public func decodeDumpDatagram(
  _ datagram: UnsafeRawBufferPointer, query: SockDiagQuery, keepingInodes keep: ((UInt32) -> Bool)?,
  each body: (SocketRecord) -> Void
) -> DumpDatagramStatus {
  var status = DumpDatagramStatus()
  let inodeAt = inodeOffset(query)
  do {
    try forEachNetlinkMessage(in: datagram) { header, payload in
      if header.flags & NetlinkConstants.flagDumpInterrupted != 0 { status.interrupted = true }
      switch header.type {
      case NetlinkConstants.sockDiagByFamily, NetlinkConstants.tcpDiagGetSock:
        if let keep, payload.count >= inodeAt + 4, !keep(payload.hostU32(inodeAt)) { return }
        status.messageCount += 1
        do {
          body(try decodeSocketRecord(payload, query: query))
          status.decodedCount += 1
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
