import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

/// The two calls a dump needs from a netlink socket; tests put a fake kernel behind it.
public protocol DatagramChannel: AnyObject {
  func send(_ message: [UInt8]) throws(TransportError)
  /// One datagram, valid until the next call.
  func receive() throws(TransportError) -> UnsafeRawBufferPointer
}

extension NetlinkSocket: DatagramChannel {}

/// Asks the running kernel, in the network namespace of the thread that created it.
public final class KernelSource: SockDiagSource {
  private let socket: DatagramChannel
  /// The channel, for the other exchanges of this file's extensions (SOCK_DESTROY).
  var channel: DatagramChannel { socket }
  var sequence: UInt32 = 1
  private let recorder: DumpRecorder?
  /// How often an inconsistent dump (NLM_F_DUMP_INTR) is tried in all.
  public var attempts = 3
  /// The idiag_ext bits asked of inet dumps (`SockDiagRequest.inetExtensions`: all we decode).
  public var inetExtensions = SockDiagRequest.inetExtensions
  /// Given, each dump hands it the datagrams of its last attempt (`flowscope record`).
  public var onDatagrams: ((SockDiagQuery, [[UInt8]]) -> Void)? = nil
  /// Ask for the base messages alone (no inet extensions, no show flags): which sockets exist,
  /// by inode, at the least cost to the kernel.
  public var inodesOnly = false
  /// Receive each dump's replies on a helper thread while this one decodes (`ReadAhead`): a
  /// large dump then takes about the kernel's time alone, at the cost of a thread.
  public var readsAhead = false
  /// A request sent by `sendAhead` whose replies wait in the socket.
  private var sentAhead: Request? = nil

  /// What a dump request asks, but its sequence number.
  private struct Request: Equatable {
    var query: SockDiagQuery
    var states: UInt32
    var bytecode: [UInt8]?
    var extensions: UInt8
    var details: Bool
  }

  private func request(_ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?) -> Request {
    Request(
      query: query, states: states, bytecode: bytecode, extensions: inodesOnly ? 0 : inetExtensions,
      details: !inodesOnly)
  }

  public convenience init(recorder: DumpRecorder? = nil) throws(TransportError) {
    self.init(channel: try NetlinkSocket(), recorder: recorder)
  }

  public init(channel: DatagramChannel, recorder: DumpRecorder? = nil) {
    self.socket = channel
    self.recorder = recorder
  }

  public func dump(
    _ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?,
    restart: () -> Void, record: (SocketRecord) -> Void
  ) -> DumpResult {
    dump(query, states: states, bytecode: bytecode, keep: nil, restart: restart, record: record)
  }

  public func dump(
    _ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?,
    keepingInodes keep: @escaping (UInt32) -> Bool,
    restart: () -> Void, record: (SocketRecord) -> Void
  ) -> DumpResult {
    dump(query, states: states, bytecode: bytecode, keep: keep, restart: restart, record: record)
  }

  /// Sends the request of a dump now, and leaves its replies in the socket until `dump` asks
  /// the same. The kernel fills the first reply within the send: for TCP, after a walk of the
  /// bind table for bound-only sockets (0.1 s at 500k sockets), which a thread that has nothing
  /// else to do meanwhile can take on early.
  public func sendAhead(_ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?) throws(TransportError) {
    try discardSentAhead()
    let asked = request(query, states: states, bytecode: bytecode)
    try send(asked)
    sentAhead = asked
  }

  private func send(_ request: Request) throws(TransportError) {
    sequence &+= 1
    try socket.send(
      SockDiagRequest.encode(
        request.query, sequence: sequence, states: request.states, bytecode: request.bytecode,
        extensions: request.extensions, details: request.details))
  }

  /// Reads and drops the replies of a request sent ahead that no dump asked for.
  public func dropSentAhead() { try? discardSentAhead() }

  private func discardSentAhead() throws(TransportError) {
    guard let ahead = sentAhead else { return }
    sentAhead = nil
    var reader = DumpReader(query: ahead.query, keep: { _ in false })
    while !reader.finished { reader.consume(try socket.receive(), record: { _ in }) }
  }

  private func dump(
    _ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?, keep: ((UInt32) -> Bool)?,
    restart: () -> Void, record: (SocketRecord) -> Void
  ) -> DumpResult {
    var attempt = 0
    while true {
      attempt += 1
      var reader = DumpReader(query: query, keep: keep)
      var kept: [[UInt8]] = []
      defer { onDatagrams?(query, kept) }
      do {
        let asked = request(query, states: states, bytecode: bytecode)
        if sentAhead == asked {
          sentAhead = nil
        } else {
          try discardSentAhead()
          try send(asked)
        }
        func take(_ datagram: UnsafeRawBufferPointer) {
          recorder?.write(query: query, datagram: datagram)
          if onDatagrams != nil { kept.append(Array(datagram)) }
          reader.consume(datagram, record: record)
        }
        if readsAhead, let netlink = socket as? NetlinkSocket {
          let ahead = ReadAhead(receivingFrom: netlink)
          defer { ahead.finish() }
          while !reader.finished { take(try ahead.next()) }
        } else {
          while !reader.finished { take(try socket.receive()) }
        }
      } catch {
        reader.result.status = .failed(error.description)
        return reader.result
      }
      guard reader.interrupted else { return reader.result }
      if attempt >= attempts {
        if reader.result.status == .complete { reader.result.status = .interrupted(attempts: attempt) }
        return reader.result
      }
      restart()
    }
  }
}

