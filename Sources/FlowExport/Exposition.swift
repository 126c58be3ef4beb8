import FlowRender

// The exposition writer: the Prometheus text format (0.0.4) and OpenMetrics 1.0, appended as
// bytes into an `OutputBuffer` (no String per sample). One family at a time: `family` writes
// the HELP/TYPE (and UNIT) lines, `sample` one line each.

public enum ExpositionFormat: Sendable {
  /// `text/plain; version=0.0.4`
  case prometheus
  /// `application/openmetrics-text; version=1.0.0`
  case openMetrics

  public var contentType: String {
    switch self {
    case .prometheus: "text/plain; version=0.0.4; charset=utf-8"
    case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
    }
  }

  /// OpenMetrics when an HTTP `Accept` header prefers it (its `q` at least that of any
  /// text/plain or */*), else the Prometheus text format.
  public static func negotiate(accept: String?) -> ExpositionFormat {
    guard let accept else { return .prometheus }
    var openMetrics = -1.0
    var text = -1.0
    for part in accept.split(separator: ",") {
      let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: " ") }
      guard let type = fields.first?.lowercased() else { continue }
      var quality = 1.0
      for field in fields.dropFirst() where field.hasPrefix("q=") {
        quality = Double(field.dropFirst(2)) ?? 0
      }
      if type == "application/openmetrics-text" {
        openMetrics = max(openMetrics, quality)
      } else if type == "text/plain" || type == "*/*" || type == "text/*" {
        text = max(text, quality)
      }
    }
    return openMetrics > 0 && openMetrics >= text ? .openMetrics : .prometheus
  }
}

public enum MetricType: Sendable {
  case gauge, counter, info

  var prometheusName: StaticString {
    switch self {
    case .gauge, .info: "gauge"
    case .counter: "counter"
    }
  }
  var openMetricsName: StaticString {
    switch self {
    case .gauge: "gauge"
    case .counter: "counter"
    case .info: "info"
    }
  }
}

/// A label name and its value's bytes (any bytes: the writer escapes them).
public typealias Label = (name: StaticString, value: [UInt8])

public struct ExpositionWriter {
  public let format: ExpositionFormat
  public var out: OutputBuffer
  /// The family being written: samples take its name.
  private var family: StaticString = ""
  private var type = MetricType.gauge

  public init(format: ExpositionFormat, capacity: Int = 1 << 14) {
    self.format = format
    out = OutputBuffer(capacity: capacity)
  }

  /// Starts a family. `name` is the sample name in the Prometheus format, with `_total` for a
  /// counter and `_info` for an info metric; OpenMetrics names the family without the suffix.
  public mutating func family(
    _ name: StaticString, _ type: MetricType, unit: StaticString? = nil, help: StaticString
  ) {
    family = name
    self.type = type
    switch format {
    case .prometheus:
      line("# HELP ", name, help)
      line("# TYPE ", name, type.prometheusName)
    case .openMetrics:
      let base = familyBase
      lineBase("# TYPE ", base, type.openMetricsName)
      if let unit { lineBase("# UNIT ", base, unit) }
      lineBase("# HELP ", base, help)
    }
  }

  /// One sample of the current family, without labels.
  public mutating func sample(_ value: UInt64) { sample([], value) }
  public mutating func sample(_ value: Double) { sample([], value) }

  /// One sample of the current family.
  public mutating func sample(_ labels: [Label], _ value: UInt64) {
    startSample(labels)
    out.appendDecimal(value)
    out.append(0x0A)
  }

  public mutating func sample(_ labels: [Label], _ value: Int) {
    startSample(labels)
    out.appendDecimal(Int64(value))
    out.append(0x0A)
  }

  public mutating func sample(_ labels: [Label], _ value: Double) {
    startSample(labels)
    appendDouble(value)
    out.append(0x0A)
  }

  /// Group labels (names given at run time) followed by fixed ones.
  public mutating func sample(group names: [String], _ values: [[UInt8]], _ labels: [Label], _ value: UInt64) {
    startSample(group: names, values, labels)
    out.appendDecimal(value)
    out.append(0x0A)
  }

  public mutating func sample(group names: [String], _ values: [[UInt8]], _ labels: [Label], _ value: Double) {
    startSample(group: names, values, labels)
    appendDouble(value)
    out.append(0x0A)
  }

  /// Ends the exposition (`# EOF` in OpenMetrics).
  public mutating func finish() {
    if format == .openMetrics { out.append("# EOF\n") }
  }

  // MARK: - Pieces

  /// The family name without `_total` (counters) or `_info` (info) in OpenMetrics.
  private var familyBase: UnsafeBufferPointer<UInt8> {
    let all = UnsafeBufferPointer(start: family.utf8Start, count: family.utf8CodeUnitCount)
    let suffix =
      switch type {
      case .counter: 6
      case .info: 5
      case .gauge: 0
      }
    return UnsafeBufferPointer(rebasing: all[0..<(all.count - suffix)])
  }

  private mutating func line(_ prefix: StaticString, _ name: StaticString, _ rest: StaticString) {
    out.append(prefix)
    out.append(name)
    out.append(0x20)
    out.append(rest)
    out.append(0x0A)
  }

  private mutating func lineBase(_ prefix: StaticString, _ base: UnsafeBufferPointer<UInt8>, _ rest: StaticString) {
    out.append(prefix)
    out.append(contentsOf: base)
    out.append(0x20)
    out.append(rest)
    out.append(0x0A)
  }

  private mutating func startSample(_ labels: [Label]) {
    out.append(family)
    if !labels.isEmpty {
      out.append(UInt8(ascii: "{"))
      for (index, label) in labels.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        appendLabel(label.name, label.value)
      }
      out.append(UInt8(ascii: "}"))
    }
    out.append(0x20)
  }

  private mutating func startSample(group names: [String], _ values: [[UInt8]], _ labels: [Label]) {
    out.append(family)
    out.append(UInt8(ascii: "{"))
    var first = true
    for (name, value) in zip(names, values) {
      if !first { out.append(UInt8(ascii: ",")) }
      first = false
      out.append(utf8: name)
      appendLabelValue(value)
    }
    for label in labels {
      if !first { out.append(UInt8(ascii: ",")) }
      first = false
      appendLabel(label.name, label.value)
    }
    out.append(UInt8(ascii: "}"))
    out.append(0x20)
  }

  private mutating func appendLabel(_ name: StaticString, _ value: [UInt8]) {
    out.append(name)
    appendLabelValue(value)
  }

  /// `="value"` with `\`, `"` and newline escaped, as both formats require.
  private mutating func appendLabelValue(_ value: [UInt8]) {
    out.append("=\"")
    for byte in value {
      switch byte {
      case UInt8(ascii: "\\"): out.append("\\\\")
      case UInt8(ascii: "\""): out.append("\\\"")
      case 0x0A: out.append("\\n")
      default: out.append(byte)
      }
    }
    out.append(UInt8(ascii: "\""))
  }

  private mutating func appendDouble(_ value: Double) {
    if value.isNaN {
      out.append("NaN")
    } else if value.isInfinite {
      out.append(value < 0 ? "-Inf" : "+Inf")
    } else if value == value.rounded(), abs(value) < 1e15 {
      out.appendDecimal(Int64(value))
    } else {
      out.append(utf8: String(value))
    }
  }
}

extension Substring {
  func trimmingCharacters(in character: Character) -> String {
    String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
  }
}
