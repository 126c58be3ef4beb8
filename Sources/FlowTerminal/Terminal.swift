// The terminal as `flowscope watch` uses it: raw mode, the alternate screen, its size, and the
// signals that matter (SIGWINCH, SIGINT, SIGTERM, SIGHUP) turned into bytes on a pipe that a
// poll(2) loop reads beside the keyboard. The terminal is put back in one function, `restore`,
// called on every way out: normal exit, exit(3) (atexit), those signals, and crashes (the
// handlers of SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT and SIGTRAP restore it, then let the
// previous handler run).

import Glibc

/// Escape sequences (VT100/xterm), as bytes.
public enum TerminalCode {
  public static let enterAlternateScreen: [UInt8] = Array("\u{1b}[?1049h".utf8)
  public static let leaveAlternateScreen: [UInt8] = Array("\u{1b}[?1049l".utf8)
  public static let hideCursor: [UInt8] = Array("\u{1b}[?25l".utf8)
  public static let showCursor: [UInt8] = Array("\u{1b}[?25h".utf8)
  public static let clearScreen: [UInt8] = Array("\u{1b}[2J".utf8)
  public static let home: [UInt8] = Array("\u{1b}[H".utf8)
  public static let clearToEndOfLine: [UInt8] = Array("\u{1b}[K".utf8)
  public static let clearToEndOfScreen: [UInt8] = Array("\u{1b}[J".utf8)
  public static let resetAttributes: [UInt8] = Array("\u{1b}[0m".utf8)
  /// What `restore` writes: attributes off, cursor shown, main screen back.
  static let leaveAll: [UInt8] = resetAttributes + showCursor + leaveAlternateScreen
}

/// A terminal's size in character cells.
public struct TerminalSize: Sendable, Equatable {
  public var rows: Int
  public var columns: Int
  public init(rows: Int, columns: Int) {
    self.rows = rows
    self.columns = columns
  }
}

/// The state the handlers need. Written only by the main thread before the handlers are
/// installed and after they are removed; read by `restore`, which may run in a handler.
private enum Saved {
  /// The termios `start` found, on the heap: Swift 6.3 emits a statically zero-initialised
  /// global of an imported C struct without its inner padding (57 of termios' 60 bytes,
  /// swiftlang/swift#90414), so storing a termios into a `static var` overran it (ASan).
  nonisolated(unsafe) static let termios: UnsafeMutablePointer<Glibc.termios> = {
    let saved = UnsafeMutablePointer<Glibc.termios>.allocate(capacity: 1)
    saved.initialize(to: Glibc.termios())
    return saved
  }()
  nonisolated(unsafe) static var inputFD: Int32 = -1
  nonisolated(unsafe) static var outputFD: Int32 = -1
  /// 1 while the terminal is in raw mode / on the alternate screen.
  nonisolated(unsafe) static var active: sig_atomic_t = 0
  nonisolated(unsafe) static var pipeWrite: Int32 = -1
  /// The handlers that were there before ours, by signal number.
  nonisolated(unsafe) static let previous: UnsafeMutablePointer<sigaction> = {
    let table = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
    let empty: sigaction = .init()
    table.initialize(repeating: empty, count: 65)
    return table
  }()
  nonisolated(unsafe) static var leaveBytes: UnsafeMutablePointer<UInt8>? = nil
  nonisolated(unsafe) static var leaveCount = 0
  nonisolated(unsafe) static var atexitRegistered = false
}

/// The signals `watch` answers to: their arrival is a byte (the signal number) on `signalFD`.
public let watchedSignals: [Int32] = [SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT]
private let fatalSignals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP]

/// A terminal session: raw input, the alternate screen, a pipe of signals.
/// One at a time per process. `restore()` (also on deinit) undoes everything and is idempotent.
public final class TerminalSession {
  public let inputFD: Int32
  public let outputFD: Int32
  /// Readable when a watched signal arrived; each byte is a signal number.
  public let signalFD: Int32
  private var pipeWriteFD: Int32
  private var started = false

