// The sockets `kill` keeps its hands off unless told `--force`: its own, the SSH connection
// it runs under, and listeners the query did not name. Pure: the command reads the process
// chain and the environment, and hands them here.

import FlowModel
import FlowQuery

/// One SSH connection, as `SSH_CONNECTION` states it: "CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT".
public struct SSHConnection: Sendable, Equatable {
  public var client: IPAddress
  public var clientPort: UInt16
  public var server: IPAddress
  public var serverPort: UInt16

  public init(client: IPAddress, clientPort: UInt16, server: IPAddress, serverPort: UInt16) {
    self.client = client
    self.clientPort = clientPort
    self.server = server
    self.serverPort = serverPort
  }

  /// nil unless `text` is four words: an address, a port, an address, a port.
  public init?(_ text: String) {
    let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    guard words.count == 4, let client = parseIPAddress(words[0]), let clientPort = UInt16(words[1]),
      let server = parseIPAddress(words[2]), let serverPort = UInt16(words[3])
    else { return nil }
    self.init(client: client, clientPort: clientPort, server: server, serverPort: serverPort)
  }

  /// Whether `flow` is this connection, seen from either end (on one host both are there).
  public func carries(_ flow: Flow) -> Bool {
    guard flow.proto == .tcp, case .ip(let local, let localPort) = flow.local,
      case .ip(let remote, let remotePort) = flow.remote
    else { return false }
    let ends = (local.unmapped, localPort, remote.unmapped, remotePort)
    return (ends.0 == server.unmapped && ends.1 == serverPort && ends.2 == client.unmapped && ends.3 == clientPort)
      || (ends.0 == client.unmapped && ends.1 == clientPort && ends.2 == server.unmapped && ends.3 == serverPort)
  }
}

extension IPAddress {
  /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack sshd sees an IPv4 client)
  /// as the IPv4 address it maps; any other as it is.
  var unmapped: IPAddress {
    if case .v6(0, let low) = self, low >> 32 == 0xffff { return .v4(UInt32(truncatingIfNeeded: low)) }
    return self
  }
}

/// What the guards know of where flowscope runs.
public struct KillGuards: Sendable {
  /// flowscope's own pid.
  public var ownPID: Int32
  /// SSH servers flowscope runs under (sshd processes among its parents): their TCP sockets
  /// carry the session.
  public var sshServerPIDs: Set<Int32>
  /// The connections SSH_CONNECTION names, in flowscope's environment or its parents'.
  public var sshConnections: [SSHConnection]
  /// Whether the query names the listen state (`QueryExpression.namesState`): then listeners
  /// were asked for.
  public var listenNamed: Bool

  public init(
    ownPID: Int32, sshServerPIDs: Set<Int32> = [], sshConnections: [SSHConnection] = [],
    listenNamed: Bool = false
  ) {
    self.ownPID = ownPID
    self.sshServerPIDs = sshServerPIDs
    self.sshConnections = sshConnections
    self.listenNamed = listenNamed
  }

  /// The guards of a process chain (flowscope first, then its parents, as
  /// `ProcAncestry.chain` reads it) and of flowscope's own SSH_CONNECTION.
  public init(
    ownPID: Int32, chain: [(pid: Int32, command: [UInt8], sshConnection: String?)],
    environmentSSHConnection: String?, query: QueryExpression
  ) {
    var connections: [SSHConnection] = []
    for text in [environmentSSHConnection] + chain.map(\.sshConnection) {
      if let text, let connection = SSHConnection(text), !connections.contains(connection) {
        connections.append(connection)
      }
    }
    // sshd, and the sshd-session of OpenSSH 9.8 and later, whose titles start the same.
    let servers = chain.filter { $0.pid != ownPID && $0.command.starts(with: Array("sshd".utf8)) }
    self.init(
      ownPID: ownPID, sshServerPIDs: Set(servers.map(\.pid)), sshConnections: connections,
      listenNamed: query.namesState(SocketState.listen.rawValue))
  }

  /// The guard that keeps `flow` open, if any; the first that applies: own, ssh, listening.
  public func guardOf(_ flow: Flow) -> KillGuard? {
    if flow.owners.contains(where: { $0.pid == ownPID }) { return .own }
    if flow.proto == .tcp,
      flow.owners.contains(where: { sshServerPIDs.contains($0.pid) })
        || sshConnections.contains(where: { $0.carries(flow) })
    {
      return .ssh
    }
    if flow.state == SocketState.listen.rawValue, flow.proto.hasConnectionStates, !listenNamed {
      return .listening
    }
    return nil
  }
}
