import FlowModel
import Testing

/// The rules of issue 23 on hand-made flows and counters, each next to its near miss.
struct IncidentRuleTests {
  static let client = IPAddress.v4(0x0a00_0001)
  static let database = IPAddress.v4(0x0a00_0002)
  let defaults = HealthThresholds()

  func tcp(
    _ state: SocketState, localPort: UInt16 = 40000, remote: Endpoint = .ip(database, port: 5432),
    sendQ: UInt32 = 0, netns: UInt64 = 1, owner: Int32? = 10, details: TCPDetails? = TCPDetails(peerWindow: 65536)
  ) -> Flow {
    var flow = Flow(
      proto: .tcp, family: .inet, state: state.rawValue, socketType: 1,
      local: .ip(Self.client, port: localPort), remote: remote, inode: UInt64(localPort), netns: netns)
    flow.sendQueue = sendQ
    flow.tcp = details
    if let owner { flow.owners = [FlowOwner(pid: owner, fd: 3)] }
    return flow
  }

  func snapshot(
    _ flows: [Flow], time: Double = 100, counters: [UInt64: NamespaceCounters] = [:],
    host: HostCounters? = nil
  ) -> Snapshot {
    var process = OwningProcess(pid: 10, command: Array("app".utf8))
    process.netns = 1
    var snapshot = Snapshot(time: time, host: "h", flows: flows, processes: [10: process], warnings: [])
    snapshot.namespaceCounters = counters
    snapshot.hostCounters = host
    return snapshot
  }

  // The kernel's answer for a socket that never received anything: the uptime less five minutes.
  static let never: UInt32 = 1_742_000

  @Test func synSentIsNeverStalledWhateverItsStampsSay() {
    let young = tcp(
      .synSent, sendQ: 1,
      details: TCPDetails(
        retransmits: 0, lastDataSentMs: Self.never, lastDataReceivedMs: Self.never,
        lastAckReceivedMs: Self.never, peerWindow: 0))
    #expect(young.health(defaults).isEmpty)
    #expect(young.millisecondsSinceLastAck == nil)
    #expect(young.millisecondsSinceLastSend == nil)
    #expect(young.millisecondsSinceLastReceive == nil)
    // Established, the same values are real durations.
    let old = tcp(
      .established, sendQ: 1,
      details: TCPDetails(lastDataSentMs: 6000, lastAckReceivedMs: 6000, peerWindow: 65536))
    #expect(old.health(defaults) == [.stalled])
    #expect(old.millisecondsSinceLastAck == 6000)
    // A listener has no such times either.
    #expect(tcp(.listen).millisecondsSinceLastSend == nil)
  }

  @Test func synSentRetryingItsSYNIsUnreachableFromTheThreshold() {
    func syn(_ retries: UInt8, backoff: UInt8 = 0) -> Flow {
      tcp(
        .synSent, sendQ: 1, details: TCPDetails(retransmits: retries, backoff: backoff, lastAckReceivedMs: Self.never))
    }
    // One retry is a lost SYN: retransmitting, as on an established connection.
    #expect(syn(1).health(defaults) == [.retransmitting])
    #expect(syn(2).health(defaults) == [.unreachable])
    #expect(syn(0, backoff: 3).health(defaults) == [.unreachable])
    #expect(syn(6).synRetries == 6)
    var patient = defaults
    patient.unreachableSynRetries = 4
    #expect(syn(3).health(patient) == [.retransmitting])
    // Retransmitting established data is not unreachable.
    let lossy = tcp(.established, sendQ: 100, details: TCPDetails(retransmits: 3, peerWindow: 65536))
    #expect(!lossy.health(defaults).contains(.unreachable))
    #expect(lossy.synRetries == 0)

    let findings = Finding.find(
      in: snapshot([syn(3), syn(6), tcp(.established)]), thresholds: defaults, includeIdle: false)
    #expect(findings.map(\.flag) == [.unreachable])
    #expect(findings.first?.flowCount == 2)
    #expect(findings.first?.retries == 6)
  }

