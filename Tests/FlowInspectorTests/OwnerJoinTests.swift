import FlowModel
import ProcFS
import Testing

@testable import FlowInspector

@Suite("Owner join")
struct OwnerJoinTests {
  private func process(_ pid: Int32, _ sockets: [(fd: Int32, inode: UInt64)]) -> ProcessRecord {
    ProcessRecord(pid: pid, sockets: sockets.map { SocketDescriptor(fd: $0.fd, inode: $0.inode) })
  }

  @Test func ownersComeInScanOrder() {
    // Inode 7 is shared by three descriptors of two processes (a fork, a dup).
    let scan = ProcScanResult(processes: [
      process(10, [(3, 7), (4, 8)]),
      process(11, [(5, 7), (9, 7)]),
    ])
    let join = OwnerJoin(scan)
    #expect(
      join.owners(of: 7)
        == [FlowOwner(pid: 10, fd: 3), FlowOwner(pid: 11, fd: 5), FlowOwner(pid: 11, fd: 9)])
    #expect(join.owners(of: 8) == [FlowOwner(pid: 10, fd: 4)])
    #expect(join.owners(of: 9) == nil)
    #expect(join.owners(of: 0) == nil)
  }

  /// 20,000 flows get their owners on two threads, half each; flows nobody holds keep none.
  @Test func largeListingsAreJoinedOnTwoThreads() {
    var sockets: [(fd: Int32, inode: UInt64)] = []
    var flows: [Flow] = []
    for i in 0..<20_000 {
      let inode = UInt64(500_000 + i)
      if i % 3 != 0 { sockets.append((Int32(i), inode)) }
      flows.append(
        Flow(
          proto: .tcp, family: .inet, state: 1, socketType: 1, local: .none, remote: .none,
          inode: inode, netns: 1))
    }
    OwnerJoin(ProcScanResult(processes: [process(77, sockets)])).attach(to: &flows)
    for (i, flow) in flows.enumerated() {
      let expected: FlowOwners = i % 3 == 0 ? [] : [FlowOwner(pid: 77, fd: Int32(i))]
      guard flow.owners == expected else {
        Issue.record("flow \(i): \(Array(flow.owners))")
        return
      }
    }
  }

  @Test func everyInodeOfAFullTableIsFound() {
    // Sequential inodes, as the kernel hands them out, and a stride of 2^16.
    var sockets: [(fd: Int32, inode: UInt64)] = []
    for i in 0..<5000 { sockets.append((Int32(i), UInt64(1_000_000 + i))) }
    for i in 0..<5000 { sockets.append((Int32(5000 + i), UInt64(i + 1) << 16)) }
    let join = OwnerJoin(ProcScanResult(processes: [process(42, sockets)]))
    for socket in sockets {
      #expect(join.owners(of: socket.inode) == [FlowOwner(pid: 42, fd: socket.fd)])
    }
    #expect(join.owners(of: 999_999) == nil)
    #expect(join.owners(of: 6000 << 16) == nil)
    // No socket inode is wider than 32 bits: such a descriptor is not joined, nor confused with
    // the inode of its low half.
    let wide = OwnerJoin(ProcScanResult(processes: [process(7, [(3, 1 << 32 | 5)])]))
    #expect(wide.owners(of: 1 << 32 | 5) == nil)
    #expect(wide.owners(of: 5) == nil)
  }
}

@Suite("Sockets no dump returned")
struct UnmatchedSocketTests {
  @Test func theJoinReturnsTheSocketsNoFlowClaimedWithAllTheirOwners() {
    let scan = ProcScanResult(processes: [
      ProcessRecord(pid: 10, sockets: [SocketDescriptor(fd: 3, inode: 7), SocketDescriptor(fd: 4, inode: 8)]),
      ProcessRecord(pid: 11, sockets: [SocketDescriptor(fd: 5, inode: 9), SocketDescriptor(fd: 6, inode: 8)]),
    ])
    var flows = [
      Flow(proto: .tcp, family: .inet, state: 1, socketType: 1, local: .none, remote: .none, inode: 7, netns: 1)
    ]
    let unmatched = OwnerJoin(scan).attach(to: &flows, unmatched: true)
    #expect(flows[0].owners == [FlowOwner(pid: 10, fd: 3)])
    #expect(unmatched.map(\.inode) == [8, 9])
    #expect(unmatched[0].owners == [FlowOwner(pid: 10, fd: 4), FlowOwner(pid: 11, fd: 6)])
    #expect(unmatched[1].owners == [FlowOwner(pid: 11, fd: 5)])
    // Not asked: nothing looked for.
    var again = flows
    #expect(OwnerJoin(scan).attach(to: &again).isEmpty)
  }

  @Test func largeJoinsFindThemOnTwoThreads() {
    var sockets: [SocketDescriptor] = []
    var flows: [Flow] = []
    for i in 0..<20_000 {
      sockets.append(SocketDescriptor(fd: Int32(i), inode: UInt64(100_000 + i)))
      if i % 100 != 0 {
        flows.append(
          Flow(
            proto: .udp, family: .inet, state: 7, socketType: 2, local: .none, remote: .none,
            inode: UInt64(100_000 + i), netns: 1))
      }
    }
    let unmatched = OwnerJoin(ProcScanResult(processes: [ProcessRecord(pid: 5, sockets: sockets)]))
      .attach(to: &flows, unmatched: true)
    #expect(unmatched.map(\.inode) == stride(from: 0, to: 20_000, by: 100).map { UInt64(100_000 + $0) })
    #expect(flows.allSatisfy { $0.owners.count == 1 })
  }

  @Test func onlyWholeDumpsSayAMissingSocketIsInNoTable() {
    var coverage = DumpCoverage()
    coverage.noteRead(1)
    coverage.record(.inet(family: 0, proto: .tcp), netns: 1, states: 0xffff_ffff, filtered: false)
    coverage.record(.inet(family: 2, proto: .udp), netns: 1, states: 0xffff_ffff, filtered: true)
    coverage.record(.inet(family: 10, proto: .udp), netns: 1, states: 1 << 1, filtered: false)
    #expect(coverage.coversWhole(netns: 1, proto: .tcp, family: .inet))
    #expect(coverage.coversWhole(netns: 1, proto: .tcp, family: .inet6))
    #expect(!coverage.coversWhole(netns: 2, proto: .tcp, family: .inet))
    #expect(!coverage.coversWhole(netns: 1, proto: .udp, family: .inet))
    #expect(coverage.filtered(netns: 1, proto: .udp, family: .inet))
    #expect(coverage.filtered(netns: 1, proto: .udp, family: .inet6))
    #expect(!coverage.filtered(netns: 1, proto: .raw, family: .inet))
    #expect(coverage.namespaces == [1])
  }
}
