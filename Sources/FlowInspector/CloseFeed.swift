import FlowModel
import NetlinkTransport
import SockDiag

// The final counters of the sockets that closed since the last read, from the sock_diag
// destroy groups of flowscope's own network namespace: what `serve`'s counters and `watch`'s
// rates fold in so that a connection's last bytes are counted. Joining the groups needs
// CAP_NET_ADMIN; without it the caller says so once and does without.

public final class CloseFeed {
  private let socket: DestroyEventSocket
  private let lostBase: UInt64
  /// Destroy messages the kernel dropped since the feed opened (receive buffer overruns).
  public private(set) var lost: UInt64 = 0

  /// Joins the destroy groups of the protocols and families `options` asks for (TCP and UDP
  /// only: the others have none); nil when it asks for neither.
  public init?(_ options: InspectOptions, udp: Bool = true) throws(TransportError) {
    var groups: [DestroyGroup] = []
    if options.protocols.contains(.tcp) {
      if options.ipv4 { groups.append(.tcp4) }
      if options.ipv6 { groups.append(.tcp6) }
    }
    if udp && options.protocols.contains(.udp) {
      if options.ipv4 { groups.append(.udp4) }
      if options.ipv6 { groups.append(.udp6) }
    }
    guard !groups.isEmpty else { return nil }
    socket = try DestroyEventSocket(groups: groups, bufferBytes: 8 << 20)
    lostBase = socket.droppedMessages() ?? 0
  }

  /// Why a feed could not be opened, in the words `serve` and `watch` print.
  public static func problem(_ error: TransportError, missing: String) -> String {
    "cannot join the sock_diag destroy groups (\(error)): \(missing); run as root or with CAP_NET_ADMIN"
  }

  /// Every close queued now, as flows with their final counters (no owner: the kernel sends no
  /// inode; `netns` 0: the caller knows its own namespace). `ok` is false when reading failed. Bounded: closes arriving faster than they are
  /// read wait for the next call.
  public func drain() -> (flows: [Flow], ok: Bool) {
    var flows: [Flow] = []
    defer { if let drops = socket.droppedMessages(), drops > lostBase { lost = drops - lostBase } }
    for _ in 0..<100_000 {
      let received: DestroyReceive
      do {
        received = try socket.receive()
      } catch {
        return (flows, false)
      }
      switch received {
      case .empty:
        return (flows, true)
      case .overrun:
        // The kernel dropped messages: a bigger buffer for next time, and the drop is counted.
        socket.setBuffer(bytes: min(socket.receiveBufferBytes * 2, 256 << 20))
      case .datagram(let bytes, let group):
        guard let group else { continue }
        let decoded = decodeDestroyDatagram(bytes, group: group)
        for inet in decoded.sockets { flows.append(Flow(inet: inet, netns: 0)) }
      }
    }
    return (flows, true)
  }
}

extension FlowInspector {
  /// The network namespace flowscope runs in (its inode), as flows of it carry it.
  public var ownNetworkNamespace: UInt64 { ownNetns }
}
