import SockDiag

/// The records of `bpf/tcp_sockets.bpf.c`, decoded into the `InetSocket`s that a sock_diag TCP
/// dump asking for INET_DIAG_INFO alone gives for the same sockets: pure, no I/O, so that any
/// bytes can be fed to it.
///
/// Each record is 176 bytes, addresses in network byte order, the rest in host order:
///
///     0   cookie u64            8   inode u64             16  cgroup id u64
///     24  bytes_acked u64       32  bytes_received u64    40  bytes_retrans u64
///     48  delivery_rate u64     56  source address [16]   72  destination address [16]
///     88  uid u32               92  interface u32         96  receive queue u32
///     100 send queue u32        104 mark u32              108 segs_in u32
///     112 segs_out u32          116 total_retrans u32     120 rtt u32 (µs)
///     124 rttvar u32            128 min_rtt u32           132 snd_cwnd u32
///     136 lost u32              140 unacked u32           144 last_data_sent u32 (ms ago)
///     148 last_data_recv u32    152 last_ack_recv u32     156 snd_wnd u32
///     160 source port u16       162 destination port u16  164 family u8
///     165 state u8              166 kind u8               167 shutdown u8
///     168 retransmits u8        169 probes u8             170 backoff u8   171 (5 bytes pad)
///
/// `kind` says which of the kernel's fill functions the record stands for, and so which fields
/// the dump would have given: 0 a full socket (inet_sk_diag_fill: uid, inode, shutdown, cgroup
/// id, mark, tcp_info), 1 a TIME_WAIT socket (inet_twsk_diag_fill) or 2 a request socket
/// (inet_req_diag_fill): addresses, cookie, state and mark only.
public struct TCPSocketRecords {
  public static let recordSize = 176

  /// Bytes read past the last whole record, kept for the next chunk.
  private var partial: [UInt8] = []

  public init() {}

  /// Bytes of a record cut short at the end of what was added (0 after a whole pass).
  public var trailing: Int { partial.count }

  /// Decodes the records in `bytes`, any chunk of a pass (a record cut at its end is completed
  /// by the next chunk), handing each socket to `body`.
  public mutating func add(_ bytes: UnsafeRawBufferPointer, _ body: (InetSocket) -> Void) {
    var start = 0
    if !partial.isEmpty {
      let need = Self.recordSize - partial.count
      partial += bytes.prefix(need)
      if partial.count < Self.recordSize { return }
      partial.withUnsafeBytes { body(Self.socket($0)) }
      partial.removeAll()
      start = need
    }
    while start + Self.recordSize <= bytes.count {
      body(Self.socket(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Self.recordSize)])))
      start += Self.recordSize
    }
    partial += bytes[start...]
  }

  /// One whole record (`recordSize` bytes).
  public static func socket(_ r: UnsafeRawBufferPointer) -> InetSocket {
    func u8(_ offset: Int) -> UInt8 { r[offset] }
    func u16(_ offset: Int) -> UInt16 { r.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    func u32(_ offset: Int) -> UInt32 { r.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    func u64(_ offset: Int) -> UInt64 { r.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
    func address(_ offset: Int) -> InetAddressBytes {
      InetAddressBytes(high: UInt64(bigEndian: u64(offset)), low: UInt64(bigEndian: u64(offset + 8)))
    }
    var socket = InetSocket(
      family: u8(164), proto: .tcp, state: u8(165), sourcePort: u16(160),
      destinationPort: u16(162), sourceAddress: address(56), destinationAddress: address(72),
      interfaceIndex: u32(92), cookie: u64(0), receiveQueue: u32(96), sendQueue: u32(100))
    switch u8(166) {
    case 0:
      socket.uid = u32(88)
      socket.inode = UInt32(truncatingIfNeeded: u64(8))
      socket.shutdown = u8(167)
      socket.cgroupID = u64(16)
      socket.mark = u32(104)
      var info = TCPInfo()
      info.state = socket.state
      info.retransmits = u8(168)
      info.probes = u8(169)
      info.backoff = u8(170)
      info.unacked = u32(140)
      info.lost = u32(136)
      info.lastDataSent = u32(144)
      info.lastDataRecv = u32(148)
      info.lastAckRecv = u32(152)
      info.rtt = u32(120)
      info.rttvar = u32(124)
      info.sndCwnd = u32(132)
      info.totalRetrans = u32(116)
      info.bytesAcked = u64(24)
      info.bytesReceived = u64(32)
      info.segsOut = u32(112)
      info.segsIn = u32(108)
      info.minRtt = u32(128)
      info.deliveryRate = u64(48)
      info.bytesRetrans = u64(40)
      info.sndWnd = u32(156)
      // A listener's tcp_info gives its backlog where a connection's gives sacked segments.
      if socket.state == 10 { info.sacked = socket.sendQueue }
      socket.tcpInfo = info
    case 1, 2:
      socket.mark = u32(104)
    default:
      break
    }
    return socket
  }
}
