import ArgumentParser
import FlowInspector
import FlowModel
import FlowQuery
import FlowRender
import NetlinkTransport

#if canImport(Glibc)
  import Glibc
#endif

/// `flowscope events`: a line for every TCP and UDP flow that ends (and, with --new, begins).
struct EventsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "events",
    abstract: "Log each TCP/UDP flow that ends: owner, lifetime, final counters.",
    discussion: """
      Closes come from the kernel (the sock_diag destroy groups) with their final
      counters. As root, those of every network namespace the scans find are
      followed (--netns one of them, --host-netns flowscope's own); unprivileged,
      flowscope's own namespace only. Owners come from scans of the sockets and /proc every --scan-interval
      seconds: a flow born and gone between two scans has owner '?', and the
      summary counts them. Lifetime is at least the time since the first scan that
      saw the flow ('≥'). Lost messages (receive buffer overruns) are counted and
      reported on stderr. Ctrl-C or SIGTERM ends it with a summary on stderr.

      Examples:
        sudo flowscope events                      every closing TCP/UDP flow
        sudo flowscope events --new -C nginx       nginx's flows as they come and go
        sudo flowscope events -p tcp --port 443 --json | jq .
      """
  )

  @OptionGroup(title: "Filters") var filters: FilterOptions

  @OptionGroup var form: FormatOptions<StreamFormats>

  @Flag(help: "Also log flows as the scans first see them.")
  var new = false

  @Option(help: ArgumentHelp("Seconds between scans for owners and new flows.", valueName: "seconds"))
  var scanInterval: Double = 1

  @Option(help: "Stop after N events.")
  var count: Int?

  @Option(help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
  var duration: Double?

  @Option(
    help: ArgumentHelp(
      "Receive buffer for the kernel's messages, in MiB (it grows after an overrun).", valueName: "MiB"))
  var buffer: Int = 32

  @Flag(name: [.customShort("H"), .customLong("no-header")], help: "Leave out the header line.")
  var noHeader = false

  @Flag(help: "Print exact byte counts instead of human units.")
  var bytes = false

  @OptionGroup var debug: DebugOptions

  func validate() throws {
    if !(scanInterval > 0) { throw ValidationError("--scan-interval must be a positive number of seconds.") }
    if let count, count < 1 { throw ValidationError("--count must be at least 1.") }
    if let duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds.") }
    if buffer < 1 { throw ValidationError("--buffer must be at least 1 MiB.") }
    let namesStates = try filters.parsedExpression().mentions([.state, .stateCode])
    if !filters.state.isEmpty || filters.listening || namesStates {
      throw ValidationError(
        "--state, --listening and state tests do not apply to events: every socket ends in state CLOSE.")
    }
    _ = try selection()
  }

  /// The query, and the protocols to follow: TCP and UDP, or those of them it names.
  func selection() throws -> (CommandSelection, Set<TransportProtocol>) {
    let selection = try CommandSelection(filters, scope: .events, debug: debug)
    let (follow, unsupported) = FlowEvent.protocolsToFollow(
      named: selection.namedProtocols, planned: selection.plan.protocols)
    if !unsupported.isEmpty {
      throw ValidationError(
        "events follows tcp and udp only (the kernel announces no other closes); not: "
          + unsupported.map(\.rawValue).joined(separator: ", ") + ".")
    }
    return (selection, follow)
  }

  func run() throws {
    Terminal.ignoreBrokenPipeSignal()
    var (selection, protocols) = try selection()
    // Each periodic scan reads every owner again: from one pass of the BPF iterator when it
    // can be used (root), else from /proc.
    if try selection.explain(filters, what: "closed flows", debug: debug) { return }
    // --owners bpf where the iterator cannot be used fails here, in one line.
    if debug.owners == .bpf { _ = try makeFlowInspector(debug) }
    selection.inspect.protocols = protocols
    // The kernel announces the closes of a namespace to sockets opened inside it: one per
    // namespace followed. As root, every namespace the scans find; else flowscope's own.
    var namespace: (inode: UInt64, path: String)? = nil
    if let netns = filters.netns {
      switch networkNamespaceTarget(netns, procRoot: debug.procRoot) {
      case .success(let target): namespace = target
      case .failure(let error): throw ValidationError("--netns: \(error).")
      }
    } else if geteuid() != 0 || filters.hostNetns {
      selection.inspect.namespaces = .own
    }
    // Every state but the kernel's own leftovers (TIME_WAIT and request sockets have no owner).
    let skipped: [SocketState] = [.timeWait, .synReceived, .newSynReceived]
    selection.inspect.states = skipped.reduce(UInt32(0xffff_ffff)) { $0 & ~(1 << UInt32($1.rawValue)) }
    selection.inspect.requestFilters = [:]

    var groups: [DestroyGroup] = []
    if protocols.contains(.tcp) {
      if selection.inspect.ipv4 { groups.append(.tcp4) }
      if selection.inspect.ipv6 { groups.append(.tcp6) }
    }
    if protocols.contains(.udp) {
      if selection.inspect.ipv4 { groups.append(.udp4) }
      if selection.inspect.ipv6 { groups.append(.udp6) }
    }

    var options = FlowEventMonitorOptions(inspect: selection.inspect, groups: groups)
    options.scanInterval = scanInterval
    options.bufferBytes = buffer << 20
    options.maximumBufferBytes = max(512 << 20, options.bufferBytes)
    options.reportNew = new
    options.handleSignals = true
    options.duration = duration
    options.namespace = namespace
    options.everyNamespace = namespace == nil && selection.inspect.namespaces == .all

    let monitor: FlowEventMonitor
    do {
      monitor = try FlowEventMonitor(options: options)
    } catch {
      if error.errno == EPERM || error.errno == EACCES {
        throw RuntimeError(
          "cannot join the sock_diag destroy groups (\(error)): flowscope events needs root or CAP_NET_ADMIN")
      }
      throw RuntimeError("cannot open the sock_diag destroy socket: \(error)")
    }
    if !monitor.bufferForced && monitor.receiveBufferBytes < options.bufferBytes {
      printError(
        "warning: receive buffer is \(monitor.receiveBufferBytes >> 10) KiB, not the \(buffer) MiB asked (net.core.rmem_max); events may be lost under load"
      )
    }

    var render = EventRenderer.Options()
    render.exactBytes = bytes
    render.host = hostName()
    let query = selection.query
    var logged = 0
    var unknownLogged = 0
    var hiddenUnknown = 0
    let json = form.effective == .ndjson
    var headerDone = json || noHeader
    var closedOutput = false
    var failure: Error? = nil
    var out = OutputBuffer(capacity: 4096)

    func emit() -> FlowEventVerdict {
      do {
        try writeAll(out.bytes)
      } catch is OutputClosed {
        closedOutput = true
        return .stop
      } catch {
        failure = error
        return .stop
      }
      out.removeAll()
      return .goOn
    }

    let summary = monitor.run { report in
      switch report {
      case .event(let event):
        guard query.matches(event.flow, QueryContext(processes: event.processes)) else {
          if !event.wasSeen { hiddenUnknown += 1 }
          return .goOn
        }
        if !headerDone {
          EventRenderer.appendHeader(into: &out)
          headerDone = true
        }
        if json {
          EventRenderer.appendJSONLine(event, options: render, into: &out)
        } else {
          EventRenderer.appendTableLine(event, options: render, into: &out)
        }
        logged += 1
        if !event.wasSeen { unknownLogged += 1 }
        if emit() == .stop { return .stop }
        if let count, logged >= count { return .stop }
        return .goOn
      case .lost(let lost, let bufferBytes):
        let what = lost.map { "\($0) flow event(s)" } ?? "flow events (how many is unknown)"
        printError(
          "warning: \(what) lost: the kernel's receive buffer overflowed; it is now \(bufferBytes >> 20) MiB")
        if json {
          EventRenderer.appendLostLine(
            count: lost, bufferBytes: bufferBytes, time: currentTime(), options: render, into: &out)
          return emit()
        }
        return .goOn
      case .ready(let flows):
        printError(
          "watching closes of \(protocols.map(\.rawValue).sorted().joined(separator: ", ")) flows; \(flows) known from the first scan, rescanning every \(scanInterval) s"
        )
        return .goOn
      case .warning(let text):
        printError("warning: " + text)
        return .goOn
      }
    }
    if closedOutput { return }
    if let failure { throw failure }

    var parts = ["\(logged) event(s) logged (\(summary.closes) closes seen, \(summary.news) new)"]
    parts.append("\(unknownLogged) of unknown owner (born and gone between two scans)")
    if hiddenUnknown > 0 {
      parts.append("\(hiddenUnknown) more of unknown owner not shown: the filters need an owner")
    }
    parts.append("\(summary.lost) lost")
    if summary.undecodable > 0 { parts.append("\(summary.undecodable) undecodable") }
    printError(parts.joined(separator: "; "))
  }
}
