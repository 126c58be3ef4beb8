import Testing

@testable import BPFOwners
@testable import ProcFS

#if canImport(Glibc)
  import Glibc
#endif

/// One record as `socket_owners.bpf.c` writes it: pid, fd, socket inode (0: not a socket).
private func record(_ pid: UInt32, _ fd: UInt32, _ inode: UInt64) -> [UInt8] {
  withUnsafeBytes(of: pid) { Array($0) } + withUnsafeBytes(of: fd) { Array($0) }
    + withUnsafeBytes(of: inode) { Array($0) }
}

@Suite struct DescriptorRecordsTests {
  let pass: [UInt8] =
    record(10, 0, 0) + record(10, 1, 0) + record(10, 3, 555) + record(10, 4, 556)
    + record(11, 0, 0) + record(11, 7, 555)  // 555 is shared by both
    + record(12, 2, 0)

  func decode(_ chunks: [[UInt8]]) -> (KnownDescriptors, Int) {
    var records = DescriptorRecords()
    for chunk in chunks { chunk.withUnsafeBytes { records.add($0) } }
    return records.finish()
  }

  @Test func countsEveryDescriptorAndKeepsTheSockets() {
    let (known, trailing) = decode([pass])
    #expect(trailing == 0)
    #expect(known.processes.count == 3)
    #expect(
      known.processes[10]
        == KnownDescriptors.Process(
          count: 4, sockets: [SocketDescriptor(fd: 3, inode: 555), SocketDescriptor(fd: 4, inode: 556)]))
    #expect(known.processes[11] == KnownDescriptors.Process(count: 2, sockets: [SocketDescriptor(fd: 7, inode: 555)]))
    #expect(known.processes[12] == KnownDescriptors.Process(count: 1, sockets: []))
  }

  /// A read may end anywhere: records cut between chunks decode the same.
  @Test(arguments: [1, 5, 15, 16, 17, 33, 100])
  func chunksCutAnywhereDecodeTheSame(size: Int) {
    let chunks = stride(from: 0, to: pass.count, by: size).map { Array(pass[$0..<min($0 + size, pass.count)]) }
    let (known, trailing) = decode(chunks)
    let (whole, _) = decode([pass])
    #expect(trailing == 0)
    #expect(known.processes == whole.processes)
  }

  @Test func aCutLastRecordIsReportedNotDecoded() {
    let (known, trailing) = decode([pass + record(13, 5, 777).prefix(9)])
    #expect(trailing == 9)
    #expect(known.processes[13] == nil)
    #expect(known.processes.count == 3)
  }

  /// A process met twice (not expected from the kernel) is merged, its sockets in fd order.
  @Test func aProcessMetTwiceIsMerged() {
    let (known, _) = decode([record(20, 9, 900) + record(21, 1, 0) + record(20, 2, 901)])
    #expect(
      known.processes[20]
        == KnownDescriptors.Process(
          count: 2, sockets: [SocketDescriptor(fd: 2, inode: 901), SocketDescriptor(fd: 9, inode: 900)]))
  }

  @Test func emptyPassHasNoProcess() {
    let (known, trailing) = decode([])
    #expect(known.processes.isEmpty && trailing == 0)
  }

  @Test func hexDecoding() {
    #expect(SocketOwnerIterator.decodeHex("7f454c46") == [0x7f, 0x45, 0x4c, 0x46])
    #expect(SocketOwnerIterator.decodeHex("0aFFx1") == [0x0a, 0xff])
  }

  /// The program built into the binary is a BPF ELF object (e_machine 247, EM_BPF).
  @Test func theBuiltObjectIsABPFObject() {
    let bytes = SocketOwnerIterator.objectBytes()
    #expect(bytes.count > 1000)
    #expect(Array(bytes.prefix(4)) == [0x7f, 0x45, 0x4c, 0x46])
    #expect(bytes.count > 19 && UInt16(bytes[18]) | UInt16(bytes[19]) << 8 == 247)
  }
}

@Suite struct BPFErrorTests {
  /// What `--explain` and `--owners bpf` say when the kernel refuses the program.
  @Test func namesTheCallAndTheError() {
    #expect(
      BPFError(operation: "bpf_object__load", errno: EPERM).description
        == "bpf_object__load: Operation not permitted (EPERM)")
    #expect(BPFError(operation: "read", errno: EIO).description == "read: Input/output error")
  }

  /// Where the iterator cannot serve, said before loading it.
  @Test func obstaclesAreSaidBeforeLoading() {
    #expect(SocketOwnerIterator.obstacle(procRoot: "/tmp/fake-proc") == "--proc-root is not /proc")
    if geteuid() != 0 { #expect(SocketOwnerIterator.obstacle(procRoot: "/proc") == "not root") }
  }
}
