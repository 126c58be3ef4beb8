// Signals as a descriptor to poll (signalfd), for the loops that wait on sockets and must end
// cleanly on Ctrl-C or SIGTERM (`flowscope events`): nothing runs in a signal handler.

import CSignalFD

#if canImport(Glibc)
  import Glibc
#endif

/// A call that failed, with its errno: `signalfd: EMFILE`.
public struct SignalError: Error, CustomStringConvertible {
  public var operation: String
  public var errno: Int32

  public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// Signals turned into a descriptor to poll: blocked in the calling thread (and the threads it
/// starts afterwards) and read from a signalfd. The previous mask comes back when it goes.
public final class SignalDescriptor {
  public let fileDescriptor: Int32
  private var oldMask = sigset_t()

  public init(_ signals: [Int32]) throws(SignalError) {
    var mask = sigset_t()
    sigemptyset(&mask)
    for signal in signals { sigaddset(&mask, signal) }
    // pthread_sigmask(3)
    pthread_sigmask(SIG_BLOCK, &mask, &oldMask)
    // signalfd(2)
    let fd = signalfd(-1, &mask, Int32(SFD_CLOEXEC) | Int32(SFD_NONBLOCK))
    guard fd >= 0 else {
      let code = errno
      pthread_sigmask(SIG_SETMASK, &oldMask, nil)
      throw SignalError(operation: "signalfd", errno: code)
    }
    fileDescriptor = fd
  }

  /// The signal that arrived, if one is queued.
  public func take() -> Int32? {
    var info = signalfd_siginfo()
    // read(2)
    let count = read(fileDescriptor, &info, MemoryLayout<signalfd_siginfo>.size)
    return count == MemoryLayout<signalfd_siginfo>.size ? Int32(info.ssi_signo) : nil
  }

  /// Closes the descriptor and restores the calling thread's signal mask.
  deinit {
    close(fileDescriptor)
    pthread_sigmask(SIG_SETMASK, &oldMask, nil)
  }
}