/// Writes every datagram a run receives to a file (the `FSRECv1` format of `RecordFile`),
/// so the run can be replayed and its bytes kept as test fixtures.
public final class DumpRecorder: @unchecked Sendable {
  private let fd: Int32
  public let path: String

  public init(path: String) throws(TransportError) {
    self.path = path
    // open(2)
    let opened = retryingInterrupts("open \(path)", failed: { $0 < 0 }) {
      open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    }
    switch opened {
    case .success(let fd): self.fd = fd
    case .failure(let error): throw error
    }
    RecordFile.magic.withUnsafeBytes { writeAll($0) }
  }

  deinit {
    // close(2)
    _ = close(fd)
  }

  func write(query: SockDiagQuery, datagram: UnsafeRawBufferPointer) {
    RecordFile.encodeChunk(query: query, datagram: datagram).withUnsafeBytes { writeAll($0) }
  }

  private func writeAll(_ bytes: UnsafeRawBufferPointer) {
    var offset = 0
    while offset < bytes.count {
      // write(2); a recording is a debugging aid, so a full disk ends it quietly.
      guard
        case .success(let written) = retryingInterrupts(
          "write \(path)", failed: { $0 < 0 },
          {
            Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
          }), written > 0
      else { return }
      offset += written
    }
  }
}

/// Plays a recording back instead of asking the kernel: each query gets the datagrams that
/// were recorded for it, in order.
public final class ReplaySource: SockDiagSource {
  private var datagramsByQuery: [SockDiagQuery: [[UInt8]]] = [:]

  public init(bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { raw in
      try RecordFile.forEachChunk(in: raw) { query, datagram in
        datagramsByQuery[query, default: []].append(Array(datagram))
      }
    }
  }

  public convenience init(path: String) throws {
    try self.init(bytes: try readWholeFile(path))
  }

  /// A recording of nothing.
  public static var empty: ReplaySource { try! ReplaySource(bytes: RecordFile.magic) }

  public func dump(
    _ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?,
    restart: () -> Void, record: (SocketRecord) -> Void
  ) -> DumpResult {
    dump(query, keep: nil, record: record)
  }

  public func dump(
    _ query: SockDiagQuery, states: UInt32, bytecode: [UInt8]?,
    keepingInodes keep: @escaping (UInt32) -> Bool,
    restart: () -> Void, record: (SocketRecord) -> Void
  ) -> DumpResult {
    dump(query, keep: keep, record: record)
  }

  private func dump(
    _ query: SockDiagQuery, keep: ((UInt32) -> Bool)?, record: (SocketRecord) -> Void
  ) -> DumpResult {
    guard let datagrams = datagramsByQuery[query] else {
      // One family of TCP from a recording of both (one walk): its records of that family.
      let both = SockDiagQuery.inet(family: AddressFamily.unspecified, proto: .tcp)
      if case .inet(let family, .tcp) = query, family != AddressFamily.unspecified,
        datagramsByQuery[both] != nil
      {
        var handedOn = 0
        var result = dump(both, keep: keep) { socket in
          if case .inet(let inet) = socket, inet.family != family { return }
          handedOn += 1
          record(socket)
        }
        result.records = handedOn
        return result
      }
      // A one-walk TCP query missing from an older recording (IPv4 and IPv6 apart) fails
      // here, and FlowInspector asks for each family, as it does a kernel that refuses it.
      return DumpResult(status: .failed("not in the recording"))
    }
    var reader = DumpReader(query: query, keep: keep)
    for datagram in datagrams where !reader.finished {
      datagram.withUnsafeBytes { reader.consume($0, record: record) }
    }
    if reader.interrupted, reader.result.status == .complete {
      reader.result.status = .interrupted(attempts: 1)
    }
    return reader.result
  }
}

/// Reads a whole file through open(2)/read(2).
public func readWholeFile(_ path: String) throws(TransportError) -> [UInt8] {
  let opened = retryingInterrupts("open \(path)", failed: { $0 < 0 }) {
    open(path, O_RDONLY | O_CLOEXEC)
  }
  guard case .success(let fd) = opened else {
    if case .failure(let error) = opened { throw error }
    return []
  }
  defer { _ = close(fd) }
  var contents: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 64 * 1024)
  while true {
    // read(2)
    let result = chunk.withUnsafeMutableBytes { buffer in
      retryingInterrupts("read \(path)", failed: { $0 < 0 }) {
        read(fd, buffer.baseAddress, buffer.count)
      }
    }
    switch result {
    case .success(0): return contents
    case .success(let count): contents.append(contentsOf: chunk[0..<count])
    case .failure(let error): throw error
    }
  }
}
