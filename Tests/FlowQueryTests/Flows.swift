import FlowModel

/// Flows made by hand for the evaluator and the planner.
enum Flows {
  static func tcp(
    _ local: (UInt32, UInt16), _ remote: (UInt32, UInt16), state: SocketState = .established,
    owner: Int32? = 100
  ) -> Flow {
    var flow = Flow(
      proto: .tcp, family: .inet, state: state.rawValue, socketType: 1,
      local: .ip(.v4(local.0), port: local.1), remote: .ip(.v4(remote.0), port: remote.1),
      inode: 1000, netns: 4_026_531_840)
    flow.tcp = TCPDetails(rttMicros: 1_500, lastDataSentMs: 10, lastDataReceivedMs: 20)
    flow.counters.bytesIn = 4096
    flow.counters.bytesOut = 100
    flow.uid = 33
    if let owner { flow.owners = [FlowOwner(pid: owner, fd: 7)] }
    return flow
  }

  static let loopback: UInt32 = 0x7f00_0001

  static let processes: [Int32: OwningProcess] = {
    var nginx = OwningProcess(pid: 100, command: Array("nginx".utf8))
    nginx.uid = 33
    nginx.descriptorCount = 90
    nginx.fdLimitSoft = 100
    var other = OwningProcess(pid: 200, command: Array("curl".utf8))
    other.uid = 1000
    other.descriptorCount = 3
    other.fdLimitSoft = 1024
    return [100: nginx, 200: other]
  }()

}
