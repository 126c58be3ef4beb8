import FlowModel
import FlowRender
import Testing

@Suite struct CSVTests {
  func csv(
    _ snapshot: Snapshot = Sample.snapshot(), _ configure: (inout RenderOptions) -> Void = { _ in }
  )
    -> String
  {
    var options = Sample.options
    configure(&options)
    return Sample.text { CSVRenderer.render(snapshot, options: options, into: &$0) }
  }

  @Test func headerAndExactNumbers() {
    let text = csv { $0.columns = [.proto, .bytesIn, .bytesOut, .rtt, .state, .process] }
    let rows = text.components(separatedBy: "\r\n")
    #expect(rows[0] == "proto,bytes-in,bytes-out,rtt,state,process")
    #expect(rows[1] == "tcp,1536,3555328,1234,ESTAB,postgres.2001")
    #expect(rows[2] == "tcp,,,,LISTEN,nginx.1234+1")
    #expect(rows[3] == "udp,,,,UNCONN,systemd-resolve.5000")  // no made-up zeros
    #expect(rows[8] == "packet,,,,,\u{FFFD}[31mred\u{FFFD})x.4001")  // controls replaced
    #expect(rows[7] == "unix,,,,ESTAB,f\u{FFFD}\u{FFFD}.4002")  // invalid UTF-8 replaced
    #expect(rows.count == 1 + 11 + 1 && rows.last == "")
  }

  @Test func quoting() {
    var snapshot = Sample.snapshot()
    snapshot.processes[2001]?.command = Array("a,\"b".utf8)
    snapshot.flows[4].local = .unixPath(Array(" lead".utf8))
    let text = csv(snapshot) {
      $0.columns = [.local, .command]
      $0.header = false
    }
    let rows = text.components(separatedBy: "\r\n")
    #expect(rows[0] == #"127.0.0.1:45678,"a,""b""#)
    #expect(rows[4] == #"" lead","a,""b""#)
  }

  @Test func noHeader() {
    let text = csv {
      $0.columns = [.inode]
      $0.header = false
    }
    #expect(
      text
        == "1001\r\n1002\r\n1003\r\n1004\r\n2001\r\n2002\r\n2003\r\n3001\r\n3002\r\n2004\r\n0\r\n")
  }

  @Test func noControlBytes() {
    var snapshot = Sample.snapshot()
    snapshot.processes[4001]?.command = (0...255).map { UInt8($0) }
    let bytes = Array(csv(snapshot) { $0.columns = Column.allCases }.utf8)
    // Only the CRLF record ends.
    var i = 0
    var bad: [Int] = []
    while i < bytes.count {
      if bytes[i] == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A {
        i += 2
        continue
      }
      if bytes[i] < 0x20 || bytes[i] == 0x7F { bad.append(i) }
      i += 1
    }
    #expect(bad.isEmpty)
  }
}
