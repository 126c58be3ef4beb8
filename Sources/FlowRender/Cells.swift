import FlowModel

// The text of one table or CSV cell. The table and CSV share it; they differ in how names are
// made safe (escaped for a terminal vs. U+FFFD), how missing values look (`-` vs. empty) and
// whether sizes and times are for people or exact.

enum CellMode {
  case table
  case csv
}

/// What one render needs beyond the flow itself; built once per render.
struct RenderContext {
  let snapshot: Snapshot
  let options: RenderOptions
  let mode: CellMode
  /// inode → index in `snapshot.flows`, for naming UNIX peers; empty when not needed.
  let flowByInode: [UInt64: Int]
  let sharedTexts: SharedTexts

  init(_ snapshot: Snapshot, options: RenderOptions, mode: CellMode, namingPeers: Bool = true) {
    self.snapshot = snapshot
    self.options = options
    self.mode = mode
    var map: [UInt64: Int] = [:]
    if namingPeers && options.columns.contains(.remote) {
      // Only UNIX sockets have peers to name; index only flows that could be a peer.
      // By index and field: binding each flow would copy it (and retain what it holds).
      let flows = snapshot.flows
      if flows.indices.contains(where: { flows[$0].peerInode != nil }) {
        map.reserveCapacity(flows.count)
        for index in flows.indices where flows[index].family == .unix {
          if map[flows[index].inode] == nil { map[flows[index].inode] = index }
        }
      }
    }
    flowByInode = map
    sharedTexts = SharedTexts(snapshot.processes, namespaces: snapshot.namespaces, mode: mode)
  }

  /// Appends an untrusted name (command, path, user) made safe for this output.
  func appendName(_ bytes: [UInt8], into out: inout OutputBuffer) {
    bytes.withUnsafeBufferPointer { p in
      switch mode {
      case .table: appendSanitized(p, into: &out)
      case .csv: appendCSVText(p, into: &out)
      }
    }
  }

  func appendName(_ text: String, into out: inout OutputBuffer) {
    var text = text
    text.withUTF8 { p in
      switch mode {
      case .table: appendSanitized(p, into: &out)
      case .csv: appendCSVText(p, into: &out)
      }
    }
  }

  func appendMissing(into out: inout OutputBuffer) {
    if mode == .table { out.append(UInt8(ascii: "-")) }
  }

  func appendNumber(_ value: UInt64?, into out: inout OutputBuffer) {
    if let value { out.appendDecimal(value) } else { appendMissing(into: &out) }
  }

  func appendBytes(_ value: UInt64?, into out: inout OutputBuffer) {
    guard let value else { return appendMissing(into: &out) }
    if mode == .table && !options.exactBytes {
      appendHumanBytes(value, into: &out)
    } else {
      out.appendDecimal(value)
    }
  }

  // MARK: owners

  /// The owner shown in single-owner columns: the lowest pid (then fd), so the output does not
  /// depend on the order /proc was scanned in.
  func primaryOwner(_ flow: Flow) -> FlowOwner? {
    // Most sockets have one owner: no slice of the others to walk.
    guard flow.owners.count > 1 else { return flow.owners.first }
    guard var best = flow.owners.first else { return nil }
    for owner in flow.owners.dropFirst()
    where owner.pid < best.pid || (owner.pid == best.pid && owner.fd < best.fd) {
      best = owner
    }
    return best
  }

  /// How many distinct pids hold the flow besides the primary owner.
  func otherProcessCount(_ flow: Flow) -> Int {
    let owners = flow.owners
    if owners.count < 2 { return 0 }
    if owners.count <= 16 {
      var distinct = 0
      for i in owners.indices {
        var seen = false
        for j in 0..<i where owners[j].pid == owners[i].pid {
          seen = true
          break
        }
        if !seen { distinct += 1 }
      }
      return distinct - 1
    }
    return Set(owners.map(\.pid)).count - 1
  }

  /// `command.pid`, `+N` for N more processes; `?.pid` when the process was not read.
  func appendProcess(_ flow: Flow, into out: inout OutputBuffer) {
    guard let owner = primaryOwner(flow) else { return appendMissing(into: &out) }
    if !sharedTexts.appendCommand(of: owner.pid, into: &out) { out.append(UInt8(ascii: "?")) }
    out.append(UInt8(ascii: "."))
    out.appendDecimal(Int64(owner.pid))
    let others = otherProcessCount(flow)
    if others > 0 {
      out.append(UInt8(ascii: "+"))
      out.appendDecimal(UInt64(others))
    }
  }

