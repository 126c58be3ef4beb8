import FlowInspector
import FlowModel
import SockDiag

extension InspectOptions {
  /// The same kernel filter for every inet protocol, with the options' state mask.
  mutating func setInetFilter(_ program: InetFilterProgram?) {
    for proto in [TransportProtocol.tcp, .udp, .udplite, .mptcp, .raw, .sctp, .dccp] {
      requestFilters[proto] = KernelRequestFilter(states: states, inet: program?.filter)
    }
  }
}
