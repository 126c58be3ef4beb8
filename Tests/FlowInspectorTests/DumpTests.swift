import NetlinkTransport
import SockDiag
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Netlink messages built by hand, as the kernel frames them.
enum Frames {
  static func header(length: Int, type: UInt16, flags: UInt16, sequence: UInt32 = 0) -> [UInt8] {
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt32(length).littleEndian) { bytes += $0 }  // nlmsg_len
    withUnsafeBytes(of: type.littleEndian) { bytes += $0 }  // nlmsg_type
    withUnsafeBytes(of: flags.littleEndian) { bytes += $0 }  // nlmsg_flags
    withUnsafeBytes(of: sequence.littleEndian) { bytes += $0 }  // nlmsg_seq
    bytes += [0, 0, 0, 0]  // nlmsg_pid
    return bytes
  }

  /// A UNIX record: unix_diag_msg with only the inode set.
  static func unixRecord(inode: UInt32, flags: UInt16 = NetlinkConstants.flagMulti) -> [UInt8] {
    var body: [UInt8] = [1, 1, 1, 0]  // udiag_family AF_UNIX, udiag_type STREAM, udiag_state ESTABLISHED, pad
    withUnsafeBytes(of: inode.littleEndian) { body += $0 }  // udiag_ino
    body += [UInt8](repeating: 0, count: 8)  // udiag_cookie
    return header(length: 16 + body.count, type: NetlinkConstants.sockDiagByFamily, flags: flags) + body
  }

  static func done(flags: UInt16 = NetlinkConstants.flagMulti) -> [UInt8] {
    header(length: 20, type: NetlinkConstants.done, flags: flags) + [0, 0, 0, 0]
  }
}

/// A fake kernel at the message level: each dump request is answered by the next script entry.
final class ScriptedKernel: DatagramChannel {
  var replies: [[[UInt8]]]
  var pending: [[UInt8]] = []
  var requests = 0
  private var current: [UInt8] = []

  init(replies: [[[UInt8]]]) { self.replies = replies }

  func send(_ message: [UInt8]) throws(TransportError) {
    requests += 1
    // Replies queue in the socket behind those not read yet, as the kernel's do.
    pending += replies.isEmpty ? [] : replies.removeFirst()
  }

  func receive() throws(TransportError) -> UnsafeRawBufferPointer {
    guard !pending.isEmpty else { throw TransportError(operation: "recv", errno: EAGAIN) }
    current = pending.removeFirst()
    return current.withUnsafeBytes { UnsafeRawBufferPointer($0) }
  }
}

struct DumpTests {
  @Test func interruptedDumpIsRetriedAndTheFirstAttemptDropped() {
    let interrupted = NetlinkConstants.flagMulti | NetlinkConstants.flagDumpInterrupted
    let kernel = ScriptedKernel(replies: [
      [Frames.unixRecord(inode: 1, flags: interrupted) + Frames.done(flags: interrupted)],
      [Frames.unixRecord(inode: 2), Frames.unixRecord(inode: 3) + Frames.done()],
    ])
    let source = KernelSource(channel: kernel)
    var inodes: [UInt32] = []
    let result = source.dump(
      .unix, states: ~0, bytecode: nil, restart: { inodes.removeAll() },
      record: { if case .unix(let socket) = $0 { inodes.append(socket.inode) } })
    #expect(result.status == .complete)
    #expect(kernel.requests == 2)
    #expect(inodes == [2, 3])
  }

  @Test func persistentInterruptionIsReportedWithTheLastRecords() {
    let interrupted = NetlinkConstants.flagMulti | NetlinkConstants.flagDumpInterrupted
    let attempt = [Frames.unixRecord(inode: 7, flags: interrupted) + Frames.done(flags: interrupted)]
    let kernel = ScriptedKernel(replies: [attempt, attempt, attempt])
    let source = KernelSource(channel: kernel)
    var inodes: [UInt32] = []
    let result = source.dump(
      .unix, states: ~0, bytecode: nil, restart: { inodes.removeAll() },
      record: { if case .unix(let socket) = $0 { inodes.append(socket.inode) } })
    #expect(result.status == .interrupted(attempts: 3))
    #expect(kernel.requests == 3)
    #expect(inodes == [7])
  }

  @Test func aGarbledRecordIsCountedAndTheOthersKept() {
    var garbled = Frames.unixRecord(inode: 5)
    garbled.removeLast(8)  // unix_diag_msg cut short...
    garbled[0] = UInt8(garbled.count)  // ...with a frame length that says so
    let kernel = ScriptedKernel(replies: [
      [Frames.unixRecord(inode: 4) + garbled + Frames.unixRecord(inode: 6), Frames.done()]
    ])
    var inodes: [UInt32] = []
    let result = KernelSource(channel: kernel).dump(
      .unix, states: ~0, bytecode: nil, restart: {},
      record: { if case .unix(let socket) = $0 { inodes.append(socket.inode) } })
    #expect(inodes == [4, 6])
    #expect(result.status == .complete)
    #expect(result.decodeErrors == 1)
    #expect(result.firstDecodeError != nil)
  }

  /// A request sent ahead is the one the dump of the same question reads: not sent twice.
  @Test func aRequestSentAheadIsReadByTheDumpThatAsksIt() throws {
    let kernel = ScriptedKernel(replies: [[Frames.unixRecord(inode: 2), Frames.unixRecord(inode: 3) + Frames.done()]])
    let source = KernelSource(channel: kernel)
    try source.sendAhead(.unix, states: ~0, bytecode: nil)
    #expect(kernel.requests == 1)
    var inodes: [UInt32] = []
    let result = source.dump(
      .unix, states: ~0, bytecode: nil, restart: {},
      record: { if case .unix(let socket) = $0 { inodes.append(socket.inode) } })
    #expect(result.status == .complete)
    #expect(kernel.requests == 1)
    #expect(inodes == [2, 3])
  }

  /// A dump that asks something else first reads the replies sent ahead to their end and drops
  /// them: none of their records reach it.
  @Test func aRequestSentAheadAndNotAskedIsDropped() throws {
    let kernel = ScriptedKernel(replies: [
      [Frames.unixRecord(inode: 1), Frames.unixRecord(inode: 4) + Frames.done()],
      [Frames.unixRecord(inode: 2) + Frames.done()],
    ])
    let source = KernelSource(channel: kernel)
    try source.sendAhead(.unix, states: ~0, bytecode: nil)
    var inodes: [UInt32] = []
    let result = source.dump(
      .unix, states: 1 << 1, bytecode: nil, restart: {},
      record: { if case .unix(let socket) = $0 { inodes.append(socket.inode) } })
    #expect(result.status == .complete)
    #expect(kernel.requests == 2)
    #expect(inodes == [2])
  }

  @Test func aFailedReceiveKeepsWhatWasRead() {
    // The datagram ends without NLMSG_DONE and the socket then fails.
    let kernel = ScriptedKernel(replies: [[Frames.unixRecord(inode: 9)]])
    var inodes: [UInt32] = []
    let result = KernelSource(channel: kernel).dump(
      .unix, states: ~0, bytecode: nil, restart: {},
      record: { if case .unix(let socket) = $0 { inodes.append(socket.inode) } })
    #expect(inodes == [9])
    #expect(result.status == .failed("recv: Resource temporarily unavailable"))
  }
}
