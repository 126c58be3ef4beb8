import ArgumentParser

/// The root command: `flowscope` alone lists flows, like `flowscope flow`.
@main
struct Flowscope: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flowscope",
    abstract: "Show every process's sockets and flows: state, addresses, bytes and packets.",
    discussion: """
      Run with sudo to see every process's sockets; unprivileged, it shows all sockets
      but can name the owners of your own processes only, and says so on stderr.
      """,
    version: flowscopeVersion,
    subcommands: [FlowCommand.self, ProcCommand.self, CheckCommand.self, EventsCommand.self, WatchCommand.self, BenchFloorCommand.self, BenchDecodeCommand.self],
    defaultSubcommand: FlowCommand.self
  )
}

let flowscopeVersion = "0.1.0"
