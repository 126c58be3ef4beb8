// inet_diag filter bytecode (INET_DIAG_REQ_BYTECODE): the op codes, a filter description of
// ORed lists (compiled through `InetFilter`, InetFilter.swift), and an interpreter and auditor
// that follow the kernel's rules (net/ipv4/inet_diag.c: inet_diag_bc_run, inet_diag_bc_audit,
// valid_cc) so compiled bytes can be checked without a kernel. Pure: no I/O.
//
// The program is a sequence of 4-byte ops `struct inet_diag_bc_op { u8 code; u8 yes; u16 no; }`,
// some followed by an operand. The kernel runs it per socket: on a match it moves forward `yes`
// bytes, otherwise `no` bytes. Landing exactly on the end accepts the socket; landing 4 bytes
// past it (len + 4) rejects it. The audit walks the program along the `yes` offsets only and
// accepts a `no` target only if that walk passes through it.

/// Codes of `struct inet_diag_bc_op` (enum in <linux/inet_diag.h>).
public enum InetDiagOpCode: UInt8, Sendable, CaseIterable {
  case nop = 0
  case jump = 1
  case sourcePortAtLeast = 2  // S_GE
  case sourcePortAtMost = 3  // S_LE
  case destinationPortAtLeast = 4  // D_GE
  case destinationPortAtMost = 5  // D_LE
  case auto = 6
  case sourceCondition = 7  // S_COND, followed by inet_diag_hostcond
  case destinationCondition = 8  // D_COND
  case deviceCondition = 9  // DEV_COND, followed by u32 ifindex
  case markCondition = 10  // MARK_COND, followed by u32 mark, u32 mask
  case sourcePortEquals = 11  // S_EQ (kernel 4.17+)
  case destinationPortEquals = 12  // D_EQ
  case cgroupCondition = 13  // CGROUP_COND, followed by u64 cgroup id
}

/// A filter the kernel applies while dumping inet sockets. Each list is an OR of its
/// conditions, the lists are ANDed together, and an empty list sets no condition.
///
/// The compiled program may let through more sockets than the description (never fewer):
/// callers re-check every flow in userspace.
public struct InetFilterProgram: Sendable, Equatable {
  /// An address prefix and/or port of one end of a socket (`inet_diag_hostcond`).
  public struct HostCondition: Sendable, Equatable {
    /// 0 (any family: address and prefix are ignored), 2 (AF_INET) or 10 (AF_INET6).
    public var family: UInt8
    /// 4 or 16 bytes in network order; empty for any address.
    public var address: [UInt8]
    /// In bits; clamped to the address's size.
    public var prefixLength: UInt8
    /// nil for any port.
    public var port: UInt16?

    public init(family: UInt8, address: [UInt8], prefixLength: UInt8, port: UInt16? = nil) {
      self.family = family
      self.address = address
      self.prefixLength = prefixLength
      self.port = port
    }

    /// Any address, this port.
    public static func port(_ port: UInt16) -> HostCondition {
      HostCondition(family: 0, address: [], prefixLength: 0, port: port)
    }

    /// An IPv4 prefix; `address` as an integer whose most significant byte comes first on the wire.
    public static func ipv4(_ address: UInt32, prefixLength: Int = 32, port: UInt16? = nil)
      -> HostCondition
    {
      var bytes: [UInt8] = []
      bytes.appendBig(address)
      return HostCondition(
        family: 2, address: bytes, prefixLength: UInt8(min(max(prefixLength, 0), 32)), port: port)
    }

    /// An IPv6 prefix given as two big-endian-interpreted halves.
    public static func ipv6(
      high: UInt64, low: UInt64, prefixLength: Int = 128, port: UInt16? = nil
    ) -> HostCondition {
      var bytes: [UInt8] = []
      bytes.appendBig(high)
      bytes.appendBig(low)
      return HostCondition(
        family: 10, address: bytes, prefixLength: UInt8(min(max(prefixLength, 0), 128)),
        port: port)
    }
  }

