import FlowModel
import SockDiag
import Testing

@testable import FlowRecording

/// A frame with one of everything: a namespace, datagrams of two queries, a process with a
/// hostile name and no user, owners, every kind of warning, counters.
func sampleFrame() -> RecordedFrame {
  var frame = RecordedFrame(time: 1_764_680_000.125, host: "web-1")
  frame.namespaces = [
    NetworkNamespace(inode: 4_026_531_840, isOwn: true),
    NetworkNamespace(inode: 4_026_532_001, name: "blue", container: "docker:0123456789ab"),
  ]
  frame.datagrams = [
    RecordedDatagram(
      netns: 4_026_531_840, query: .inet(family: AddressFamily.unspecified, proto: .tcp), bytes: [1, 2, 3]),
    RecordedDatagram(netns: 4_026_532_001, query: .unix, bytes: []),
  ]
  var process = OwningProcess(pid: 4242, command: Array("evil\u{1b}[2J".utf8) + [0xff])
  process.ppid = 1
  process.uid = 33
  process.startTimeTicks = 123_456
  process.netns = 4_026_531_840
  process.descriptorCount = 13
  process.socketCount = 7
  process.fdLimitSoft = 1024
  process.commandLine = [Array("python3".utf8), [0xfe, 0x00, 0x41]]
  process.unit = "web.service"
  process.executable = Array("/usr/bin/python3.11".utf8)
  process.container = "k8s:0b7a9c1e-3f4d-4a5b-9c8d-1e2f3a4b5c6d/cri-containerd:0123456789ab"
  process.containerName = "shop/api-7d9f8b6c5-x2x9q/app"
  var denied = OwningProcess(pid: 1, command: Array("init".utf8))
  denied.descriptorsReadable = false
  denied.user = "root"
  frame.processes = [denied, process]
  frame.owners = [
    RecordedOwner(netns: 4_026_531_840, inode: 99, owner: FlowOwner(pid: 4242, fd: 3)),
    RecordedOwner(netns: 4_026_531_840, inode: 99, owner: FlowOwner(pid: 4243, fd: 5)),
  ]
  frame.warnings = [
    .familyUnsupported("sctp"), .dumpFailed("raw", detail: "Invalid argument"),
    .dumpInterrupted("tcp", attempts: 3), .processesDenied(count: 7, samplePIDs: [1, 2]),
    .netnsUnreadable("blue", detail: "EACCES"), .namespacesSkipped(count: 2, reason: "needs root"),
    .other("something else"),
  ]
  frame.namespaceCounters = [
    4_026_531_840: NamespaceCounters(localPortRange: 32768...60999, listenOverflows: 5, listenDrops: nil)
  ]
  frame.hostCounters = HostCounters(orphans: 3, maxOrphans: 131_072)
  return frame
}

func sampleFile(frames: Int = 2) -> [UInt8] {
  RecordingWriter.header(RecordingHeader(host: "web-1", kernel: "6.18.44", writer: "flowscope 0.1.0"))
    + (0..<frames).flatMap { _ in RecordingWriter.frame(sampleFrame()) }
}

@Suite("Recording format")
struct FormatTests {
  @Test func aWrittenRecordingReadsBackWhole() throws {
    let recording = try RecordingReader.read(sampleFile())
    #expect(recording.header.host == "web-1")
    #expect(recording.header.kernel == "6.18.44")
    #expect(recording.header.writer == "flowscope 0.1.0")
    #expect(recording.header.major == RecordingFormat.major)
    #expect(recording.frames.count == 2)
    let frame = try #require(recording.frames.first)
    let expected = sampleFrame()
    #expect(frame.time == expected.time)
    #expect(frame.host == expected.host)
    #expect(frame.namespaces == expected.namespaces)
    #expect(frame.datagrams == expected.datagrams)
    #expect(frame.processes == expected.processes)
    #expect(frame.owners == expected.owners)
    #expect(frame.warnings == expected.warnings)
    #expect(frame.namespaceCounters == expected.namespaceCounters)
    #expect(frame.hostCounters == expected.hostCounters)
  }

