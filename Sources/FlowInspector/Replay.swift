import FlowModel
import FlowRecording
import NetlinkTransport
import SockDiag

// Snapshots rebuilt from a recording of `flowscope record`: the recorded replies decoded as
// the live dump decodes them, joined with the recorded owners, stamped with the recorded time
// and host. So a listing replayed later prints what it printed then.

extension Snapshot {
  /// The snapshot `frame` records.
  public init(_ frame: RecordedFrame) {
    var flows: [Flow] = []
    var warnings = frame.warnings
    var undecodable = 0
    var firstError: SockDiagError? = nil
    // A netlink socket with multicast groups comes twice in one dump; its cookie is unique.
    var netlinkCookies = Set<UInt64>()
    for datagram in frame.datagrams {
      let netns = datagram.netns
      let status = datagram.bytes.withUnsafeBytes { raw in
        decodeDumpDatagram(raw, query: datagram.query) { record in
          if case .netlink(let socket) = record, !netlinkCookies.insert(socket.cookie).inserted { return }
          flows.append(Flow(record, netns: netns))
        }
      }
      let missed = status.messageCount - status.decodedCount
      if missed > 0 || status.error != nil {
        undecodable += max(missed, 1)
        if firstError == nil { firstError = status.error }
      }
    }
    if undecodable > 0 {
      warnings.append(
        .other(
          "recording: \(undecodable) message(s) could not be decoded"
            + (firstError.map { ": \($0)" } ?? "")))
    }
    var owners: [RecordedKey: FlowOwners] = [:]
    for owner in frame.owners {
      owners[RecordedKey(netns: owner.netns, inode: owner.inode), default: FlowOwners()].append(owner.owner)
    }
    if !owners.isEmpty {
      for index in flows.indices where flows[index].inode != 0 {
        if let held = owners[RecordedKey(netns: flows[index].netns, inode: flows[index].inode)] {
          flows[index].owners = held
        }
      }
    }
    var processes: [Int32: OwningProcess] = [:]
    for process in frame.processes { processes[process.pid] = process }
    self.init(time: frame.time, host: frame.host, flows: flows, processes: processes, warnings: warnings)
    for namespace in frame.namespaces { namespaces[namespace.inode] = namespace }
    namespaceCounters = frame.namespaceCounters
    hostCounters = frame.hostCounters
  }
}

private struct RecordedKey: Hashable {
  var netns: UInt64
  var inode: UInt64
}

extension RecordedFrame {
  /// What `snapshot` holds, with the raw replies it was decoded from: the frame that replays
  /// as `snapshot`.
  public init(_ snapshot: Snapshot, datagrams: [RecordedDatagram]) {
    self.init(time: snapshot.time, host: snapshot.host)
    namespaces = snapshot.namespaces.values.sorted { $0.inode < $1.inode }
    self.datagrams = datagrams
    processes = snapshot.processes.values.sorted { $0.pid < $1.pid }
    for flow in snapshot.flows where flow.inode != 0 {
      for owner in flow.owners {
        owners.append(RecordedOwner(netns: flow.netns, inode: flow.inode, owner: owner))
      }
    }
    warnings = snapshot.warnings
    namespaceCounters = snapshot.namespaceCounters
    hostCounters = snapshot.hostCounters
  }
}

/// Frames of a recording handed out one by one, as a live inspector hands out snapshots.
final class RecordingPlayer: @unchecked Sendable {
  let recording: Recording
  private(set) var played = 0

  init(_ recording: Recording) { self.recording = recording }

  /// The next frame's snapshot; the last one again once all were played.
  func next() -> Snapshot {
    guard !recording.frames.isEmpty else {
      return Snapshot(
        time: 0, host: recording.header.host, flows: [], processes: [:],
        warnings: [
          .other("the recording holds no snapshot")
        ])
    }
    let frame = recording.frames[min(played, recording.frames.count - 1)]
    played += 1
    return Snapshot(frame)
  }
}

extension FlowInspector {
  /// An inspector over a file instead of the kernel: a recording of `flowscope record`, the
  /// older FSRECv1 dumps of the hidden `--record`, or a raw dump of `ss -D` (whose inet
  /// replies are read as `rawInetProtocol`, as ss's TCPDIAG_FILE reads them as TCP).
  public static func replaying(path: String, rawInetProtocol: InetProtocol = .tcp) throws -> FlowInspector {
    let bytes = try readWholeFile(path)
    let isRecording = bytes.withUnsafeBytes { RecordingReader.isRecording($0) }
    if isRecording {
      return FlowInspector(replaying: try RecordingReader.read(bytes))
    }
    if bytes.starts(with: RecordFile.magic) {
      return FlowInspector(source: try ReplaySource(bytes: bytes))
    }
    let frame = try bytes.withUnsafeBytes { raw throws(RecordingError) in
      try RawDump.frame(raw, inetProtocol: rawInetProtocol, time: currentTime(), host: hostName())
    }
    return FlowInspector(
      replaying: Recording(header: RecordingHeader(host: hostName(), kernel: "", writer: "ss -D"), frames: [frame]))
  }
}
