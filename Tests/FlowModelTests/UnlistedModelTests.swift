import FlowModel
import Testing

/// What a socket's protocol name says, the socket-leak rule, and the flow's size.
struct UnlistedModelTests {
  @Test func protocolNamesTheKernelGives() {
    // As measured on 6.18 with python3 sockets (system.sockprotoname, without its NUL).
    let cases: [(String, TransportProtocol, AddressFamily, UInt8)] = [
      ("TCP", .tcp, .inet, 1), ("TCPv6", .tcp, .inet6, 1), ("UDP", .udp, .inet, 2),
      ("UDPv6", .udp, .inet6, 2), ("UDP-Lite", .udplite, .inet, 2), ("UDPLITEv6", .udplite, .inet6, 2),
      ("MPTCP", .mptcp, .inet, 1), ("MPTCPv6", .mptcp, .inet6, 1), ("RAW", .raw, .inet, 3),
      ("RAWv6", .raw, .inet6, 3), ("PING", .raw, .inet, 2), ("UNIX-STREAM", .unix, .unix, 1),
      ("UNIX", .unix, .unix, 0), ("NETLINK", .netlink, .netlink, 0), ("PACKET", .packet, .packet, 0),
      ("AF_VSOCK", .vsock, .vsock, 0), ("SCTPv6", .sctp, .inet6, 0),
    ]
    for (name, proto, family, type) in cases {
      #expect(
        SocketProtocolName(Array(name.utf8)) == SocketProtocolName(proto: proto, family: family, socketType: type),
        "\(name)")
    }
    for name in ["", "KCM", "ALG", "tcp", "TCP\0", "XDP"] {
      #expect(SocketProtocolName(Array(name.utf8)) == nil, "\(name)")
    }
  }

  func process(unconnected: UnconnectedSockets, used: Int = 20, soft: UInt64? = 1024) -> OwningProcess {
    var process = OwningProcess(pid: 42, command: Array("client".utf8))
    process.descriptorCount = used
    process.fdLimitSoft = soft
    process.unconnectedSockets = unconnected
    return process
  }

  @Test func socketLeakStartsAtTheThreshold() {
    let defaults = HealthThresholds()
    #expect(defaults.socketLeakCount == 16)
    #expect(process(unconnected: UnconnectedSockets(tcp: 15)).health(defaults).isEmpty)
    #expect(process(unconnected: UnconnectedSockets(tcp: 16)).health(defaults) == [.socketLeak])
    #expect(process(unconnected: UnconnectedSockets(tcp: 10, udp: 6)).health(defaults) == [.socketLeak])
    // With the fd flags, whatever the limit; and off at 0.
    #expect(
      process(unconnected: UnconnectedSockets(udp: 60), used: 64, soft: 64).health(defaults) == [
        .fdExhausted, .socketLeak,
      ])
    #expect(process(unconnected: UnconnectedSockets(udp: 60), soft: nil).health(defaults) == [.socketLeak])
    var off = defaults
    off.socketLeakCount = 0
    #expect(process(unconnected: UnconnectedSockets(tcp: 500)).health(off).isEmpty)
    #expect(HealthFlag.socketLeak.isProcessFlag)
    #expect(HealthFlag.socketLeak.severity == .warning)
    #expect(HealthFlag.socketLeak.rawValue == "socket-leak")
  }

  @Test func summaryCountsUnlistedSocketsUnderTheirProtocol() {
    var flows: [Flow] = []
    for inode in 1...50 {
      var flow = Flow(
        proto: .tcp, family: .inet, state: 7, socketType: 1, local: .none, remote: .none, inode: UInt64(inode), netns: 1
      )
      flow.listedByKernel = false
      flow.owners = [FlowOwner(pid: 42, fd: Int32(inode + 2))]
      flows.append(flow)
    }
    var leaker = process(unconnected: UnconnectedSockets(tcp: 50), used: 55)
    leaker.socketCount = 51
    let snapshot = Snapshot(time: 0, host: "h", flows: flows, processes: [42: leaker], warnings: [])
    let summary = ProcessSummary.summarize(snapshot, thresholds: HealthThresholds())
    #expect(summary.count == 1)
    #expect(summary.first?.sockets == SocketKindCounts(tcp: 50, udp: 0, unix: 0, other: 1, unlisted: 50))
    #expect(summary.first?.flags == [.socketLeak])
  }

  @Test func theMarkerDoesNotGrowTheFlow() {
    // 264 bytes before `listedByKernel` (measured): it sits in the gap after the optional TCP
    // details (73 bytes at offset 168), before the 8-aligned owners at 248.
    #expect(MemoryLayout<Flow>.size == 264)
    #expect(MemoryLayout<Flow>.offset(of: \.owners) == 248)
  }
}
