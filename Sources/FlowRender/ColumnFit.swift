/// How a table wider than the terminal is made to fit, for the flow table and the watch
/// screen alike: the columns that identify a flow (process, state, the addresses) stay, the
/// counters give way.
///
/// 1. Columns of `Give.shortened` wider than their `comfortable` width (a long IPv6 address
///    or UNIX path, a long name) are shortened to it, widest first, as far as needed.
/// 2. Columns of `Give.leftOut` are left out, lowest rank first (the counters), until the
///    line fits with those shortened columns at no more than their comfortable width.
/// 3. The shortened columns are shortened further, widest first, down to their `minimum`.
/// 4. If even that is too wide, columns of `Give.leftOutLast` are left out, lowest rank first.
/// 5. Still too wide, the shortened columns are cut below their minimums, down to `floor`.
///
/// Shortening is by display width, a cell at a time, and starts again from the full widths
/// after columns are left out. Columns of `Give.kept` are never left out nor cut: a line of
/// them alone can stay too wide. The last column left is never left out.
enum ColumnFit {
  /// What a column does when the line is too wide.
  enum Give: Equatable {
    /// Stays at its width.
    case kept
    /// Shortened to `comfortable` cells before anything is left out, down to `minimum` after;
    /// never left out.
    case shortened(comfortable: Int, minimum: Int)
    /// Left out before the shortened columns go below their comfortable width; lower ranks
    /// first.
    case leftOut(rank: Int)
    /// Left out only when shortening to the minimums is not enough; lower ranks first.
    case leftOutLast(rank: Int)
  }

  /// The narrowest a shortened column is made when its minimum is not narrow enough: room for
  /// `…` and a port or a pid of four digits.
  static let floor = 6

  /// The columns kept (indexes into `widths`, in order) and their widths, so that `extra`
  /// cells (a mark before the line), the columns and a gap of `gap` cells between each two
  /// fit in `width` if they can.
  static func plan(widths: [Int], gives: [Give], gap: Int = 2, extra: Int = 0, into width: Int)
    -> (kept: [Int], widths: [Int])
  {
    precondition(widths.count == gives.count)
    var kept = Array(widths.indices)
    /// The line's width with the shortened columns at most `limit(comfortable, minimum)` wide.
    func lineWidth(_ limit: (Int, Int) -> Int) -> Int {
      var total = extra + gap * max(0, kept.count - 1)
      for j in kept {
        if case .shortened(let comfortable, let minimum) = gives[j] {
          total += min(widths[j], limit(comfortable, minimum))
        } else {
          total += widths[j]
        }
      }
      return total
    }
    let comfortably = { (comfortable: Int, _: Int) in comfortable }
    let atMinimum = { (_: Int, minimum: Int) in minimum }
    // By rank; the rightmost first between equal ranks.
    func order(_ rank: (Give) -> Int?) -> [Int] {
      widths.indices.compactMap { j in rank(gives[j]).map { (j, $0) } }
        .sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 > $1.0 }.map(\.0)
    }
    for j in order({ if case .leftOut(let rank) = $0 { rank } else { nil } }) {
      if lineWidth(comfortably) <= width || kept.count == 1 { break }
      kept.removeAll { $0 == j }
    }
    for j in order({ if case .leftOutLast(let rank) = $0 { rank } else { nil } }) {
      if lineWidth(atMinimum) <= width || kept.count == 1 { break }
      kept.removeAll { $0 == j }
    }
    var keptWidths = kept.map { widths[$0] }
    var total = lineWidth { _, _ in Int.max }
    for limit in [comfortably, atMinimum, { _, _ in Self.floor }] {
      while total > width {
        var widest = -1
        for (k, j) in kept.enumerated() {
          guard case .shortened(let comfortable, let minimum) = gives[j],
            keptWidths[k] > limit(comfortable, minimum)
          else { continue }
          if widest < 0 || keptWidths[k] > keptWidths[widest] { widest = k }
        }
        if widest < 0 { break }
        keptWidths[widest] -= 1
        total -= 1
      }
    }
    return (kept, keptWidths)
  }
}

extension Column {
  /// What the column does in a table too wide for the terminal (see `ColumnFit`), in the order
  /// the man page gives under NARROW TERMINALS: details and counters go first, then the
  /// addresses and owners are shortened, then NetNS and Proto go; Process, PID, Command,
  /// State, Local and Remote always stay.
  var give: ColumnFit.Give {
    switch self {
    // An IPv4 address with a port always fits comfortably; IPv6 and UNIX paths may not.
    case .local, .remote: return .shortened(comfortable: 21, minimum: 12)
    case .process: return .shortened(comfortable: 20, minimum: 10)
    // A command name (comm) has at most 15 bytes.
    case .command: return .shortened(comfortable: 15, minimum: 8)
    default: break
    }
    if let rank = Column.leftOutFirst.firstIndex(of: self) { return .leftOut(rank: rank) }
    if let rank = Column.leftOutLast.firstIndex(of: self) { return .leftOutLast(rank: rank) }
    return .kept
  }

  /// Left out before anything is shortened much, in this order.
  static let leftOutFirst: [Column] = [
    .cookie, .inode, .uid, .cgroup, .mark, .tos, .drops, .shutdown, .cwnd, .cc, .peer, .sendQ,
    .recvQ, .fd, .ppid, .user, .cmdline, .exe, .containerName, .container, .unit,
    // The default counters.
    .retrans, .packetsOut, .packetsIn, .netif, .rtt, .bytesOut, .bytesIn,
    .flags,
  ]

  /// Left out only when shortening Local, Remote, Process and Command is not enough.
  static let leftOutLast: [Column] = [.netns, .proto]
}
