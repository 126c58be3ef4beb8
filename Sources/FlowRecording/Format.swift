// The recording format of `flowscope record` (FSREC2): everything a listing needs, so that a
// listing replayed later, on another machine, prints what it would have printed then.
//
//   magic     8 bytes  "FSREC2\n\0"
//   records   each: u8 kind, u32 little-endian payload length, payload
//
// Kinds below 0x80 are required: a reader that does not know one refuses the file ("made by a
// newer flowscope") rather than give a wrong answer. Kinds from 0x80 on are optional: an
// older reader skips them. The header's major version changes only with a change older
// readers cannot follow; a new optional record needs no change at all.
//
// A recording is a header, then frames (one per snapshot of `record -i S --count N`), each
// frame: begin, namespaces, datagrams (the raw sock_diag replies, per namespace), processes,
// owners, warnings, [counters], end. Integers are little-endian; texts and byte strings are a
// u32 length and the bytes.

public enum RecordingFormat {
  public static let magic: [UInt8] = Array("FSREC2\n\u{0}".utf8)
  /// The major version this build writes and reads.
  public static let major: UInt16 = 1
  /// 1: processes carry their unit, container and executable. 2: and their container's name.
  public static let minor: UInt16 = 2

  enum Kind: UInt8 {
    case header = 0x01
    case frameBegin = 0x02
    case namespace = 0x03
    case datagram = 0x04
    case process = 0x05
    case owners = 0x06
    case warning = 0x07
    case frameEnd = 0x08
    /// Optional: a namespace's port range and listen drops.
    case namespaceCounters = 0x81
    /// Optional: the host's orphan count and limit.
    case hostCounters = 0x82
  }

  static func isOptional(_ kind: UInt8) -> Bool { kind >= 0x80 }
}

/// A recording that cannot be read, with where.
public struct RecordingError: Error, Sendable, Equatable, CustomStringConvertible {
  public var offset: Int
  public var message: String

  public init(_ message: String, at offset: Int) {
    self.message = message
    self.offset = offset
  }

  public var description: String { "at byte \(offset): \(message)" }
}
