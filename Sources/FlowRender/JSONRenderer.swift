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
    JSONRenderer.appendDocumentStart(snapshot, into: &out)
    out.append(",\"flows\":[")
    appendFlowObjects(snapshot.flows, framing: .document, context: context, into: &out)
    if !snapshot.flows.isEmpty { out.append(UInt8(ascii: "\n")) }
    JSONRenderer.appendWarningsAndClose(snapshot.warnings, into: &out)
  }

  /// NDJSON: one line per flow, `{"version":1,"time":…,"host":…,"proto":…}`, then one line per
  /// warning, `{"version":1,"time":…,"host":…,"warning":"…"}`.
  public static func renderLines(
    _ snapshot: Snapshot, options: RenderOptions, into out: inout OutputBuffer
  ) {
    let context = RenderContext(snapshot, options: options, mode: .csv, namingPeers: false)
    let prefix = linePrefix(snapshot)
    appendFlowObjects(snapshot.flows, framing: .lines(prefix: prefix), context: context, into: &out)
    for warning in snapshot.warnings {
      out.append(contentsOf: prefix)
      out.append("\"warning\":")
      out.appendJSONString(warning.description)
      out.append("}\n")
    }
  }

  /// What every NDJSON line starts with: `{"version":1,"time":…,"host":…,` (flow, process,
  /// watch and warning lines alike).
  static func linePrefix(_ snapshot: Snapshot) -> OutputBuffer {
    var prefix = OutputBuffer(capacity: 96)
    prefix.append("{\"version\":")
    prefix.appendDecimal(UInt64(formatVersion))
    prefix.append(",\"time\":\"")
    appendRFC3339(snapshot.time, into: &prefix)
    prefix.append("\",\"host\":")
    prefix.appendJSONString(snapshot.host)
    prefix.append(UInt8(ascii: ","))
    return prefix
  }

  /// How flow objects are laid out: inside a document's array (`\n{…}` joined by commas), or
  /// one NDJSON line each, after a prefix of shared fields.
  enum Framing {
    case document
    case lines(prefix: OutputBuffer)
  }

  /// Flows per chunk: ~600 KB of JSON, small enough to hold two, large enough that handing
  /// them to two threads costs little.
  static let flowsPerChunk = 1024

  /// Appends every flow as a JSON object, in chunks on two threads (`appendChunked`).
  static func appendFlowObjects(
    _ flows: [Flow], framing: Framing, context: RenderContext, into out: inout OutputBuffer
  ) {
    // Flows are read through a pointer, not copied (a copy retains their arrays).
    flows.withUnsafeBufferPointer { flows in
      out.appendChunked(count: flows.count, perChunk: flowsPerChunk) { rows, chunk in
        appendFlowObjects(flows, rows, framing, context, into: &chunk)
      }
    }
  }

  private static func appendFlowObjects(
    _ flows: UnsafeBufferPointer<Flow>, _ rows: Range<Int>, _ framing: Framing,
    _ context: RenderContext, into out: inout OutputBuffer
  ) {
    for index in rows {
      switch framing {
      case .document: out.append(index == 0 ? "\n{" : ",\n{")
      case .lines(let prefix): out.append(contentsOf: prefix)
      }
      appendFlowFields(flows[index], context: context, into: &out)
      switch framing {
      case .document: out.append(UInt8(ascii: "}"))
      case .lines: out.append("}\n")
      }
    }
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

  static func appendFlowFields(_ flow: Flow, context: RenderContext, into out: inout OutputBuffer) {
    out.append("\"proto\":\"")
    out.append(utf8: flow.proto.rawValue)
    out.append("\",\"family\":\"")
    out.append(utf8: flow.family.rawValue)
    out.append("\",\"state\":")
    let hasState = context.hasState(flow)
    if hasState, let state = flow.socketState {
      out.append(UInt8(ascii: "\""))
      out.append(state.kernelName)
      out.append(UInt8(ascii: "\""))
    } else {
      out.append("null")
    }
    out.appendField(",\"state_code\":", hasState ? UInt64(flow.state) : nil)
    out.append(",\"type\":")
    if let name = socketTypeName(flow.socketType) {
      out.append(UInt8(ascii: "\""))
      out.append(name)
      out.append(UInt8(ascii: "\""))
    } else {
      out.append("null")
    }
    out.append(",\"local\":")
    appendEndpoint(flow.local, into: &out)
    out.append(",\"remote\":")
    if flow.family == .unix, let peer = flow.peerInode {
      out.append("{\"peer_inode\":")
      out.appendDecimal(peer)
      out.append(UInt8(ascii: "}"))
    } else {
      appendEndpoint(flow.remote, into: &out)
    }
    out.appendField(",\"inode\":", flow.inode)
    let listed = flow.listedByKernel
    out.appendField(",\"cookie\":", listed ? flow.cookie : nil)
    out.appendField(",\"uid\":", flow.uid.map(UInt64.init))
    out.appendField(",\"netns\":", flow.netns)
    out.append(",\"netns_name\":")
    context.sharedTexts.appendJSONNamespaceName(of: flow.netns, into: &out)
    out.appendField(",\"interface\":", listed ? UInt64(flow.interfaceIndex) : nil)
    out.append(",\"interface_name\":")
    if flow.interfaceIndex != 0, let name = context.options.interfaceNames[flow.interfaceIndex] {
      out.appendJSONString(name)
    } else {
      out.append("null")
    }
    let counters = flow.counters
    out.appendField(",\"bytes_in\":", counters.bytesIn)
    out.appendField(",\"bytes_out\":", counters.bytesOut)
    out.appendField(",\"packets_in\":", counters.packetsIn)
    out.appendField(",\"packets_out\":", counters.packetsOut)
    out.appendField(",\"retrans_bytes\":", counters.bytesRetransmitted)
    out.appendField(",\"retransmits_total\":", counters.retransmitsTotal.map(UInt64.init))
    let tcp = flow.tcp
    out.appendField(",\"rtt_us\":", tcp.map { UInt64($0.rttMicros) })
    out.appendField(",\"rttvar_us\":", tcp.map { UInt64($0.rttVarMicros) })
    out.appendField(",\"min_rtt_us\":", tcp.map { UInt64($0.minRttMicros) })
    out.appendField(",\"cwnd\":", tcp.map { UInt64($0.congestionWindow) })
    out.appendField(",\"retransmits\":", tcp.map { UInt64($0.retransmits) })
    out.appendField(",\"lost\":", tcp.map { UInt64($0.lost) })
    // nil before the connection is established: the kernel's stamps are not set yet.
    out.appendField(",\"last_send_ms\":", flow.millisecondsSinceLastSend.map(UInt64.init))
    out.appendField(",\"last_recv_ms\":", flow.millisecondsSinceLastReceive.map(UInt64.init))
    out.append(",\"congestion\":")
    if let tcp, !tcp.congestion.isEmpty {
      tcp.congestion.withBytes { out.appendJSONString($0.assumingMemoryBound(to: UInt8.self)) }
    } else {
      out.append("null")
    }
    out.appendField(",\"recv_q\":", listed ? UInt64(flow.receiveQueue) : nil)
    out.appendField(",\"send_q\":", listed ? UInt64(flow.sendQueue) : nil)
    out.appendField(",\"shutdown\":", flow.shutdown.map(UInt64.init))
    out.appendField(",\"cgroup_id\":", flow.cgroupID)
    out.appendField(",\"mark\":", flow.mark.map(UInt64.init))
    out.appendField(",\"tos\":", flow.tos.map(UInt64.init))
    out.appendField(",\"drops\":", flow.socketDrops.map(UInt64.init))
    out.appendField(",\"protocol\":", flow.protocolNumber.map(UInt64.init))
    out.append(",\"processes\":[")
    appendOwners(flow.owners, texts: context.sharedTexts, into: &out)
    out.append("],\"flags\":")
    appendFlagArray(flow.health(context.options.health), into: &out)
    out.append(listed ? ",\"listed_by_kernel\":true" : ",\"listed_by_kernel\":false")
  }

  /// The `processes` list of a flow: `{"pid","command","fd","user"}` per owner, with
  /// `command_bytes` when the command is not valid UTF-8.
  static func appendOwners(
    _ owners: FlowOwners, processes: [Int32: OwningProcess], into out: inout OutputBuffer
  ) {
    appendOwners(owners, texts: SharedTexts(processes, mode: .csv), into: &out)
  }

  static func appendOwners(_ owners: FlowOwners, texts: SharedTexts, into out: inout OutputBuffer) {
    for (index, owner) in owners.enumerated() {
      if index > 0 { out.append(UInt8(ascii: ",")) }
      out.append("{\"pid\":")
      out.appendDecimal(Int64(owner.pid))
      out.append(",\"command\":")
      texts.appendJSONCommand(of: owner.pid, into: &out)
      out.append(",\"fd\":")
      out.appendDecimal(Int64(owner.fd))
      out.append(",\"user\":")
      texts.appendJSONUser(of: owner.pid, into: &out)
      out.append(UInt8(ascii: "}"))
    }
  }

  /// A namespace's name under /run/netns, else its container, else null.
  static func appendNamespaceName(
    _ inode: UInt64?, _ namespaces: [UInt64: NetworkNamespace], into out: inout OutputBuffer
  ) {
    if let inode, let namespace = namespaces[inode], let name = namespace.name ?? namespace.container {
      out.appendJSONString(name)
    } else {
      out.append("null")
    }
  }

  /// Starts a document: `{"version":1,"host":…,"time":"…"` (every JSON document of every
  /// command begins so; the caller goes on with `,"key":`).
  static func appendDocumentStart(_ snapshot: Snapshot, into out: inout OutputBuffer) {
    out.append("{\"version\":")
    out.appendDecimal(UInt64(formatVersion))
    out.append(",\"host\":")
    out.appendJSONString(snapshot.host)
    out.append(",\"time\":\"")
    appendRFC3339(snapshot.time, into: &out)
    out.append(UInt8(ascii: "\""))
  }

  /// Ends a document: its list of items, then `"warnings":[…]}` and a newline.
  static func appendWarningsAndClose(_ warnings: [SnapshotWarning], into out: inout OutputBuffer) {
    out.append("],\"warnings\":[")
    for (index, warning) in warnings.enumerated() {
      if index > 0 { out.append(UInt8(ascii: ",")) }
      out.appendJSONString(warning.description)
    }
    out.append("]}\n")
  }

  static func appendOptional(_ value: UInt64?, into out: inout OutputBuffer) {
    if let value { out.appendDecimal(value) } else { out.append("null") }
  }

  static func appendEndpoint(_ endpoint: Endpoint, into out: inout OutputBuffer) {
    switch endpoint {
    case .ip(let address, let port):
      out.append("{\"address\":\"")
      formatAddress(address, into: &out)
      out.append("\",\"port\":")
      out.appendDecimal(UInt64(port))
      out.append(UInt8(ascii: "}"))
    case .unixPath(let path):
      out.append("{\"path\":")
      if !out.appendJSONString(path) {
        out.append(",\"path_bytes\":\"")
        out.appendHexBytes(path)
        out.append(UInt8(ascii: "\""))
      }
      out.append(UInt8(ascii: "}"))
    case .unixAbstract(let name):
      out.append("{\"abstract\":")
      if !out.appendJSONString(name, nulAs: UInt8(ascii: "@")) {
        out.append(",\"abstract_bytes\":\"")
        out.appendHexBytes(name)
        out.append(UInt8(ascii: "\""))
      }
      out.append(UInt8(ascii: "}"))
    case .packet(let interfaceIndex, let ethertype):
      out.append("{\"interface\":")
      out.appendDecimal(UInt64(interfaceIndex))
      out.append(",\"ethertype\":")
      out.appendDecimal(UInt64(ethertype))
      out.append(UInt8(ascii: "}"))
    case .netlink(let portID, let group):
      out.append("{\"port_id\":")
      out.appendDecimal(UInt64(portID))
      out.append(",\"group\":")
      out.appendDecimal(UInt64(group))
      out.append(UInt8(ascii: "}"))
    case .vsock(let cid, let port):
      out.append("{\"cid\":")
      out.appendDecimal(UInt64(cid))
      out.append(",\"port\":")
      out.appendDecimal(UInt64(port))
      out.append(UInt8(ascii: "}"))
    case .none:
      out.append("null")
    }
  }
}
