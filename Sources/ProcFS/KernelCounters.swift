import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

// Limits and counters of a network namespace (and of the host) from /proc: the ephemeral port
// range, the listen drop counters of /proc/net/netstat, the orphan count and limit. Parsers
// pure (bytes in, values out); the reads below them are the only I/O.

/// What the kernel keeps per network namespace, as read from the calling thread's namespace.
public struct NamespaceCounterValues: Sendable, Equatable {
  /// `net.ipv4.ip_local_port_range`.
  public var localPortRange: ClosedRange<UInt16>?
  /// `TcpExt: ListenOverflows` and `ListenDrops` of /proc/net/netstat.
  public var listenOverflows: UInt64?
  public var listenDrops: UInt64?
  /// What could not be read.
  public var errors: [ProcFSError] = []

  public init() {}
}

/// Host-wide: orphaned TCP sockets ("orphan" of /proc/net/sockstat) and `net.ipv4.tcp_max_orphans`.
public struct OrphanCounterValues: Sendable, Equatable {
  public var orphans: UInt64?
  public var maxOrphans: UInt64?
  public var errors: [ProcFSError] = []
  public init() {}
}

extension ProcParsers {
  /// `/proc/net/netstat` (or `/proc/net/snmp`): pairs of lines, `Prefix: Name1 Name2 …` then
  /// `Prefix: value1 value2 …`. Returns `["TcpExt": ["ListenOverflows": 3, …], …]`; a pair whose
  /// lines disagree on prefix or length is skipped, a value that is not a number left out.
  public static func netstat(_ bytes: [UInt8]) -> [String: [String: UInt64]] {
    var result: [String: [String: UInt64]] = [:]
    let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
    var index = 0
    while index + 1 < lines.count {
      let names = lines[index].split(separator: UInt8(ascii: " "))
      let values = lines[index + 1].split(separator: UInt8(ascii: " "))
      guard let prefix = names.first, prefix.last == UInt8(ascii: ":"), values.first == prefix,
        names.count == values.count
      else {
        index += 1
        continue
      }
      var table: [String: UInt64] = [:]
      for (name, value) in zip(names.dropFirst(), values.dropFirst()) {
        if let number = decimal(value) { table[String(decoding: name, as: UTF8.self)] = number }
      }
      result[String(decoding: prefix.dropLast(), as: UTF8.self)] = table
      index += 2
    }
    return result
  }

  /// `net.ipv4.ip_local_port_range`: two numbers separated by blanks, `32768\t60999\n`.
  public static func portRange(_ bytes: [UInt8]) throws(ProcParseError) -> ClosedRange<UInt16> {
    let fields = bytes.split { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") }
    guard !bytes.isEmpty else { throw .empty }
    guard fields.count == 2 else { throw .missingField("ip_local_port_range") }
    guard let low = decimal(fields[0]), let high = decimal(fields[1]), low <= high,
      high <= UInt64(UInt16.max)
    else { throw .invalidField("ip_local_port_range") }
    return UInt16(low)...UInt16(high)
  }

  /// The `orphan` count of the `TCP:` line of /proc/net/sockstat
  /// (`TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1`).
  public static func sockstatOrphans(_ bytes: [UInt8]) throws(ProcParseError) -> UInt64 {
    try sockstatValue(bytes, line: "TCP", field: "orphan")
  }

  /// The number after `field` on the line `line:` of /proc/net/sockstat or sockstat6
  /// (`TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1`, `TCP6: inuse 3`).
  public static func sockstatValue(_ bytes: [UInt8], line name: String, field: String) throws(ProcParseError)
    -> UInt64
  {
    guard !bytes.isEmpty else { throw .empty }
    let prefix = Array((name + ": ").utf8)
    for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: prefix) {
      let fields = line.split(separator: UInt8(ascii: " "))
      guard let at = fields.firstIndex(where: { $0.elementsEqual(field.utf8) }), at + 1 < fields.endIndex
      else { throw .missingField(field) }
      guard let value = decimal(fields[at + 1]) else { throw .invalidField(field) }
      return value
    }
    throw .missingField(name)
  }

  /// A sysctl holding one unsigned number (`131072\n`).
  public static func sysctlNumber(_ bytes: [UInt8]) throws(ProcParseError) -> UInt64 {
    let trimmed = bytes.split { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
    guard let first = trimmed.first else { throw .empty }
    guard trimmed.count == 1, let value = decimal(first) else { throw .invalidField("number") }
    return value
  }

  /// Decimal digits only, at most 19 of them; nil otherwise.
  static func decimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
    guard !digits.isEmpty, digits.count <= 19 else { return nil }
    var value: UInt64 = 0
    for byte in digits {
      guard byte >= 0x30, byte <= 0x39 else { return nil }
      value = value * 10 + UInt64(byte - 0x30)
    }
    return value
  }
}

