import SockDiag

/// The raw dumps `ss -D FILE` writes (and `TCPDIAG_FILE` reads back): the sock_diag replies as
/// received, netlink message after netlink message, with no framing and no owners. An inet
/// reply does not say its protocol: the caller names it, as `ss -p` would (TCP by default).
public enum RawDump {
  /// The dump as one frame of datagrams, one netlink message each; a message cut short or
  /// with an impossible length is an error that names its offset.
  public static func frame(
    _ bytes: UnsafeRawBufferPointer, inetProtocol: InetProtocol, time: Double, host: String
  ) throws(RecordingError) -> RecordedFrame {
    var frame = RecordedFrame(time: time, host: host)
    var offset = 0
    while offset < bytes.count {
      guard bytes.count - offset >= NetlinkHeader.size else {
        throw RecordingError(
          "truncated netlink header: \(NetlinkHeader.size) bytes needed, \(bytes.count - offset) left", at: offset)
      }
      let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
      let type = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
      guard length >= NetlinkHeader.size, length <= bytes.count - offset else {
        throw RecordingError(
          "netlink message of \(length) bytes, \(bytes.count - offset) left: not a raw dump of ss -D, or cut short",
          at: offset)
      }
      let message = Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]))
      let family = length > NetlinkHeader.size ? bytes[offset + NetlinkHeader.size] : 0
      let query: SockDiagQuery
      switch (type, family) {
      case (NetlinkConstants.sockDiagByFamily, 1): query = .unix
      case (NetlinkConstants.sockDiagByFamily, 16): query = .netlink
      case (NetlinkConstants.sockDiagByFamily, 17): query = .packet
      case (NetlinkConstants.sockDiagByFamily, 2): query = .inet(family: AddressFamily.inet, proto: inetProtocol)
      case (NetlinkConstants.sockDiagByFamily, 10): query = .inet(family: AddressFamily.inet6, proto: inetProtocol)
      case (NetlinkConstants.tcpDiagGetSock, 2), (NetlinkConstants.tcpDiagGetSock, 10):
        query = .inet(family: family == 2 ? AddressFamily.inet : AddressFamily.inet6, proto: inetProtocol)
      case (NetlinkConstants.done, _), (NetlinkConstants.error, _), (NetlinkConstants.noop, _):
        // The end of one dump; the next may follow.
        offset += (length + 3) & ~3
        continue
      default:
        throw RecordingError("netlink message of type \(type), family \(family): not a sock_diag reply", at: offset)
      }
      frame.datagrams.append(RecordedDatagram(netns: 0, query: query, bytes: message))
      offset += (length + 3) & ~3
    }
    frame.warnings.append(.other("a raw dump of ss -D records no owners: no process is shown"))
    return frame
  }
}