  /// The source or the destination port equals one of these.
  public var ports: [UInt16] = []
  /// Local end (S_COND).
  public var local: [HostCondition] = []
  /// Remote end (D_COND).
  public var remote: [HostCondition] = []
  /// Bound interface index (DEV_COND); 0 is "not bound to a device".
  public var interfaces: [UInt32] = []
  /// S_EQ/D_EQ for port equality (kernel 4.17+); otherwise a GE and an LE op per port.
  public var usesEqualityOps = true

  public init() {}

  /// The description as one filter: each list an OR, the lists ANDed.
  public var filter: InetFilter {
    var groups: [InetFilter] = []
    if !ports.isEmpty {
      groups.append(
        ports.map { InetFilter.or(.sourcePort(.equals($0)), .destinationPort(.equals($0))) }
          .reduce(InetFilter.never) { .or($0, $1) })
    }
    for (conditions, isLocal) in [(local, true), (remote, false)] where !conditions.isEmpty {
      // A condition that cannot be expressed makes its whole list unconditional (a superset).
      guard conditions.allSatisfy({ $0.operand() != nil }) else { continue }
      groups.append(
        conditions.map { isLocal ? InetFilter.local($0) : .remote($0) }
          .reduce(InetFilter.never) { .or($0, $1) })
    }
    if !interfaces.isEmpty {
      groups.append(interfaces.map { InetFilter.device($0) }.reduce(InetFilter.never) { .or($0, $1) })
    }
    return groups.reduce(InetFilter.always) { .and($0, $1) }
  }

  /// The bytes of INET_DIAG_REQ_BYTECODE, or nil when nothing is filtered (send no attribute).
  /// Also nil if the program would not fit the 16-bit jump offsets: filtering then falls to
  /// userspace alone.
  public func compile() -> [UInt8]? {
    filter.compile(usesEqualityOps: usesEqualityOps)
  }

  /// The compiled program's verdict on `entry`, as the kernel would give it; true when there
  /// is nothing to filter.
  public func accepts(_ entry: InetDiagEntry) -> Bool {
    compile().map { InetDiagBytecode.run($0, on: entry) } ?? true
  }

}

extension InetFilterProgram.HostCondition {
  /// `struct inet_diag_hostcond { u8 family; u8 prefix_len; int port; __be32 addr[]; }`, or nil
  /// when the family and address do not fit together.
  func operand() -> [UInt8]? {
    var bytes: [UInt8]
    let bits: Int
    switch family {
    case 0:
      // AF_UNSPEC: the audit allows no address and a zero prefix.
      bytes = [0, 0]
      bits = 0
    case 2, 10:
      bits = family == 2 ? 32 : 128
      guard address.count == bits / 8 else { return nil }
      bytes = [family, UInt8(min(Int(prefixLength), bits))]
    default:
      return nil
    }
    bytes += [0, 0]  // padding before the int
    bytes.appendHost(port.map { Int32($0) } ?? -1)
    if family != 0 { bytes += address }
    return bytes
  }
}

// MARK: - The kernel's rules, for checking programs without a kernel

/// What inet_diag_bc_run sees of one socket (`struct inet_diag_entry`).
public struct InetDiagEntry: Sendable, Equatable {
  public var family: UInt8
  /// 16 bytes, network order; an IPv4 address in the first 4.
  public var sourceAddress: [UInt8]
  public var destinationAddress: [UInt8]
  public var sourcePort: UInt16
  public var destinationPort: UInt16
  public var interfaceIndex: UInt32
  public var userLocks: UInt8
  public var mark: UInt32
  public var cgroupID: UInt64

