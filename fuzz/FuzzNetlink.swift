// libFuzzer harness for every byte decoder of Sources/SockDiag. fuzz/run.sh compiles it together
// with the module's sources under `-module-name SockDiag`, so internal decoders are reachable too.
//
// The first input byte picks what the rest is fed to (selector % 40):
//   0..<18   one received datagram, decoded as the query of FSRECv1 tag `selector`
//            (tcp/udp/udplite/mptcp/raw/dccp/sctp over v4/v6, unix, packet, netlink, vsock);
//            destroy events (NetlinkTransport's decodeDestroyDatagram) are this same path
//   18..<36  one SOCK_DIAG_BY_FAMILY payload (no nlmsghdr) for query `selector - 18`, and tcp_info
//   36       an FSRECv1 record file (as --replay and the benchmarks read it)
//   37       netlink framing alone: messages, NLMSG_ERROR / NLMSG_DONE payloads, attributes
//   38       inet_diag bytecode (first 512 bytes): the audit and the interpreter
//   39       a filter description (first 160 bytes, see `filterProgram`) compiled, then audited
// Besides "never traps", a few properties are checked: the inode pre-filter keeps exactly
// what decoding everything and filtering would, record chunks re-encode to their own bytes,
// and compiled filters pass the kernel's audit.

private let queries: [SockDiagQuery] = (0..<18).map { RecordFile.query(forTag: UInt8($0))! }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetlink(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data, size > 0 else { return 0 }
  let selector = Int(data[0]) % 40
  let rest = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
  switch selector {
  case 0..<18: datagram(rest, query: queries[selector])
  case 18..<36: payload(rest, query: queries[selector - 18])
  case 36: recordFile(rest)
  case 37: framing(rest)
  // The audit is quadratic in the program's length, as the kernel's is: bounded inputs keep
  // these two modes from dragging the others' executions per second down.
  case 38: bytecode(UnsafeRawBufferPointer(rebasing: rest.prefix(512)))
  default: filterProgram(UnsafeRawBufferPointer(rebasing: rest.prefix(160)))
  }
  return 0
}

private func datagram(_ bytes: UnsafeRawBufferPointer, query: SockDiagQuery) {
  var all: [SocketRecord] = []
  let status = decodeDumpDatagram(bytes, query: query, into: &all)
  precondition(all.count <= status.messageCount)
  // Keep even inodes only: the pre-filter must agree with decode-then-filter.
  let keep: (UInt32) -> Bool = { $0 & 1 == 0 }
  var kept: [SocketRecord] = []
  _ = decodeDumpDatagram(bytes, query: query, keepingInodes: keep) { kept.append($0) }
  precondition(kept == all.filter { keep($0.inode) }, "inode pre-filter disagrees")
  for record in all { touch(record) }
}

private func payload(_ bytes: UnsafeRawBufferPointer, query: SockDiagQuery) {
  if let record = try? decodeSocketRecord(bytes, query: query) { touch(record) }
  let info = TCPInfo(bytes: bytes)
  precondition(info.length == bytes.count)
}

/// Reads the computed properties callers use, so their code runs under the sanitizer too.
private func touch(_ record: SocketRecord) {
  _ = record.cookie
  if case .inet(let socket) = record {
    _ = socket.tcpInfo?.ecnWord
    for i in 0..<17 { _ = socket.sourceAddress.byte(i) ^ socket.destinationAddress.byte(i) }
    _ = socket.sourceAddress.ipv4
  }
}

private func recordFile(_ bytes: UnsafeRawBufferPointer) {
  var offset = RecordFile.magic.count
  var records: [SocketRecord] = []
  try? RecordFile.forEachChunk(in: bytes) { query, datagram in
    // The chunk starts at `offset`; encoding what was read must give back the same bytes.
    let chunk = RecordFile.encodeChunk(query: query, datagram: datagram)
    precondition(chunk.elementsEqual(bytes[offset..<(offset + chunk.count)]), "chunk round trip")
    offset += chunk.count
    _ = decodeDumpDatagram(datagram, query: query, into: &records)
  }
}

private func framing(_ bytes: UnsafeRawBufferPointer) {
  try? forEachNetlinkMessage(in: bytes) { header, payload in
    precondition(payload.count == Int(header.length) - NetlinkHeader.size)
    _ = try? decodeNetlinkError(payload)
    _ = decodeDoneStatus(payload)
    walkAttributes(payload, depth: 0)
  }
}

private func walkAttributes(_ bytes: UnsafeRawBufferPointer, depth: Int) {
  var attributes = NetlinkAttributeDecoder(bytes)
  while attributes.next() {
    if depth < 3 { walkAttributes(attributes.payload, depth: depth + 1) }
  }
}

/// A v4 and a v6 (v4-mapped) socket for the interpreter to match.
private let entries = [
  InetDiagEntry(
    family: 2, sourceAddress: [127, 0, 0, 1], destinationAddress: [10, 1, 2, 3],
    sourcePort: 8080, destinationPort: 55676, interfaceIndex: 1),
  InetDiagEntry(
    family: 10, sourceAddress: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1],
    destinationAddress: [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1],
    sourcePort: 443, destinationPort: 40000, interfaceIndex: 2, userLocks: 8),
]

private func bytecode(_ bytes: UnsafeRawBufferPointer) {
  let code = Array(bytes)
  _ = InetDiagBytecode.audit(code)
  for entry in entries { _ = InetDiagBytecode.run(code, on: entry) }
}

/// Builds a filter from the bytes: per condition a kind byte, then its operands
/// (ports little-endian, addresses in network order), stopping when the bytes run out.
private func filterProgram(_ bytes: UnsafeRawBufferPointer) {
  var program = InetFilterProgram()
  var i = 0
  func take(_ n: Int) -> [UInt8]? {
    guard i + n <= bytes.count else { return nil }
    defer { i += n }
    return Array(bytes[i..<(i + n)])
  }
  func port(_ b: [UInt8]) -> UInt16 { UInt16(b[0]) | UInt16(b[1]) << 8 }
  func host(_ kind: UInt8) -> InetFilterProgram.HostCondition? {
    // kind bits: 0 v4/v6, 1 with a port; family 0 (port only) when the address is skipped.
    guard let meta = take(2) else { return nil }
    let portValue = kind & 2 != 0 ? take(2).map(port) : nil
    if meta[0] & 0x80 != 0 { return .port(portValue ?? 0) }
    let v6 = kind & 1 != 0
    guard let address = take(v6 ? 16 : 4) else { return nil }
    // Raw init on purpose: any prefix length, and now and then a family that does not fit.
    let family: UInt8 = meta[0] & 0x40 != 0 ? meta[0] & 0x0f : (v6 ? 10 : 2)
    return .init(family: family, address: address, prefixLength: meta[1], port: portValue)
  }
  while let kind = take(1)?[0] {
    switch kind % 6 {
    case 0: if let b = take(2) { program.ports.append(port(b)) }
    case 1: if let h = host(kind >> 3) { program.local.append(h) }
    case 2: if let h = host(kind >> 3) { program.remote.append(h) }
    case 3:
      if let b = take(4) {
        program.interfaces.append(b.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
      }
    case 4: program.usesEqualityOps.toggle()
    default: break
    }
  }
  guard let code = program.compile() else { return }
  precondition(InetDiagBytecode.audit(code), "compiled filter fails the kernel's audit")
  for entry in entries { _ = program.accepts(entry) }
}
