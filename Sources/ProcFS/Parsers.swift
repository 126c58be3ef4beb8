// Pure parsers of /proc bytes. No I/O, no Foundation, no `String` on the hot path:
// every function here takes bytes and either returns a value or throws `ProcParseError`
// (or returns nil / `.other`), so they can be fed recorded bytes and fuzzed.

/// Fields of `/proc/<pid>/stat` that the scanner uses.
public struct ProcStat: Sendable, Equatable {
  public var pid: Int32
  /// The `comm` between the first `(` and the LAST `)`: raw bytes, may hold `)`, spaces,
  /// newlines and invalid UTF-8.
  public var command: [UInt8]
  /// Field 3, one byte such as `R`, `S`, `Z`.
  public var state: UInt8
  /// Field 4.
  public var ppid: Int32
  /// Field 22, in clock ticks since boot.
  public var startTimeTicks: UInt64

  public init(pid: Int32, command: [UInt8], state: UInt8, ppid: Int32, startTimeTicks: UInt64) {
    self.pid = pid
    self.command = command
    self.state = state
    self.ppid = ppid
    self.startTimeTicks = startTimeTicks
  }
}

/// Fields of `/proc/<pid>/status` that the scanner uses.
public struct ProcStatus: Sendable, Equatable {
  /// First number of the `Uid:` line.
  public var realUID: UInt32
  /// Second number of the `Uid:` line.
  public var effectiveUID: UInt32
  /// The `NSpid:` line, outermost namespace first; empty when the kernel has no such line.
  public var namespacePIDs: [Int32]

  public init(realUID: UInt32, effectiveUID: UInt32, namespacePIDs: [Int32] = []) {
    self.realUID = realUID
    self.effectiveUID = effectiveUID
    self.namespacePIDs = namespacePIDs
  }
}

/// The `Max open files` line of `/proc/<pid>/limits`. `nil` means `unlimited`.
public struct OpenFilesLimit: Sendable, Equatable {
  public var soft: UInt64?
  public var hard: UInt64?
  public init(soft: UInt64?, hard: UInt64?) {
    self.soft = soft
    self.hard = hard
  }
}

/// What an fd link points to, classified without allocating.
public enum FDTargetKind: Sendable, Hashable {
  case socket(inode: UInt64)
  case pipe(inode: UInt64)
  case anonInode
  case path
  case other
}

public enum ProcParsers {
  // MARK: stat

  /// Parses `/proc/<pid>/stat`. The command is taken up to the LAST `)`. Fields after
  /// starttime (22) are not read, but a delimiter must follow it (else: truncated).
  public static func stat(_ bytes: UnsafeRawBufferPointer) throws(ProcParseError) -> ProcStat {
    let n = bytes.count
    if n == 0 { throw .empty }
    guard let open = firstIndex(of: UInt8(ascii: "("), in: bytes, from: 0, to: n) else {
      throw .missingField("comm")
    }
    guard let close = lastIndex(of: UInt8(ascii: ")"), in: bytes), close > open else {
      throw .missingField("comm")
    }
    // "pid (" — the pid is followed by exactly one space.
    guard open >= 2, bytes[open - 1] == UInt8(ascii: " ") else { throw .invalidField("pid") }
    guard let pidValue = decimal(bytes, 0, open - 1), pidValue <= UInt64(Int32.max) else {
      throw .invalidField("pid")
    }
    let command = Array(UnsafeRawBufferPointer(rebasing: bytes[(open + 1)..<close]))

    // After ") " come space-separated fields 3, 4, ... Field 3 is index 0 here.
    var i = close + 1
    var field = 0
    var state: UInt8 = 0
    var ppid: Int32 = 0
    var start: UInt64 = 0
    var haveStart = false
    while i < n {
      guard bytes[i] == UInt8(ascii: " ") else {
        if bytes[i] == UInt8(ascii: "\n") { break }
        throw .invalidField("field \(field + 3)")
      }
      i += 1
      var end = i
      while end < n, bytes[end] != UInt8(ascii: " "), bytes[end] != UInt8(ascii: "\n") { end += 1 }
      switch field {
      case 0:
        guard end - i == 1 else { throw .invalidField("state") }
        state = bytes[i]
      case 1:
        guard let v = decimal(bytes, i, end), v <= UInt64(Int32.max) else {
          throw .invalidField("ppid")
        }
        ppid = Int32(v)
      case 19:
        // Field 22 is never the last one: without a delimiter after it the file was cut
        // inside the number, and a shorter number would be wrong.
        guard end < n else { throw .missingField("starttime") }
        guard let v = decimal(bytes, i, end) else { throw .invalidField("starttime") }
        start = v
        haveStart = true
      default:
        break
      }
      field += 1
      i = end
      if haveStart { break }
    }
    if field < 1 { throw .missingField("state") }
    if field < 2 { throw .missingField("ppid") }
    if !haveStart { throw .missingField("starttime") }
    return ProcStat(
      pid: Int32(pidValue), command: command, state: state, ppid: ppid, startTimeTicks: start)
  }

