/// The output formats: one list for every command, each taking those that fit it.
/// (Not CaseIterable: --help lists a command's own formats, not all of them.)
public enum OutputFormat: String, Sendable {
  case table, json, ndjson, csv
}

/// The formats one command writes, and which of them `-J` stands for.
public protocol CommandFormats {
  /// What `--format` takes, the default (`table`) first.
  static var formats: [OutputFormat] { get }
  /// The command's JSON form: `json` (one document) where it prints once, `ndjson` (one
  /// object a line, flushed as it goes) where it streams.
  static var jsonForm: OutputFormat { get }
}

extension CommandFormats {
  /// Why `--format format` does not apply, nil when it does.
  public static func refusal(of format: OutputFormat) -> String? {
    guard !formats.contains(format) else { return nil }
    let known = formats.map(\.rawValue).joined(separator: ", ")
    let streams = format == .json && jsonForm == .ndjson
    return "--format \(format.rawValue) does not apply here; known: \(known)"
      + (streams ? " (this command streams: its JSON form is ndjson, as -J gives)." : ".")
  }
}

/// `flow` and `proc`: a listing, in every format.
public enum ListingFormats: CommandFormats {
  public static let formats: [OutputFormat] = [.table, .json, .ndjson, .csv]
  public static let jsonForm = OutputFormat.json
}

/// `check` and `kill`: a report made once, as a table or one JSON document.
public enum ReportFormats: CommandFormats {
  public static let formats: [OutputFormat] = [.table, .json]
  public static let jsonForm = OutputFormat.json
}

/// `watch` and `events`: streams, as a screen or lines of text, or NDJSON.
public enum StreamFormats: CommandFormats {
  public static let formats: [OutputFormat] = [.table, .ndjson]
  public static let jsonForm = OutputFormat.ndjson
}