  /// The flow at the other end of a UNIX socket pair, when it is in the snapshot.
  func peerFlow(_ flow: Flow) -> Flow? {
    guard let peer = flow.peerInode, let index = flowByInode[peer] else { return nil }
    return snapshot.flows[index]
  }

  // MARK: endpoints

  func appendEndpoint(
    _ endpoint: Endpoint, of flow: Flow, isRemote: Bool, into out: inout OutputBuffer
  ) {
    switch endpoint {
    case .ip(let address, let port):
      if address.isUnspecified && port == 0 {
        out.append("*:*")
        return
      }
      if let name = options.hostNames[address] {
        appendName(name, into: &out)
      } else {
        switch address {
        case .v4:
          if address.isUnspecified {
            out.append(UInt8(ascii: "*"))
          } else {
            formatAddress(address, into: &out)
          }
        case .v6:
          out.append(UInt8(ascii: "["))
          formatAddress(address, into: &out)
          out.append(UInt8(ascii: "]"))
        }
      }
      out.append(UInt8(ascii: ":"))
      if port == 0 {
        out.append(UInt8(ascii: "*"))
      } else if let service = options.serviceNames[port] {
        appendName(service, into: &out)
      } else {
        out.appendDecimal(UInt64(port))
      }
    case .unixPath(let path):
      appendName(path, into: &out)
    case .unixAbstract(let name):
      out.append(UInt8(ascii: "@"))
      appendAbstract(name, into: &out)
    case .packet(let interfaceIndex, let ethertype):
      appendInterface(interfaceIndex, wildcard: "*", into: &out)
      out.append("/0x")
      out.appendHex(UInt64(ethertype), minDigits: 4)
    case .netlink(let portID, let group):
      if portID == 0 && group == 0 && isRemote {
        out.append(UInt8(ascii: "*"))
        return
      }
      appendNetlinkProtocol(flow.protocolNumber, into: &out)
      out.append(UInt8(ascii: ":"))
      out.appendDecimal(UInt64(portID))
      if group != 0 {
        out.append(UInt8(ascii: "/"))
        out.appendDecimal(UInt64(group))
      }
    case .vsock(let cid, let port):
      if cid == UInt32.max { out.append(UInt8(ascii: "*")) } else { out.appendDecimal(UInt64(cid)) }
      out.append(UInt8(ascii: ":"))
      if port == UInt32.max {
        out.append(UInt8(ascii: "*"))
      } else {
        out.appendDecimal(UInt64(port))
      }
    case .none:
      out.append(UInt8(ascii: "*"))
    }
  }

  /// An abstract name with each NUL shown as `@`, like `ss`.
  func appendAbstract(_ name: [UInt8], into out: inout OutputBuffer) {
    var start = 0
    for (i, byte) in name.enumerated() where byte == 0 {
      if i > start { appendName(Array(name[start..<i]), into: &out) }
      out.append(UInt8(ascii: "@"))
      start = i + 1
    }
    if start == 0 {
      appendName(name, into: &out)
    } else if start < name.count {
      appendName(Array(name[start...]), into: &out)
    }
  }

  func appendRemote(_ flow: Flow, into out: inout OutputBuffer) {
    if flow.family == .unix {
      if let peer = peerFlow(flow), peer.isOwned {
        out.append("peer:")
        appendProcess(peer, into: &out)
        return
      }
      if case .none = flow.remote {
        out.append(UInt8(ascii: "*"))
        return
      }
    }
    appendEndpoint(flow.remote, of: flow, isRemote: true, into: &out)
  }

  func appendInterface(_ index: UInt32, wildcard: StaticString, into out: inout OutputBuffer) {
    if index == 0 {
      out.append(wildcard)
    } else if let name = options.interfaceNames[index] {
      appendName(name, into: &out)
    } else {
      out.appendDecimal(UInt64(index))
    }
  }

  func appendNetlinkProtocol(_ number: UInt16?, into out: inout OutputBuffer) {
    guard let number else { return out.append(UInt8(ascii: "?")) }
    switch number {
    case 0: out.append("rtnl")
    case 4: out.append("sock_diag")
    case 6: out.append("xfrm")
    case 9: out.append("audit")
    case 12: out.append("nfnetlink")
    case 15: out.append("uevent")
    case 16: out.append("genl")
    default: out.appendDecimal(UInt64(number))
    }
  }

  // MARK: cells

  func hasState(_ flow: Flow) -> Bool { flow.hasKnownState }

