import SystemPackage

/// A failed system call during a /proc scan: which call, on which path, and the `errno` it gave.
///
/// `description` reads like `readlinkat /proc/42/fd/7: No such file or directory`.
public struct ProcFSError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The C call that failed, e.g. `"openat"`, `"readlinkat"`, `"getdents64"`.
  public var operation: String
  /// The path the call was about (built only when an error is recorded).
  public var path: String
  public var errno: Errno
  /// Set when the bytes were read but could not be parsed (`operation` is then `"parse"` and
  /// `errno` is `EINVAL`).
  public var parseError: ProcParseError?

  public init(operation: String, path: String, errno: Errno) {
    self.operation = operation
    self.path = path
    self.errno = errno
    self.parseError = nil
  }

  public init(operation: String = "parse", path: String, parseError: ProcParseError) {
    self.operation = operation
    self.path = path
    self.errno = .invalidArgument
    self.parseError = parseError
  }

  public var description: String {
    if let p = parseError { return "\(operation) \(path): \(p)" }
    return "\(operation) \(path): \(errno.description)"
  }

  /// The process (or the file) went away: `ENOENT` or `ESRCH`.
  public var isVanished: Bool { errno == .noSuchFileOrDirectory || errno == .noSuchProcess }
  /// Access was refused: `EACCES` or `EPERM`.
  public var isDenied: Bool { errno == .permissionDenied || errno == .notPermitted }
}

/// Why a /proc text or link could not be parsed. Parsers never trap; they throw one of these.
public enum ProcParseError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The input had no bytes.
  case empty
  /// A required field was absent (input truncated or of the wrong file).
  case missingField(String)
  /// A field was present but not a valid value (garbage, or a number too large).
  case invalidField(String)

  public var description: String {
    switch self {
    case .empty: return "empty input"
    case .missingField(let f): return "missing field \(f)"
    case .invalidField(let f): return "invalid field \(f)"
    }
  }
}
