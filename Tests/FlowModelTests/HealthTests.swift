import FlowModel
import Testing

/// The flag rules on flows and processes made by hand, each next to a near miss.
struct HealthFlagTests {
  static let loopback = IPAddress.v4(0x7f00_0001)

  func tcp(
    _ state: SocketState, recvQ: UInt32 = 0, sendQ: UInt32 = 0, tcp details: TCPDetails? = TCPDetails(peerWindow: 65536)
  ) -> Flow {
    var flow = Flow(
      proto: .tcp, family: .inet, state: state.rawValue, socketType: 1,
      local: .ip(Self.loopback, port: 40000), remote: .ip(Self.loopback, port: 443), inode: 1, netns: 0)
    flow.receiveQueue = recvQ
    flow.sendQueue = sendQ
    flow.tcp = details
    return flow
  }

  func unix(_ state: SocketState, type: UInt8 = 1, shutdown: UInt8?) -> Flow {
    var flow = Flow(
      proto: .unix, family: .unix, state: state.rawValue, socketType: type,
      local: .unixPath(Array("/run/x.sock".utf8)), remote: .none, inode: 2, netns: 0)
    flow.shutdown = shutdown
    return flow
  }

  let defaults = HealthThresholds()

  @Test func closeWaitIsPeerClosedAndEstablishedIsNot() {
    #expect(tcp(.closeWait).health(defaults) == [.peerClosed])
    #expect(tcp(.established).health(defaults).isEmpty)
    // Our own SHUT_RD on TCP is not the peer's doing.
    var ownShutdown = tcp(.established)
    ownShutdown.shutdown = ShutdownBits.receive
    #expect(ownShutdown.health(defaults).isEmpty)
    // After we closed too, it is no longer ours to close.
    #expect(tcp(.lastAck).health(defaults).isEmpty)
  }

  @Test func unixStreamWithReceiveShutDownIsPeerClosed() {
    #expect(unix(.established, shutdown: 3).health(defaults) == [.peerClosed])
    #expect(unix(.established, type: 5, shutdown: 1).health(defaults) == [.peerClosed])
    #expect(unix(.established, shutdown: 0).health(defaults).isEmpty)
    #expect(unix(.established, shutdown: ShutdownBits.send).health(defaults).isEmpty)
    #expect(unix(.established, type: 2, shutdown: 3).health(defaults).isEmpty)  // datagram
    #expect(unix(.listen, shutdown: 3).health(defaults).isEmpty)
    #expect(unix(.established, shutdown: nil).health(defaults).isEmpty)
  }