  /// What the State column shows for a socket no kernel table listed (legend: flowscope(8)).
  static let unlistedState: StaticString = "UNLISTED"

  /// A command line as one text: its arguments with spaces between.
  static func joined(_ arguments: [[UInt8]]) -> [UInt8] {
    Array(arguments.joined(separator: [UInt8(ascii: " ")]))
  }

  /// The width of a table cell computed without writing it, for the common cells of the
  /// default columns (the table's first pass measures 100k rows); nil where only writing the
  /// cell tells. Always what `appendCell` then writes: a test checks every column.
  func tableCellWidth(_ column: Column, of flow: Flow) -> Int? {
    guard mode == .table else { return nil }
    switch column {
    case .proto: return flow.proto.rawValue.utf8.count
    case .bytesIn: return bytesWidth(flow.counters.bytesIn)
    case .bytesOut: return bytesWidth(flow.counters.bytesOut)
    case .rtt:
      guard let tcp = flow.tcp, flow.socketState != .listen else { return 1 }
      return durationWidth(micros: UInt64(tcp.rttMicros))
    case .packetsIn: return numberWidth(flow.counters.packetsIn)
    case .packetsOut: return numberWidth(flow.counters.packetsOut)
    case .retrans: return numberWidth(flow.counters.retransmitsTotal.map(UInt64.init))
    case .netif: return flow.interfaceIndex == 0 ? 1 : nil
    case .state:
      if !flow.listedByKernel { return Self.unlistedState.utf8CodeUnitCount }
      guard hasState(flow), let state = flow.socketState else { return nil }
      return state.name.utf8.count
    case .local: return flow.listedByKernel ? endpointWidth(flow.local) : 1
    case .remote: return flow.family == .unix || !flow.listedByKernel ? nil : endpointWidth(flow.remote)
    case .process:
      guard let owner = primaryOwner(flow) else { return 1 }
      guard let command = sharedTexts.commandWidth(of: owner.pid), owner.pid > 0 else { return nil }
      let others = otherProcessCount(flow)
      return command + 1 + decimalWidth(UInt64(owner.pid))
        + (others > 0 ? 1 + decimalWidth(UInt64(others)) : 0)
    default: return nil
    }
  }

  private func numberWidth(_ value: UInt64?) -> Int { value.map(decimalWidth) ?? 1 }

  private func bytesWidth(_ value: UInt64?) -> Int {
    guard let value else { return 1 }
    return options.exactBytes ? decimalWidth(value) : humanBytesWidth(value)
  }

  /// An IPv4 endpoint's width, without host or service names; nil for the others.
  private func endpointWidth(_ endpoint: Endpoint) -> Int? {
    guard case .ip(let address, let port) = endpoint, case .v4(let value) = address,
      options.hostNames.isEmpty, options.serviceNames.isEmpty
    else { return nil }
    if value == 0 && port == 0 { return 3 }  // *:*
    var width = value == 0 ? 1 : 3  // `*`, or the three dots
    if value != 0 {
      for shift in stride(from: 0, to: 32, by: 8) {
        width += decimalWidth(UInt64((value >> UInt32(shift)) & 0xFF))
      }
    }
    return width + 1 + (port == 0 ? 1 : decimalWidth(UInt64(port)))
  }

