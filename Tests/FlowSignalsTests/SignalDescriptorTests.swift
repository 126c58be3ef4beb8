import FlowSignals
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct SignalDescriptorTests {
  static func blocked(_ signal: Int32) -> Bool {
    var mask = sigset_t()
    pthread_sigmask(SIG_BLOCK, nil, &mask)
    return sigismember(&mask, signal) == 1
  }

  /// A signal sent to this thread while the descriptor lives is read from it, not delivered;
  /// once it is gone, the thread's mask is what it was. On a thread of its own, whose mask the
  /// test may change.
  @Test func aSignalIsReadFromTheDescriptorAndTheMaskComesBack() throws {
    final class Seen: @unchecked Sendable {
      var before: (Bool, Bool) = (true, true)
      var during: (Bool, Bool) = (false, false)
      var empty: Int32? = -1
      var polled: Int32 = 0
      var taken: Int32?
      var after: (Bool, Bool) = (true, true)
      var error: String?
    }
    let seen = Seen()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
      defer { done.signal() }
      var unblock = sigset_t()
      sigemptyset(&unblock)
      sigaddset(&unblock, SIGUSR2)
      sigaddset(&unblock, SIGWINCH)
      pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
      seen.before = (Self.blocked(SIGUSR2), Self.blocked(SIGWINCH))
      do {
        let signals = try SignalDescriptor([SIGUSR2, SIGWINCH])
        seen.during = (Self.blocked(SIGUSR2), Self.blocked(SIGWINCH))
        seen.empty = signals.take()  // nothing queued: it does not wait
        pthread_kill(pthread_self(), SIGUSR2)
        var ready = pollfd(fd: signals.fileDescriptor, events: Int16(POLLIN), revents: 0)
        seen.polled = poll(&ready, 1, 1000)
        seen.taken = signals.take()
      } catch {
        seen.error = "\(error)"
      }
      seen.after = (Self.blocked(SIGUSR2), Self.blocked(SIGWINCH))
    }
    thread.start()
    done.wait()
    #expect(seen.error == nil)
    #expect(seen.before == (false, false))
    #expect(seen.during == (true, true))
    #expect(seen.empty == nil)
    #expect(seen.polled == 1)
    #expect(seen.taken == SIGUSR2)
    #expect(seen.after == (false, false))
  }
}
