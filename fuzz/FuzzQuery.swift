// libFuzzer harness for the query language (Sources/FlowQuery). fuzz/run.sh compiles it with
// the module's sources under `-module-name FlowQuery`, against uninstrumented FlowModel and
// SockDiag.
//
// The input is a query (invalid UTF-8 repaired, as the command line would). Besides "never
// traps", each result is checked:
// - an error points inside the query, and renders;
// - a parsed query, written back, parses to the same tree;
// - every kernel filter of its plan compiles to bytecode the kernel's audit accepts;
// - on a few fixed flows, a flow the query keeps is one the kernel would dump.

import FlowModel
import SockDiag

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzQuery(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data else { return 0 }
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  let query: QueryExpression
  do {
    query = try QueryParser.parse(text, environment: fuzzEnvironment)
  } catch {
    precondition(error.range.lowerBound <= text.unicodeScalars.count && error.range.lowerBound >= 0)
    _ = error.rendered(query: text)
    return 0
  }
  let written = query.description
  guard let again = try? QueryParser.parse(written, environment: fuzzEnvironment), again == query else {
    preconditionFailure("written back differently: \(written)")
  }
  let plan = KernelPlan(query)
  _ = plan.explanation(of: query, scope: "flows")
  for (proto, request) in plan.requests {
    guard let inet = request.inet, let code = inet.compile() else { continue }
    precondition(InetDiagBytecode.audit(code), "audit refuses the bytecode of \(written)")
    for flow in fuzzFlows where flow.proto == proto && query.matches(flow, fuzzContext) {
      precondition(InetDiagBytecode.run(code, on: fuzzEntry(flow)), "the kernel would drop a match of \(written)")
      precondition(plan.protocols.contains(flow.proto))
      precondition(request.states & (1 << UInt32(flow.state)) != 0)
    }
  }
  return 0
}

let fuzzEnvironment = QueryEnvironment(userID: { $0 == "root" ? 0 : nil }, interfaceIndex: { $0 == "lo" ? 1 : nil })

let fuzzContext: QueryContext = {
  var process = OwningProcess(pid: 100, command: Array("nginx".utf8))
  process.descriptorCount = 90
  process.fdLimitSoft = 100
  return QueryContext(processes: [100: process])
}()

let fuzzFlows: [Flow] = {
  var flows: [Flow] = []
  for (state, local, remote, family) in [
    (1, IPAddress.v4(0x7f00_0001), IPAddress.v4(0x0a00_0001), AddressFamily.inet),
    (10, .v4(0), .v4(0), .inet),
    (8, .v6(high: 0, low: 1), .v6(high: 0, low: 0xffff_0a00_0001), .inet6),
    (2, .v6(high: 0xfe80_0000_0000_0000, low: 7), .v6(high: 0, low: 1), .inet6),
  ] {
    for (proto, port) in [(TransportProtocol.tcp, UInt16(443)), (.udp, 53)] {
      var flow = Flow(
        proto: proto, family: family, state: UInt8(state), socketType: proto == .tcp ? 1 : 2,
        local: .ip(local, port: 40000), remote: .ip(remote, port: port), inode: 7, netns: 1)
      flow.interfaceIndex = UInt32(state % 3)
      flow.mark = state == 1 ? 5 : nil
      flow.owners = state == 10 ? [] : [FlowOwner(pid: 100, fd: 4)]
      if proto == .tcp { flow.tcp = TCPDetails(rttMicros: 1500) }
      flows.append(flow)
    }
  }
  return flows
}()

func fuzzEntry(_ flow: Flow) -> InetDiagEntry {
  func bytes(_ endpoint: Endpoint) -> ([UInt8], UInt16) {
    guard case .ip(let address, let port) = endpoint else { return ([], 0) }
    switch address {
    case .v4(let value): return ((0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32($0))) }, port)
    case .v6(let high, let low):
      return (
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
          + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }, port
      )
    }
  }
  let (source, sourcePort) = bytes(flow.local)
  let (destination, destinationPort) = bytes(flow.remote)
  return InetDiagEntry(
    family: flow.family == .inet ? 2 : 10, sourceAddress: source, destinationAddress: destination,
    sourcePort: sourcePort, destinationPort: destinationPort, interfaceIndex: flow.interfaceIndex,
    mark: flow.mark ?? 0, cgroupID: flow.cgroupID ?? 0)
}
