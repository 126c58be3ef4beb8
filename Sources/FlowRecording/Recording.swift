import FlowModel
import SockDiag

/// What a recording says of itself.
public struct RecordingHeader: Sendable, Equatable {
  public var major: UInt16 = RecordingFormat.major
  public var minor: UInt16 = RecordingFormat.minor
  public var host: String
  public var kernel: String
  /// The flowscope version that wrote it.
  public var writer: String

  public init(host: String, kernel: String, writer: String) {
    self.host = host
    self.kernel = kernel
    self.writer = writer
  }
}

/// One snapshot's inputs: the raw replies of every namespace and what /proc said of their
/// owners.
public struct RecordedFrame: Sendable {
  public var time: Double
  public var host: String
  public var namespaces: [NetworkNamespace] = []
  /// The raw sock_diag replies, in the order received.
  public var datagrams: [RecordedDatagram] = []
  public var processes: [OwningProcess] = []
  /// Which descriptors held which socket.
  public var owners: [RecordedOwner] = []
  public var warnings: [SnapshotWarning] = []
  public var namespaceCounters: [UInt64: NamespaceCounters] = [:]
  public var hostCounters: HostCounters? = nil

  public init(time: Double, host: String) {
    self.time = time
    self.host = host
  }
}

public struct RecordedDatagram: Sendable, Equatable {
  public var netns: UInt64
  public var query: SockDiagQuery
  public var bytes: [UInt8]

  public init(netns: UInt64, query: SockDiagQuery, bytes: [UInt8]) {
    self.netns = netns
    self.query = query
    self.bytes = bytes
  }
}

public struct RecordedOwner: Sendable, Equatable {
  public var netns: UInt64
  public var inode: UInt64
  public var owner: FlowOwner

  public init(netns: UInt64, inode: UInt64, owner: FlowOwner) {
    self.netns = netns
    self.inode = inode
    self.owner = owner
  }
}

/// A whole recording.
public struct Recording: Sendable {
  public var header: RecordingHeader
  public var frames: [RecordedFrame]

  public init(header: RecordingHeader, frames: [RecordedFrame]) {
    self.header = header
    self.frames = frames
  }
}
