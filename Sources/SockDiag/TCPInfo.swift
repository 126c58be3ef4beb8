/// `struct tcp_info` (INET_DIAG_INFO of a TCP socket), decoded by offset from whatever size the
/// kernel sent: 232 bytes on 6.1, 248 on 6.7+, 280 on 6.18. Fields past `length` are 0.
/// Layout: include/uapi/linux/tcp.h; x86 bitfields fill from the least significant bit.
public struct TCPInfo: Sendable, Equatable {
  /// Payload bytes the kernel sent (the struct's size on that kernel).
  public var length: Int

  /// offset 0: tcpi_state: TCP_ESTABLISHED 1 ...
  public var state: UInt8 = 0
  /// offset 1: tcpi_ca_state: Open 0, Disorder 1, CWR 2, Recovery 3, Loss 4
  public var caState: UInt8 = 0
  /// offset 2
  public var retransmits: UInt8 = 0
  /// offset 3
  public var probes: UInt8 = 0
  /// offset 4
  public var backoff: UInt8 = 0
  /// offset 5: TCPI_OPT_TIMESTAMPS 1, SACK 2, WSCALE 4, ECN 8, ECN_SEEN 16, SYN_DATA 32, USEC_TS 64, TFO_CHILD 128
  public var options: UInt8 = 0
  /// offset 6: low nibble of byte 6
  public var sndWscale: UInt8 = 0
  /// offset 6: high nibble of byte 6
  public var rcvWscale: UInt8 = 0
  /// offset 7: bit 0 of byte 7
  public var deliveryRateAppLimited: UInt8 = 0
  /// offset 7: bits 1-2 of byte 7
  public var fastopenClientFail: UInt8 = 0
  /// offset 8: µs
  public var rto: UInt32 = 0
  /// offset 12: µs
  public var ato: UInt32 = 0
  /// offset 16
  public var sndMss: UInt32 = 0
  /// offset 20
  public var rcvMss: UInt32 = 0
  /// offset 24
  public var unacked: UInt32 = 0
  /// offset 28
  public var sacked: UInt32 = 0
  /// offset 32
  public var lost: UInt32 = 0
  /// offset 36
  public var retrans: UInt32 = 0
  /// offset 40
  public var fackets: UInt32 = 0
  /// offset 44: ms ago
  public var lastDataSent: UInt32 = 0
  /// offset 48: never filled by Linux
  public var lastAckSent: UInt32 = 0
  /// offset 52: ms ago
  public var lastDataRecv: UInt32 = 0
  /// offset 56: ms ago
  public var lastAckRecv: UInt32 = 0
  /// offset 60
  public var pmtu: UInt32 = 0
  /// offset 64
  public var rcvSsthresh: UInt32 = 0
  /// offset 68: smoothed RTT, µs
  public var rtt: UInt32 = 0
  /// offset 72: µs
  public var rttvar: UInt32 = 0
  /// offset 76
  public var sndSsthresh: UInt32 = 0
  /// offset 80: segments
  public var sndCwnd: UInt32 = 0
  /// offset 84
  public var advmss: UInt32 = 0
  /// offset 88
  public var reordering: UInt32 = 0
  /// offset 92: µs
  public var rcvRtt: UInt32 = 0
  /// offset 96
  public var rcvSpace: UInt32 = 0
  /// offset 100
  public var totalRetrans: UInt32 = 0
  /// offset 104: bytes/s
  public var pacingRate: UInt64 = 0
  /// offset 112: bytes/s
  public var maxPacingRate: UInt64 = 0
  /// offset 120
  public var bytesAcked: UInt64 = 0
  /// offset 128
  public var bytesReceived: UInt64 = 0
  /// offset 136
  public var segsOut: UInt32 = 0
  /// offset 140
  public var segsIn: UInt32 = 0
  /// offset 144
  public var notsentBytes: UInt32 = 0
  /// offset 148: µs
  public var minRtt: UInt32 = 0
  /// offset 152
  public var dataSegsIn: UInt32 = 0
  /// offset 156
  public var dataSegsOut: UInt32 = 0
  /// offset 160: bytes/s
  public var deliveryRate: UInt64 = 0
  /// offset 168: µs
  public var busyTime: UInt64 = 0
  /// offset 176: µs
  public var rwndLimited: UInt64 = 0
  /// offset 184: µs
  public var sndbufLimited: UInt64 = 0
  /// offset 192
  public var delivered: UInt32 = 0
  /// offset 196
  public var deliveredCe: UInt32 = 0
  /// offset 200
  public var bytesSent: UInt64 = 0
  /// offset 208
  public var bytesRetrans: UInt64 = 0
  /// offset 216
  public var dsackDups: UInt32 = 0
  /// offset 220
  public var reordSeen: UInt32 = 0
  /// offset 224
  public var rcvOoopack: UInt32 = 0
  /// offset 228: peer's advertised window, bytes; end of the 232-byte (6.1) struct
  public var sndWnd: UInt32 = 0
  /// offset 232: 6.7+
  public var rcvWnd: UInt32 = 0
  /// offset 236: 6.7+
  public var rehash: UInt32 = 0
  /// offset 240: 6.7+
  public var totalRto: UInt16 = 0
  /// offset 242: 6.7+
  public var totalRtoRecoveries: UInt16 = 0
  /// offset 244: ms; end of the 248-byte (6.7+) struct
  public var totalRtoTime: UInt32 = 0
  /// offset 248: 6.18 AccECN: CE-marked segments received
  public var receivedCe: UInt32 = 0
  /// offset 252: 6.18 AccECN
  public var deliveredE1Bytes: UInt32 = 0
  /// offset 256: 6.18 AccECN
  public var deliveredE0Bytes: UInt32 = 0
  /// offset 260: 6.18 AccECN
  public var deliveredCeBytes: UInt32 = 0
  /// offset 264: 6.18 AccECN
  public var receivedE1Bytes: UInt32 = 0
  /// offset 268: 6.18 AccECN
  public var receivedE0Bytes: UInt32 = 0
  /// offset 272: 6.18 AccECN
  public var receivedCeBytes: UInt32 = 0
  /// offset 276: 6.18 AccECN (a later kernel packs this u32 as ecn_mode:2, opt_seen:2, fail_mode:4, options2:24; see `ecnWord`)
  public var accecnFailMode: UInt16 = 0
  /// offset 278: 6.18 AccECN; end of the 280-byte struct
  public var accecnOptSeen: UInt16 = 0

