/// Why a buffer could not be decoded. Decoding never traps: every failure ends here.
public enum SockDiagError: Error, Equatable, Sendable, CustomStringConvertible {
  /// Fewer bytes than the structure named by `what` needs.
  case truncated(what: String, need: Int, have: Int)
  /// Bytes present but inconsistent: a length field below its minimum, a bad magic, an unknown tag.
  case malformed(what: String, detail: String)

  public var description: String {
    switch self {
    case .truncated(let what, let need, let have):
      return "truncated \(what): need \(need) bytes, have \(have)"
    case .malformed(let what, let detail):
      return "malformed \(what): \(detail)"
    }
  }
}