  // MARK: status

  /// Parses `/proc/<pid>/status`: the `Uid:` line (required) and the `NSpid:` line (optional).
  public static func status(_ bytes: UnsafeRawBufferPointer) throws(ProcParseError) -> ProcStatus {
    if bytes.isEmpty { throw .empty }
    var uids: (UInt32, UInt32)? = nil
    var nspids: [Int32] = []
    var lineStart = 0
    let n = bytes.count
    while lineStart < n {
      var lineEnd = lineStart
      while lineEnd < n, bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
      if uids == nil, hasPrefix(bytes, lineStart, lineEnd, "Uid:") {
        var it = lineStart + 4
        guard let r = nextToken(bytes, &it, lineEnd), let real = decimal(bytes, r.0, r.1),
          real <= UInt64(UInt32.max),
          let e = nextToken(bytes, &it, lineEnd), let eff = decimal(bytes, e.0, e.1),
          eff <= UInt64(UInt32.max)
        else { throw .invalidField("Uid") }
        uids = (UInt32(real), UInt32(eff))
      } else if nspids.isEmpty, hasPrefix(bytes, lineStart, lineEnd, "NSpid:") {
        var it = lineStart + 6
        while let t = nextToken(bytes, &it, lineEnd) {
          guard let v = decimal(bytes, t.0, t.1), v <= UInt64(Int32.max) else {
            throw .invalidField("NSpid")
          }
          nspids.append(Int32(v))
        }
      }
      lineStart = lineEnd + 1
    }
    guard let (real, eff) = uids else { throw .missingField("Uid") }
    return ProcStatus(realUID: real, effectiveUID: eff, namespacePIDs: nspids)
  }

  // MARK: limits

  /// Parses the `Max open files` line of `/proc/<pid>/limits`; `unlimited` becomes nil.
  public static func openFilesLimit(_ bytes: UnsafeRawBufferPointer) throws(ProcParseError)
    -> OpenFilesLimit
  {
    if bytes.isEmpty { throw .empty }
    let n = bytes.count
    var lineStart = 0
    while lineStart < n {
      var lineEnd = lineStart
      while lineEnd < n, bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
      if hasPrefix(bytes, lineStart, lineEnd, "Max open files") {
        var it = lineStart + 14
        guard let s = nextToken(bytes, &it, lineEnd), let h = nextToken(bytes, &it, lineEnd) else {
          throw .missingField("Max open files")
        }
        let soft = try limitValue(bytes, s)
        let hard = try limitValue(bytes, h)
        return OpenFilesLimit(soft: soft, hard: hard)
      }
      lineStart = lineEnd + 1
    }
    throw .missingField("Max open files")
  }

  private static func limitValue(_ b: UnsafeRawBufferPointer, _ t: (Int, Int))
    throws(ProcParseError) -> UInt64?
  {
    if equals(b, t.0, t.1, "unlimited") { return nil }
    guard let v = decimal(b, t.0, t.1) else { throw .invalidField("Max open files") }
    return v
  }

  // MARK: cmdline

