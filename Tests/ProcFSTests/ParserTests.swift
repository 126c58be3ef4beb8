import Foundation
import Testing

@testable import ProcFS

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct StatParserTests {
  @Test func realStatWithParenthesesAndSpacesInName() throws {
    let st = try ProcParsers.stat(Fixtures.weirdStat)
    #expect(st.pid == 6686)
    #expect(st.command == bytes("a) (b c"))
    #expect(st.state == UInt8(ascii: "S"))
    #expect(st.ppid == 1)
    #expect(st.startTimeTicks == 49792)
  }

  @Test func realKernelThreadStat() throws {
    let st = try ProcParsers.stat(Fixtures.kthreaddStat)
    #expect(st.pid == 2)
    #expect(st.command == bytes("kthreadd"))
    #expect(st.ppid == 0)
    #expect(st.startTimeTicks == 10)
  }

  @Test func nameWithNewlineCloseParenAndInvalidUTF8() throws {
    var b = bytes("77 (")
    b += [0x29, 0x0A, 0xFF, 0xFE, 0x20, 0x29, 0x29]  // ")\n\xff\xfe ))"
    b += bytes(") Z 5 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123456789012 0 0\n")
    let st = try ProcParsers.stat(b)
    #expect(st.pid == 77)
    #expect(st.command == [0x29, 0x0A, 0xFF, 0xFE, 0x20, 0x29, 0x29])
    #expect(st.state == UInt8(ascii: "Z"))
    #expect(st.ppid == 5)
    #expect(st.startTimeTicks == 123_456_789_012)
  }

  @Test func emptyName() throws {
    let st = try ProcParsers.stat(bytes("9 () R 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 7 0"))
    #expect(st.command == [])
    #expect(st.startTimeTicks == 7)
  }

  @Test func everyTruncationOfARealStatThrowsUntilStartTimeIsComplete() {
    let full = Fixtures.weirdStat
    // Offset just past the starttime digits "49792".
    let tail = bytes(" 49792 ")
    let start = full.indices.first { i in
      i + tail.count <= full.count && Array(full[i..<(i + tail.count)]) == tail
    }!
    let endOfStartTime = start + 7  // the digits and the space after them
    var successes = 0
    for n in 0...full.count {
      let prefix = Array(full[0..<n])
      do {
        let st = try ProcParsers.stat(prefix)
        successes += 1
        #expect(n >= endOfStartTime)
        #expect(st.startTimeTicks == 49792)
      } catch {
        #expect(n < endOfStartTime)
      }
    }
    #expect(successes == full.count + 1 - endOfStartTime)
  }

  @Test func hostileInputs() {
    #expect(throws: ProcParseError.empty) { try ProcParsers.stat([]) }
    #expect(throws: ProcParseError.missingField("comm")) { try ProcParsers.stat(bytes("123")) }
    #expect(throws: ProcParseError.missingField("comm")) { try ProcParsers.stat(bytes("123 (abc")) }
    #expect(throws: ProcParseError.missingField("comm")) {
      try ProcParsers.stat(bytes("123 )abc("))
    }
    #expect(throws: ProcParseError.invalidField("pid")) { try ProcParsers.stat(bytes("(x) S 1")) }
    #expect(throws: ProcParseError.invalidField("pid")) {
      try ProcParsers.stat(bytes("-5 (x) S 1"))
    }
    #expect(throws: ProcParseError.invalidField("pid")) {
      try ProcParsers.stat(bytes("99999999999 (x) S 1"))
    }
    #expect(throws: ProcParseError.missingField("state")) { try ProcParsers.stat(bytes("1 (x)")) }
    #expect(throws: ProcParseError.invalidField("state")) {
      try ProcParsers.stat(bytes("1 (x) SS 1"))
    }
    #expect(throws: ProcParseError.missingField("ppid")) { try ProcParsers.stat(bytes("1 (x) S")) }
    #expect(throws: ProcParseError.invalidField("ppid")) {
      try ProcParsers.stat(bytes("1 (x) S 4294967296 1"))
    }
    #expect(throws: ProcParseError.invalidField("ppid")) {
      try ProcParsers.stat(bytes("1 (x) S -1 1"))
    }
    #expect(throws: ProcParseError.missingField("starttime")) {
      try ProcParsers.stat(bytes("1 (x) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0"))
    }
    #expect(throws: ProcParseError.missingField("starttime")) {  // cut inside the number
      try ProcParsers.stat(bytes("1 (x) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4979"))
    }
    #expect(throws: ProcParseError.invalidField("starttime")) {
      try ProcParsers.stat(
        bytes("1 (x) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551616 0"))
    }
    #expect(throws: ProcParseError.invalidField("field 3")) {
      try ProcParsers.stat(bytes("1 (x)S 0"))
    }
    // The largest values that fit are accepted.
    let max = try? ProcParsers.stat(
      bytes(
        "2147483647 (x) S 2147483647 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551615\n"))
    #expect(max?.pid == Int32.max)
    #expect(max?.ppid == Int32.max)
    #expect(max?.startTimeTicks == UInt64.max)
  }
}

