import FlowExport
import Testing

@Suite struct ListenAddressTests {
  @Test func hostPortBracketedV6OrAPortAlone() throws {
    #expect(try ListenAddress("9847") == ListenAddress(host: "127.0.0.1", port: 9847))
    #expect(try ListenAddress("0.0.0.0:80") == ListenAddress(host: "0.0.0.0", port: 80))
    #expect(try ListenAddress("[::1]:9847") == ListenAddress(host: "::1", port: 9847))
    #expect(try ListenAddress("localhost:0") == ListenAddress(host: "localhost", port: 0))
  }

  @Test(arguments: [
    ("70000", "'70000' is not a port (0-65535)."),
    ("[::1]9847", "expected [ADDRESS]:PORT, got '[::1]9847'."),
    ("host", "expected HOST:PORT, [ADDRESS]:PORT or PORT, got 'host'."),
    (":80", "expected HOST:PORT, [ADDRESS]:PORT or PORT, got ':80'."),
    ("h:x", "'x' is not a port (0-65535)."),
  ])
  func whatCannotBeReadSaysWhy(_ text: String, _ reason: String) {
    #expect(throws: ListenAddress.Unreadable.self) { try ListenAddress(text) }
    do {
      _ = try ListenAddress(text)
    } catch {
      #expect(error.description == reason)
    }
  }
}
