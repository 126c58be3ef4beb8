import ArgumentParser
import FlowInspector
import FlowModel
import FlowRender
import NetlinkTransport
import ProcFS
import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

// Hidden subcommands for bench/: they measure flowscope's floor (what the kernel and /proc cost
// before any decoding, joining or rendering) and the CPU-bound part of the pipeline on a
// recording. Not documented in the man page; `bench/README.md` explains them.

/// `flowscope bench-floor --dump-only|--scan-only [filters]`: the two halves of a listing alone.
struct BenchFloorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-floor",
    abstract: "Time the netlink dump alone (raw bytes, no decoding) or the /proc scan alone.",
    shouldDisplay: false
  )

  @Flag(help: "Only send the dump requests and receive the replies; decode nothing.")
  var dumpOnly = false
  @Flag(help: "With --dump-only: also decode every record (no join, no rendering).")
  var decode = false
  @Flag(help: "Only scan /proc as the listing would (every process, or those of -P).")
  var scanOnly = false
  @Option(help: "Scanner threads.") var threads = 2
  @OptionGroup(title: "Filters") var filters: FilterOptions
  @OptionGroup var debug: DebugOptions

  func validate() throws {
    if dumpOnly == scanOnly {
      throw ValidationError("give exactly one of --dump-only, --scan-only")
    }
  }

  func run() throws {
    let selection = try CommandSelection(filters, scope: .flows, debug: debug)
    let start = monotonicNow()
    var line: String
    if dumpOnly {
      let socket = try NetlinkSocket()
      var messages = 0
      var bytes = 0
      var records: [SocketRecord] = []
      var decoded = 0
      var sequence: UInt32 = 1
      for query in selection.inspect.queries {
        sequence &+= 1
        let proto = query.transportProtocol
        let states: UInt32 =
          proto.hasConnectionStates
          ? selection.inspect.requestFilters[proto]?.states ?? selection.inspect.states : 0xffff_ffff
        try socket.send(SockDiagRequest.encode(query, sequence: sequence, states: states))
        var finished = false
        while !finished {
          let datagram = try socket.receive()
          bytes += datagram.count
          if decode {
            records.removeAll(keepingCapacity: true)
            let status = decodeDumpDatagram(datagram, query: query, into: &records)
            decoded += records.count
            messages += status.messageCount
            finished = status.finished
          } else {
            try forEachNetlinkMessage(in: datagram) { header, _ in
              if header.type == NetlinkConstants.sockDiagByFamily
                || header.type == NetlinkConstants.tcpDiagGetSock
              {
                messages += 1
              }
              if header.type == NetlinkConstants.done || header.type == NetlinkConstants.error {
                finished = true
              }
            }
          }
        }
      }
      line = "dump: \(messages) messages, \(bytes) bytes"
      if decode { line += ", \(decoded) records decoded" }
    } else {
      let scanner = ProcScanner(
        options: ProcScanOptions(
          root: selection.inspect.procRoot, pids: selection.inspect.pids, threads: threads))
      let scan = scanner.scan()
      let sockets = scan.processes.reduce(0) { $0 + $1.sockets.count }
      line = "scan: \(scan.processes.count) processes, \(sockets) socket fds"
    }
    let elapsed = monotonicNow() - start
    printError(line + ", \(fixed(elapsed, 3)) s")
  }
}

