import FlowInspector
import FlowModel
import FlowQuery
import Testing

@testable import FlowKill

#if canImport(Glibc)
  import Glibc
#endif

func getpidForTests() -> Int32 { getpid() }

@Suite("kill plan")
struct PlanTests {
  let flows = [
    tcp("10.0.0.1", 5432, "10.0.0.9", 40000, owners: [10]),
    tcp("10.0.0.1", 5432, "10.0.0.9", 40001, owners: [10]),
    tcp("0.0.0.0", 5432, "0.0.0.0", 0, state: .listen, owners: [10]),
    tcp("10.0.0.1", 22, "192.0.2.7", 51234, owners: [50]),
    tcp("10.0.0.1", 6000, "10.0.0.9", 6000, state: .timeWait),
  ]

  var snapshot: Snapshot { Snapshot(time: 0, host: "h", flows: flows, processes: [:], warnings: []) }

  /// Only what the plan holds and no guard keeps is asked for, each once, by its own cookie.
  @Test func onlyTheUnguardedAreAsked() {
    let plan = KillPlan(snapshot, guards: KillGuards(ownPID: 1, sshServerPIDs: [50]), force: false)
    #expect(plan.guards == [nil, nil, .listening, .ssh, nil])
    #expect(plan.closableCount == 3)
    var asked: [UInt64] = []
    let report = plan.run(dryRun: false) { flow in
      asked.append(flow.cookie)
      switch flow.local {
      case .ip(_, 6000): return .kernel(errno: EOPNOTSUPP)
      case .ip(_, _) where flow.remote == .ip(parseIPAddress("10.0.0.9")!, port: 40001):
        return .kernel(errno: ENOENT)
      default: return .kernel(errno: 0)
      }
    }
    #expect(asked == [flows[0].cookie, flows[1].cookie, flows[4].cookie])
    #expect(
      report.outcomes == [
        .closed, .gone, .guarded(.listening), .guarded(.ssh),
        .notSupported("this kernel cannot close TIME_WAIT sockets"),
      ])
    #expect(report.exitStatus == 2)
  }

  @Test func forceLiftsEveryGuard() {
    let plan = KillPlan(snapshot, guards: KillGuards(ownPID: 10, sshServerPIDs: [50]), force: true)
    #expect(plan.guards.allSatisfy { $0 == nil })
    let report = plan.run(dryRun: false) { _ in .kernel(errno: 0) }
    #expect(report.exitStatus == 0)
    #expect(report.count("closed") == 5)
  }

  @Test func aDryRunAsksNothing() {
    let plan = KillPlan(snapshot, guards: KillGuards(ownPID: 1), force: false)
    let report = plan.run(dryRun: true) { _ in
      Issue.record("a dry run asked the kernel")
      return .kernel(errno: 0)
    }
    #expect(report.outcomes.filter { $0 == .selected }.count == 4)
    #expect(report.exitStatus == 2)  // the listener would be left open
  }

  @Test func protocolsWithoutDestroyAreNotAsked() {
    var unix = Flow(
      proto: .unix, family: .unix, state: 1, socketType: 1, local: .unixPath(Array("/run/x".utf8)),
      remote: .none, inode: 9, netns: 1)
    unix.cookie = 1
    let plan = KillPlan(
      Snapshot(time: 0, host: "h", flows: [unix], processes: [:], warnings: []), guards: KillGuards(ownPID: 1),
      force: false)
    let report = plan.run(dryRun: false) { _ in .kernel(errno: 0) }
    #expect(report.outcomes == [.notSupported("the kernel can close TCP, UDP and UDP-Lite sockets only")])
  }

  @Test(arguments: [
    (DestroyAnswer.kernel(errno: 0), SocketState.established, "closed", nil as String?),
    (.kernel(errno: ENOENT), .established, "gone", nil),
    (.kernel(errno: EPERM), .established, "not-permitted", "needs CAP_NET_ADMIN in that namespace"),
    (
      .kernel(errno: EOPNOTSUPP), .established, "not-supported",
      "this kernel was built without CONFIG_INET_DIAG_DESTROY"
    ),
    (.kernel(errno: EOPNOTSUPP), .timeWait, "not-supported", "this kernel cannot close TIME_WAIT sockets"),
    (.kernel(errno: EINVAL), .established, "failed", "Invalid argument"),
    (.unreachable("setns: Operation not permitted"), .established, "failed", "setns: Operation not permitted"),
  ])
  func whatTheKernelSaid(answer: DestroyAnswer, state: SocketState, key: String, detail: String?) {
    let outcome = KillOutcome(answer, state: state.rawValue)
    #expect(outcome.key == key)
    if let detail { #expect(outcome.detail == detail) }
  }

  @Test func whenToAsk() {
    #expect(KillStep.after(listing: 3, dryRun: true, yes: false, inputIsTerminal: false) == .stop)
    #expect(KillStep.after(listing: 0, dryRun: false, yes: false, inputIsTerminal: false) == .nothingToClose)
    #expect(KillStep.after(listing: 3, dryRun: false, yes: true, inputIsTerminal: false) == .close)
    #expect(KillStep.after(listing: 3, dryRun: false, yes: false, inputIsTerminal: true) == .ask)
    guard case .refuse(let reason) = KillStep.after(listing: 3, dryRun: false, yes: false, inputIsTerminal: false)
    else {
      Issue.record("no refusal")
      return
    }
    #expect(reason.contains("--yes") && reason.contains("not a terminal") && reason.contains("3 sockets"))
    #expect(KillStep.question(3) == "Close these 3 sockets? [y/N] ")
    #expect(KillStep.question(1) == "Close this socket? [y/N] ")
    for yes in ["y", "Y", "yes", " YES\n"] { #expect(KillStep.isYes(yes), "\(yes)") }
    for no in ["", "n", "no", "yess", "y es", "\n"] { #expect(!KillStep.isYes(no), "\(no)") }
  }
}