  /// The bytes of a header and an empty frame, one field per line.
  @Test func theLayoutIsAsDocumented() {
    let header = RecordingWriter.header(RecordingHeader(host: "h", kernel: "k", writer: "w"))
    #expect(
      header == Array("FSREC2\n\u{0}".utf8)  // magic
        + [0x01]  // kind: header
        + [19, 0, 0, 0]  // payload length, little-endian
        + [1, 0]  // major 1
        + [2, 0]  // minor 2
        + [1, 0, 0, 0, 0x68]  // host: length 1, "h"
        + [1, 0, 0, 0, 0x6b]  // kernel: "k"
        + [1, 0, 0, 0, 0x77])  // writer: "w"
    let frame = RecordingWriter.frame(RecordedFrame(time: 0, host: ""))
    #expect(
      frame == [0x02] + [12, 0, 0, 0]  // frame begin, 12 bytes
        + [0, 0, 0, 0, 0, 0, 0, 0]  // time 0.0 (f64)
        + [0, 0, 0, 0]  // host: empty
        + [0x06] + [4, 0, 0, 0] + [0, 0, 0, 0]  // owners: none
        + [0x08] + [0, 0, 0, 0])  // frame end
  }

  @Test func everyTruncationIsAnErrorWithAnOffsetInsideTheFile() throws {
    let file = sampleFile(frames: 1)
    let headerOnly = sampleFile(frames: 0).count
    // Cut right after the header, the file is a recording of no snapshot yet: valid.
    #expect(try RecordingReader.read(Array(file.prefix(headerOnly))).frames.isEmpty)
    for length in 0..<file.count where length != headerOnly {
      do {
        _ = try RecordingReader.read(Array(file.prefix(length)))
        Issue.record("a file cut at \(length) of \(file.count) bytes was read")
      } catch {
        #expect(error.offset >= 0 && error.offset <= length, "cut at \(length): \(error)")
      }
    }
  }

  @Test func aRecordANewerFlowscopeRequiresIsRefusedAndAnOptionalOneSkipped() throws {
    var file = sampleFile(frames: 1)
    let optional: [UInt8] = [0x9f, 3, 0, 0, 0, 1, 2, 3]
    let withOptional = try RecordingReader.read(file + optional)
    #expect(withOptional.frames.count == 1)
    do {
      _ = try RecordingReader.read(file + [0x7e, 0, 0, 0, 0])
      Issue.record("an unknown required record was accepted")
    } catch {
      #expect(error.message.contains("made by a newer flowscope"))
      #expect(error.offset == file.count)
    }
    // A major version above this one's.
    file[8 + 5] = UInt8(RecordingFormat.major + 1)
    #expect(throws: RecordingError.self) { try RecordingReader.read(file) }
    do {
      _ = try RecordingReader.read(file)
    } catch {
      #expect(error.description.contains("made by a newer flowscope"))
    }
  }

  @Test func otherFilesAreNotRecordings() {
    for bytes in [[], Array("FSRECv1\n".utf8), Array("hello".utf8)] as [[UInt8]] {
      #expect(throws: RecordingError.self) { try RecordingReader.read(bytes) }
    }
  }
}

@Suite("ss raw dumps")
struct RawDumpTests {
  /// Two SOCK_DIAG_BY_FAMILY messages (an inet one and a UNIX one, payloads cut to their
  /// first bytes) and NLMSG_DONE.
  static let stream: [UInt8] =
    [20, 0, 0, 0, 20, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0]  // nlmsghdr: len 20, SOCK_DIAG_BY_FAMILY, MULTI
    + [2, 1, 0, 0]  // family AF_INET, state, timer, retrans
    + [20, 0, 0, 0, 20, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    + [1, 1, 0, 0]  // family AF_UNIX
    + [20, 0, 0, 0, 3, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0]  // NLMSG_DONE
    + [0, 0, 0, 0]

  @Test func messagesAreSplitAndTheirFamilyPicksTheQuery() throws {
    let frame = try Self.stream.withUnsafeBytes { try RawDump.frame($0, inetProtocol: .udp, time: 1, host: "h") }
    #expect(frame.datagrams.map(\.query) == [.inet(family: AddressFamily.inet, proto: .udp), .unix])
    #expect(frame.datagrams.map(\.bytes.count) == [20, 20])
    #expect(frame.warnings.count == 1)
  }

  @Test func aCutMessageNamesItsOffset() {
    for cut in [3, 20 + 10, 40 + 19] {
      do {
        _ = try Array(Self.stream.prefix(cut)).withUnsafeBytes { raw throws(RecordingError) in
          try RawDump.frame(raw, inetProtocol: .tcp, time: 1, host: "h")
        }
        Issue.record("cut at \(cut) was read")
      } catch let error as RecordingError {
        #expect(error.offset == cut / 20 * 20, "\(cut): \(error)")
      } catch {
        Issue.record("\(error)")
      }
    }
  }
}
