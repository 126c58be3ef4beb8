import ArgumentParser
import FlowInspector
import FlowModel
import FlowRender

#if canImport(Glibc)
  import Glibc
#endif

/// Which flows to show. Shared by every subcommand that lists flows.
struct FilterOptions: ParsableArguments {
  @Option(name: [.customShort("P"), .long], help: "Only flows of this process (repeatable).")
  var pid: [Int32] = []

  @Option(
    name: [.customShort("C"), .long],
    help: "Only processes whose name contains this (repeatable; see --exact).")
  var command: [String] = []

  @Flag(help: "Match --command names exactly.")
  var exact = false

  @Option(name: [.short, .long], help: "Only sockets of this user (name or uid; repeatable).")
  var user: [String] = []

  @Option(
    name: [.short, .customLong("proto")],
    help: ArgumentHelp(
      "Protocols, comma-separated: tcp, udp, udplite, mptcp, raw, sctp, unix, packet, netlink, vsock, inet (the IP ones), all.",
      valueName: "list"))
  var proto: [String] = []

  @Flag(name: .customShort("4"), help: "Only IPv4.")
  var ipv4Only = false

  @Flag(name: .customShort("6"), help: "Only IPv6.")
  var ipv6Only = false

  @Option(name: [.customShort("I"), .long], help: "Only sockets bound to this interface (name or index).")
  var interface: [String] = []

  @Option(
    help: ArgumentHelp(
      "States or groups (repeatable): established, syn-sent, close-wait, listen, unconn, ..., or connected, synchronized, listening, closing, bucket, big, all.",
      valueName: "state"))
  var state: [String] = []

  @Option(help: "Only flows with this port at either end (repeatable).")
  var port: [UInt16] = []

  @Option(
    help: ArgumentHelp("Local address[/prefix][:port] to match, e.g. 127.0.0.0/8:80, [::1]:53, :22.", valueName: "addr")
  )
  var local: [String] = []

  @Option(help: ArgumentHelp("Remote address[/prefix][:port] to match.", valueName: "addr"))
  var remote: [String] = []

  @Flag(name: [.short, .long], help: "Only listening and unconnected sockets.")
  var listening = false

  @Flag(name: [.short, .long], help: "Also listening and unconnected sockets (default: connected ones only).")
  var all = false

  @Option(
    help: ArgumentHelp(
      "Only this network namespace: a name under /run/netns, a path, or a pid (default: all of them, as root).",
      valueName: "name|path|pid"))
  var netns: String?

  @Flag(help: "Only flowscope's own network namespace.")
  var hostNetns = false

  @Flag(help: "Print what the kernel filters and what is checked after, then stop.")
  var explain = false

  @Argument(
    help: ArgumentHelp(
      "A query, e.g. 'state == established and dport == 443' (see FILTERS in flowscope(8)).",
      valueName: "expression"))
  var expression: [String] = []

  func validate() throws { _ = try parsedExpression() }
}

extension OutputFormat: ExpressibleByArgument {}

/// `--format` and `-J`/`--json`, declared once for every command: `--format` names the output,
/// and `-J` is the command's JSON form (`--format json` where it prints once, `--format ndjson`
/// where it streams), so that it always gives what `jq` reads. `-J` wins over `--format`, as it
/// always did.
struct FormatOptions<Formats: CommandFormats>: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Output format: \(Formats.formats.map(\.rawValue).joined(separator: ", ")).", valueName: "format"),
    completion: .list(Formats.formats.map(\.rawValue)))
  var format: OutputFormat?

  @Flag(
    name: [.customShort("J"), .long],
    help: "JSON output: the same as --format \(Formats.jsonForm.rawValue).")
  var json = false

  func validate() throws {
    if let format, let refusal = Formats.refusal(of: format) { throw ValidationError(refusal) }
  }

  /// The format asked for, nil when neither option was given.
  var chosen: OutputFormat? { json ? Formats.jsonForm : format }

  /// The format to write: `table` unless asked otherwise.
  var effective: OutputFormat { chosen ?? .table }
}

/// How to print. Shared by every subcommand that prints.
struct OutputOptions: ParsableArguments, TableLook {
  enum ColorMode: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never