  @Test func flagNamesAreLookedUpInOnePlace() {
    #expect(HealthFlag(name: "ports-exhausted") == .portsExhausted)
    #expect(HealthFlag(name: "unreachable")?.scope == .flow)
    #expect(HealthFlag(name: "orphans")?.scope == .host)
    #expect(HealthFlag(name: "listen-drops")?.isSystemFlag == true)
    #expect(HealthFlag(name: "nonsense") == nil)
    // Declared, iterated and compared most serious first.
    #expect(HealthFlag.allCases == HealthFlag.allCases.sorted())
    #expect(
      Array([.retransmitting, .unreachable, .peerClosed] as HealthFlags) == [
        .peerClosed, .unreachable, .retransmitting,
      ])
    #expect(Set(HealthFlag.allCases.map(\.rawValue)).count == HealthFlag.allCases.count)
  }

  @Test func portsExhaustedCountsDistinctLocalPortsTowardsOneDestinationWithTimeWait() {
    let range = NamespaceCounters(localPortRange: 40000...40099)
    var flows = (0..<80).map { tcp(.established, localPort: 40000 + UInt16($0)) }
    flows += (80..<95).map { tcp(.timeWait, localPort: 40000 + UInt16($0), owner: nil, details: nil) }
    // Outside the range (a bound port) and towards another destination: not counted.
    flows.append(tcp(.established, localPort: 30000))
    flows += (0..<50).map { tcp(.established, localPort: 40000 + UInt16($0), remote: .ip(Self.database, port: 6379)) }
    let found = Finding.findSystem(in: snapshot(flows, counters: [1: range]), thresholds: defaults)
    #expect(found.map(\.flag) == [.portsExhausted])
    let finding = found[0]
    #expect(finding.portsInUse == 95)
    #expect(finding.timeWait == 15)
    #expect(finding.endpoints == [.ip(Self.database, port: 5432)])
    #expect(finding.netns == 1)
    #expect(finding.severity == .warning)
    // All taken: connect() fails now.
    let full = (0..<100).map { tcp(.established, localPort: 40000 + UInt16($0)) }
    #expect(
      Finding.findSystem(in: snapshot(full, counters: [1: range]), thresholds: defaults).first?.severity == .critical)
    // The same 95 over the default range: nothing. Without the range: nothing.
    let wide = NamespaceCounters(localPortRange: 32768...60999)
    let widened = flows.map { flow -> Flow in
      var flow = flow
      if case .ip(let a, let p) = flow.local, p >= 40000 { flow.local = .ip(a, port: p - 40000 + 32768) }
      return flow
    }
    #expect(Finding.findSystem(in: snapshot(widened, counters: [1: wide]), thresholds: defaults).isEmpty)
    #expect(Finding.findSystem(in: snapshot(flows), thresholds: defaults).isEmpty)
    // A named process that takes no part: nothing; one that does: the finding.
    #expect(
      Finding.findSystem(in: snapshot(flows, counters: [1: range]), thresholds: defaults, relevantTo: [99]).isEmpty)
    #expect(
      Finding.findSystem(in: snapshot(flows, counters: [1: range]), thresholds: defaults, relevantTo: [10]).count == 1)
    // Only TIME_WAIT left (short connections): the named processes of that namespace see it.
    let closed = (0..<95).map {
      tcp(.timeWait, localPort: 40000 + UInt16($0), owner: nil, details: nil)
    }
    let gone = snapshot(closed, counters: [1: range])
    #expect(Finding.findSystem(in: gone, thresholds: defaults, relevantTo: [10]).first?.timeWait == 95)
    #expect(Finding.findSystem(in: gone, thresholds: defaults, relevantTo: [99]).isEmpty)
    var strict = defaults
    strict.portsPercent = 96
    #expect(Finding.findSystem(in: snapshot(flows, counters: [1: range]), thresholds: strict).isEmpty)
  }

  @Test func orphansAreAHostFindingAgainstTheLimit() {
    let orphaned = (0..<3).map { tcp(.finWait1, localPort: 40000 + UInt16($0), sendQ: 100, owner: nil) }
    let closing = snapshot(orphaned, host: HostCounters(orphans: 70, maxOrphans: 128))
    let found = Finding.findSystem(in: closing, thresholds: defaults)
    #expect(found.map(\.flag) == [.orphans])
    #expect(found.first?.orphans == 70)
    #expect(found.first?.flowCount == 3)
    #expect(found.first?.endpoints == [.ip(Self.database, port: 5432)])
    #expect(
      Finding.findSystem(in: snapshot(orphaned, host: HostCounters(orphans: 63, maxOrphans: 128)), thresholds: defaults)
        .isEmpty)
    #expect(
      Finding.findSystem(in: snapshot(orphaned, host: HostCounters(orphans: 0, maxOrphans: 0)), thresholds: defaults)
        .isEmpty)
    // Their flow findings know them for orphans.
    let zero = orphaned.map { flow -> Flow in
      var flow = flow
      flow.tcp = TCPDetails(unacked: 1, peerWindow: 0)
      return flow
    }
    let flowFindings = Finding.find(in: snapshot(zero), thresholds: defaults, includeIdle: false)
    #expect(flowFindings.first?.flag == .zeroWindow)
    #expect(flowFindings.first?.orphanedFlows == 3)
    #expect(flowFindings.first?.flowCount == 3)
    // A process was named: orphans belong to none.
    #expect(Finding.findSystem(in: closing, thresholds: defaults, relevantTo: [10]).isEmpty)
    #expect(
      Finding.findSystem(
        in: snapshot(orphaned, host: HostCounters(orphans: 128, maxOrphans: 128)), thresholds: defaults
      ).first?.severity == .critical)
  }

  @Test func listenDropsGoToAFullListenerOrElseToItsNamespace() {
    var full = tcp(.listen, localPort: 8080, remote: .ip(.v4(0), port: 0))
    full.receiveQueue = 9
    full.sendQueue = 8
    let before = snapshot([full], time: 100, counters: [1: NamespaceCounters(listenOverflows: 10, listenDrops: 10)])
    let after = snapshot([full], time: 102, counters: [1: NamespaceCounters(listenOverflows: 72, listenDrops: 72)])
    let findings = Finding.find(in: after, thresholds: defaults, includeIdle: false, earlier: before)
    #expect(findings.map(\.flag) == [.recvBacklog])
    #expect(findings.first?.dropped == 62)
    #expect(findings.first?.dropRate == 31)
    // The listener's own finding says it: no namespace finding besides.
    #expect(Finding.findSystem(in: after, thresholds: defaults, earlier: before).isEmpty)
    // The queue drained by the second sample: the namespace says it.
    var drained = full
    drained.receiveQueue = 0
    let later = snapshot([drained], time: 102, counters: [1: NamespaceCounters(listenOverflows: 72, listenDrops: 72)])
    let system = Finding.findSystem(in: later, thresholds: defaults, earlier: before)
    #expect(system.map(\.flag) == [.listenDrops])
    #expect(system.first?.dropped == 62)
    // Nothing dropped, or one sample only: nothing.
    #expect(Finding.findSystem(in: before, thresholds: defaults, earlier: before).isEmpty)
    #expect(Finding.findSystem(in: later, thresholds: defaults).isEmpty)
    #expect(Finding.find(in: after, thresholds: defaults, includeIdle: false).first?.dropped == nil)
  }
}