/// `flowscope bench-decode FILE [--repeat N]`: replays a recorded dump (FSRECv1) through the
/// decoder, then through the whole CPU pipeline (decode, convert to flows, render), and prints
/// records per second. No kernel, no /proc: a regression in decoding or rendering shows here.
struct BenchDecodeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-decode",
    abstract: "Decode a recorded dump repeatedly and print records per second.",
    shouldDisplay: false
  )

  @Argument(help: "A recording made with --record (FSRECv1).") var file: String
  @Option(name: .customLong("repeat"), help: "Passes over the recording per measurement.")
  var passCount: Int = 20
  @Flag(help: "Only the decoder (skip the flow conversion and rendering stages).")
  var decodeOnly = false
  @Option(help: "Only this stage after decoding: snapshot, table or json (for profiling).")
  var only: String?

  func run() throws {
    let bytes = try readFile(file)
    var chunks: [(SockDiagQuery, [UInt8])] = []
    try bytes.withUnsafeBytes { raw in
      try RecordFile.forEachChunk(in: raw) { query, datagram in
        chunks.append((query, Array(datagram)))
      }
    }
    let passes = max(1, passCount)
    printLine(
      "sizes:    SocketRecord \(MemoryLayout<SocketRecord>.stride) B, InetSocket "
        + "\(MemoryLayout<InetSocket>.stride) B, Flow \(MemoryLayout<Flow>.stride) B, TCPInfo \(MemoryLayout<TCPInfo>.stride) B, UnixSocket \(MemoryLayout<UnixSocket>.stride), PacketSocket \(MemoryLayout<PacketSocket>.stride)"
    )

    // 1. The decoder alone: datagram → [SocketRecord].
    var records: [SocketRecord] = []
    records.reserveCapacity(256)
    var count = 0
    var best = Double.infinity
    for _ in 0..<(only == nil ? 3 : 0) {
      count = 0
      let start = monotonicNow()
      for _ in 0..<passes {
        for (query, datagram) in chunks {
          records.removeAll(keepingCapacity: true)
          _ = datagram.withUnsafeBytes { decodeDumpDatagram($0, query: query, into: &records) }
          count += records.count
        }
      }
      best = min(best, monotonicNow() - start)
    }
    let perPass = count / passes
    if only == nil {
      printLine(
        "decode:   \(perPass) records x \(passes) passes: \(fixed(best * 1000 / Double(passes), 1)) ms/pass, "
          + "\(fixed(Double(count) / best / 1e6, 2)) M records/s")
    }
    if decodeOnly { return }

    // 2. Decode + convert + join (against an empty /proc), as `flowscope --replay` does.
    let source = try ReplaySource(bytes: bytes)
    let inspector = FlowInspector(source: source)
    var options = InspectOptions()
    options.procRoot = "/nonexistent-bench-proc"
    options.states = 0xffff_ffff
    let queries = Set(chunks.map(\.0))
    options.protocols = options.protocols.filter { name in
      InspectOptions(protocols: [name]).queries.contains { query in
        queries.contains(query) || query.perFamily.allSatisfy(queries.contains)
      }
    }
    var snapshot = inspector.snapshot(options)
    best = .infinity
    let snapshotPasses = max(1, passes / 4)
    for _ in 0..<(only == nil || only == "snapshot" ? 3 : 0) {
      let start = monotonicNow()
      for _ in 0..<snapshotPasses { snapshot = inspector.snapshot(options) }
      best = min(best, monotonicNow() - start)
    }
    let flows = snapshot.flows.count
    if only == nil || only == "snapshot" {
      printLine(
        "snapshot: \(flows) flows x \(snapshotPasses) passes: "
          + "\(fixed(best * 1000 / Double(snapshotPasses), 1)) ms/pass, "
          + "\(fixed(Double(flows * snapshotPasses) / best / 1e6, 2)) M flows/s")
    }

    // 3. Rendering the snapshot: table and JSON.
    var render = RenderOptions()
    render.terminalWidth = nil
    for (name, json) in [("table", false), ("json", true)] where only == nil || only == name {
      var buffer = OutputBuffer()
      best = .infinity
      var size = 0
      for _ in 0..<3 {
        let start = monotonicNow()
        for _ in 0..<snapshotPasses {
          buffer = OutputBuffer()
          if json {
            JSONRenderer.render(snapshot, options: render, into: &buffer)
          } else {
            TableRenderer.render(snapshot, options: render, into: &buffer)
          }
        }
        best = min(best, monotonicNow() - start)
        size = buffer.count
      }
      printLine(
        "\(name):\(name == "json" ? "     " : "    ") \(flows) flows, \(size) bytes: "
          + "\(fixed(best * 1000 / Double(snapshotPasses), 1)) ms/pass, "
          + "\(fixed(Double(flows * snapshotPasses) / best / 1e6, 2)) M flows/s")
    }
  }

  private func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw RuntimeError("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var contents: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw RuntimeError("cannot read \(path): \(String(cString: strerror(errno)))")
      }
      if n == 0 { return contents }
      contents.append(contentsOf: chunk[0..<n])
    }
  }
}

/// `value` with `digits` decimals, without Foundation.
func fixed(_ value: Double, _ digits: Int) -> String {
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  let scaled = Int64((value * scale).rounded())
  let whole = scaled / Int64(scale)
  var fraction = String(scaled % Int64(scale))
  while fraction.count < digits { fraction = "0" + fraction }
  return digits == 0 ? "\(whole)" : "\(whole).\(fraction)"
}

/// One line on standard output.
func printLine(_ text: String) {
  try? writeAll(Array((text + "\n").utf8))
}
