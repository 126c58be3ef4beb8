import Dispatch
import FlowModel

/// JSON and NDJSON output; the contract is docs/json.md and docs/flowscope.schema.json.
/// Every flow object has every key, in a fixed order; unknown values are `null`, never 0.
/// The only optional keys are the `*_bytes` fields that carry names that are not valid UTF-8.
public enum JSONRenderer {
  /// The `version` field of every document and NDJSON line. Bump it on any incompatible change
  /// (a key removed, renamed or given another type); adding keys keeps it.
  public static let formatVersion = 1

  /// One document: `{"version":1,"host":…,"time":…,"flows":[…],"warnings":[…]}` and a newline.
  /// Each flow is on its own line so the output diffs and greps well.
  public static func render(
    _ snapshot: Snapshot, options: RenderOptions, into out: inout OutputBuffer
  ) {
    let context = RenderContext(snapshot, options: options, mode: .csv, namingPeers: false)
    JSONWriter.write(into: &out) { json in
      appendDocumentStart(snapshot, into: &json)
      json.key(.flows)
      json.beginArray()
      appendFlowObjects(snapshot.flows, framing: .document, context: context, into: &json)
      appendWarningsAndClose(snapshot.warnings, into: &json)
    }
  }

  /// NDJSON: one line per flow, `{"version":1,"time":…,"host":…,"proto":…}`, then one line per
  /// warning, `{"version":1,"time":…,"host":…,"warning":"…"}`.
  public static func renderLines(
    _ snapshot: Snapshot, options: RenderOptions, into out: inout OutputBuffer
  ) {
    let context = RenderContext(snapshot, options: options, mode: .csv, namingPeers: false)
    let prefix = linePrefix(snapshot)
    JSONWriter.write(into: &out) { json in
      appendFlowObjects(snapshot.flows, framing: .lines(prefix: prefix), context: context, into: &json)
      appendWarningLines(snapshot.warnings, prefix: prefix, into: &json)
    }
  }

  /// One line per warning, after the shared fields: `{…,"warning":"…"}`.
  static func appendWarningLines(
    _ warnings: [SnapshotWarning], prefix: OutputBuffer, into json: inout JSONWriter
  ) {
    for warning in warnings {
      json.reopen(prefix)
      json.key(.warning)
      json.string(warning.description)
      json.endObject()
      json.endLine()
    }
  }

  /// What every NDJSON line starts with, an open object: `{"version":1,"time":…,"host":…`
  /// (flow, process, watch and warning lines alike).
  static func linePrefix(_ snapshot: Snapshot) -> OutputBuffer {
    var json = JSONWriter(OutputBuffer(capacity: 96))
    json.beginObject()
    json.field(.version, UInt64(formatVersion))
    json.key(.time)
    json.quoted { appendRFC3339(snapshot.time, into: &$0) }
    json.key(.host)
    json.string(snapshot.host)
    return json.out
  }

  /// How flow objects are laid out: inside a document's array (one a line), or one NDJSON
  /// line each, after a prefix of shared fields.
  enum Framing {
    case document
    case lines(prefix: OutputBuffer)
  }

  /// Flows per chunk: ~600 KB of JSON, small enough to hold two, large enough that handing
  /// them to two threads costs little.
  static let flowsPerChunk = 1024

  /// Appends every flow as a JSON object, in chunks on two threads (`appendChunked`); in a
  /// document, the line break before the `]` too.
  static func appendFlowObjects(
    _ flows: [Flow], framing: Framing, context: RenderContext, into json: inout JSONWriter
  ) {
    // Flows are read through a pointer, not copied (a copy retains their arrays).
    let comma = json.needsComma
    flows.withUnsafeBufferPointer { flows in
      json.out.appendChunked(count: flows.count, perChunk: flowsPerChunk) { rows, chunk in
        JSONWriter.write(into: &chunk) { json in
          // In a document, each chunk starts where the one before it ended: after a flow, or at
          // the list's start. NDJSON lines start afresh.
          if case .document = framing { json.needsComma = rows.lowerBound > 0 || comma }
          appendFlowObjects(flows, rows, framing, context, into: &json)
        }
      }
    }
    guard !flows.isEmpty else { return }
    if case .document = framing {
      json.needsComma = true
      json.breakLine()
    }
  }

