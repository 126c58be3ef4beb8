import FlowModel
import SockDiag

/// Decodes a recording. Pure; every error names the byte offset where the file went wrong.
public enum RecordingReader {
  /// Whether `bytes` start like a recording of this format (any version).
  public static func isRecording(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.count >= 6 && bytes.prefix(6).elementsEqual(RecordingFormat.magic.prefix(6))
  }

  public static func read(_ bytes: [UInt8]) throws(RecordingError) -> Recording {
    var result: Result<Recording, RecordingError> = .failure(RecordingError("empty", at: 0))
    bytes.withUnsafeBytes { raw in
      do throws(RecordingError) {
        result = .success(try read(raw))
      } catch {
        result = .failure(error)
      }
    }
    return try result.get()
  }

  public static func read(_ bytes: UnsafeRawBufferPointer) throws(RecordingError) -> Recording {
    let magic = RecordingFormat.magic
    guard bytes.count >= magic.count, bytes.prefix(magic.count).elementsEqual(magic) else {
      throw RecordingError("not a flowscope recording (no FSREC2 magic)", at: 0)
    }
    var offset = magic.count
    var header: RecordingHeader? = nil
    var frames: [RecordedFrame] = []
    var frame: RecordedFrame? = nil
    while offset < bytes.count {
      let start = offset
      guard bytes.count - offset >= 5 else {
        throw RecordingError("truncated record header: 5 bytes needed, \(bytes.count - offset) left", at: offset)
      }
      let kind = bytes[offset]
      let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 1, as: UInt32.self)))
      guard length <= bytes.count - offset - 5 else {
        throw RecordingError(
          "truncated record of kind \(kind): \(length) bytes announced, \(bytes.count - offset - 5) left", at: offset)
      }
      var payload = ByteReader(
        UnsafeRawBufferPointer(rebasing: bytes[(offset + 5)..<(offset + 5 + length)]), base: offset + 5)
      offset += 5 + length
      guard let known = RecordingFormat.Kind(rawValue: kind) else {
        if RecordingFormat.isOptional(kind) { continue }
        throw RecordingError(
          "record of kind \(kind), which this flowscope does not know: the file was made by a newer flowscope"
            + (header.map { " (\($0.writer))" } ?? ""), at: start)
      }
      if known == .header {
        guard header == nil else { throw RecordingError("a second header", at: start) }
        let major = try payload.u16("header")
        let minor = try payload.u16("header")
        guard major <= RecordingFormat.major else {
          throw RecordingError(
            "format version \(major).\(minor): made by a newer flowscope; this one reads version \(RecordingFormat.major)",
            at: start)
        }
        var read = RecordingHeader(
          host: try payload.text("host"), kernel: try payload.text("kernel"), writer: try payload.text("writer"))
        read.major = major
        read.minor = minor
        header = read
        continue
      }
      guard header != nil else { throw RecordingError("a record before the header", at: start) }
      if known == .frameBegin {
        guard frame == nil else { throw RecordingError("a frame begins inside another", at: start) }
        frame = RecordedFrame(time: try payload.f64("frame time"), host: try payload.text("frame host"))
        continue
      }
      guard var current = frame else {
        throw RecordingError("a record of kind \(kind) outside a frame", at: start)
      }
      switch known {
      case .header, .frameBegin:
        break
      case .namespace:
        var namespace = NetworkNamespace(inode: try payload.u64("namespace"))
        namespace.isOwn = try payload.u8("namespace") != 0
        let hasName = try payload.u8("namespace") != 0
        let name = try payload.text("namespace name")
        let hasContainer = try payload.u8("namespace") != 0
        let container = try payload.text("namespace container")
        namespace.name = hasName ? name : nil
        namespace.container = hasContainer ? container : nil
        current.namespaces.append(namespace)
      case .datagram:
        let netns = try payload.u64("datagram")
        let tag = try payload.u8("datagram")
        guard let query = RecordFile.query(forTag: tag) else {
          throw RecordingError("unknown query tag \(tag)", at: payload.base + payload.offset - 1)
        }
        current.datagrams.append(RecordedDatagram(netns: netns, query: query, bytes: try payload.data("datagram")))
      case .process:
        current.processes.append(try process(&payload))
      case .owners:
        let count = Int(try payload.u32("owners"))
        guard count <= (length - 4) / 24 else {
          throw RecordingError("owners: \(count) announced, room for \((length - 4) / 24)", at: start)
        }
        current.owners.reserveCapacity(current.owners.count + count)
        for _ in 0..<count {
          let netns = try payload.u64("owner")
          let inode = try payload.u64("owner")
          let pid = try payload.i32("owner")
          let fd = try payload.i32("owner")
          current.owners.append(RecordedOwner(netns: netns, inode: inode, owner: FlowOwner(pid: pid, fd: fd)))
        }
      case .warning:
        current.warnings.append(try warning(&payload))
      case .namespaceCounters:
        let inode = try payload.u64("namespace counters")
        let hasRange = try payload.u8("namespace counters") != 0
        let low = try payload.u16("namespace counters")
        let high = try payload.u16("namespace counters")
        var counters = NamespaceCounters()
        counters.localPortRange = hasRange && low <= high ? low...high : nil
        counters.listenOverflows = try payload.optionalU64("namespace counters")
        counters.listenDrops = try payload.optionalU64("namespace counters")
        current.namespaceCounters[inode] = counters
      case .hostCounters:
        current.hostCounters = HostCounters(
          orphans: try payload.optionalU64("host counters"), maxOrphans: try payload.optionalU64("host counters"))
      case .frameEnd:
        frames.append(current)
        frame = nil
        continue
      }
      frame = current
    }
    guard let header else { throw RecordingError("no header", at: magic.count) }
    if frame != nil { throw RecordingError("the last frame has no end: the file is truncated", at: bytes.count) }
    return Recording(header: header, frames: frames)
  }

  static func process(_ payload: inout ByteReader) throws(RecordingError) -> OwningProcess {
    let pid = try payload.i32("process")
    var process = OwningProcess(pid: pid, command: [])
    process.ppid = try payload.i32("process")
    process.uid = try payload.u32("process")
    process.startTimeTicks = try payload.u64("process")
    process.netns = try payload.optionalU64("process")
    process.descriptorsReadable = try payload.u8("process") != 0
    process.descriptorCount = Int(clamping: try payload.u64("process"))
    process.socketCount = Int(clamping: try payload.u64("process"))
    process.fdLimitSoft = try payload.optionalU64("process")
    process.fdLimitHard = try payload.optionalU64("process")
    process.command = try payload.data("process command")
    let hasUser = try payload.u8("process") != 0
    let user = try payload.text("process user")
    process.user = hasUser ? user : nil
    let hasCommandLine = try payload.u8("process") != 0
    let count = Int(try payload.u32("process command line"))
    guard count <= payload.bytes.count - payload.offset else {
      throw RecordingError("process command line: \(count) arguments announced", at: payload.base + payload.offset)
    }
    var arguments: [[UInt8]] = []
    for _ in 0..<count { arguments.append(try payload.data("process argument")) }
    process.commandLine = hasCommandLine ? arguments : nil
    if !payload.atEnd {
      let hasUnit = try payload.u8("process") != 0
      let unit = try payload.text("process unit")
      let hasContainer = try payload.u8("process") != 0
      let container = try payload.text("process container")
      process.unit = hasUnit ? unit : nil
      process.container = hasContainer ? container : nil
      let hasExecutable = try payload.u8("process") != 0
      let executable = try payload.data("process executable")
      process.executable = hasExecutable ? executable : nil
    }
    if !payload.atEnd {
      let hasContainerName = try payload.u8("process") != 0
      let containerName = try payload.text("process container name")
      process.containerName = hasContainerName ? containerName : nil
    }
    return process
  }

  static func warning(_ payload: inout ByteReader) throws(RecordingError) -> SnapshotWarning {
    let code = try payload.u8("warning")
    switch code {
    case 0: return .familyUnsupported(try payload.text("warning"))
    case 1: return .dumpFailed(try payload.text("warning"), detail: try payload.text("warning"))
    case 2: return .dumpInterrupted(try payload.text("warning"), attempts: Int(try payload.u32("warning")))
    case 3:
      let count = Int(try payload.u32("warning"))
      let samples = Int(try payload.u32("warning"))
      guard samples <= (payload.bytes.count - payload.offset) / 4 else {
        throw RecordingError("warning: \(samples) pids announced", at: payload.base + payload.offset)
      }
      var pids: [Int32] = []
      for _ in 0..<samples { pids.append(try payload.i32("warning")) }
      return .processesDenied(count: count, samplePIDs: pids)
    case 4: return .netnsUnreadable(try payload.text("warning"), detail: try payload.text("warning"))
    case 5: return .namespacesSkipped(count: Int(try payload.u32("warning")), reason: try payload.text("warning"))
    case 6: return .other(try payload.text("warning"))
    default:
      throw RecordingError("warning of kind \(code): made by a newer flowscope", at: payload.base)
    }
  }
}
