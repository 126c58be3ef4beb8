import ArgumentParser

#if canImport(Glibc)
  import Glibc
#endif

/// The root command: `flowscope` alone lists flows, like `flowscope flow`.
@main
struct Flowscope: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flowscope",
    abstract: "Every process's sockets and flows: state, addresses, bytes, packets.",
    discussion: """
      Run with sudo to see every process's sockets; unprivileged, it shows all
      sockets but can name the owners of your own processes only, and says so on
      stderr.
      """,
    version: flowscopeVersion,
    subcommands: [
      FlowCommand.self, ProcCommand.self, CheckCommand.self, EventsCommand.self, WatchCommand.self,
      KillCommand.self, RecordCommand.self, MetricsCommand.self, ServeCommand.self,
      BenchFloorCommand.self, BenchDecodeCommand.self,
    ],
    defaultSubcommand: FlowCommand.self
  )

  /// Makes room for descriptors and checks there is room for memory (see `OpenFileLimit`,
  /// `AddressSpace`), then runs the chosen subcommand.
  static func main() {
    unblockEndingSignals()
    if let problem = OpenFileLimit.raise() ?? AddressSpace.check() {
      printError(problem)
      Glibc.exit(1)
    }
    // ArgumentParser's own `main` would do the same, except that a ValidationError thrown by
    // `run()` gets the root's usage (`Usage: flowscope <subcommand>`) instead of the command's.
    var command: ParsableCommand
    do {
      command = try parseAsRoot()
    } catch {
      exit(withError: error)
    }
    do {
      try command.run()
    } catch let error as ValidationError {
      exitWithUsageError(error, of: type(of: command))
    } catch {
      exit(withError: error)
    }
  }

  /// Prints a usage error of `subcommand` as ArgumentParser does for one thrown by
  /// `validate()` (the message, then the subcommand's usage and where its help is), and exits
  /// with 64 (EX_USAGE).
  static func exitWithUsageError(_ error: ValidationError, of subcommand: ParsableCommand.Type) -> Never {
    let names =
      subcommand == Flowscope.self
      ? configuration.commandName! : "\(configuration.commandName!) \(subcommand._commandName)"
    let usage = usageString(for: subcommand).split(separator: "\n", omittingEmptySubsequences: false)
      .joined(separator: "\n       ")
    writeToStandardError(
      "Error: \(error.message)\nUsage: \(usage)\n  See '\(names) --help' for more information.\n")
    Glibc.exit(ExitCode.validationFailure.rawValue)
  }
}

/// A signal mask is inherited across exec: started by a supervisor, or by a thread of a
/// program that blocks signals (Foundation's Process from a dispatch thread does), flowscope
/// would never see SIGTERM or SIGINT (`watch` and `flow -i` could not be stopped but by
/// SIGKILL) nor SIGWINCH. Unblocked on the main thread before any other thread starts; what was
/// ignored stays ignored (a background job's SIGINT). `events` blocks its own for a signalfd.
func unblockEndingSignals() {
  var signals = sigset_t()
  sigemptyset(&signals)
  for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH] { sigaddset(&signals, signal) }
  // pthread_sigmask(3)
  pthread_sigmask(SIG_UNBLOCK, &signals, nil)
}

/// RLIMIT_NOFILE. flowscope holds few descriptors (a netlink socket per network namespace, two
/// or three per /proc scan thread), but running out of them is fatal in a way no error path can
/// catch: libdispatch's thread-pool monitor opens /proc/<tid>/stat every second while work is
/// queued and deliberately crashes (SIGILL, no message) when that open fails. So the soft limit
/// is raised towards the hard one, as Go programs do at start, and a hard limit too small to
/// leave headroom is refused with one line instead of a random crash.
enum OpenFileLimit {
  /// Below this, a run with a few namespaces can exhaust the table.
  static let minimum: rlim_t = 64
  /// Raised to at most this: enough for thousands of namespaces, small enough to stay cheap.
  static let wanted: rlim_t = 1 << 16

  /// nil when there is room; else the one-line reason to stop.
  static func raise() -> String? {
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    var limit = rlimit()
    // getrlimit(2): if even that fails, carry on and let the calls that need descriptors say so.
    guard getrlimit(resource, &limit) == 0 else { return nil }
    if limit.rlim_cur < wanted, limit.rlim_cur < limit.rlim_max {
      var raised = limit
      raised.rlim_cur = min(limit.rlim_max, wanted)
      // setrlimit(2): raising the soft limit up to the hard one needs no privilege.
      if setrlimit(resource, &raised) == 0 { limit = raised }
    }
    guard limit.rlim_cur >= minimum else {
      return "too few open files allowed: RLIMIT_NOFILE is \(limit.rlim_cur) (hard \(limit.rlim_max)), "
        + "flowscope needs at least \(minimum); raise it with ulimit -n or prlimit --nofile"
    }
    return nil
  }
}

/// RLIMIT_AS and RLIMIT_DATA (`ulimit -v`, `ulimit -d`). Short of address space, threads cannot
/// start and libdispatch retries pthread_create for ever (a hang), and a failed Swift
/// allocation aborts the process (a crash). Neither can be caught where it happens, so a limit
/// that leaves less than `headroom` beyond what is mapped at start is refused with one line.
/// 128 MiB covers 100k sockets (40 MB peak RSS in bench/RESULTS.md) and the threads' stacks.
enum AddressSpace {
  static let headroom = 128 << 20

  /// nil when there is no limit or room under it; else the one-line reason to stop.
  static func check() -> String? {
    var limits: [(name: String, value: rlim_t)] = []
    for (name, resource) in [("-v", RLIMIT_AS), ("-d", RLIMIT_DATA)] {
      var limit = rlimit()
      // getrlimit(2); rlim_t.max is RLIM_INFINITY
      if getrlimit(__rlimit_resource_t(resource.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
        limits.append((name, limit.rlim_cur))
      }
    }
    guard !limits.isEmpty else { return nil }
    // mmap(2) a private writable region, never touched: it counts against both limits but
    // costs no memory; munmap(2) gives it back.
    let probe = mmap(nil, headroom, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    if let probe, probe != UnsafeMutableRawPointer(bitPattern: Int(-1)) {
      munmap(probe, headroom)
      return nil
    }
    let named = limits.map { "ulimit \($0.name) \($0.value / 1024) KiB" }.joined(separator: ", ")
    return "too little memory allowed (\(named)): flowscope needs \(headroom >> 20) MiB of "
      + "address space beyond its code; raise the limit"
  }
}