  public struct Failure: Error, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
  }

  /// Reads keys from `inputFD` (a terminal), draws on `outputFD`.
  public init(inputFD: Int32 = 0, outputFD: Int32 = 1) throws(Failure) {
    self.inputFD = inputFD
    self.outputFD = outputFD
    var fds: [Int32] = [-1, -1]
    // pipe(2), then fcntl(2): close-on-exec, and non-blocking so a handler never blocks.
    guard pipe(&fds) == 0 else { throw Failure(operation: "pipe", errno: errno) }
    for fd in fds {
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    signalFD = fds[0]
    pipeWriteFD = fds[1]
  }

  deinit {
    restore()
    close(signalFD)
    close(pipeWriteFD)
  }

  /// Raw mode (no echo, no line editing, Ctrl-C arrives as a key), the alternate screen, the
  /// cursor hidden, and the signal handlers. Everything is undone by `restore`.
  public func start() throws(Failure) {
    guard !started else { return }
    var saved = Glibc.termios()
    // tcgetattr(3)
    guard tcgetattr(inputFD, &saved) == 0 else { throw Failure(operation: "tcgetattr", errno: errno) }
    Saved.termios.pointee = saved
    Saved.inputFD = inputFD
    Saved.outputFD = outputFD
    Saved.pipeWrite = pipeWriteFD
    if Saved.leaveBytes == nil {
      let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: TerminalCode.leaveAll.count)
      bytes.initialize(from: TerminalCode.leaveAll, count: TerminalCode.leaveAll.count)
      Saved.leaveBytes = bytes
      Saved.leaveCount = TerminalCode.leaveAll.count
    }
    if !Saved.atexitRegistered {
      Saved.atexitRegistered = true
      // atexit(3): ArgumentParser's exit paths and exit(3) anywhere.
      atexit { terminalRestore() }
    }
    installHandlers()
    var raw = makeRaw(saved)
    // tcsetattr(3)
    guard tcsetattr(inputFD, TCSAFLUSH, &raw) == 0 else {
      let code = errno
      removeHandlers()
      throw Failure(operation: "tcsetattr", errno: code)
    }
    Saved.active = 1
    started = true
    write(TerminalCode.enterAlternateScreen + TerminalCode.hideCursor + TerminalCode.clearScreen)
  }

  /// Puts the terminal back as `start` found it. Safe to call more than once.
  public func restore() {
    guard started else { return }
    started = false
    terminalRestore()
    removeHandlers()
  }

  /// The terminal's size (TIOCGWINSZ on the output), or 24×80 when it cannot say.
  public var size: TerminalSize { terminalSize(of: outputFD) ?? TerminalSize(rows: 24, columns: 80) }

  /// Writes all of `bytes` to the terminal; false if it failed (EIO after a hangup, …).
  @discardableResult
  public func write(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { writeFully(outputFD, $0) }
  }

  /// Reads what the keyboard has sent (up to 256 bytes); empty at end of input or on EAGAIN.
  public func readInput() -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: 256)
    while true {
      // read(2)
      let n = buffer.withUnsafeMutableBytes { Glibc.read(inputFD, $0.baseAddress, $0.count) }
      if n > 0 { return Array(buffer[0..<n]) }
      if n == 0 { return nil }  // end of input: the terminal went away
      if errno == EINTR { continue }
      if errno == EAGAIN { return [] }
      return nil
    }
  }

  /// The signal numbers that arrived since the last call.
  public func pendingSignals() -> [Int32] {
    var buffer = [UInt8](repeating: 0, count: 64)
    var signals: [Int32] = []
    while true {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(signalFD, $0.baseAddress, $0.count) }
      if n <= 0 {
        if n < 0 && errno == EINTR { continue }
        return signals
      }
      signals += buffer[0..<n].map { Int32($0) }
    }
  }

  private func makeRaw(_ saved: Glibc.termios) -> Glibc.termios {
    var raw = saved
    raw.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON)
    raw.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN | ISIG)
    raw.c_cflag |= tcflag_t(CS8)
    withUnsafeMutableBytes(of: &raw.c_cc) { cc in
      cc[Int(VMIN)] = 1
      cc[Int(VTIME)] = 0
    }
    return raw
  }

  private func installHandlers() {
    for signo in watchedSignals {
      var action: sigaction = .init()
      action.__sigaction_handler.sa_handler = { signo in
        var byte = UInt8(truncatingIfNeeded: signo)
        let saved = errno
        _ = Glibc.write(Saved.pipeWrite, &byte, 1)
        errno = saved
      }
      sigemptyset(&action.sa_mask)
      action.sa_flags = SA_RESTART
      // sigaction(2)
      sigaction(signo, &action, Saved.previous + Int(signo))
    }
    for signo in fatalSignals {
      var action: sigaction = .init()
      action.__sigaction_handler.sa_sigaction = { signo, info, _ in
        terminalRestore()
        // The previous handler (the runtime's backtracer, or the default) takes it from here:
        // a fault re-executes the instruction; an abort, or a signal sent by kill(2) (si_code
        // <= 0: SI_USER, SI_TKILL...), would not come back, so it is raised again. (Returning
        // from a sent SIGSEGV left watch drawing on a terminal already put back.)
        sigaction(signo, Saved.previous + Int(signo), nil)
        if signo == SIGABRT || signo == SIGTRAP || (info?.pointee.si_code ?? 0) <= 0 { raise(signo) }
      }
      sigemptyset(&action.sa_mask)
      action.sa_flags = SA_NODEFER | SA_SIGINFO
      sigaction(signo, &action, Saved.previous + Int(signo))
    }
  }

  private func removeHandlers() {
    for signo in watchedSignals + fatalSignals {
      sigaction(signo, Saved.previous + Int(signo), nil)
    }
  }
}

