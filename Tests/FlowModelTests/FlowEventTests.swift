import FlowModel
import Testing

@Suite struct FlowEventTests {
  @Test func eventsFollowTheAnnouncedProtocolsOfThePlan() {
    let all = FlowEvent.protocolsToFollow(named: [], planned: [.tcp, .udp, .udplite, .raw])
    #expect(all.follow == [.tcp, .udp])
    #expect(all.unsupported.isEmpty)
    let udp = FlowEvent.protocolsToFollow(named: [.udp], planned: [.udp])
    #expect(udp.follow == [.udp] && udp.unsupported.isEmpty)
    // What the query named and no destroy group announces, by name.
    let named = FlowEvent.protocolsToFollow(named: [.unix, .tcp, .sctp], planned: [.tcp, .unix, .sctp])
    #expect(named.follow == [.tcp])
    #expect(named.unsupported == [.sctp, .unix])
  }
}
