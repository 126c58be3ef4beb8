import Synchronization
import SystemPackage

/// uid → user name through `getpwuid_r(3)`, cached (misses too).
///
/// Thread-safe: the cache sits behind a `Mutex`; the lookup itself runs outside the lock,
/// so two threads asking for the same new uid may both look it up (same answer).
public final class UserNames: @unchecked Sendable {
  private let cache = Mutex<[UInt32: String?]>([:])

  public init() {}

  /// The name of `uid`, or nil when there is no such user (or NSS failed).
  /// Names that are not valid UTF-8 are repaired with U+FFFD.
  public func name(for uid: UInt32) -> String? {
    if let hit = cache.withLock({ $0[uid] }) { return hit }
    let name: String?
    switch Sys.getpwuidName(uid) {
    case .success(let bytes?): name = String(decoding: bytes, as: UTF8.self)
    case .success(nil), .failure: name = nil
    }
    cache.withLock { $0[uid] = .some(name) }
    return name
  }
}