  @Test func listenerIsBackloggedWhenItsAcceptQueueNearsTheBacklog() {
    #expect(tcp(.listen, recvQ: 3, sendQ: 2).health(defaults) == [.recvBacklog])
    #expect(tcp(.listen, recvQ: 80, sendQ: 100).health(defaults) == [.recvBacklog])
    #expect(tcp(.listen, recvQ: 79, sendQ: 100).health(defaults).isEmpty)
    #expect(tcp(.listen, recvQ: 0, sendQ: 0).health(defaults).isEmpty)
    #expect(tcp(.listen, recvQ: 1, sendQ: 4096).health(defaults).isEmpty)
    // A listener is never idle, whatever its timers say.
    #expect(
      tcp(.listen, tcp: TCPDetails(lastDataSentMs: 1 << 30, lastDataReceivedMs: 1 << 30)).health(defaults).isEmpty)
  }

  @Test func connectionIsBackloggedFromTheThreshold() {
    #expect(tcp(.established, recvQ: 65536).health(defaults) == [.recvBacklog])
    #expect(tcp(.established, recvQ: 65535).health(defaults).isEmpty)
    var small = defaults
    small.recvBacklogBytes = 1000
    #expect(tcp(.established, recvQ: 1000).health(small) == [.recvBacklog])
    var udp = tcp(.close, recvQ: 200_000, tcp: nil)
    udp.proto = .udp
    #expect(udp.health(defaults) == [.recvBacklog])
  }

  @Test func zeroWindowNeedsQueuedDataAndHidesWindowProbes() {
    let probing = tcp(.established, sendQ: 5000, tcp: TCPDetails(probes: 0, backoff: 3, unacked: 0, peerWindow: 0))
    #expect(probing.health(defaults) == [.zeroWindow])
    // Nothing to send: a zero window says nothing.
    #expect(tcp(.established, tcp: TCPDetails(peerWindow: 0)).health(defaults).isEmpty)
    // Window open, data moving: nothing.
    #expect(tcp(.established, sendQ: 5000, tcp: TCPDetails(peerWindow: 1000)).health(defaults).isEmpty)
  }

  @Test func retransmittingCarriesItsCount() {
    let lossy = tcp(
      .established, sendQ: 100, tcp: TCPDetails(retransmits: 2, backoff: 1, unacked: 1, peerWindow: 65536))
    #expect(lossy.health(defaults) == [.retransmitting])
    #expect(lossy.retryCount == 2)
    let backingOff = tcp(.established, tcp: TCPDetails(backoff: 4, peerWindow: 65536))
    #expect(backingOff.health(defaults) == [.retransmitting])
    #expect(backingOff.retryCount == 4)
    let synSent = tcp(.synSent, tcp: TCPDetails(retransmits: 1, backoff: 1))
    #expect(synSent.health(defaults) == [.retransmitting])
    #expect(tcp(.established).retryCount == 0)
  }

  @Test func stalledNeedsQueuedDataAndSilenceBothWays() {
    let stalled = tcp(
      .established, sendQ: 100,
      tcp: TCPDetails(lastDataSentMs: 6000, lastAckReceivedMs: 6000, peerWindow: 65536))
    #expect(stalled.health(defaults) == [.stalled])
    // Just woke up after a long silence: sent now, its ACK not back yet.
    let waking = tcp(
      .established, sendQ: 100,
      tcp: TCPDetails(lastDataSentMs: 1, lastAckReceivedMs: 600_000, peerWindow: 65536))
    #expect(waking.health(defaults).isEmpty)
    let nothingQueued = tcp(
      .established, tcp: TCPDetails(lastDataSentMs: 6000, lastAckReceivedMs: 6000, peerWindow: 65536))
    #expect(nothingQueued.health(defaults).isEmpty)
  }

  @Test func idleMeansNoDataEitherWay() {
    var thresholds = defaults
    thresholds.idleMs = 1000
    let idle = tcp(.established, tcp: TCPDetails(lastDataSentMs: 1500, lastDataReceivedMs: 1200, peerWindow: 1))
    #expect(idle.health(thresholds) == [.idle])
    #expect(idle.health(defaults).isEmpty)
    let talking = tcp(.established, tcp: TCPDetails(lastDataSentMs: 1500, lastDataReceivedMs: 10, peerWindow: 1))
    #expect(talking.health(thresholds).isEmpty)
    // Only established connections are idle (CLOSE_WAIT is peer-closed, not idle).
    let closing = tcp(.closeWait, tcp: TCPDetails(lastDataSentMs: 5000, lastDataReceivedMs: 5000, peerWindow: 1))
    #expect(closing.health(thresholds) == [.peerClosed])
  }

  @Test func processFlagsFollowTheSoftLimit() {
    func process(_ used: Int, soft: UInt64?, readable: Bool = true) -> OwningProcess {
      var process = OwningProcess(pid: 7, command: Array("app".utf8))
      process.descriptorCount = used
      process.fdLimitSoft = soft
      process.fdLimitHard = soft.map { $0 * 4 }
      process.descriptorsReadable = readable
      return process
    }
    #expect(process(52, soft: 64).health(defaults) == [.fdPressure])  // 81 %
    #expect(process(51, soft: 64).health(defaults).isEmpty)  // 79.7 %
    #expect(process(64, soft: 64).health(defaults) == [.fdExhausted])
    #expect(process(70, soft: 64).health(defaults) == [.fdExhausted])  // limit lowered under it
    #expect(process(1_000_000, soft: nil).health(defaults).isEmpty)  // unlimited
    #expect(process(64, soft: 64, readable: false).health(defaults).isEmpty)
    var strict = defaults
    strict.fdPressurePercent = 50
    #expect(process(32, soft: 64).health(strict) == [.fdPressure])
    #expect(process(32, soft: 64).fdUsedPercent == 50)
  }

  @Test func flagsIterateMostSeriousFirst() {
    let flags: HealthFlags = [.idle, .fdExhausted, .peerClosed]
    #expect(Array(flags) == [.fdExhausted, .peerClosed, .idle])
    #expect(Array(HealthFlags()).isEmpty)
    #expect(Array(HealthFlags(rawValue: 0xffff)) == HealthFlag.allCases)
    #expect(flags.mostSerious == .fdExhausted)
    #expect(HealthFlag.fdExhausted.severity < HealthFlag.idle.severity)
  }
}

struct ProcessSummaryTests {
  func flow(
    _ proto: TransportProtocol, _ state: SocketState, inode: UInt64, owners: [(Int32, Int32)],
    bytes: (UInt64, UInt64)? = nil
  ) -> Flow {
    var flow = Flow(
      proto: proto, family: proto == .unix ? .unix : .inet, state: state.rawValue,
      socketType: proto == .udp ? 2 : 1,
      local: proto == .unix ? .none : .ip(.v4(0x7f00_0001), port: UInt16(inode)),
      remote: proto == .unix ? .none : .ip(.v4(0x0a00_0005), port: 443), inode: inode, netns: 0)
    flow.owners = FlowOwners(owners.map { FlowOwner(pid: $0.0, fd: $0.1) })
    if let bytes {
      flow.counters.bytesIn = bytes.0
      flow.counters.bytesOut = bytes.1
      flow.tcp = TCPDetails(peerWindow: 65536)
    }
    return flow
  }

  func process(_ pid: Int32, sockets: Int, fds: Int, soft: UInt64 = 1024) -> OwningProcess {
    var process = OwningProcess(pid: pid, command: Array("p\(pid)".utf8))
    process.socketCount = sockets
    process.descriptorCount = fds
    process.fdLimitSoft = soft
    return process
  }