  public init(
    family: UInt8, sourceAddress: [UInt8], destinationAddress: [UInt8], sourcePort: UInt16,
    destinationPort: UInt16, interfaceIndex: UInt32 = 0, userLocks: UInt8 = 0, mark: UInt32 = 0,
    cgroupID: UInt64 = 0
  ) {
    func padded(_ bytes: [UInt8]) -> [UInt8] {
      Array((bytes + [UInt8](repeating: 0, count: 16)).prefix(16))
    }
    self.family = family
    self.sourceAddress = padded(sourceAddress)
    self.destinationAddress = padded(destinationAddress)
    self.sourcePort = sourcePort
    self.destinationPort = destinationPort
    self.interfaceIndex = interfaceIndex
    self.userLocks = userLocks
    self.mark = mark
    self.cgroupID = cgroupID
  }
}

public enum InetDiagBytecode {
  static let hostConditionSize = 8

  /// Whether the kernel's inet_diag_bc_audit would accept `code` (MARK_COND counted as allowed,
  /// as for CAP_NET_ADMIN).
  public static func audit(_ code: [UInt8]) -> Bool {
    guard code.count >= 4 else { return false }
    var offset = 0
    var remaining = code.count
    while remaining > 0 {
      guard remaining >= 4 else { return false }
      let (op, yes, no) = readOp(code, offset)
      var minimum = 4
      switch InetDiagOpCode(rawValue: op) {
      case .sourceCondition, .destinationCondition:
        minimum += hostConditionSize
        guard remaining >= minimum else { return false }
        let family = code[offset + 4]
        let addressSize: Int
        switch family {
        case 0: addressSize = 0
        case 2: addressSize = 4
        case 10: addressSize = 16
        default: return false
        }
        minimum += addressSize
        guard remaining >= minimum, Int(code[offset + 5]) <= 8 * addressSize else { return false }
      case .deviceCondition:
        minimum += 4
        guard remaining >= minimum else { return false }
      case .markCondition:
        minimum += 8
        guard remaining >= minimum else { return false }
      case .cgroupCondition:
        minimum += 8
        guard remaining >= minimum else { return false }
      case .sourcePortEquals, .sourcePortAtLeast, .sourcePortAtMost, .destinationPortEquals,
        .destinationPortAtLeast, .destinationPortAtMost:
        minimum += 4
        guard remaining >= minimum else { return false }
      case .auto, .jump, .nop:
        break
      case nil:
        return false
      }
      if InetDiagOpCode(rawValue: op) != .nop {
        guard no >= minimum, no <= remaining + 4, no & 3 == 0 else { return false }
        if no < remaining, !onYesChain(code, remainingAtTarget: remaining - no) { return false }
      }
      guard yes >= minimum, yes <= remaining + 4, yes & 3 == 0 else { return false }
      offset += yes
      remaining -= yes
    }
    return remaining == 0
  }

  /// valid_cc: whether walking from the start along `yes` offsets reaches the point with
  /// `remainingAtTarget` bytes left.
  static func onYesChain(_ code: [UInt8], remainingAtTarget: Int) -> Bool {
    var offset = 0
    var remaining = code.count
    while remaining >= 0 {
      if remainingAtTarget > remaining { return false }
      if remainingAtTarget == remaining { return true }
      guard offset + 4 <= code.count else { return false }
      let yes = Int(code[offset + 1])
      if yes < 4 || yes & 3 != 0 { return false }
      remaining -= yes
      offset += yes
    }
    return false
  }