    /// Whether to colour: `auto` colours a terminal unless NO_COLOR is set and not empty
    /// (no-color.org). The one place this rule is written.
    func enabled(terminal: Bool = Terminal.stdoutIsTerminal) -> Bool {
      switch self {
      case .always: true
      case .never: false
      case .auto: terminal && getenv("NO_COLOR").map { $0.pointee == 0 } ?? true
      }
    }
  }

  @OptionGroup var form: FormatOptions<ListingFormats>

  @OptionGroup var look: TableLookOptions

  @Flag(name: [.short, .long], help: "Numeric addresses and ports (the default).")
  var numeric = false

  @Flag(name: [.short, .long], help: "Resolve addresses and ports to names (2 s limit in all).")
  var resolve = false

  @OptionGroup var repeating: IntervalOption

  @Option(help: "With --interval: stop after N repetitions.")
  var count: Int?

  /// `-i/--interval`: repeat every this many seconds; nil for once.
  var interval: Double? { repeating.interval }

  var effectiveFormat: OutputFormat { form.effective }

}

/// `-i/--interval SECONDS` of `flow`, `proc` and `check`, with `-w`, its spelling before every
/// command said `-i`, still read but left out of --help. (`watch` and `record` declare their own
/// `-i/--interval`, which has a default.)
struct IntervalOption: ParsableArguments {
  @Option(
    name: [.customShort("i"), .customLong("interval")],
    help: ArgumentHelp("Repeat every this many seconds.", valueName: "seconds"))
  var given: Double?

  @Option(name: .customShort("w"), help: .hidden)
  var formerSpelling: Double?

  var interval: Double? { given ?? formerSpelling }
}

/// How `kill` prints: the options of `OutputOptions` that apply to a listing made once, as a
/// table or as JSON.
struct KillOutputOptions: ParsableArguments, TableLook {
  @OptionGroup var form: FormatOptions<ReportFormats>

  @OptionGroup var look: TableLookOptions
}

/// What the table of flows looks like: the options `OutputOptions` and `KillOutputOptions`
/// share, declared once.
struct TableLookOptions: ParsableArguments {
  @Option(
    name: [.customShort("o"), .long],
    help: ArgumentHelp(
      "Columns, comma-separated; a leading + adds to the default ones (see COLUMNS in the man page).",
      valueName: "list"))
  var columns: [String] = []

  @Option(
    parsing: .unconditional,
    help: ArgumentHelp("Sort by this column; a leading - sorts descending (--sort -bytes-in).", valueName: "field"))
  var sort: String?

  @Flag(name: [.customShort("H"), .customLong("no-header")], help: "Leave out the header line.")
  var noHeader = false

  @Flag(help: "Do not truncate columns to the terminal width.")
  var wide = false

  @Flag(help: "Print exact byte counts instead of human units.")
  var bytes = false

  @Option(help: "Colour: auto (a terminal without NO_COLOR), always or never.")
  var color: OutputOptions.ColorMode = .auto
}

/// Reads the shared table options through their group.
protocol TableLook {
  var look: TableLookOptions { get }
}

extension TableLook {
  var columns: [String] { look.columns }
  var sort: String? { look.sort }
  var noHeader: Bool { look.noHeader }
  var wide: Bool { look.wide }
  var bytes: Bool { look.bytes }
  var color: OutputOptions.ColorMode { look.color }
}

extension TableLook {
  /// The columns of `-o` (each occurrence a comma list; a leading `+` adds to the defaults),
  /// or nil for the defaults.
  func chosenColumns() throws -> [Column]? {
    do { return try Column.chosen(columns).get() } catch { throw ValidationError(error.description) }
  }
}

/// Where snapshots come from: `--replay FILE`, and switches for debugging and tests kept out
/// of --help.
struct DebugOptions: ParsableArguments {
  @Option(help: .hidden) var record: String?
  @Option(
    help: ArgumentHelp(
      "Read a recording of `flowscope record` (or a raw dump of `ss -D`) instead of this machine.",
      valueName: "file"))
  var replay: String?
  @Option(help: .hidden) var procRoot: String = "/proc"
  /// Collect the whole snapshot before writing, as a sorted listing does (tests compare the
  /// streamed output with it).
  @Flag(help: .hidden) var noStream = false
  @Option(
    help: ArgumentHelp(
      "Where socket owners come from: bpf (a BPF task-file iterator, as root), proc (/proc/PID/fd), or auto.",
      valueName: "bpf|proc|auto"))
  var owners: OwnerSourceChoice = .auto
}

extension OwnerSourceChoice: ExpressibleByArgument {}
