// A boolean filter over what inet_diag_bc_run sees of a socket, compiled to
// INET_DIAG_REQ_BYTECODE with `and`, `or` and `not` as iproute2's ss lays them out. Pure.
//
// Every compiled fragment of length L keeps one rule: run from its first op, a socket either
// reaches offset L (the fragment accepts: go on with what follows) or offset L + 4 (it
// rejects). Every op falls through on `yes` (yes = its own size), so the kernel's audit, which
// walks the `yes` chain, passes through every op boundary and accepts every `no` target.
// - a and b: a then b; a's jumps to its reject (L_a + 4) move to b's reject (+ L_b).
// - a or b: a, JMP(no: past b), b; a's reject (L_a + 4) is the start of b.
// - not a: a, JMP(no: 8); a accepting lands on the JMP, which jumps to the reject; a rejecting
//   lands past the JMP, on the fragment's end.

/// A condition the kernel can test on an inet socket, or a combination of them.
public indirect enum InetFilter: Sendable, Equatable {
  case always
  case never
  /// S_EQ/D_EQ (or S_GE/S_LE pairs where equality ops are not used).
  case sourcePort(PortComparison)
  case destinationPort(PortComparison)
  /// S_COND/D_COND: an address prefix and/or a port.
  case local(InetFilterProgram.HostCondition)
  case remote(InetFilterProgram.HostCondition)
  /// DEV_COND: the bound interface index (0 = none).
  case device(UInt32)
  /// MARK_COND: `mark & mask == value` (needs CAP_NET_ADMIN).
  case mark(value: UInt32, mask: UInt32)
  /// CGROUP_COND: the cgroup v2 id.
  case cgroup(UInt64)
  case and(InetFilter, InetFilter)
  case or(InetFilter, InetFilter)
  case not(InetFilter)

  public enum PortComparison: Sendable, Equatable {
    case equals(UInt16)
    case atLeast(UInt16)
    case atMost(UInt16)
  }

  /// The filter with `always` and `never` folded away: the result is `always`, `never`, or
  /// free of both.
  public var simplified: InetFilter {
    switch self {
    case .and(let a, let b):
      switch (a.simplified, b.simplified) {
      case (.never, _), (_, .never): return .never
      case (.always, let other), (let other, .always): return other
      case (let x, let y): return .and(x, y)
      }
    case .or(let a, let b):
      switch (a.simplified, b.simplified) {
      case (.always, _), (_, .always): return .always
      case (.never, let other), (let other, .never): return other
      case (let x, let y): return .or(x, y)
      }
    case .not(let a):
      switch a.simplified {
      case .always: return .never
      case .never: return .always
      case .not(let inner): return inner
      case let x: return .not(x)
      }
    default:
      return self
    }
  }

  /// The bytes of INET_DIAG_REQ_BYTECODE; nil when the filter accepts everything (send no
  /// attribute) or would not fit the 16-bit jump offsets (filter in userspace alone). A filter
  /// that accepts nothing compiles to one JMP to the reject.
  public func compile(usesEqualityOps: Bool = true) -> [UInt8]? {
    let filter = simplified
    switch filter {
    case .always: return nil
    case .never:
      var code: [UInt8] = []
      Self.emitOp(&code, .jump, yes: 4, no: 8)
      return code
    default:
      guard let code = filter.fragment(usesEqualityOps) else { return nil }
      return code
    }
  }

  /// The compiled fragment; nil when an offset would overflow (the `no` field is a u16 and
  /// must reach len + 4 + what follows; nla_len is a u16 too).
  func fragment(_ equality: Bool) -> [UInt8]? {
    let limit = Int(UInt16.max) - 64
    switch self {
    case .always, .never:
      // Folded away by `simplified` before compiling; kept total: `always` as a NOP-free
      // accept cannot be expressed without ops, so a pair that cancels out.
      let inner: InetFilter = .or(.device(0), .not(.device(0)))
      return (self == .always ? inner : .not(inner)).fragment(equality)
    case .sourcePort(let comparison), .destinationPort(let comparison):
      let isSource = if case .sourcePort = self { true } else { false }
      switch comparison {
      case .equals(let port) where !equality:
        let pair: InetFilter =
          isSource
          ? .and(.sourcePort(.atLeast(port)), .sourcePort(.atMost(port)))
          : .and(.destinationPort(.atLeast(port)), .destinationPort(.atMost(port)))
        return pair.fragment(equality)
      case .equals(let port):
        return Self.leaf(isSource ? .sourcePortEquals : .destinationPortEquals, Self.portOperand(port))
      case .atLeast(let port):
        return Self.leaf(isSource ? .sourcePortAtLeast : .destinationPortAtLeast, Self.portOperand(port))
      case .atMost(let port):
        return Self.leaf(isSource ? .sourcePortAtMost : .destinationPortAtMost, Self.portOperand(port))
      }
    case .local(let condition), .remote(let condition):
      guard let operand = condition.operand() else { return nil }
      let isLocal = if case .local = self { true } else { false }
      return Self.leaf(isLocal ? .sourceCondition : .destinationCondition, operand)
    case .device(let index):
      var operand: [UInt8] = []
      operand.appendHost(index)
      return Self.leaf(.deviceCondition, operand)
    case .mark(let value, let mask):
      var operand: [UInt8] = []
      operand.appendHost(value)
      operand.appendHost(mask)
      return Self.leaf(.markCondition, operand)
    case .cgroup(let id):
      var operand: [UInt8] = []
      operand.appendHost(id)
      return Self.leaf(.cgroupCondition, operand)
    case .and(let a, let b):
      guard var first = a.fragment(equality), let second = b.fragment(equality),
        first.count + second.count <= limit
      else { return nil }
      Self.moveRejects(in: &first, by: second.count)
      return first + second
    case .or(let a, let b):
      guard let first = a.fragment(equality), let second = b.fragment(equality),
        first.count + second.count + 4 <= limit
      else { return nil }
      var code = first
      Self.emitOp(&code, .jump, yes: 4, no: second.count + 4)
      return code + second
    case .not(let a):
      guard var code = a.fragment(equality), code.count + 4 <= limit else { return nil }
      Self.emitOp(&code, .jump, yes: 4, no: 8)
      return code
    }
  }

  /// One condition op and its operand: yes falls through, no goes to the reject (L + 4).
  static func leaf(_ op: InetDiagOpCode, _ operand: [UInt8]) -> [UInt8] {
    var code: [UInt8] = []
    let size = 4 + operand.count
    emitOp(&code, op, yes: size, no: size + 4)
    return code + operand
  }

  /// A port op's second word, whose `no` holds the port in host order (compared with the
  /// host-order port the kernel keeps in its inet_diag_entry).
  static func portOperand(_ port: UInt16) -> [UInt8] {
    var operand: [UInt8] = [0, 0]
    operand.appendHost(port)
    return operand
  }

  /// ssfilter_patch: the ops of `code` that jump to its reject (remaining + 4) jump `by` bytes
  /// further, to the reject of the fragment that now follows.
  static func moveRejects(in code: inout [UInt8], by distance: Int) {
    var offset = 0
    while offset < code.count {
      let remaining = code.count - offset
      let no = Int(UInt16(code[offset + 2]) | UInt16(code[offset + 3]) << 8)
      if no == remaining + 4 {
        let moved = UInt16(no + distance)
        code[offset + 2] = UInt8(truncatingIfNeeded: moved)
        code[offset + 3] = UInt8(truncatingIfNeeded: moved >> 8)
      }
      offset += Int(code[offset + 1])
    }
  }

  static func emitOp(_ code: inout [UInt8], _ op: InetDiagOpCode, yes: Int, no: Int) {
    code.append(op.rawValue)
    code.append(UInt8(yes))
    code.appendHost(UInt16(no))
  }
}
