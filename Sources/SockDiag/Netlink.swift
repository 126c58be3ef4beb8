/// `struct nlmsghdr`, in host order.
public struct NetlinkHeader: Sendable, Equatable {
  public var length: UInt32
  public var type: UInt16
  public var flags: UInt16
  public var sequence: UInt32
  public var portID: UInt32

  public init(length: UInt32, type: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32) {
    self.length = length
    self.type = type
    self.flags = flags
    self.sequence = sequence
    self.portID = portID
  }

  /// sizeof(struct nlmsghdr).
  public static let size = 16
}

/// Values from <linux/netlink.h> and <linux/sock_diag.h>.
public enum NetlinkConstants {
  public static let noop: UInt16 = 1
  public static let error: UInt16 = 2
  public static let done: UInt16 = 3
  public static let overrun: UInt16 = 4
  public static let sockDiagByFamily: UInt16 = 20
  /// TCPDIAG_GETSOCK: the older inet_diag request, answered with messages of this type.
  public static let tcpDiagGetSock: UInt16 = 18
  /// SOCK_DESTROY: abort the socket a request names (CONFIG_INET_DIAG_DESTROY).
  public static let sockDestroy: UInt16 = 21

  public static let flagRequest: UInt16 = 1
  public static let flagMulti: UInt16 = 2
  public static let flagAck: UInt16 = 4
  public static let flagDumpInterrupted: UInt16 = 0x10
  /// NLM_F_ROOT | NLM_F_MATCH.
  public static let flagDump: UInt16 = 0x300

  /// NETLINK_SOCK_DIAG, the protocol of the netlink socket to open.
  public static let netlinkSockDiag: Int32 = 4
}

/// NLMSG_ALIGN / NLA_ALIGN: both round up to 4.
@inline(__always) func align4(_ n: Int) -> Int { (n &+ 3) & ~3 }

/// Walks every netlink message in one received datagram (NLMSG_ALIGN'ed), calling body with the
/// header and the payload (bytes after the 16-byte header up to nlmsg_len). Throws on framing
/// errors (nlmsg_len < 16 or beyond the buffer) after having delivered the messages before it.
public func forEachNetlinkMessage(
  in buffer: UnsafeRawBufferPointer,
  _ body: (NetlinkHeader, UnsafeRawBufferPointer) throws -> Void
) throws {
  var offset = 0
  while offset < buffer.count {
    let remaining = buffer.count - offset
    guard remaining >= NetlinkHeader.size else {
      throw SockDiagError.truncated(what: "nlmsghdr", need: NetlinkHeader.size, have: remaining)
    }
    let header = NetlinkHeader(
      length: buffer.hostU32(offset),
      type: buffer.hostU16(offset + 4),
      flags: buffer.hostU16(offset + 6),
      sequence: buffer.hostU32(offset + 8),
      portID: buffer.hostU32(offset + 12))
    let length = Int(header.length)
    guard length >= NetlinkHeader.size else {
      throw SockDiagError.malformed(what: "nlmsghdr", detail: "nlmsg_len \(length) < 16")
    }
    guard length <= remaining else {
      throw SockDiagError.truncated(what: "netlink message", need: length, have: remaining)
    }
    try body(header, buffer.slice(offset + NetlinkHeader.size, offset + length))
    // The last message of a datagram may lack its alignment padding.
    offset = min(offset + align4(length), buffer.count)
  }
}

/// NLMSG_ERROR payload (`struct nlmsgerr`: int error, then the offending header) → errno as a
/// positive Int32; 0 means an ACK.
public func decodeNetlinkError(_ payload: UnsafeRawBufferPointer) throws -> Int32 {
  try payload.require(4, "nlmsgerr")
  return positiveErrno(Int32(bitPattern: payload.hostU32(0)))
}

/// NLMSG_DONE payload: an int that is 0 or a negative errno (e.g. -ENOENT when the kernel lacks
/// the diag module for a family). Returns the errno as a positive Int32, 0 if absent.
public func decodeDoneStatus(_ payload: UnsafeRawBufferPointer) -> Int32 {
  guard payload.count >= 4 else { return 0 }
  return positiveErrno(Int32(bitPattern: payload.hostU32(0)))
}

/// The kernel sends -errno; negating Int32.min would trap, so it is clamped.
@inline(__always) func positiveErrno(_ value: Int32) -> Int32 {
  if value >= 0 { return value }
  return value == .min ? .max : -value
}

/// Whether a datagram holds NLMSG_DONE or NLMSG_ERROR, the two messages that end a dump (as
/// `decodeDumpDatagram` decides `finished`), looking at the headers alone.
public func datagramEndsDump(_ datagram: UnsafeRawBufferPointer) -> Bool {
  var ends = false
  try? forEachNetlinkMessage(in: datagram) { header, _ in
    if header.type == NetlinkConstants.done || header.type == NetlinkConstants.error { ends = true }
  }
  return ends
}
