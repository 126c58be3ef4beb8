import FlowRender
import FlowTerminal

#if canImport(Glibc)
  import Glibc
#endif

/// Standard output closed by the reader (`flowscope | head`): end quietly, exit 0.
struct OutputClosed: Error {}

enum Terminal {
  /// Ignore SIGPIPE once, so a closed pipe shows up as EPIPE from write(2) instead of killing us.
  static func ignoreBrokenPipeSignal() {
    signal(SIGPIPE, SIG_IGN)
  }

  static var stdoutIsTerminal: Bool { isatty(1) == 1 }

  /// Columns of the terminal on stdout, if it is one.
  static var width: Int? { terminalSize(of: 1)?.columns }
}

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
func writeAll(_ bytes: [UInt8], to fd: Int32 = 1) throws {
  try bytes.withUnsafeBytes { try writeAll($0, to: fd) }
}

/// Whole lines go out every 256 KiB: a 100k-flow listing is never held whole. A failed write
/// stops the flushing; the final `writeAll(buffer.bytes)` then reports it (EPIPE: quietly).
func streamingOutputBuffer() -> OutputBuffer {
  OutputBuffer(flushingLinesTo: { chunk in (try? writeAll(chunk)) != nil })
}

/// Writes all of `buffer` to `fd`, retrying short writes and EINTR.
func writeAll(_ buffer: UnsafeRawBufferPointer, to fd: Int32 = 1) throws {
  do {
    var offset = 0
    while offset < buffer.count {
      // write(2)
      let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
      if written < 0 {
        let code = errno
        if code == EINTR || code == EAGAIN { continue }
        if code == EPIPE { throw OutputClosed() }
        throw RuntimeError("write to standard output: \(String(cString: strerror(code)))")
      }
      offset += written
    }
  }
}

/// One line on stderr, prefixed with the tool's name. Errors writing it are ignored: stderr is
/// the last place left to report to.
func printError(_ message: String) {
  writeToStandardError("flowscope: \(message)\n")
}

/// Writes `text` as it is to standard error, retrying short writes and EINTR.
func writeToStandardError(_ text: String) {
  var line = Array(text.utf8)
  line.withUnsafeMutableBytes { buffer in
    var offset = 0
    while offset < buffer.count {
      let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
      if written <= 0 { if errno == EINTR { continue } else { return } }
      offset += written
    }
  }
}

/// A failure the user can act on; printed as one line, exit status 1.
struct RuntimeError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
