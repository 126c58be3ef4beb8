import Testing

@testable import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

/// The cheap look at processes `watch` takes between full scans.
@Suite("Process probes")
struct ProbeTests {
  @Test func aProbeOfThisProcessMatchesItsScan() throws {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let probe = try #require(ProcScanner.probe(root: "/proc", pid: getpid(), buffer: &buffer))
    let scanned = try #require(
      ProcScanner(options: ProcScanOptions(pids: [getpid()])).scan().processes.first { $0.pid == getpid() })
    #expect(probe.startTimeTicks == scanned.startTimeTicks)
    #expect(probe.command == scanned.command)
    // Linux 6.2+ gives the descriptor count as the fd directory's size (other tests open and
    // close descriptors meanwhile: the count only has to be there).
    #expect(probe.descriptorSize > 2)
    #expect(ProcScanner.probe(root: "/proc", pid: Int32.max, buffer: &buffer) == nil)
    #expect(ProcScanner.probe(root: "/nonexistent", pid: getpid(), buffer: &buffer) == nil)
  }

  @Test func thePidListIsSortedAndHoldsThisProcess() {
    let pids = ProcScanner.listPIDs(root: "/proc")
    #expect(pids.contains(getpid()))
    #expect(pids == pids.sorted())
    #expect(ProcScanner.listPIDs(root: "/nonexistent").isEmpty)
  }
}