  func appendCell(_ column: Column, of flow: Flow, into out: inout OutputBuffer) {
    switch column {
    case .proto:
      out.append(utf8: flow.proto.rawValue)
    case .local:
      // A socket no table listed has no address we know: not `*`, which means "any".
      guard flow.listedByKernel else { return appendMissing(into: &out) }
      appendEndpoint(flow.local, of: flow, isRemote: false, into: &out)
    case .remote:
      guard flow.listedByKernel else { return appendMissing(into: &out) }
      appendRemote(flow, into: &out)
    case .bytesIn: appendBytes(flow.counters.bytesIn, into: &out)
    case .bytesOut: appendBytes(flow.counters.bytesOut, into: &out)
    case .packetsIn: appendNumber(flow.counters.packetsIn, into: &out)
    case .packetsOut: appendNumber(flow.counters.packetsOut, into: &out)
    case .retrans: appendNumber(flow.counters.retransmitsTotal.map(UInt64.init), into: &out)
    case .netif:
      if flow.interfaceIndex == 0 {
        appendMissing(into: &out)
      } else {
        appendInterface(flow.interfaceIndex, wildcard: "", into: &out)
      }
    case .state:
      if !flow.listedByKernel {
        out.append(Self.unlistedState)
      } else if hasState(flow), let state = flow.socketState {
        out.append(utf8: state.name)
      } else if hasState(flow) {
        out.appendDecimal(UInt64(flow.state))
      } else {
        appendMissing(into: &out)
      }
    case .rtt:
      // A listening socket has no round trips: its zero RTT is not a measurement.
      guard let tcp = flow.tcp, flow.socketState != .listen else {
        return appendMissing(into: &out)
      }
      if mode == .table {
        appendDuration(micros: UInt64(tcp.rttMicros), into: &out)
      } else {
        out.appendDecimal(UInt64(tcp.rttMicros))
      }
    case .process:
      appendProcess(flow, into: &out)
    case .fd:
      if let owner = primaryOwner(flow) {
        out.appendDecimal(Int64(owner.fd))
      } else {
        appendMissing(into: &out)
      }
    case .user:
      if let owner = primaryOwner(flow), let user = snapshot.processes[owner.pid]?.user {
        appendName(user, into: &out)
      } else if let uid = flow.uid {
        out.appendDecimal(UInt64(uid))
      } else {
        appendMissing(into: &out)
      }
    case .sendQ:
      appendNumber(flow.listedByKernel ? UInt64(flow.sendQueue) : nil, into: &out)
    case .recvQ:
      appendNumber(flow.listedByKernel ? UInt64(flow.receiveQueue) : nil, into: &out)
    case .cgroup: appendNumber(flow.cgroupID, into: &out)
    case .netns:
      if let namespace = snapshot.namespaces[flow.netns] {
        appendName(namespace.label, into: &out)
      } else {
        out.appendDecimal(flow.netns)
      }
    case .cc:
      if let cc = flow.tcp?.congestionControl {
        appendName(cc, into: &out)
      } else {
        appendMissing(into: &out)
      }
    case .inode: out.appendDecimal(flow.inode)
    case .uid: appendNumber(flow.uid.map(UInt64.init), into: &out)
    case .cookie: appendNumber(flow.listedByKernel ? flow.cookie : nil, into: &out)
    case .mark:
      guard let mark = flow.mark else { return appendMissing(into: &out) }
      if mode == .table {
        out.append("0x")
        out.appendHex(UInt64(mark))
      } else {
        out.appendDecimal(UInt64(mark))
      }
    case .tos: appendNumber(flow.tos.map(UInt64.init), into: &out)
    case .drops: appendNumber(flow.socketDrops.map(UInt64.init), into: &out)
    case .shutdown:
      guard let shutdown = flow.shutdown else { return appendMissing(into: &out) }
      if mode == .table {
        // As `ss`: `<` while receiving is open, `>` while sending is open.
        out.append(UInt8(ascii: shutdown & 1 == 0 ? "<" : "-"))
        out.append(UInt8(ascii: "-"))
        out.append(UInt8(ascii: shutdown & 2 == 0 ? ">" : "-"))
      } else {
        out.appendDecimal(UInt64(shutdown))
      }
    case .cwnd: appendNumber(flow.tcp.map { UInt64($0.congestionWindow) }, into: &out)
    case .peer: appendNumber(flow.peerInode, into: &out)
    case .pid:
      if let owner = primaryOwner(flow) {
        out.appendDecimal(Int64(owner.pid))
      } else {
        appendMissing(into: &out)
      }
    case .command:
      if let owner = primaryOwner(flow) {
        if !sharedTexts.appendCommand(of: owner.pid, into: &out) { out.append(UInt8(ascii: "?")) }
      } else {
        appendMissing(into: &out)
      }
    case .flags:
      let flags = flow.health(options.health)
      if flags.isEmpty { return appendMissing(into: &out) }
      appendHealthFlags(flags, retries: flow.retryCount, into: &out)
    case .ppid:
      if let owner = primaryOwner(flow), let process = snapshot.processes[owner.pid] {
        out.appendDecimal(Int64(process.ppid))
      } else {
        appendMissing(into: &out)
      }
    case .exe, .cmdline:
      if let owner = primaryOwner(flow), let process = snapshot.processes[owner.pid],
        let text = column == .exe ? process.executable : process.commandLine.map(Self.joined)
      {
        appendName(text, into: &out)
      } else {
        appendMissing(into: &out)
      }
    case .unit, .container, .containerName:
      if let owner = primaryOwner(flow), let process = snapshot.processes[owner.pid],
        let name = column == .unit ? process.unit : column == .container ? process.container : process.containerName
      {
        appendName(name, into: &out)
      } else {
        appendMissing(into: &out)
      }
    }
  }
}
