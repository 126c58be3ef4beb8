import Testing

@testable import SockDiag

// inet_diag bytecode: byte-exact programs (one comment per op), the audit rules, and the
// compiled programs' verdicts against a plain predicate over many sockets.
//
// Port operands, `no` offsets and the hostcond `port` are host order; these tests spell them
// little-endian, which is every platform Swift on Linux runs on.

@Suite("inet_diag bytecode")
struct BytecodeTests {
  @Test func hostIsLittleEndian() {
    #expect(UInt16(1).littleEndian == 1)
  }

  @Test func nothingToFilterSendsNothing() {
    #expect(InetFilterProgram().compile() == nil)
    var program = InetFilterProgram()
    // A condition that cannot be expressed drops its list (a superset), here the only one.
    program.local = [.init(family: 2, address: [1, 2, 3], prefixLength: 24)]
    #expect(program.compile() == nil)
  }

  @Test func onePortIsSourceOrDestination() {
    var program = InetFilterProgram()
    program.ports = [443]
    let code = program.compile()
    #expect(
      code == [
        11, 8, 12, 0, 0, 0, 0xbb, 0x01,  // 0: S_EQ 443; yes → 8, no → 12 (D_EQ)
        1, 4, 12, 0,  // 8: JMP → 20 (end: accept)
        12, 8, 12, 0, 0, 0, 0xbb, 0x01,  // 12: D_EQ 443; yes → 20 (accept), no → 24 (reject)
      ])
    #expect(InetDiagBytecode.audit(code!))
  }

  @Test func portRangePairsWithoutEqualityOps() {
    var program = InetFilterProgram()
    program.ports = [443]
    program.usesEqualityOps = false
    let code = program.compile()
    #expect(
      code == [
        2, 8, 20, 0, 0, 0, 0xbb, 0x01,  // 0: S_GE 443; no → 20 (D_GE)
        3, 8, 12, 0, 0, 0, 0xbb, 0x01,  // 8: S_LE 443; no → 20 (D_GE)
        1, 4, 20, 0,  // 16: JMP → 36 (accept)
        4, 8, 20, 0, 0, 0, 0xbb, 0x01,  // 20: D_GE 443; no → 40 (reject)
        5, 8, 12, 0, 0, 0, 0xbb, 0x01,  // 28: D_LE 443; yes → 36 (accept), no → 40 (reject)
      ])
    #expect(InetDiagBytecode.audit(code!))
  }

  @Test func localPrefixWithPort() {
    var program = InetFilterProgram()
    program.local = [.ipv4(0x7f00_0000, prefixLength: 8, port: 80)]
    let code = program.compile()
    #expect(
      code == [
        7, 16, 20, 0,  // 0: S_COND, 16 bytes with its hostcond; yes → 16 (accept), no → 20 (reject)
        2, 8, 0, 0,  // AF_INET, /8, padding
        80, 0, 0, 0,  // port 80 (int, host order)
        127, 0, 0, 0,  // 127.0.0.0, network order
      ])
    #expect(InetDiagBytecode.audit(code!))
  }

  @Test func remoteAddressAndPortIPv6() {
    var program = InetFilterProgram()
    program.remote = [.ipv6(high: 0, low: 1, port: 53)]
    let code = program.compile()
    #expect(
      code
        == [
          8, 28, 32, 0,  // 0: D_COND, 28 bytes; yes → 28 (accept), no → 32 (reject)
          10, 128, 0, 0,  // AF_INET6, /128, padding
          53, 0, 0, 0,  // port 53
        ] + [UInt8](repeating: 0, count: 15) + [1])  // ::1
    #expect(InetDiagBytecode.audit(code!))
  }

  @Test func anyAddressAnyPortIsUnspecifiedFamily() {
    var program = InetFilterProgram()
    program.local = [.port(22), .init(family: 0, address: [9, 9, 9, 9], prefixLength: 8)]
    let code = program.compile()
    #expect(
      code == [
        7, 12, 16, 0,  // 0: S_COND; no → 16 (second alternative)
        0, 0, 0, 0, 22, 0, 0, 0,  // AF_UNSPEC, /0 (the audit allows no address), port 22
        1, 4, 16, 0,  // 12: JMP → 28 (accept)
        7, 12, 16, 0,  // 16: S_COND; no → 32 (reject)
        0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,  // AF_UNSPEC, /0, any port (-1): address ignored
      ])
    #expect(InetDiagBytecode.audit(code!))
  }

  @Test func interfaceAndPortAreAnded() {
    var program = InetFilterProgram()
    program.ports = [80]
    program.interfaces = [2]
    let code = program.compile()
    #expect(
      code == [
        11, 8, 12, 0, 0, 0, 80, 0,  // 0: S_EQ 80; no → 12 (D_EQ)
        1, 4, 12, 0,  // 8: JMP → 20 (the interface group)
        12, 8, 20, 0, 0, 0, 80, 0,  // 12: D_EQ 80; yes → 20, no → 32 (reject)
        9, 8, 12, 0, 2, 0, 0, 0,  // 20: DEV_COND ifindex 2; yes → 28 (accept), no → 32 (reject)
      ])
    #expect(InetDiagBytecode.audit(code!))
  }

  @Test func prefixLongerThanTheAddressIsClamped() {
    var program = InetFilterProgram()
    program.local = [.init(family: 2, address: [10, 0, 0, 1], prefixLength: 200)]
    let code = program.compile()!
    #expect(code[5] == 32)
    #expect(InetDiagBytecode.audit(code))
  }

  // MARK: The audit model

  @Test func auditRefusesWhatTheKernelRefuses() {
    // No ops at all / a lone partial op.
    #expect(!InetDiagBytecode.audit([]))
    #expect(!InetDiagBytecode.audit([0, 4]))
    // A NOP is a valid one-op program.
    #expect(InetDiagBytecode.audit([0, 4, 0, 0]))
    // Unknown code.
    #expect(!InetDiagBytecode.audit([99, 4, 8, 0]))
    // `no` past len + 4, or not a multiple of 4.
    #expect(!InetDiagBytecode.audit([1, 4, 12, 0]))
    #expect(!InetDiagBytecode.audit([1, 4, 6, 0]))
    // `yes` smaller than the op with its operand.
    #expect(!InetDiagBytecode.audit([11, 4, 8, 0, 0, 0, 80, 0]))
    // A hostcond whose prefix is longer than its address, or of an unknown family.
    #expect(
      !InetDiagBytecode.audit([7, 16, 20, 0, 2, 33, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]))
    #expect(!InetDiagBytecode.audit([7, 12, 16, 0, 0, 8, 0, 0, 0xff, 0xff, 0xff, 0xff]))
    #expect(
      !InetDiagBytecode.audit([7, 16, 20, 0, 7, 8, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]))
  }

  /// "yes = jump past the other alternatives" looks natural but is refused: the audit walks the
  /// `yes` offsets, and the second alternative (the first one's `no` target) is not on that walk.
  @Test func skippingAlternativesOnYesIsRefused() {
    let skipping: [UInt8] = [
      11, 16, 8, 0, 0, 0, 80, 0,  // 0: S_EQ 80; yes → 16 (accept), no → 8
      12, 8, 12, 0, 0, 0, 80, 0,  // 8: D_EQ 80; yes → 16, no → 20 (reject)
    ]
    #expect(!InetDiagBytecode.audit(skipping))
    // Yet it would filter as meant, which is why only the audit catches it.
    #expect(InetDiagBytecode.run(skipping, on: entry(2, [127, 0, 0, 1], 9, [127, 0, 0, 1], 80)))
  }

  // MARK: Verdicts against a plain predicate

  static let v4Addresses: [[UInt8]] = [
    [127, 0, 0, 1], [127, 0, 0, 2], [127, 1, 0, 1], [10, 1, 2, 3], [0, 0, 0, 0],
    [192, 168, 1, 129],
  ]
  static let v6Addresses: [[UInt8]] = [
    [UInt8](repeating: 0, count: 15) + [1],  // ::1
    [UInt8](repeating: 0, count: 16),  // ::
    [0xfe, 0x80] + [UInt8](repeating: 0, count: 13) + [1],  // fe80::1
    [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1],  // ::ffff:127.0.0.1
    [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 10, 1, 2, 3],  // ::ffff:10.1.2.3
    [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [5],  // 2001:db8::5
    [0x20, 0x01, 0x0d, 0xb9] + [UInt8](repeating: 0, count: 11) + [5],  // 2001:db9::5
  ]
  static let testPorts: [UInt16] = [0, 53, 80, 443, 8080, 65535]

  static let conditions: [InetFilterProgram.HostCondition] = [
    .ipv4(0x7f00_0000, prefixLength: 8),
    .ipv4(0x7f00_0001),
    .ipv4(0x7f00_0001, port: 80),
    .ipv4(0xc0a8_0180, prefixLength: 25),
    .ipv4(0x0a01_0203, prefixLength: 0),
    .ipv4(0, prefixLength: 0, port: 443),
    .ipv6(high: 0, low: 1),
    .ipv6(high: 0, low: 1, port: 53),
    .ipv6(high: 0xfe80_0000_0000_0000, low: 0, prefixLength: 10),
    .ipv6(high: 0x2001_0db8_0000_0000, low: 0, prefixLength: 31),
    .ipv6(high: 0x2001_0db8_0000_0000, low: 0, prefixLength: 32),
    .ipv6(high: 0, low: 0x0000_ffff_7f00_0000, prefixLength: 104),
    .port(8080),
    .init(family: 0, address: [], prefixLength: 0),
  ]

  func entry(
    _ family: UInt8, _ source: [UInt8], _ sourcePort: UInt16, _ destination: [UInt8],
    _ destinationPort: UInt16, interface: UInt32 = 0
  ) -> InetDiagEntry {
    InetDiagEntry(
      family: family, sourceAddress: source, destinationAddress: destination,
      sourcePort: sourcePort, destinationPort: destinationPort, interfaceIndex: interface)
  }

  /// The meaning of a host condition, written independently of the bytecode: bit by bit.
  static func plainMatch(
    _ condition: InetFilterProgram.HostCondition, family: UInt8, address: [UInt8], port: UInt16
  ) -> Bool {
    if let wanted = condition.port, wanted != port { return false }
    if condition.family == 0 { return true }
    func bit(_ bytes: [UInt8], _ index: Int) -> Bool {
      bytes[index / 8] & (0x80 >> (index % 8)) != 0
    }
    let prefix = Int(condition.prefixLength)
    if condition.family == family {
      return (0..<prefix).allSatisfy { bit(address, $0) == bit(condition.address, $0) }
    }
    // The kernel lets an IPv4 condition match an IPv6 socket's v4-mapped address.
    if condition.family == 2, family == 10,
      address.prefix(12).elementsEqual([UInt8](repeating: 0, count: 10) + [0xff, 0xff])
    {
      let embedded = Array(address[12..<16])
      return (0..<prefix).allSatisfy { bit(embedded, $0) == bit(condition.address, $0) }
    }
    return false
  }

  static func plainAccepts(_ program: InetFilterProgram, _ e: InetDiagEntry) -> Bool {
    if !program.ports.isEmpty,
      !program.ports.contains(e.sourcePort) && !program.ports.contains(e.destinationPort)
    {
      return false
    }
    if !program.local.isEmpty,
      !program.local.contains(where: {
        plainMatch($0, family: e.family, address: e.sourceAddress, port: e.sourcePort)
      })
    {
      return false
    }
    if !program.remote.isEmpty,
      !program.remote.contains(where: {
        plainMatch($0, family: e.family, address: e.destinationAddress, port: e.destinationPort)
      })
    {
      return false
    }
    if !program.interfaces.isEmpty, !program.interfaces.contains(e.interfaceIndex) { return false }
    return true
  }

  /// Every socket shape of the tables above.
  func allEntries() -> [InetDiagEntry] {
    var entries: [InetDiagEntry] = []
    for (family, addresses) in [(UInt8(2), Self.v4Addresses), (10, Self.v6Addresses)] {
      for source in addresses {
        for destination in addresses.prefix(3) {
          for sourcePort in Self.testPorts {
            for destinationPort in [UInt16(0), 80, 443] {
              for interface: UInt32 in [0, 2] {
                entries.append(
                  entry(
                    family, source, sourcePort, destination, destinationPort, interface: interface))
                entries.append(
                  entry(
                    family, destination, destinationPort, source, sourcePort, interface: interface))
              }
            }
          }
        }
      }
    }
    return entries
  }

  /// A fixed pseudo-random sequence (SplitMix64), so failures reproduce.
  struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state &+= 0x9e37_79b9_7f4a_7c15
      var z = state
      z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
      z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
      return z ^ (z >> 31)
    }
  }

  @Test(arguments: [true, false])
  func compiledVerdictsEqualThePlainPredicate(equalityOps: Bool) {
    var generator = SplitMix(state: equalityOps ? 1 : 2)
    let entries = allEntries()
    var programs: [InetFilterProgram] = []
    // Every single condition alone, on each side.
    for condition in Self.conditions {
      var local = InetFilterProgram()
      local.local = [condition]
      var remote = InetFilterProgram()
      remote.remote = [condition]
      programs += [local, remote]
    }
    // Random combinations of every list.
    for _ in 0..<100 {
      var program = InetFilterProgram()
      func some<T>(_ from: [T], upTo: Int) -> [T] {
        (0..<Int.random(in: 0...upTo, using: &generator)).map { _ in
          from.randomElement(using: &generator)!
        }
      }
      program.ports = some(Self.testPorts, upTo: 3)
      program.local = some(Self.conditions, upTo: 3)
      program.remote = some(Self.conditions, upTo: 2)
      program.interfaces = some([0, 1, 2], upTo: 2)
      programs.append(program)
    }

    var checked = 0
    var accepted = 0
    var mismatches: [String] = []
    for var program in programs {
      program.usesEqualityOps = equalityOps
      guard let code = program.compile() else {
        #expect(
          program.ports.isEmpty && program.local.isEmpty && program.remote.isEmpty
            && program.interfaces.isEmpty)
        continue
      }
      #expect(InetDiagBytecode.audit(code), "audit refused \(program) → \(code)")
      for e in entries {
        let want = Self.plainAccepts(program, e)
        let got = InetDiagBytecode.run(code, on: e)
        checked += 1
        if want { accepted += 1 }
        if want != got, mismatches.count < 5 { mismatches.append("\(program) on \(e): \(got)") }
      }
    }
    #expect(mismatches.isEmpty, "\(mismatches)")
    // The sample must exercise both verdicts, or this test proves nothing.
    #expect(checked > 100_000)
    #expect(accepted > checked / 100 && checked - accepted > checked / 100)
  }

  @Test func v4ConditionMatchesV4MappedSocketsAsTheKernelDoes() {
    var program = InetFilterProgram()
    program.local = [.ipv4(0x7f00_0000, prefixLength: 8)]
    let code = program.compile()!
    #expect(program.accepts(entry(2, [127, 0, 0, 5], 1, [1, 1, 1, 1], 2)))
    #expect(!program.accepts(entry(2, [126, 0, 0, 5], 1, [1, 1, 1, 1], 2)))
    #expect(InetFilterProgram().accepts(entry(2, [126, 0, 0, 5], 1, [1, 1, 1, 1], 2)))
    let mapped = [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1]
    #expect(InetDiagBytecode.run(code, on: entry(10, mapped, 1, mapped, 2)))
    #expect(
      !InetDiagBytecode.run(
        code, on: entry(10, [UInt8](repeating: 0, count: 15) + [1], 1, mapped, 2)))
    #expect(InetDiagBytecode.run(code, on: entry(2, [127, 9, 9, 9], 1, [1, 1, 1, 1], 2)))
    #expect(!InetDiagBytecode.run(code, on: entry(2, [128, 0, 0, 1], 1, [1, 1, 1, 1], 2)))
  }

  @Test func manyAlternativesStillFitAndTooManyFallBackToNone() throws {
    var program = InetFilterProgram()
    program.ports = (1...2000).map { UInt16($0) }
    let code = try #require(program.compile())
    #expect(code.count == 2000 * 2 * 8 + (2000 * 2 - 1) * 4)
    // Verdicts bound first: a failed #expect would print the whole 48 KB program.
    let audited = InetDiagBytecode.audit(code)
    let lastPortKept = InetDiagBytecode.run(
      code, on: entry(2, [127, 0, 0, 1], 5, [127, 0, 0, 1], 2000))
    let otherPortDropped = !InetDiagBytecode.run(
      code, on: entry(2, [127, 0, 0, 1], 2001, [127, 0, 0, 1], 0))
    #expect(audited)
    #expect(lastPortKept)
    #expect(otherPortDropped)
    program.ports = (1...6000).map { UInt16($0) }
    #expect(program.compile() == nil)
  }
}
