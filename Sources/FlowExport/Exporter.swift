import FlowRender

#if canImport(Glibc)
  import Glibc
#endif

// Collection on scrape, shared: at most one collection per `minInterval`; scrapes that arrive
// while one runs wait for it and get the same report; none waits longer than `scrapeTimeout`
// (it then gets the last report, or one with the self metrics only).

public final class MetricsExporter: @unchecked Sendable {
  private let collector: MetricsCollector
  public let minInterval: Double
  public let scrapeTimeout: Double
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  // Guarded by `mutex`.
  private var last: MetricsReport?
  private var lastTime = -Double.infinity
  private var collecting = false
  private var generation = 0
  private var rendered: [ExpositionFormat: [UInt8]] = [:]
  /// Collections run so far (for tests).
  public private(set) var collections = 0

  public init(collector: MetricsCollector, minInterval: Double, scrapeTimeout: Double) {
    self.collector = collector
    self.minInterval = minInterval
    self.scrapeTimeout = scrapeTimeout
    pthread_mutex_init(mutex, nil)
    var attributes = pthread_condattr_t()
    pthread_condattr_init(&attributes)
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
    pthread_cond_init(condition, &attributes)
    pthread_condattr_destroy(&attributes)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    pthread_cond_destroy(condition)
    mutex.deallocate()
    condition.deallocate()
  }

  /// The exposition for one scrape: the last report if it is younger than `minInterval`, else
  /// a new one (started here, or by a scrape that came just before).
  public func scrape(_ format: ExpositionFormat) -> [UInt8] {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    if last != nil, monotonicSeconds() - lastTime < minInterval, !collecting {
      return render(format)
    }
    let waitingFor = generation + 1
    if !collecting {
      collecting = true
      startCollection()
    }
    let deadline = monotonicSeconds() + scrapeTimeout
    var wake = timespec(
      tv_sec: Int(deadline.rounded(.down)), tv_nsec: Int((deadline - deadline.rounded(.down)) * 1e9))
    while generation < waitingFor {
      // pthread_cond_timedwait(3) on CLOCK_MONOTONIC (see init)
      if pthread_cond_timedwait(condition, mutex, &wake) == ETIMEDOUT { break }
    }
    return render(format)
  }

  /// Under `mutex`: the last report's exposition (cached per format).
  private func render(_ format: ExpositionFormat) -> [UInt8] {
    if let bytes = rendered[format] { return bytes }
    let report = last ?? MetricsReport(grouping: collector.options.grouping)
    let bytes = report.write(format).bytes
    rendered[format] = bytes
    return bytes
  }

  /// Runs one collection on a thread of its own, so that a scrape can give up waiting.
  private func startCollection() {
    let context = Unmanaged.passRetained(self).toOpaque()
    var thread = pthread_t()
    // pthread_create(3)
    let result = pthread_create(
      &thread, nil,
      { context in
        let exporter = Unmanaged<MetricsExporter>.fromOpaque(context!).takeRetainedValue()
        exporter.collectNow()
        return nil
      }, context)
    if result == 0 {
      pthread_detach(thread)
    } else {
      Unmanaged<MetricsExporter>.fromOpaque(context).release()
      collecting = false
    }
  }

  private func collectNow() {
    let report = collector.collect()
    pthread_mutex_lock(mutex)
    last = report
    lastTime = monotonicSeconds()
    rendered = [:]
    collecting = false
    generation += 1
    collections += 1
    pthread_cond_broadcast(condition)
    pthread_mutex_unlock(mutex)
  }

  /// Collects now, whatever the interval (the one-shot forms).
  public func collectOnce(_ format: ExpositionFormat) -> OutputBuffer {
    collector.collect().write(format)
  }
}