  /// Splits `/proc/<pid>/cmdline` at NULs. Empty input (kernel threads, zombies) gives `[]`.
  /// A final NUL ends the last argument; a missing final NUL (a rewritten title) is tolerated.
  public static func commandLine(_ bytes: UnsafeRawBufferPointer) -> [[UInt8]] {
    var args: [[UInt8]] = []
    var start = 0
    let n = bytes.count
    var i = 0
    while i < n {
      if bytes[i] == 0 {
        args.append(Array(UnsafeRawBufferPointer(rebasing: bytes[start..<i])))
        start = i + 1
      }
      i += 1
    }
    if start < n { args.append(Array(UnsafeRawBufferPointer(rebasing: bytes[start..<n]))) }
    return args
  }

  // MARK: fd links

  /// Classifies the target of a `/proc/<pid>/fd/<n>` link without allocating.
  /// `socket:[N]` and `pipe:[N]` need all-digit N that fits in 64 bits, else `.other`.
  @inline(__always)
  public static func fdTargetKind(_ link: UnsafeRawBufferPointer) -> FDTargetKind {
    let n = link.count
    if n == 0 { return .other }
    let c0 = link[0]
    if c0 == UInt8(ascii: "/") { return .path }
    if c0 == UInt8(ascii: "s"), n >= 10, hasPrefix(link, 0, n, "socket:["),
      link[n - 1] == UInt8(ascii: "]")
    {
      if let v = decimal(link, 8, n - 1) { return .socket(inode: v) }
      return .other
    }
    if c0 == UInt8(ascii: "p"), n >= 8, hasPrefix(link, 0, n, "pipe:["),
      link[n - 1] == UInt8(ascii: "]")
    {
      if let v = decimal(link, 6, n - 1) { return .pipe(inode: v) }
      return .other
    }
    if c0 == UInt8(ascii: "a"), n > 11, hasPrefix(link, 0, n, "anon_inode:") { return .anonInode }
    return .other
  }

  /// Full parse of an fd link target. For anon inodes the name loses its brackets:
  /// `anon_inode:[eventfd]` → `eventfd`, `anon_inode:inotify` → `inotify`.
  public static func fdTarget(_ link: UnsafeRawBufferPointer) -> FDTarget {
    switch fdTargetKind(link) {
    case .socket(let inode): return .socket(inode: inode)
    case .pipe(let inode): return .pipe(inode: inode)
    case .path: return .path(Array(link))
    case .other: return .other(Array(link))
    case .anonInode:
      var s = 11
      var e = link.count
      if link[s] == UInt8(ascii: "["), link[e - 1] == UInt8(ascii: "]"), e - s >= 2 {
        s += 1
        e -= 1
      }
      return .anonInode(name: Array(UnsafeRawBufferPointer(rebasing: link[s..<e])))
    }
  }

  // MARK: directory entries

  /// Size of the fixed part of `struct linux_dirent64` (d_ino, d_off, d_reclen, d_type).
  public static let direntHeaderSize = 19

  /// Walks the records that `getdents64(2)` wrote into `buffer`. `body` gets each name
  /// (without its NUL; the byte after the name is always a NUL inside the record, so the
  /// name's base address is a valid C string) and `d_type`. Returns false if a record is
  /// malformed (walk stops there).
  @inline(__always)
  public static func forEachDirent(
    _ buffer: UnsafeRawBufferPointer,
    _ body: (_ name: UnsafeRawBufferPointer, _ type: UInt8) -> Void
  ) -> Bool {
    var off = 0
    let n = buffer.count
    while off < n {
      guard n - off > direntHeaderSize else { return false }
      let reclen = Int(buffer.loadUnaligned(fromByteOffset: off + 16, as: UInt16.self))
      guard reclen > direntHeaderSize, reclen <= n - off else { return false }
      let type = buffer[off + 18]
      let nameStart = off + direntHeaderSize
      let recEnd = off + reclen
      var nameEnd = nameStart
      while nameEnd < recEnd, buffer[nameEnd] != 0 { nameEnd += 1 }
      guard nameEnd < recEnd else { return false }  // no NUL inside the record
      body(UnsafeRawBufferPointer(rebasing: buffer[nameStart..<nameEnd]), type)
      off = recEnd
    }
    return true
  }