@Suite struct StatusLimitsCmdlineTests {
  @Test func realStatus() throws {
    let st = try ProcParsers.status(Fixtures.weirdStatus)
    #expect(st == ProcStatus(realUID: 0, effectiveUID: 0, namespacePIDs: [6686]))
  }

  @Test func statusWithDistinctUidsAndNestedPidNamespace() throws {
    let st = try ProcParsers.status(
      bytes("Name:\tUid: 5\nUid:\t1000\t0\t1000\t1000\nNSpid:\t4242\t17\t1\n"))
    #expect(st == ProcStatus(realUID: 1000, effectiveUID: 0, namespacePIDs: [4242, 17, 1]))
  }

  @Test func statusHostile() {
    #expect(throws: ProcParseError.empty) { try ProcParsers.status([]) }
    #expect(throws: ProcParseError.missingField("Uid")) {
      try ProcParsers.status(bytes("Name:\tx\nGid:\t0\t0\t0\t0\n"))
    }
    #expect(throws: ProcParseError.invalidField("Uid")) {
      try ProcParsers.status(bytes("Uid:\t\n"))
    }
    #expect(throws: ProcParseError.invalidField("Uid")) { try ProcParsers.status(bytes("Uid:\t1")) }
    #expect(throws: ProcParseError.invalidField("Uid")) {
      try ProcParsers.status(bytes("Uid:\t4294967296\t0\t0\t0\n"))
    }
    #expect(throws: ProcParseError.invalidField("Uid")) {
      try ProcParsers.status(bytes("Uid:\tabc\t0\n"))
    }
    #expect(throws: ProcParseError.invalidField("NSpid")) {
      try ProcParsers.status(bytes("Uid:\t1\t2\nNSpid:\t1\tx\n"))
    }
    // Truncated just after the Uid line: still parses.
    #expect(
      (try? ProcParsers.status(bytes("Uid:\t7\t8\t7\t7")))
        == ProcStatus(realUID: 7, effectiveUID: 8))
  }

  @Test func realLimits() throws {
    #expect(
      try ProcParsers.openFilesLimit(Fixtures.weirdLimits)
        == OpenFilesLimit(soft: 20000, hard: 20000))
    #expect(
      try ProcParsers.openFilesLimit(Fixtures.kthreaddLimits)
        == OpenFilesLimit(soft: 1024, hard: 4096))
  }

  @Test func limitsUnlimitedIsNil() throws {
    // The real file with its open-files line edited to "unlimited" (as other lines of it are).
    let text = String(decoding: Fixtures.weirdLimits, as: UTF8.self)
      .replacingOccurrences(
        of: "Max open files            20000                20000",
        with: "Max open files            unlimited            8192 ")
    #expect(text != String(decoding: Fixtures.weirdLimits, as: UTF8.self))
    #expect(try ProcParsers.openFilesLimit(bytes(text)) == OpenFilesLimit(soft: nil, hard: 8192))
    let both = "Max open files            unlimited            unlimited            files     \n"
    #expect(try ProcParsers.openFilesLimit(bytes(both)) == OpenFilesLimit(soft: nil, hard: nil))
  }

  @Test func limitsHostile() {
    #expect(throws: ProcParseError.empty) { try ProcParsers.openFilesLimit([]) }
    #expect(throws: ProcParseError.missingField("Max open files")) {
      try ProcParsers.openFilesLimit(
        bytes("Limit  Soft Limit  Hard Limit  Units\nMax cpu time unlimited unlimited seconds\n"))
    }
    #expect(throws: ProcParseError.missingField("Max open files")) {
      try ProcParsers.openFilesLimit(bytes("Max open files 1024"))
    }
    #expect(throws: ProcParseError.invalidField("Max open files")) {
      try ProcParsers.openFilesLimit(bytes("Max open files 99999999999999999999999 1 files"))
    }
    #expect(throws: ProcParseError.invalidField("Max open files")) {
      try ProcParsers.openFilesLimit(bytes("Max open files unlimite 1 files"))
    }
  }

  @Test func cmdline() {
    #expect(
      ProcParsers.commandLine(Fixtures.weirdCmdline) == [bytes("/tmp/a) (b c"), bytes("300")])
    #expect(ProcParsers.commandLine([]) == [])  // kernel thread
    #expect(
      ProcParsers.commandLine(bytes("nginx: worker process")) == [bytes("nginx: worker process")])
    #expect(ProcParsers.commandLine([0]) == [[]])
    #expect(ProcParsers.commandLine([0x61, 0, 0, 0x62, 0]) == [[0x61], [], [0x62]])
  }
}