  /// inet_diag_bc_run: whether the program accepts `entry`. Programs the audit would refuse
  /// give undefined verdicts in the kernel; here they are rejected rather than read out of bounds.
  public static func run(_ code: [UInt8], on entry: InetDiagEntry) -> Bool {
    var offset = 0
    var remaining = code.count
    while remaining > 0 {
      guard offset + 4 <= code.count else { return false }
      let (op, yes, no) = readOp(code, offset)
      var matched = true
      func operandFits(_ size: Int) -> Bool { offset + 4 + size <= code.count }
      switch InetDiagOpCode(rawValue: op) {
      case .nop: break
      case .jump: matched = false
      case .sourcePortEquals, .sourcePortAtLeast, .sourcePortAtMost, .destinationPortEquals,
        .destinationPortAtLeast, .destinationPortAtMost:
        guard operandFits(4) else { return false }
        let value = UInt16(code[offset + 6]) | UInt16(code[offset + 7]) << 8
        let isSource = op == 11 || op == 2 || op == 3
        let port = isSource ? entry.sourcePort : entry.destinationPort
        switch op {
        case 11, 12: matched = port == value
        case 2, 4: matched = port >= value
        default: matched = port <= value
        }
      case .auto:
        matched = entry.userLocks & 8 == 0  // SOCK_BINDPORT_LOCK
      case .sourceCondition, .destinationCondition:
        guard operandFits(hostConditionSize) else { return false }
        let isSource = op == InetDiagOpCode.sourceCondition.rawValue
        matched = hostConditionMatches(code, offset + 4, isSource: isSource, entry: entry)
      case .deviceCondition:
        guard operandFits(4) else { return false }
        matched = hostU32(code, offset + 4) == entry.interfaceIndex
      case .markCondition:
        guard operandFits(8) else { return false }
        let value = hostU32(code, offset + 4)
        let mask = hostU32(code, offset + 8)
        matched = entry.mark & mask == value
      case .cgroupCondition:
        guard operandFits(8) else { return false }
        matched = UInt64(hostU32(code, offset + 4)) | UInt64(hostU32(code, offset + 8)) << 32 == entry.cgroupID
      case nil:
        return false
      }
      let step = matched ? yes : no
      guard step > 0 else { return false }
      offset += step
      remaining -= step
    }
    return remaining == 0
  }

  static func hostU32(_ code: [UInt8], _ at: Int) -> UInt32 {
    UInt32(code[at]) | UInt32(code[at + 1]) << 8 | UInt32(code[at + 2]) << 16
      | UInt32(code[at + 3]) << 24
  }

  static func readOp(_ code: [UInt8], _ offset: Int) -> (code: UInt8, yes: Int, no: Int) {
    (
      code[offset], Int(code[offset + 1]),
      Int(UInt16(code[offset + 2]) | UInt16(code[offset + 3]) << 8)
    )
  }

  static func hostConditionMatches(
    _ code: [UInt8], _ at: Int, isSource: Bool, entry: InetDiagEntry
  ) -> Bool {
    let family = code[at]
    let prefix = Int(code[at + 1])
    let port =
      Int32(
        bitPattern: UInt32(code[at + 4]) | UInt32(code[at + 5]) << 8 | UInt32(code[at + 6]) << 16
          | UInt32(code[at + 7]) << 24)
    if port != -1, port != Int32(isSource ? entry.sourcePort : entry.destinationPort) {
      return false
    }
    let address = isSource ? entry.sourceAddress : entry.destinationAddress
    let wanted = Array(code[min(at + 8, code.count)...])
    if family != 0, family != entry.family {
      // An IPv4 condition also matches an IPv6 socket's v4-mapped address (::ffff:a.b.c.d).
      if entry.family == 10, family == 2 {
        return address[0..<10].allSatisfy { $0 == 0 } && address[10] == 0xff && address[11] == 0xff
          && prefixMatches(Array(address[12..<16]), wanted, bits: prefix)
      }
      return false
    }
    if prefix == 0 { return true }
    return prefixMatches(address, wanted, bits: prefix)
  }

  static func prefixMatches(_ a: [UInt8], _ b: [UInt8], bits: Int) -> Bool {
    let whole = bits / 8
    let rest = bits % 8
    guard a.count >= whole + (rest > 0 ? 1 : 0), b.count >= whole + (rest > 0 ? 1 : 0) else {
      return false
    }
    if a[0..<whole] != b[0..<whole] { return false }
    if rest == 0 { return true }
    let mask = UInt8(0xff) << UInt8(8 - rest)
    return a[whole] & mask == b[whole] & mask
  }
}
