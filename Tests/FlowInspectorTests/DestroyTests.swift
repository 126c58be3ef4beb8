import FlowModel
import NetlinkTransport
import SockDiag
import Testing

@testable import FlowInspector

#if canImport(Glibc)
  import Glibc
#endif

/// A fake kernel that keeps what it was sent and answers each request with the datagrams given.
final class RecordingKernel: DatagramChannel {
  var sent: [[UInt8]] = []
  var answers: [[UInt8]]
  private var current: [UInt8] = []

  init(answers: [[UInt8]]) { self.answers = answers }

  func send(_ message: [UInt8]) throws(TransportError) { sent.append(message) }

  func receive() throws(TransportError) -> UnsafeRawBufferPointer {
    guard !answers.isEmpty else { throw TransportError(operation: "recv", errno: EAGAIN) }
    current = answers.removeFirst()
    return current.withUnsafeBytes { UnsafeRawBufferPointer($0) }
  }
}

/// NLMSG_ERROR (type 2) with `error` (0 = ACK, else -errno) for sequence `sequence`: the
/// nlmsgerr's int, then the header of the request it answers.
func errorMessage(sequence: UInt32, error: Int32) -> [UInt8] {
  var bytes: [UInt8] = []
  for value in [UInt32(36)] { withUnsafeBytes(of: value) { bytes += $0 } }
  bytes += [2, 0, 0, 1]  // NLMSG_ERROR, NLM_F_CAPPED (0x100)
  withUnsafeBytes(of: sequence) { bytes += $0 }
  bytes += [0, 0, 0, 0]
  withUnsafeBytes(of: error) { bytes += $0 }
  bytes += [72, 0, 0, 0, 21, 0, 5, 0] + [UInt8](repeating: 0, count: 8)
  return bytes
}

@Suite("SOCK_DESTROY through a source")
struct DestroyTests {
  let flow: Flow = {
    var flow = Flow(
      proto: .tcp, family: .inet, state: 1, socketType: 1,
      local: .ip(.v4(0x7f00_0001), port: 40000), remote: .ip(.v4(0x7f00_0001), port: 5432), inode: 7, netns: 0)
    flow.cookie = 0x1234
    return flow
  }()

  @Test func theRequestNamesTheFlowAndTheAnswerIsItsErrno() throws {
    // A late answer of another exchange comes first: it is not ours.
    let kernel = RecordingKernel(answers: [
      errorMessage(sequence: 1, error: -EINVAL), errorMessage(sequence: 2, error: -ENOENT),
    ])
    let source = KernelSource(channel: kernel)
    let id = try #require(InetSocketID(flow))
    #expect(try source.destroy(id) == ENOENT)
    #expect(kernel.sent == [SockDiagRequest.encodeDestroy(id, sequence: 2)])
    kernel.answers = [errorMessage(sequence: 3, error: 0)]
    #expect(try source.destroy(id) == 0)
  }

  @Test func theFlowsIdIsTheDumpsId() throws {
    let id = try #require(InetSocketID(flow))
    #expect(id.family == 2 && id.proto == .tcp && id.sourcePort == 40000 && id.destinationPort == 5432)
    #expect(id.sourceAddress == InetAddressBytes(bytes: [127, 0, 0, 1]))
    #expect(id.cookie == 0x1234)
    var unix = flow
    unix.proto = .unix
    unix.family = .unix
    #expect(InetSocketID(unix) == nil)
    var sctp = flow
    sctp.proto = .sctp
    #expect(InetSocketID(sctp) == nil)
  }

  @Test func aReplayCannotClose() throws {
    let inspector = FlowInspector(source: try ReplaySource(bytes: RecordFile.magic))
    #expect(inspector.destroy(flow) == .unreachable("not read from the kernel"))
    var other = flow
    other.netns = 99
    #expect(inspector.destroy(other) == .unreachable("its network namespace was not read"))
  }
}
