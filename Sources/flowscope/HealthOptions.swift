import ArgumentParser
import FlowInspector
import FlowModel

/// Where the health flags start. Shared by `flow` (the Flags column), `proc` and `check`.
struct HealthOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Flag established TCP connections with no data either way for this long as idle (default 300).",
      valueName: "seconds"))
  var idle: Double?

  @Option(
    help: ArgumentHelp(
      "Flag connections whose queued data has had no acknowledgement for this long as stalled (default 5).",
      valueName: "seconds"))
  var stall: Double?

  @Option(
    name: .customLong("recv-backlog"),
    help: ArgumentHelp(
      "Flag connections with at least this many unread bytes as recv-backlog (default 65536).",
      valueName: "bytes"))
  var recvBacklog: UInt64?

  @Option(
    name: .customLong("fd-threshold"),
    help: ArgumentHelp(
      "Flag processes using at least this percent of their open-file limit as fd-pressure (default 80).",
      valueName: "percent"))
  var fdThreshold: Double?

  @Option(
    name: .customLong("syn-retries"),
    help: ArgumentHelp(
      "Flag connections in SYN_SENT that retried their SYN this many times as unreachable (default 2).",
      valueName: "n"))
  var synRetries: UInt8?

  @Option(
    name: .customLong("ports-threshold"),
    help: ArgumentHelp(
      "Flag a destination using this percent of the namespace's local port range as ports-exhausted (default 80).",
      valueName: "percent"))
  var portsThreshold: Double?

  @Option(
    name: .customLong("orphans-threshold"),
    help: ArgumentHelp(
      "Flag the host when orphaned TCP sockets reach this percent of tcp_max_orphans (default 50).",
      valueName: "percent"))
  var orphansThreshold: Double?

  @Option(
    name: .customLong("listen-drops"),
    help: ArgumentHelp(
      "With two samples (check -i): flag this many connection attempts dropped at listeners (default 1).",
      valueName: "n"))
  var listenDrops: UInt64?

  @Option(
    name: .customLong("leak-threshold"),
    help: ArgumentHelp(
      "Flag processes holding at least this many TCP/UDP sockets that are neither bound nor connected as socket-leak (default 16; 0: never).",
      valueName: "sockets"))
  var leakThreshold: Int?

  func validate() throws {
    if let synRetries, synRetries == 0 { throw ValidationError("--syn-retries must be at least 1.") }
    if let portsThreshold, !(portsThreshold > 0 && portsThreshold <= 100) {
      throw ValidationError("--ports-threshold must be a percentage above 0, at most 100.")
    }
    if let orphansThreshold, !(orphansThreshold > 0 && orphansThreshold <= 100) {
      throw ValidationError("--orphans-threshold must be a percentage above 0, at most 100.")
    }
    if let listenDrops, listenDrops == 0 { throw ValidationError("--listen-drops must be at least 1.") }
    if let leakThreshold, leakThreshold < 0 {
      throw ValidationError("--leak-threshold must be a number of sockets, 0 or more.")
    }
    if let idle, !(idle > 0) { throw ValidationError("--idle must be a positive number of seconds.") }
    if let stall, !(stall > 0) { throw ValidationError("--stall must be a positive number of seconds.") }
    if let recvBacklog, recvBacklog == 0 { throw ValidationError("--recv-backlog must be at least 1.") }
    if let fdThreshold, !(fdThreshold > 0 && fdThreshold <= 100) {
      throw ValidationError("--fd-threshold must be a percentage above 0, at most 100.")
    }
  }

  var thresholds: HealthThresholds {
    var thresholds = HealthThresholds()
    if let idle { thresholds.idleMs = UInt64((idle * 1000).rounded()) }
    if let stall { thresholds.stalledMs = UInt64((stall * 1000).rounded()) }
    if let recvBacklog { thresholds.recvBacklogBytes = recvBacklog }
    if let fdThreshold { thresholds.fdPressurePercent = fdThreshold }
    if let synRetries { thresholds.unreachableSynRetries = synRetries }
    if let portsThreshold { thresholds.portsPercent = portsThreshold }
    if let orphansThreshold { thresholds.orphansPercent = orphansThreshold }
    if let listenDrops { thresholds.listenDropsMinimum = listenDrops }
    if let leakThreshold { thresholds.socketLeakCount = leakThreshold }
    return thresholds
  }
}