  private static func appendFlowObjects(
    _ flows: UnsafeBufferPointer<Flow>, _ rows: Range<Int>, _ framing: Framing,
    _ context: RenderContext, into json: inout JSONWriter
  ) {
    for index in rows {
      switch framing {
      case .document: json.beginObject(onNewLine: true)
      case .lines(let prefix): json.reopen(prefix)
      }
      appendFlowFields(flows[index], context: context, into: &json)
      json.endObject()
      if case .lines = framing { json.endLine() }
    }
  }

  /// `bytes_in` … `retransmits_total`: a flow's counters, null where the kernel gives none
  /// (flow objects and `events`' close records alike).
  static func appendCounterFields(_ counters: FlowCounters, into json: inout JSONWriter) {
    json.field(.bytesIn, counters.bytesIn)
    json.field(.bytesOut, counters.bytesOut)
    json.field(.packetsIn, counters.packetsIn)
    json.field(.packetsOut, counters.packetsOut)
    json.field(.retransBytes, counters.bytesRetransmitted)
    json.field(.retransmitsTotal, counters.retransmitsTotal.map(UInt64.init))
  }

  /// The `type` field: the socket type's name, or nil for a number we do not know.
  public static func socketTypeName(_ type: UInt8) -> StaticString? {
    switch type {
    case 1: "stream"
    case 2: "dgram"
    case 3: "raw"
    case 4: "rdm"
    case 5: "seqpacket"
    case 6: "dccp"
    case 10: "packet"
    default: nil
    }
  }

  // MARK: - Flow object

  static func appendFlowFields(_ flow: Flow, context: RenderContext, into json: inout JSONWriter) {
    json.key(.proto)
    json.string(vocabulary: flow.proto.rawValue)
    json.key(.family)
    json.string(vocabulary: flow.family.rawValue)
    json.key(.state)
    let hasState = context.hasState(flow)
    if hasState, let state = flow.socketState {
      json.string(vocabulary: state.kernelName)
    } else {
      json.null()
    }
    json.field(.stateCode, hasState ? UInt64(flow.state) : nil)
    json.key(.type)
    if let name = socketTypeName(flow.socketType) { json.string(vocabulary: name) } else { json.null() }
    json.key(.local)
    appendEndpoint(flow.local, into: &json)
    json.key(.remote)
    if flow.family == .unix, let peer = flow.peerInode {
      json.beginObject()
      json.field(.peerInode, peer)
      json.endObject()
    } else {
      appendEndpoint(flow.remote, into: &json)
    }
    json.field(.inode, flow.inode)
    let listed = flow.listedByKernel
    json.field(.cookie, listed ? flow.cookie : nil)
    json.field(.uid, flow.uid.map(UInt64.init))
    json.field(.netns, flow.netns)
    json.key(.netnsName)
    context.sharedTexts.appendJSONNamespaceName(of: flow.netns, into: &json)
    json.field(.interface, listed ? UInt64(flow.interfaceIndex) : nil)
    json.key(.interfaceName)
    if flow.interfaceIndex != 0, let name = context.options.interfaceNames[flow.interfaceIndex] {
      json.string(name)
    } else {
      json.null()
    }
    appendCounterFields(flow.counters, into: &json)
    let tcp = flow.tcp
    json.field(.rttUs, tcp.map { UInt64($0.rttMicros) })
    json.field(.rttvarUs, tcp.map { UInt64($0.rttVarMicros) })
    json.field(.minRttUs, tcp.map { UInt64($0.minRttMicros) })
    json.field(.cwnd, tcp.map { UInt64($0.congestionWindow) })
    json.field(.retransmits, tcp.map { UInt64($0.retransmits) })
    json.field(.lost, tcp.map { UInt64($0.lost) })
    // nil before the connection is established: the kernel's stamps are not set yet.
    json.field(.lastSendMs, flow.millisecondsSinceLastSend.map(UInt64.init))
    json.field(.lastRecvMs, flow.millisecondsSinceLastReceive.map(UInt64.init))
    json.key(.congestion)
    if let tcp, !tcp.congestion.isEmpty {
      tcp.congestion.withBytes { json.string($0.assumingMemoryBound(to: UInt8.self)) }
    } else {
      json.null()
    }
    json.field(.recvQ, listed ? UInt64(flow.receiveQueue) : nil)
    json.field(.sendQ, listed ? UInt64(flow.sendQueue) : nil)
    json.field(.shutdown, flow.shutdown.map(UInt64.init))
    json.field(.cgroupId, flow.cgroupID)
    json.field(.mark, flow.mark.map(UInt64.init))
    json.field(.tos, flow.tos.map(UInt64.init))
    json.field(.drops, flow.socketDrops.map(UInt64.init))
    json.field(.protocol, flow.protocolNumber.map(UInt64.init))
    json.key(.processes)
    appendOwners(flow.owners, texts: context.sharedTexts, into: &json)
    json.key(.flags)
    appendFlagArray(flow.health(context.options.health), into: &json)
    json.key(.listedByKernel)
    json.bool(listed)
  }