  /// The size of the newest layout this decoder knows (6.18).
  public static let knownSize = 280

  /// All fields zero, `length` 0.
  public init() {
    length = 0
  }

  /// Decodes from an INET_DIAG_INFO payload of any length; never fails.
  public init(bytes b: UnsafeRawBufferPointer) {
    length = b.count

    state = b.u8OrZero(0)
    caState = b.u8OrZero(1)
    retransmits = b.u8OrZero(2)
    probes = b.u8OrZero(3)
    backoff = b.u8OrZero(4)
    options = b.u8OrZero(5)
    sndWscale = b.u8OrZero(6) & 0x0f
    rcvWscale = b.u8OrZero(6) >> 4
    deliveryRateAppLimited = b.u8OrZero(7) & 0x01
    fastopenClientFail = (b.u8OrZero(7) >> 1) & 0x03
    rto = b.hostU32OrZero(8)
    ato = b.hostU32OrZero(12)
    sndMss = b.hostU32OrZero(16)
    rcvMss = b.hostU32OrZero(20)
    unacked = b.hostU32OrZero(24)
    sacked = b.hostU32OrZero(28)
    lost = b.hostU32OrZero(32)
    retrans = b.hostU32OrZero(36)
    fackets = b.hostU32OrZero(40)
    lastDataSent = b.hostU32OrZero(44)
    lastAckSent = b.hostU32OrZero(48)
    lastDataRecv = b.hostU32OrZero(52)
    lastAckRecv = b.hostU32OrZero(56)
    pmtu = b.hostU32OrZero(60)
    rcvSsthresh = b.hostU32OrZero(64)
    rtt = b.hostU32OrZero(68)
    rttvar = b.hostU32OrZero(72)
    sndSsthresh = b.hostU32OrZero(76)
    sndCwnd = b.hostU32OrZero(80)
    advmss = b.hostU32OrZero(84)
    reordering = b.hostU32OrZero(88)
    rcvRtt = b.hostU32OrZero(92)
    rcvSpace = b.hostU32OrZero(96)
    totalRetrans = b.hostU32OrZero(100)
    pacingRate = b.hostU64OrZero(104)
    maxPacingRate = b.hostU64OrZero(112)
    bytesAcked = b.hostU64OrZero(120)
    bytesReceived = b.hostU64OrZero(128)
    segsOut = b.hostU32OrZero(136)
    segsIn = b.hostU32OrZero(140)
    notsentBytes = b.hostU32OrZero(144)
    minRtt = b.hostU32OrZero(148)
    dataSegsIn = b.hostU32OrZero(152)
    dataSegsOut = b.hostU32OrZero(156)
    deliveryRate = b.hostU64OrZero(160)
    busyTime = b.hostU64OrZero(168)
    rwndLimited = b.hostU64OrZero(176)
    sndbufLimited = b.hostU64OrZero(184)
    delivered = b.hostU32OrZero(192)
    deliveredCe = b.hostU32OrZero(196)
    bytesSent = b.hostU64OrZero(200)
    bytesRetrans = b.hostU64OrZero(208)
    dsackDups = b.hostU32OrZero(216)
    reordSeen = b.hostU32OrZero(220)
    rcvOoopack = b.hostU32OrZero(224)
    sndWnd = b.hostU32OrZero(228)
    rcvWnd = b.hostU32OrZero(232)
    rehash = b.hostU32OrZero(236)
    totalRto = b.hostU16OrZero(240)
    totalRtoRecoveries = b.hostU16OrZero(242)
    totalRtoTime = b.hostU32OrZero(244)
    receivedCe = b.hostU32OrZero(248)
    deliveredE1Bytes = b.hostU32OrZero(252)
    deliveredE0Bytes = b.hostU32OrZero(256)
    deliveredCeBytes = b.hostU32OrZero(260)
    receivedE1Bytes = b.hostU32OrZero(264)
    receivedE0Bytes = b.hostU32OrZero(268)
    receivedCeBytes = b.hostU32OrZero(272)
    accecnFailMode = b.hostU16OrZero(276)
    accecnOptSeen = b.hostU16OrZero(278)
  }

  /// The last 4 bytes of the 280-byte layout as one u32 (offset 276), for kernels that
  /// re-pack `accecnFailMode`/`accecnOptSeen` into ecn_mode:2, opt_seen:2, fail_mode:4, options2:24.
  public var ecnWord: UInt32 { UInt32(accecnFailMode) | UInt32(accecnOptSeen) << 16 }
}
