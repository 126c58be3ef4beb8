import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

extension KernelSource {
  /// Sends SOCK_DESTROY for `socket` and waits for the kernel's answer: 0 when the socket was
  /// aborted, else the errno the kernel gave (ENOENT: gone or another cookie; EPERM: no
  /// CAP_NET_ADMIN in the socket's namespace; EOPNOTSUPP: no destroy for this socket).
  /// Throws only when the netlink socket itself fails.
  ///
  /// The request goes out on this source's socket, so it reaches the network namespace the
  /// source was opened in: the socket's own, for a source FlowInspector opened to dump it.
  public func destroy(_ socket: InetSocketID) throws(TransportError) -> Int32 {
    sequence &+= 1
    let mine = sequence
    try channel.send(SockDiagRequest.encodeDestroy(socket, sequence: mine))
    while true {
      let datagram = try channel.receive()
      var answer: Int32? = nil
      do {
        try forEachNetlinkMessage(in: datagram) { header, payload in
          // Anything else (a late message of an earlier exchange) is not ours to read.
          guard answer == nil, header.sequence == mine, header.type == NetlinkConstants.error else { return }
          answer = try decodeNetlinkError(payload)
        }
      } catch {
        throw TransportError(operation: "SOCK_DESTROY reply", errno: EBADMSG)
      }
      if let answer { return answer }
    }
  }
}