  /// The `processes` list of a flow: `[{"pid","command","fd","user",…}]`, with
  /// `command_bytes` when the command is not valid UTF-8.
  static func appendOwners(
    _ owners: FlowOwners, processes: [Int32: OwningProcess], into json: inout JSONWriter
  ) {
    appendOwners(owners, texts: SharedTexts(processes, mode: .csv), into: &json)
  }

  static func appendOwners(_ owners: FlowOwners, texts: SharedTexts, into json: inout JSONWriter) {
    json.beginArray()
    for owner in owners {
      json.beginObject()
      json.field(.pid, Int64(owner.pid))
      json.key(.command)
      texts.appendJSONCommand(of: owner.pid, into: &json)
      json.field(.fd, Int64(owner.fd))
      json.key(.user)
      texts.appendJSONUser(of: owner.pid, into: &json)
      json.endObject()
    }
    json.endArray()
  }

  /// A namespace's name under /run/netns, else its container, else null.
  static func appendNamespaceName(
    _ inode: UInt64?, _ namespaces: [UInt64: NetworkNamespace], into json: inout JSONWriter
  ) {
    if let inode, let namespace = namespaces[inode], let name = namespace.name ?? namespace.container {
      json.string(name)
    } else {
      json.null()
    }
  }

  /// Starts a document: `{"version":1,"host":…,"time":"…"` (every JSON document of every
  /// command begins so; the caller goes on with its keys).
  static func appendDocumentStart(_ snapshot: Snapshot, into json: inout JSONWriter) {
    json.beginObject()
    json.field(.version, UInt64(formatVersion))
    json.key(.host)
    json.string(snapshot.host)
    json.key(.time)
    json.quoted { appendRFC3339(snapshot.time, into: &$0) }
  }

  /// Ends a document: closes its list of items, then `"warnings":[…]}` and a newline.
  static func appendWarningsAndClose(_ warnings: [SnapshotWarning], into json: inout JSONWriter) {
    json.endArray()
    json.key(.warnings)
    json.beginArray()
    for warning in warnings { json.string(warning.description) }
    json.endArray()
    json.endObject()
    json.endLine()
  }

  static func appendEndpoint(_ endpoint: Endpoint, into json: inout JSONWriter) {
    switch endpoint {
    case .ip(let address, let port):
      json.beginObject()
      json.key(.address)
      json.quoted { formatAddress(address, into: &$0) }
      json.field(.port, UInt64(port))
      json.endObject()
    case .unixPath(let path):
      json.beginObject()
      json.key(.path)
      json.string(path, exactIn: .pathBytes)
      json.endObject()
    case .unixAbstract(let name):
      json.beginObject()
      json.key(.abstract)
      json.string(name, nulAs: UInt8(ascii: "@"), exactIn: .abstractBytes)
      json.endObject()
    case .packet(let interfaceIndex, let ethertype):
      json.beginObject()
      json.field(.interface, UInt64(interfaceIndex))
      json.field(.ethertype, UInt64(ethertype))
      json.endObject()
    case .netlink(let portID, let group):
      json.beginObject()
      json.field(.portId, UInt64(portID))
      json.field(.group, UInt64(group))
      json.endObject()
    case .vsock(let cid, let port):
      json.beginObject()
      json.field(.cid, UInt64(cid))
      json.field(.port, UInt64(port))
      json.endObject()
    case .none:
      json.null()
    }
  }
}
