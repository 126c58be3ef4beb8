import FlowModel
import FlowRender

// Which label values a socket or a process is counted under: `--by command` (the default),
// `user`, `netns`, `unit`, `container` and `pid`. Cardinality stays bounded by the grouping, never by the sockets.

/// One dimension of `--by`. Its raw value is the label name in the exposition.
public enum GroupDimension: String, Sendable, CaseIterable {
  case command, user, netns, pid
  /// The systemd unit and the container of the process's cgroup (`OwningProcess.unit`,
  /// `container`); `?` when its cgroup names none.
  case unit, container
  /// A socket's remote end (address and port) or remote host (address), for the `--top`
  /// largest of them; `other` for the rest, `none` for sockets with no remote end.
  case remote
  case remoteHost = "remote_host"

  /// `proc --by`'s key for a connection dimension.
  var connectionKey: GroupBy? {
    switch self {
    case .remote: .remote
    case .remoteHost: .remoteHost
    default: nil
    }
  }
}

/// The dimensions a run groups by, in the order given.
public struct Grouping: Sendable, Equatable {
  public var dimensions: [GroupDimension]

  public init(_ dimensions: [GroupDimension] = [.command]) { self.dimensions = dimensions }

  /// Parses `--by` values (each a comma list): `command`, `user`, `netns`, `pid`.
  public static func parse(_ values: [String]) throws(GroupingError) -> Grouping {
    var dimensions: [GroupDimension] = []
    for word in values.flatMap({ $0.split(separator: ",") }) {
      let name = word.trimmingCharacters(in: " ")
      guard let dimension = GroupDimension(rawValue: name == "remote-host" ? "remote_host" : name) else {
        throw GroupingError(
          message:
            "cannot group by '\(name)'; known: command, user, netns, pid, unit, container, remote, remote-host")
      }
      if dimension.connectionKey != nil && dimensions.contains(where: { $0.connectionKey != nil }) {
        throw GroupingError(message: "group by one of remote and remote-host, not both")
      }
      if !dimensions.contains(dimension) { dimensions.append(dimension) }
    }
    return Grouping(dimensions.isEmpty ? [.command] : dimensions)
  }

  /// Whether the grouping has a label per process (`pid`): its cardinality follows the
  /// number of processes, which the user should know.
  public var isPerProcess: Bool { dimensions.contains(.pid) }

  /// The connection dimension (`remote`, `remote_host`) and its place, if any: then a process's
  /// sockets fall into several groups, and the per-process families are left out.
  public var connection: (index: Int, key: GroupBy)? {
    for (index, dimension) in dimensions.enumerated() {
      if let key = dimension.connectionKey { return (index, key) }
    }
    return nil
  }

  /// The label values of a process's group, in `dimensions` order.
  public func key(of process: OwningProcess, namespaces: [UInt64: NetworkNamespace]) -> GroupKey {
    GroupKey(values: dimensions.map { labelValue($0, process: process, namespaces: namespaces) })
  }

  /// The group of a socket no visible process holds: `?` for what only a process can say,
  /// the socket's own uid and namespace for the rest.
  public func key(ofUnowned flow: Flow, namespaces: [UInt64: NetworkNamespace]) -> GroupKey {
    GroupKey(
      values: dimensions.map { dimension -> [UInt8] in
        switch dimension {
        case .user: flow.uid.map { Array(String($0).utf8) } ?? unknownValue
        case .netns: namespaceLabel(flow.netns, namespaces)
        default: unknownValue
        }
      })
  }

  private func labelValue(
    _ dimension: GroupDimension, process: OwningProcess, namespaces: [UInt64: NetworkNamespace]
  ) -> [UInt8] {
    switch dimension {
    // The name as the table shows it: control characters and bytes that are not UTF-8 as
    // \xNN, a backslash doubled, so a label value is always valid UTF-8.
    case .command: sanitizedForTerminal(process.command)
    case .user: sanitizedForTerminal(Array((process.user ?? String(process.uid)).utf8))
    case .netns: process.netns.map { namespaceLabel($0, namespaces) } ?? unknownValue
    case .pid: Array(String(process.pid).utf8)
    case .unit: process.unit.map { sanitizedForTerminal(Array($0.utf8)) } ?? unknownValue
    case .container: process.container.map { sanitizedForTerminal(Array($0.utf8)) } ?? unknownValue
    // Per socket: `GroupTable` puts the socket's own in.
    case .remote, .remoteHost: noRemoteValue
    }
  }