@Suite struct FDTargetTests {
  @Test func kinds() {
    #expect(ProcParsers.fdTarget(bytes("socket:[12345]")) == .socket(inode: 12345))
    #expect(
      ProcParsers.fdTarget(bytes("socket:[18446744073709551615]")) == .socket(inode: UInt64.max))
    #expect(ProcParsers.fdTarget(bytes("pipe:[678]")) == .pipe(inode: 678))
    #expect(
      ProcParsers.fdTarget(bytes("anon_inode:[eventfd]")) == .anonInode(name: bytes("eventfd")))
    #expect(ProcParsers.fdTarget(bytes("anon_inode:inotify")) == .anonInode(name: bytes("inotify")))
    #expect(ProcParsers.fdTarget(bytes("/dev/null")) == .path(bytes("/dev/null")))
    #expect(ProcParsers.fdTarget(bytes("/tmp/x (deleted)")) == .path(bytes("/tmp/x (deleted)")))
    #expect(ProcParsers.fdTarget(bytes("net:[4026531840]")) == .other(bytes("net:[4026531840]")))
    #expect(ProcParsers.fdTargetKind(bytes("socket:[1]")) == .socket(inode: 1))
  }

  @Test func malformedSocketAndPipeLinksAreOther() {
    for s in [
      "socket:[]", "socket:[12a]", "socket:[12", "socket:12]", "socket:[18446744073709551616]",
      "socket:[-1]",
      "socket:", "pipe:[]", "pipe:[x]", "pipe:[1", "anon_inode:", "", "s", "p", "a",
    ] {
      #expect(ProcParsers.fdTarget(bytes(s)) == .other(bytes(s)), "\(s)")
    }
  }
}

@Suite struct DirentTests {
  /// One `linux_dirent64` record: d_ino, d_off, d_reclen, d_type, name, NUL, padding to 8.
  static func record(_ name: String, type: UInt8 = 4, pad: Bool = true) -> [UInt8] {
    var r = [UInt8](repeating: 0, count: 19)
    var len = 19 + name.utf8.count + 1
    if pad { len = (len + 7) & ~7 }
    r[16] = UInt8(len & 0xFF)
    r[17] = UInt8(len >> 8)
    r[18] = type
    r += Array(name.utf8)
    r += [UInt8](repeating: 0, count: len - r.count)
    return r
  }