  @Test func countsKindsStatesBytesAndFlagsPerProcess() {
    let flows = [
      flow(.tcp, .established, inode: 1, owners: [(10, 3)], bytes: (100, 200)),
      flow(.tcp, .closeWait, inode: 2, owners: [(10, 4)], bytes: (5, 6)),
      flow(.tcp, .listen, inode: 3, owners: [(10, 5), (20, 5)], bytes: (0, 0)),
      // Held twice by pid 10: two descriptors, one socket's bytes.
      flow(.tcp, .finWait2, inode: 4, owners: [(10, 6), (10, 7)], bytes: (1000, 0)),
      flow(.udp, .close, inode: 5, owners: [(10, 8)]),
      flow(.unix, .established, inode: 6, owners: [(10, 9)]),
      flow(.netlink, .close, inode: 7, owners: [(10, 10)]),
      flow(.tcp, .closeWait, inode: 8, owners: []),  // no visible owner
    ]
    let processes: [Int32: OwningProcess] = [
      // 8 socket fds in the dump and 2 the dump did not show.
      10: process(10, sockets: 10, fds: 60, soft: 64),
      20: process(20, sockets: 1, fds: 4),
      30: process(30, sockets: 2, fds: 5),  // its sockets are not in the dump
      40: process(40, sockets: 0, fds: 3),  // never listed: no sockets
    ]
    let snapshot = Snapshot(time: 0, host: "h", flows: flows, processes: processes, warnings: [])
    let summaries = ProcessSummary.summarize(snapshot, thresholds: HealthThresholds())
    #expect(summaries.map(\.pid) == [10, 20, 30])
    let ten = summaries[0]
    #expect(ten.sockets == SocketKindCounts(tcp: 5, udp: 1, unix: 1, other: 3))
    #expect(ten.sockets.total == 10)
    #expect(ten.states == TCPStateCounts(established: 1, listen: 1, closeWait: 1, other: 2))
    #expect(ten.bytesIn == 1105)
    #expect(ten.bytesOut == 206)
    #expect(ten.flags == [.fdPressure, .peerClosed])
    #expect(ten.flowFlagCounts.count == 1)
    #expect(ten.flowFlagCounts.first?.flag == .peerClosed)
    #expect(ten.flowFlagCounts.first?.count == 1)
    let twenty = summaries[1]
    #expect(twenty.sockets == SocketKindCounts(tcp: 1))
    #expect(twenty.states.listen == 1)
    #expect(twenty.flags.isEmpty)
    let thirty = summaries[2]
    #expect(thirty.sockets == SocketKindCounts(other: 2))
    #expect(thirty.bytesIn == nil)

    var sorted = summaries
    ProcessSort("-fd-pct")!.apply(to: &sorted)
    #expect(sorted.map(\.pid) == [10, 30, 20])
    ProcessSort("flags")!.apply(to: &sorted)
    #expect(sorted.first?.pid != 10)
    ProcessSort("-flags")!.apply(to: &sorted)
    #expect(sorted.first?.pid == 10)
    #expect(ProcessSort("nonsense") == nil)
  }

  @Test func findingsAreMostSeriousFirstAndIdleOnlyWhenAsked() {
    var idleFlow = flow(.tcp, .established, inode: 1, owners: [(10, 3)], bytes: (1, 1))
    idleFlow.tcp = TCPDetails(lastDataSentMs: 400_000, lastDataReceivedMs: 400_000, peerWindow: 1)
    let stale = [
      flow(.tcp, .closeWait, inode: 2, owners: [(10, 4)], bytes: (1, 1)),
      flow(.tcp, .closeWait, inode: 3, owners: [(10, 5)], bytes: (1, 1)),
    ]
    let unowned = flow(.tcp, .closeWait, inode: 4, owners: [], bytes: (1, 1))
    let processes: [Int32: OwningProcess] = [
      10: process(10, sockets: 3, fds: 10),
      20: process(20, sockets: 0, fds: 64, soft: 64),
    ]
    let snapshot = Snapshot(
      time: 0, host: "h", flows: [idleFlow] + stale + [unowned], processes: processes, warnings: [])
    let findings = Finding.find(in: snapshot, thresholds: HealthThresholds(), includeIdle: false)
    #expect(findings.map(\.flag) == [.fdExhausted, .peerClosed, .peerClosed])
    #expect(findings[0].pid == 20)
    #expect(findings[1].pid == 10)
    #expect(findings[1].flowCount == 2)
    #expect(findings[1].endpoints == [.ip(.v4(0x0a00_0005), port: 443)])
    #expect(findings[1].endpointCount == 1)
    #expect(findings[2].pid == nil)
    let withIdle = Finding.find(in: snapshot, thresholds: HealthThresholds(), includeIdle: true)
    #expect(withIdle.last?.flag == .idle)
    #expect(withIdle.last?.milliseconds == 400_000)
    // Limited to pid 10: its findings and the unowned sockets', not pid 20's.
    let onlyTen = Finding.find(
      in: snapshot, thresholds: HealthThresholds(), includeIdle: false, processes: [10])
    #expect(onlyTen.map(\.pid) == [10, nil])
  }
}