  private func namespaceLabel(_ inode: UInt64, _ namespaces: [UInt64: NetworkNamespace]) -> [UInt8] {
    if inode == 0 { return unknownValue }
    return sanitizedForTerminal(Array((namespaces[inode]?.label ?? String(inode)).utf8))
  }
}

/// The groups of one collection, each given a number once: a flow's group is found by its
/// owner's pid (or its uid and namespace when unowned) without hashing label values per flow.
public struct GroupTable {
  public let grouping: Grouping
  let namespaces: [UInt64: NetworkNamespace]
  /// With a connection dimension: the remote ends (or hosts) labelled by name, the `--top`
  /// largest; the rest are `other`.
  public var keptConnections: Set<[UInt8]> = []
  public private(set) var keys: [GroupKey] = []
  private var numbers: [GroupKey: Int] = [:]
  private var byPID: [Int32: Int] = [:]
  private var byUnowned: [UnownedKey: Int] = [:]

  struct UnownedKey: Hashable {
    var uid: UInt32?
    var netns: UInt64
  }

  public init(grouping: Grouping, namespaces: [UInt64: NetworkNamespace]) {
    self.grouping = grouping
    self.namespaces = namespaces
  }

  public mutating func number(of key: GroupKey) -> Int {
    if let number = numbers[key] { return number }
    keys.append(key)
    numbers[key] = keys.count - 1
    return keys.count - 1
  }

  /// The group of the process `pid` when it was numbered already in this collection.
  public func number(ofPID pid: Int32) -> Int? { byPID[pid] }

  public mutating func number(of process: OwningProcess) -> Int {
    if let number = byPID[process.pid] { return number }
    let number = number(of: grouping.key(of: process, namespaces: namespaces))
    byPID[process.pid] = number
    return number
  }

  /// The group of `flow` held by `process`: the process's, with the flow's remote end when
  /// the grouping has a connection dimension.
  public mutating func number(of process: OwningProcess, flow: borrowing Flow) -> Int {
    guard let connection = grouping.connection else { return number(of: process) }
    var key = grouping.key(of: process, namespaces: namespaces)
    key.values[connection.index] = connectionValue(flow, connection.key)
    return number(of: key)
  }

  /// The `remote` label of a flow: its remote end when among the kept ones, else `other`;
  /// `none` without a remote end.
  func connectionValue(_ flow: borrowing Flow, _ key: GroupBy) -> [UInt8] {
    guard let name = key.connectionName(flow) else { return noRemoteValue }
    return keptConnections.contains(name) ? name : otherValue
  }

  public mutating func number(ofUnowned flow: Flow) -> Int {
    if let connection = grouping.connection {
      var key = grouping.key(ofUnowned: flow, namespaces: namespaces)
      key.values[connection.index] = connectionValue(flow, connection.key)
      return number(of: key)
    }
    let unowned = UnownedKey(uid: flow.uid, netns: flow.netns)
    if let number = byUnowned[unowned] { return number }
    let number = number(of: grouping.key(ofUnowned: flow, namespaces: namespaces))
    byUnowned[unowned] = number
    return number
  }
}

/// The label value of what cannot be known (a socket with no visible owner).
let unknownValue: [UInt8] = [UInt8(ascii: "?")]
/// The `remote` label of a socket with no remote end, and of the ends past `--top`.
let noRemoteValue: [UInt8] = Array("none".utf8)
let otherValue: [UInt8] = Array("other".utf8)

public struct GroupingError: Error, CustomStringConvertible {
  public var message: String
  public var description: String { message }
}

/// A group: its label values in the grouping's order.
public struct GroupKey: Hashable, Sendable, Comparable {
  public var values: [[UInt8]]
  public init(values: [[UInt8]]) { self.values = values }

  public static func < (a: GroupKey, b: GroupKey) -> Bool {
    for (x, y) in zip(a.values, b.values) where x != y { return x.lexicographicallyPrecedes(y) }
    return a.values.count < b.values.count
  }
}