  static func names(_ buf: [UInt8]) -> ([String], Bool) {
    var out: [String] = []
    let ok = buf.withUnsafeBytes { b in
      ProcParsers.forEachDirent(b) { name, _ in out.append(String(decoding: name, as: UTF8.self)) }
    }
    return (out, ok)
  }

  @Test func wellFormed() {
    let buf =
      Self.record(".") + Self.record("..") + Self.record("1") + Self.record("4194304")
      + Self.record("self", type: 10)
    let (names, ok) = Self.names(buf)
    #expect(ok)
    #expect(names == [".", "..", "1", "4194304", "self"])
  }

  @Test func malformed() {
    let good = Self.record("12")
    // Truncated header.
    #expect(Self.names(good + Array(good[0..<10])) == (["12"], false))
    // d_reclen 0 would loop forever if trusted.
    var zero = Self.record("7")
    zero[16] = 0
    #expect(Self.names(zero) == ([], false))
    // d_reclen past the end of the buffer.
    var long = Self.record("7")
    long[16] = 200
    #expect(Self.names(long) == ([], false))
    // No NUL inside the record.
    var noNul = Self.record("abcde", pad: false)
    noNul[noNul.count - 1] = 0x41
    #expect(Self.names(noNul) == ([], false))
    #expect(Self.names([]) == ([], true))
  }

  @Test func numericNames() {
    func num(_ s: String) -> Int32? {
      Array(s.utf8).withUnsafeBytes { ProcParsers.numericName($0) }
    }
    #expect(num("0") == 0)
    #expect(num("42") == 42)
    #expect(num("2147483647") == Int32.max)
    #expect(num("2147483648") == nil)
    #expect(num("99999999999") == nil)
    #expect(num("") == nil)
    #expect(num(".") == nil)
    #expect(num("12a") == nil)
    #expect(num("-1") == nil)
    #expect(num("+1") == nil)
  }
}

@Suite struct RandomInputTests {
  /// Deterministic garbage and mutations of real files through every parser: they must throw or
  /// return, never trap. The count of inputs that still parse is pinned so the loop really ran.
  @Test func mutationsNeverTrap() {
    var rng = SplitMix(seed: 0x5EED)
    let seeds = [
      Fixtures.weirdStat, Fixtures.weirdStatus, Fixtures.weirdLimits, Fixtures.weirdCmdline,
      Fixtures.kthreaddStat,
    ]
    var parsed = 0
    var iterations = 0
    for seed in seeds {
      for _ in 0..<400 {
        var b = seed
        let edits = Int(rng.next() % 8) + 1
        for _ in 0..<edits where !b.isEmpty {
          let i = Int(rng.next() % UInt64(b.count))
          switch rng.next() % 4 {
          case 0: b[i] = UInt8(truncatingIfNeeded: rng.next())
          case 1: b.removeSubrange(i...)
          case 2: b.insert(UInt8(ascii: ")"), at: i)
          default: b.insert(contentsOf: Array("99999999999999999999".utf8), at: i)
          }
        }
        iterations += 1
        if (try? ProcParsers.stat(b)) != nil { parsed += 1 }
        _ = try? ProcParsers.status(b)
        _ = try? ProcParsers.openFilesLimit(b)
        _ = ProcParsers.commandLine(b)
        _ = ProcParsers.fdTarget(b)
        _ = b.withUnsafeBytes { ProcParsers.forEachDirent($0) { _, _ in } }
      }
    }
    #expect(iterations == 2000)
    // Some mutated stat files still parse (edits landing in ignored fields), most do not.
    #expect(parsed > 0)
    #expect(parsed < 2000)
  }
}

struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
