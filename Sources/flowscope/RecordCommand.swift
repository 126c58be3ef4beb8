import ArgumentParser
import FlowInspector
import FlowModel
import FlowRecording
import NetlinkTransport

#if canImport(Glibc)
  import Glibc
#endif

/// `flowscope record --output FILE`: every socket of every namespace and its owners, to replay later.
struct RecordCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "record",
    abstract: "Capture what a listing needs into a file, to look at later with --replay.",
    discussion: """
      Records the raw sock_diag replies of every protocol, state and network
      namespace, the owning processes (pid, fd, command, user, limits), the host,
      the kernel and the time. `flowscope --replay FILE` (and proc, check, watch)
      then prints what it would have printed at that moment, on any machine. The
      file holds process names and addresses: treat it like a packet capture.

      Examples:
        sudo flowscope record --output now.fsrec             one snapshot
        sudo flowscope record --output incident.fsrec -i 5 --count 60   five minutes
        flowscope --replay now.fsrec 'state == close-wait'
        flowscope watch --replay incident.fsrec --speed 10
      """
  )

  @Option(help: ArgumentHelp("The file to write (created mode 0600).", valueName: "file"))
  var output: String?

  /// `-o`, record's short name for --output until `-o` came to mean --columns in every command:
  /// read only to say so.
  @Option(name: .customShort("o"), help: .hidden)
  var formerOutput: String?

  @Option(
    name: [.customShort("i"), .long],
    help: ArgumentHelp("Seconds between snapshots, with --count.", valueName: "seconds"))
  var interval: Double = 1

  @Option(help: "How many snapshots to record.")
  var count: Int = 1

  @OptionGroup var debug: DebugOptions

  func validate() throws {
    if formerOutput != nil {
      throw ValidationError("record writes to --output FILE; -o is --columns, in the commands that print tables.")
    }
    if output == nil { throw ValidationError("record needs --output FILE, the file to write.") }
    if !(interval > 0) || !interval.isFinite {
      throw ValidationError("--interval must be a positive number of seconds.")
    }
    if count < 1 { throw ValidationError("--count must be at least 1.") }
    if debug.replay != nil { throw ValidationError("record reads this machine; --replay does not apply.") }
  }

  func run() throws {
    guard let output else { throw ValidationError("record needs --output FILE, the file to write.") }
    let inspector: FlowInspector
    do {
      inspector = try FlowInspector()
    } catch {
      throw RuntimeError("cannot open a sock_diag netlink socket: \(error)")
    }
    inspector.capturesDatagrams = true
    // Everything a later query may ask for: every protocol and state, every namespace.
    var options = InspectOptions()
    options.procRoot = debug.procRoot
    options.readsKernelCounters = true
    options.keepsNamespaceFlows = true
    let file: FileWriter
    do {
      file = try FileWriter(path: output)
      try file.write(
        RecordingWriter.header(
          RecordingHeader(host: hostName(), kernel: kernelRelease(), writer: "flowscope \(flowscopeVersion)")))
    } catch {
      throw RuntimeError("cannot write \(output): \(error)")
    }
    var reported = Set<String>()
    var sockets = 0
    var deadline = monotonicNow()
    for index in 0..<count {
      if index > 0 {
        deadline += interval
        let now = monotonicNow()
        if deadline > now { sleepSeconds(deadline - now) } else { deadline = now }
      }
      let snapshot = inspector.snapshot(options)
      reportWarnings(snapshot, named: [], reported: &reported)
      let frame = RecordedFrame(snapshot, datagrams: inspector.takeCapturedDatagrams())
      sockets += snapshot.flows.count
      do {
        try file.write(RecordingWriter.frame(frame))
      } catch {
        throw RuntimeError("cannot write \(output): \(error)")
      }
    }
    let perSocket = sockets > 0 ? file.bytesWritten / sockets : 0
    printError(
      "recorded \(count) snapshot(s), \(sockets) sockets, \(file.bytesWritten) bytes (\(perSocket) per socket) in \(output)"
    )
  }
}

/// The kernel's release, as `uname -r` prints it.
func kernelRelease() -> String {
  var names = utsname()
  // uname(2)
  guard uname(&names) == 0 else { return "" }
  return withUnsafeBytes(of: names.release) { raw in
    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
  }
}
