// Where the query language meets the system: the options that dump what a query's plan needs,
// and the lookups of user and interface names the parser leaves to its caller.

import FlowModel
import FlowQuery

#if canImport(Glibc)
  import Glibc
#endif

extension InspectOptions {
  /// Dumps what `plan` needs: its protocols and families, each with its state mask and kernel
  /// filter; scans only the processes it names.
  public init(plan: KernelPlan) {
    self.init(protocols: plan.protocols)
    ipv4 = plan.ipv4
    ipv6 = plan.ipv6
    for (proto, request) in plan.requests {
      requestFilters[proto] = KernelRequestFilter(states: request.states, inet: request.inet)
    }
    pids = plan.pids
    // Sockets no dump returned have no address and, mostly, no known state: worth looking for
    // only when the query can keep such a row (every state, or a protocol without states).
    let close = UInt32(1) << UInt32(SocketState.close.rawValue)
    includeUnlisted = plan.protocols.contains { proto in
      !proto.hasConnectionStates || (plan.requests[proto]?.states ?? 0xffff_ffff) & close != 0
    }
  }
}

extension QueryEnvironment {
  /// Users from the password database, interfaces from the kernel.
  public static let system = QueryEnvironment(
    userID: { name in
      // getpwnam(3)
      guard let entry = getpwnam(name) else { return nil }
      return entry.pointee.pw_uid
    },
    interfaceIndex: { name in
      // if_nametoindex(3)
      let index = if_nametoindex(name)
      return index == 0 ? nil : index
    })
}
