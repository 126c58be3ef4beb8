// What `kill` does with the sockets a query selected: which the guards keep, whether to ask,
// and, socket by socket, what the kernel answered.

import FlowInspector
import FlowModel

#if canImport(Glibc)
  import Glibc
#endif

/// The selected sockets and the guard (if any) that keeps each open.
public struct KillPlan: Sendable {
  /// The selected flows, with their owners.
  public var snapshot: Snapshot
  /// `guards[i]` keeps `snapshot.flows[i]` open; nil: it is to be closed.
  public var guards: [KillGuard?]

  /// With `force`, no guard applies.
  public init(_ snapshot: Snapshot, guards: KillGuards, force: Bool) {
    self.snapshot = snapshot
    self.guards = snapshot.flows.map { force ? nil : guards.guardOf($0) }
  }

  /// How many sockets are to be closed.
  public var closableCount: Int { guards.filter { $0 == nil }.count }

  /// Asks `destroy` to close each socket no guard keeps, in order, and says what became of
  /// every selected socket. With `dryRun`, asks nothing. A socket no guard keeps but whose
  /// protocol SOCK_DESTROY cannot close is reported without a request.
  public func run(dryRun: Bool, destroy: (Flow) -> DestroyAnswer) -> KillReport {
    var outcomes: [KillOutcome] = []
    outcomes.reserveCapacity(guards.count)
    for (flow, guardReason) in zip(snapshot.flows, guards) {
      if let guardReason {
        outcomes.append(.guarded(guardReason))
      } else if !TransportProtocol.closable.contains(flow.proto) {
        outcomes.append(.notSupported(KillOutcome.protocolNotClosable))
      } else if dryRun {
        outcomes.append(.selected)
      } else {
        outcomes.append(KillOutcome(destroy(flow), state: flow.state))
      }
    }
    return KillReport(snapshot: snapshot, outcomes: outcomes, dryRun: dryRun)
  }
}

extension KillOutcome {
  static let protocolNotClosable = "the kernel can close TCP, UDP and UDP-Lite sockets only"
  /// The sentences of EOPNOTSUPP: a TIME_WAIT socket on a kernel before 6.5 or so (tcp_abort
  /// refused sockets that are not full ones), or a kernel built without the destroy handlers.
  static let timeWaitNotClosable = "this kernel cannot close TIME_WAIT sockets"
  static let destroyNotBuilt = "this kernel was built without CONFIG_INET_DIAG_DESTROY"

  /// What the kernel's answer to SOCK_DESTROY means for a socket in `state`.
  public init(_ answer: DestroyAnswer, state: UInt8) {
    switch answer {
    case .kernel(errno: 0): self = .closed
    case .kernel(errno: ENOENT): self = .gone
    case .kernel(errno: EPERM), .kernel(errno: EACCES): self = .notPermitted
    case .kernel(errno: EOPNOTSUPP):
      self = .notSupported(
        state == SocketState.timeWait.rawValue ? Self.timeWaitNotClosable : Self.destroyNotBuilt)
    case .kernel(let code): self = .failed(String(cString: strerror(code)))
    case .notDestroyable: self = .notSupported(Self.protocolNotClosable)
    case .unreachable(let why): self = .failed(why)
    }
  }
}

/// What `kill` does once it has listed the selected sockets.
public enum KillStep: Sendable, Equatable {
  /// Nothing to close (nothing selected, or every socket kept by a guard): report and stop.
  case nothingToClose
  /// `--dry-run`: the listing was all.
  case stop
  /// Ask on the terminal.
  case ask
  /// `--yes`: close without asking.
  case close
  /// Neither a terminal to ask on nor `--yes`: refuse, with the reason (a usage error).
  case refuse(String)

  public static func after(
    listing closable: Int, dryRun: Bool, yes: Bool, inputIsTerminal: Bool
  ) -> KillStep {
    if dryRun { return .stop }
    if closable == 0 { return .nothingToClose }
    if yes { return .close }
    if inputIsTerminal { return .ask }
    return .refuse(
      "will not close \(closable) socket\(closable == 1 ? "" : "s") without confirmation: "
        + "standard input is not a terminal to ask on; add --yes to close them without asking")
  }

  /// The question: `Close these 3 sockets? [y/N] `.
  public static func question(_ count: Int) -> String {
    count == 1 ? "Close this socket? [y/N] " : "Close these \(count) sockets? [y/N] "
  }

  /// Whether an answer to the question is a yes (`y` or `yes`, any case); anything else,
  /// an empty line included, is a no.
  public static func isYes(_ answer: String) -> Bool {
    let word = answer.trimmingWhitespace.lowercased()
    return word == "y" || word == "yes"
  }
}

extension String {
  var trimmingWhitespace: String {
    let scalars = unicodeScalars
    let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
    guard let first = scalars.firstIndex(where: { !isSpace($0) }),
      let last = scalars.lastIndex(where: { !isSpace($0) })
    else { return "" }
    return String(scalars[first...last])
  }
}