/// The one place the terminal is put back: attributes off, cursor shown, main screen, the saved
/// termios. Async-signal-safe (write(2) and tcsetattr(3) only); does nothing when not active.
func terminalRestore() {
  guard Saved.active == 1 else { return }
  Saved.active = 0
  if let bytes = Saved.leaveBytes {
    _ = writeFully(Saved.outputFD, UnsafeRawBufferPointer(start: bytes, count: Saved.leaveCount))
  }
  _ = tcsetattr(Saved.inputFD, TCSAFLUSH, Saved.termios)
}

private func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
  var offset = 0
  while offset < bytes.count {
    // write(2)
    let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
    if n < 0 {
      if errno == EINTR || errno == EAGAIN { continue }
      return false
    }
    offset += n
  }
  return true
}

/// Waits for input on `fds` (poll(2), events POLLIN), at most `timeout` seconds (nil: forever).
/// Returns which of them are readable (or hung up); empty on timeout or EINTR.
public func waitForInput(_ fds: [Int32], timeout: Double?) -> [Int32] {
  var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
  let milliseconds: Int32 =
    if let timeout { Int32(max(0, min(timeout * 1000, 86_400_000)).rounded(.up)) } else { -1 }
  // poll(2)
  let n = poll(&polls, nfds_t(polls.count), milliseconds)
  guard n > 0 else { return [] }
  return polls.filter { $0.revents != 0 }.map(\.fd)
}

/// Whether `fd` is a terminal.
public func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

/// The size of the terminal on `fd` (TIOCGWINSZ); nil when it is not a terminal or cannot say.
public func terminalSize(of fd: Int32) -> TerminalSize? {
  var size = winsize()
  // ioctl(2) TIOCGWINSZ
  guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 else { return nil }
  return TerminalSize(rows: Int(size.ws_row), columns: Int(size.ws_col))
}
