#if canImport(Glibc)
  import Glibc
#endif

// The clocks and the host name, read in one place for every command.

/// Wall-clock seconds since the epoch (CLOCK_REALTIME): the time snapshots and records carry.
public func currentTime() -> Double {
  var now = timespec()
  // clock_gettime(2)
  clock_gettime(CLOCK_REALTIME, &now)
  return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Seconds on CLOCK_MONOTONIC: for intervals and deadlines, which the wall clock may not keep.
public func monotonicNow() -> Double {
  var now = timespec()
  // clock_gettime(2)
  clock_gettime(CLOCK_MONOTONIC, &now)
  return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// This machine's name (in this UTS namespace).
public func hostName() -> String {
  var name = [CChar](repeating: 0, count: 256)
  // gethostname(2)
  guard gethostname(&name, name.count - 1) == 0 else { return "" }
  return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