  /// A directory name that is a non-negative decimal fitting in Int32 (a pid or an fd), else nil.
  @inline(__always)
  public static func numericName(_ name: UnsafeRawBufferPointer) -> Int32? {
    guard name.count <= 10, let v = decimal(name, 0, name.count), v <= UInt64(Int32.max) else {
      return nil
    }
    return Int32(v)
  }

  // MARK: byte helpers

  /// Unsigned decimal in `b[start..<end]`: non-empty, digits only, no overflow; else nil.
  @inline(__always)
  static func decimal(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt64? {
    guard start >= 0, start < end, end <= b.count else { return nil }
    var v: UInt64 = 0
    var i = start
    while i < end {
      let d = b[i] &- UInt8(ascii: "0")
      guard d < 10 else { return nil }
      let (m, o1) = v.multipliedReportingOverflow(by: 10)
      let (s, o2) = m.addingReportingOverflow(UInt64(d))
      guard !o1, !o2 else { return nil }
      v = s
      i += 1
    }
    return v
  }

  static func firstIndex(of byte: UInt8, in b: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
    var i = from
    while i < to {
      if b[i] == byte { return i }
      i += 1
    }
    return nil
  }

  static func lastIndex(of byte: UInt8, in b: UnsafeRawBufferPointer) -> Int? {
    var i = b.count
    while i > 0 {
      i -= 1
      if b[i] == byte { return i }
    }
    return nil
  }

  @inline(__always)
  static func hasPrefix(
    _ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ prefix: StaticString
  ) -> Bool {
    let p = prefix.utf8Start
    let m = prefix.utf8CodeUnitCount
    guard end - start >= m else { return false }
    for k in 0..<m where b[start + k] != p[k] { return false }
    return true
  }

  static func equals(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ s: StaticString)
    -> Bool
  {
    end - start == s.utf8CodeUnitCount && hasPrefix(b, start, end, s)
  }

  /// Next run of bytes that are not space or tab, within `[it, end)`; advances `it`.
  static func nextToken(_ b: UnsafeRawBufferPointer, _ it: inout Int, _ end: Int) -> (Int, Int)? {
    while it < end, b[it] == UInt8(ascii: " ") || b[it] == UInt8(ascii: "\t") { it += 1 }
    guard it < end else { return nil }
    let s = it
    while it < end, b[it] != UInt8(ascii: " "), b[it] != UInt8(ascii: "\t") { it += 1 }
    return (s, it)
  }
}

// MARK: - Conveniences over arrays (tests, fuzzers)

extension ProcParsers {
  public static func stat(_ bytes: [UInt8]) throws(ProcParseError) -> ProcStat {
    try withBytes(bytes) { b throws(ProcParseError) in try stat(b) }
  }
  public static func status(_ bytes: [UInt8]) throws(ProcParseError) -> ProcStatus {
    try withBytes(bytes) { b throws(ProcParseError) in try status(b) }
  }
  public static func openFilesLimit(_ bytes: [UInt8]) throws(ProcParseError) -> OpenFilesLimit {
    try withBytes(bytes) { b throws(ProcParseError) in try openFilesLimit(b) }
  }
  public static func commandLine(_ bytes: [UInt8]) -> [[UInt8]] {
    bytes.withUnsafeBytes { commandLine($0) }
  }
  public static func fdTarget(_ bytes: [UInt8]) -> FDTarget {
    bytes.withUnsafeBytes { fdTarget($0) }
  }
  public static func fdTargetKind(_ bytes: [UInt8]) -> FDTargetKind {
    bytes.withUnsafeBytes { fdTargetKind($0) }
  }

  private static func withBytes<T>(
    _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(ProcParseError) -> T
  ) throws(ProcParseError) -> T {
    let r: Result<T, ProcParseError> = bytes.withUnsafeBytes { b in
      do throws(ProcParseError) { return .success(try body(b)) } catch { return .failure(error) }
    }
    return try r.get()
  }
}
