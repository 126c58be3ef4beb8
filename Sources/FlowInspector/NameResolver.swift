import Dispatch
import FlowModel
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Reverse lookups for `-r/--resolve`, bounded in time: a dead resolver must not hang the tool.
/// Names found stay cached for later refreshes; what is not answered in time prints numerically.
public final class NameResolver: Sendable {
  private let hosts = Mutex<[IPAddress: String?]>([:])
  private let services = Mutex<[UInt16: String]?>(nil)
  /// How long one `resolve` call may wait for host names, in all.
  public let timeLimit: Double

  public init(timeLimit: Double = 2) {
    self.timeLimit = timeLimit
  }

  /// Host names by address and service names by port for the flows' IP endpoints.
  public func names(for flows: [Flow]) -> (hosts: [IPAddress: String], services: [UInt16: String]) {
    var addresses = Set<IPAddress>()
    var ports = Set<UInt16>()
    for flow in flows {
      for endpoint in [flow.local, flow.remote] {
        if case .ip(let address, let port) = endpoint {
          addresses.insert(address)
          if port != 0 { ports.insert(port) }
        }
      }
    }
    resolveHosts(addresses)
    resolveServices(ports)
    let hostNames = hosts.withLock { cache in
      addresses.reduce(into: [IPAddress: String]()) { names, address in
        if let name = cache[address] ?? nil { names[address] = name }
      }
    }
    let serviceNames = services.withLock { table in
      ports.reduce(into: [UInt16: String]()) { names, port in
        if let name = table?[port] { names[port] = name }
      }
    }
    return (hostNames, serviceNames)
  }

  private func resolveHosts(_ addresses: Set<IPAddress>) {
    let missing = hosts.withLock { cache in addresses.filter { cache[$0] == nil && !$0.isWildcard } }
    guard !missing.isEmpty else { return }
    let group = DispatchGroup()
    for address in missing {
      DispatchQueue.global().async(group: group) { [self] in
        let name = lookUpHost(address)
        self.hosts.withLock { $0[address] = .some(name) }
      }
    }
    // Lookups still running after the limit finish in the background; their answers are
    // used by the next refresh, if there is one.
    _ = group.wait(timeout: .now() + timeLimit)
  }

  private func resolveServices(_ ports: Set<UInt16>) {
    services.withLock { table in
      if table == nil { table = loadServices() }
    }
  }
}

extension IPAddress {
  var isWildcard: Bool {
    switch self {
    case .v4(let address): address == 0
    case .v6(let high, let low): high == 0 && low == 0
    }
  }
}

/// getnameinfo(3) with NI_NAMEREQD: a name, or nil when there is none.
private func lookUpHost(_ address: IPAddress) -> String? {
  var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
  let status: Int32
  switch address {
  case .v4(let value):
    var socketAddress = sockaddr_in()
    socketAddress.sin_family = sa_family_t(AF_INET)
    socketAddress.sin_addr.s_addr = value.bigEndian
    status = withUnsafePointer(to: &socketAddress) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        getnameinfo(
          $0, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0,
          NI_NAMEREQD)
      }
    }
  case .v6(let high, let low):
    var socketAddress = sockaddr_in6()
    socketAddress.sin6_family = sa_family_t(AF_INET6)
    withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { raw in
      for index in 0..<8 {
        raw[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(index)))
        raw[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(index)))
      }
    }
    status = withUnsafePointer(to: &socketAddress) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        getnameinfo(
          $0, socklen_t(MemoryLayout<sockaddr_in6>.size), &host, socklen_t(host.count), nil, 0,
          NI_NAMEREQD)
      }
    }
  }
  guard status == 0 else { return nil }
  return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Every service of the services database (/etc/services), read once with getservent(3):
/// far cheaper than one getservbyport(3) per port, each of which reads the whole file.
private func loadServices() -> [UInt16: String] {
  var names: [UInt16: String] = [:]
  setservent(0)
  defer { endservent() }
  while let entry = getservent() {
    let port = UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port))
    guard names[port] == nil, let name = entry.pointee.s_name else { continue }
    names[port] = String(decoding: UnsafeRawBufferPointer(start: name, count: strlen(name)), as: UTF8.self)
  }
  return names
}