/// Reads of the counter files. Each reads the namespace of the calling thread, so a caller
/// wanting another namespace calls it on a thread that entered it (setns).
public enum KernelCounterFiles {
  /// The namespace's port range and listen drop counters, under `root` (`/proc`).
  public static func namespaceCounters(root: String = "/proc") -> NamespaceCounterValues {
    var values = NamespaceCounterValues()
    let range = root + "/sys/net/ipv4/ip_local_port_range"
    switch readSmallFile(range) {
    case .success(let bytes):
      do throws(ProcParseError) {
        values.localPortRange = try ProcParsers.portRange(bytes)
      } catch {
        values.errors.append(ProcFSError(path: range, parseError: error))
      }
    case .failure(let error): values.errors.append(error)
    }
    // /proc/net is /proc/self/net: the namespace of the thread group leader, not of this thread.
    var netstat = readSmallFile(root + "/thread-self/net/netstat")
    if case .failure(let error) = netstat, error.isVanished {
      netstat = readSmallFile(root + "/self/net/netstat")
    }
    switch netstat {
    case .success(let bytes):
      let tcp = ProcParsers.netstat(bytes)["TcpExt"]
      values.listenOverflows = tcp?["ListenOverflows"]
      values.listenDrops = tcp?["ListenDrops"]
    case .failure(let error): values.errors.append(error)
    }
    return values
  }

  /// The TCP sockets in the hash tables of the namespace whose `net` directory this is
  /// (`/proc/<pid>/net`): IPv4 and IPv6 `inuse` and the TIME-WAIT ones. Zero means a TCP dump
  /// there would return nothing (and still walk every namespace's sockets to find that out).
  /// nil when unreadable.
  public static func tcpSocketsInTables(netDirectory: String) -> UInt64? {
    guard case .success(let sockstat) = readSmallFile(netDirectory + "/sockstat"),
      let inUse = try? ProcParsers.sockstatValue(sockstat, line: "TCP", field: "inuse"),
      let timeWait = try? ProcParsers.sockstatValue(sockstat, line: "TCP", field: "tw")
    else { return nil }
    // Without IPv6 there is no sockstat6, and no IPv6 socket.
    var inUse6: UInt64 = 0
    if case .success(let sockstat6) = readSmallFile(netDirectory + "/sockstat6") {
      guard let value = try? ProcParsers.sockstatValue(sockstat6, line: "TCP6", field: "inuse") else { return nil }
      inUse6 = value
    }
    return inUse + timeWait + inUse6
  }

  /// The host's orphan count and limit. `tcp_max_orphans` exists in the initial namespace only.
  public static func orphanCounters(root: String = "/proc") -> OrphanCounterValues {
    var values = OrphanCounterValues()
    let sockstat = root + "/net/sockstat"
    switch readSmallFile(sockstat) {
    case .success(let bytes):
      do throws(ProcParseError) {
        values.orphans = try ProcParsers.sockstatOrphans(bytes)
      } catch {
        values.errors.append(ProcFSError(path: sockstat, parseError: error))
      }
    case .failure(let error): values.errors.append(error)
    }
    let limit = root + "/sys/net/ipv4/tcp_max_orphans"
    switch readSmallFile(limit) {
    case .success(let bytes):
      do throws(ProcParseError) {
        values.maxOrphans = try ProcParsers.sysctlNumber(bytes)
      } catch {
        values.errors.append(ProcFSError(path: limit, parseError: error))
      }
    case .failure(let error): values.errors.append(error)
    }
    return values
  }

  /// The whole of a small /proc file (at most 64 KiB).
  static func readSmallFile(_ path: String) -> Result<[UInt8], ProcFSError> {
    let fd: Int32
    switch Sys.openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC) {
    case .success(let opened): fd = opened
    case .failure(let errno): return .failure(ProcFSError(operation: "openat", path: path, errno: errno))
    }
    defer { Sys.close(fd) }
    var bytes = [UInt8](repeating: 0, count: 1 << 16)
    var total = 0
    while total < bytes.count {
      let result = bytes.withUnsafeMutableBytes { raw in
        Sys.read(fd, UnsafeMutableRawBufferPointer(rebasing: raw[total...]))
      }
      switch result {
      case .success(0):
        bytes.removeSubrange(total...)
        return .success(bytes)
      case .success(let count): total += count
      case .failure(let errno): return .failure(ProcFSError(operation: "read", path: path, errno: errno))
      }
    }
    return .success(bytes)
  }
}
