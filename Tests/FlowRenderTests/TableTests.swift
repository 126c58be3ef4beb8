import FlowModel
import FlowRender
import Testing

@Suite struct TableTests {
  func table(
    _ snapshot: Snapshot = Sample.snapshot(), _ configure: (inout RenderOptions) -> Void = { _ in }
  )
    -> String
  {
    var options = Sample.options
    configure(&options)
    return Sample.text { TableRenderer.render(snapshot, options: options, into: &$0) }
  }

  func lines(_ text: String) -> [Substring] {
    text.split(separator: "\n", omittingEmptySubsequences: false)
  }

  func width(_ line: Substring) -> Int { displayWidth(of: ArraySlice(Array(line.utf8))) }

  func one(_ flow: Flow, processes: [Int32: OwningProcess] = Sample.processes) -> Snapshot {
    Snapshot(time: 0, host: "h", flows: [flow], processes: processes, warnings: [])
  }

  @Test func udpHasNoMadeUpZeros() {
    let text = table(one(Sample.flows()[2])) {
      $0.columns = [.bytesIn, .bytesOut, .packetsIn, .packetsOut, .retrans, .rtt, .cwnd]
      $0.header = false
    }
    #expect(
      text.split(whereSeparator: { $0 == " " || $0 == "\n" }) == [
        "-", "-", "-", "-", "-", "-", "-",
      ])
  }

  @Test func bytesHumanOrExact() {
    let human = table(one(Sample.flows()[0])) {
      $0.columns = [.bytesIn, .bytesOut]
      $0.header = false
    }
    #expect(human == "1.5 KiB  3.4 MiB\n")
    let exact = table(one(Sample.flows()[0])) {
      $0.columns = [.bytesIn, .bytesOut]
      $0.header = false
      $0.exactBytes = true
    }
    #expect(exact == "1536  3555328\n")
  }

  @Test func alignment() {
    let text = table(one(Sample.flows()[0])) { $0.columns = [.proto, .bytesIn, .process] }
    // Numbers right-aligned under their title, text left-aligned, no trailing spaces.
    #expect(text == "Proto  In Bytes  Process\ntcp     1.5 KiB  postgres.2001\n")
  }

  @Test func endpoints() {
    let text = table {
      $0.columns = [.local, .remote]
      $0.header = false
    }
    let rows = lines(text).map { $0.split(separator: " ").map(String.init) }
    #expect(rows[0] == ["127.0.0.1:45678", "127.0.0.1:5432"])
    #expect(rows[1] == ["[::]:443", "*:*"])
    #expect(rows[2] == ["*:5353", "*:*"])
    #expect(rows[3] == ["[2001:db8::1:0:0:1]:443", "[::ffff:192.0.2.1]:50123"])
    #expect(rows[4] == ["/run/postgresql/.s.PGSQL.5432", "*"])
    #expect(rows[5] == ["@flowscope@pair", #"peer:f\xff\xfe.4002"#])
    #expect(rows[6] == ["*", "peer:数据库.3001"])
    #expect(rows[7] == ["eth0/0x0003", "*"])
    #expect(rows[8] == ["rtnl:5000", "*"])
    #expect(rows[9] == [#"/tmp/sock-\xff.\xc3"#, "*"])  // peer not in the snapshot
    #expect(rows[10] == ["[fe80::1]:22", "[fe80::abc:ff:fe00:2]:61000"])
  }

  @Test func processColumn() {
    var flow = Sample.flows()[1]
    // Two pids: the lowest pid is shown, +1 for the other.
    #expect(
      table(one(flow)) {
        $0.columns = [.process]
        $0.header = false
      } == "nginx.1234+1\n")
    #expect(
      table(one(flow)) {
        $0.columns = [.pid, .fd, .user, .command]
        $0.header = false
      } == "1234  6  root  nginx\n")
    // One pid holding the socket twice is one process.
    flow.owners = [FlowOwner(pid: 2001, fd: 9), FlowOwner(pid: 2001, fd: 4)]
    #expect(
      table(one(flow)) {
        $0.columns = [.process, .fd]
        $0.header = false
      } == "postgres.2001  4\n")
    // A pid whose process was not read.
    flow.owners = [FlowOwner(pid: 77, fd: 3)]
    #expect(
      table(one(flow)) {
        $0.columns = [.process, .user]
        $0.header = false
      } == "?.77  0\n")
    // Unowned.
    flow.owners = []
    #expect(
      table(one(flow)) {
        $0.columns = [.process, .pid]
        $0.header = false
      } == "-  -\n")
  }

  @Test func statesAndRTT() {
    let text = table {
      $0.columns = [.state, .rtt]
      $0.header = false
    }
    let rows = lines(text).map { $0.split(separator: " ").map(String.init) }
    #expect(rows[0] == ["ESTAB", "1.2ms"])
    #expect(rows[1] == ["LISTEN", "-"])
    #expect(rows[2] == ["UNCONN", "-"])
    #expect(rows[3] == ["CLOSE-WAIT", "850us"])
    #expect(rows[7] == ["-", "-"])  // packet
    #expect(rows[8] == ["-", "-"])  // netlink
  }

  @Test func noHeader() {
    let text = table { $0.header = false }
    #expect(lines(text).count == 11 + 1)
    #expect(text.hasPrefix("tcp "))
  }

  @Test func emptyColumnsRenderNothing() {
    #expect(table { $0.columns = [] } == "")
  }

  @Test func fitsTheTerminal() {
    // Proto 7 + Local 12 + Remote 12 + Process 10 + 3 gaps of 2 = 47 at the narrowest.
    for width in [20, 40, 47, 50, 60, 80] {
      let text = table {
        $0.columns = [.proto, .local, .remote, .process]
        $0.terminalWidth = width
      }
      for line in lines(text).dropLast() {
        #expect(self.width(line) <= max(width, 47), "\(width): \(line)")
      }
      #expect(String(validating: Array(text.utf8), as: UTF8.self) != nil)
    }
    let text = table {
      $0.columns = [.local, .remote, .process]
      $0.terminalWidth = 50
    }
    // The port survives the cut; a path keeps its end.
    #expect(lines(text)[4] == "[2001:db8…]:443  [::ffff…]:50123  nginx.1235")
    #expect(lines(text)[5] == "…/.s.PGSQL.5432  *                postgres.2001")
    #expect(lines(text)[6] == #"@flowscope@pair  peer:f\xf….4002  数据库.3001"#)
    #expect(lines(text)[3] == "*:5353           *:*              systemd-re….5000")
  }

  @Test func wideIgnoresTerminalWidth() {
    let plain = table()
    let wide = table {
      $0.terminalWidth = 40
      $0.wide = true
    }
    #expect(plain == wide)
    #expect(!plain.contains("…"))
  }

  @Test func nonFlexibleColumnsAreNeverCut() {
    // Too narrow: In Bytes, then Proto are left out (see NarrowTerminalTests); State stays,
    // whole, though it does not fit either.
    let text = table {
      $0.columns = [.proto, .bytesIn, .state]
      $0.terminalWidth = 10
    }
    #expect(lines(text)[0] == "State")
    #expect(lines(text)[4] == "CLOSE-WAIT")
    #expect(!text.contains("…"))
  }

  @Test func cjkProcessNamesAlign() {
    let text = table { $0.columns = [.process, .fd] }
    let rows = lines(text).dropLast()
    let widths = Set(rows.map { width($0) })
    #expect(widths.count == 1, "\(rows)")
    // Width 11 in a column of 22, two spaces, FD right-aligned in 2.
    #expect(rows.contains { $0 == "数据库.3001" + String(repeating: " ", count: 14) + "3" })
  }

  @Test func colour() {
    let plain = table()
    #expect(!plain.utf8.contains(0x1B))
    let coloured = table {
      $0.color = true
      $0.columns = [.state, .proto]
    }
    let rows = lines(coloured)
    #expect(rows[0] == "\u{1b}[1mState       Proto\u{1b}[0m")
    #expect(rows[1] == "\u{1b}[32mESTAB\u{1b}[0m       tcp")
    #expect(rows[4] == "\u{1b}[31mCLOSE-WAIT\u{1b}[0m  tcp")
    #expect(rows[3] == "UNCONN      udp")
  }

  @Test func interfaceNamesAndIndexes() {
    var flow = Sample.flows()[2]
    #expect(
      table(one(flow)) {
        $0.columns = [.netif]
        $0.header = false
      } == "eth0\n")
    flow.interfaceIndex = 9
    #expect(
      table(one(flow)) {
        $0.columns = [.netif]
        $0.header = false
      } == "9\n")
    flow.interfaceIndex = 0
    #expect(
      table(one(flow)) {
        $0.columns = [.netif]
        $0.header = false
      } == "-\n")
  }

  @Test func warningsForStandardError() {
    var snapshot = Sample.snapshot()
    snapshot.warnings.append(.other("bad\u{1b}name"))
    let text = Sample.text { TableRenderer.renderWarnings(snapshot, into: &$0) }
    #expect(
      text == """
        flowscope: warning: sctp: not supported by this kernel
        flowscope: warning: 3 process(es) unreadable (permission denied), their sockets show no owner: pid 1,2,…
        flowscope: warning: bad\\x1bname

        """)
  }

  @Test func columnNames() throws {
    #expect(Column.allCases.count == 37)
    #expect(Column(rawValue: "container-name") == .containerName)
    #expect(Column(rawValue: "bytes-in") == .bytesIn)
    #expect(Column(rawValue: "pkts-out") == .packetsOut)
    #expect(Column(rawValue: "send-q") == .sendQ)
    #expect(
      Column.defaults.map(\.title) == [
        "Proto", "Local Address", "Remote Address", "In Bytes", "Out Bytes", "In Pkts", "Out Pkts",
        "Retrans", "NetIf", "State", "RTT", "Process",
      ])
    #expect(try Column.parseList("proto, local,bytes-in").get() == [.proto, .local, .bytesIn])
    #expect(try Column.parseList("+cc").get() == Column.defaults + [.cc])
    if case .failure(let error) = Column.parseList("proto,nope") {
      #expect(error.name == "nope")
    } else {
      Issue.record("nope accepted")
    }
  }

  /// Many flows: one line each, and the peer map names peers without a search per row.
  @Test func manyFlows() {
    var flows: [Flow] = []
    for i in 0..<20_000 {
      var flow = Sample.flows()[5]
      flow.inode = UInt64(100_000 + i)
      flow.peerInode = UInt64(100_000 + (i ^ 1))
      flow.owners = [FlowOwner(pid: Int32(2001 + i % 2), fd: 3)]
      flows.append(flow)
    }
    let processes: [Int32: OwningProcess] = [
      2001: Sample.processes[2001]!, 2002: Sample.process(2002, Array("redis".utf8), user: nil),
    ]
    let snapshot = Snapshot(time: 0, host: "h", flows: flows, processes: processes, warnings: [])
    let text = table(snapshot) { $0.columns = [.inode, .remote] }
    let rows = lines(text)
    #expect(rows.count == 20_002)
    #expect(rows[1] == "100000  peer:redis.2002")
    #expect(rows[20_000] == "119999  peer:postgres.2001")
  }

  /// Past 16k rows the cells are written by two threads, one half each: the widest cell of the
  /// last half still sets the width of the first half's column, and the rows stay in order.
  @Test func twoThreadsWriteOneTable() {
    var flows: [Flow] = []
    for i in 0..<20_000 {
      var flow = Sample.flows()[0]
      flow.inode = UInt64(i)
      flow.owners = [FlowOwner(pid: i == 19_999 ? 7777 : 2001, fd: 3)]
      flows.append(flow)
    }
    var processes = Sample.processes
    processes[7777] = Sample.process(7777, Array("a-much-longer-name".utf8), user: nil)
    let snapshot = Snapshot(time: 0, host: "h", flows: flows, processes: processes, warnings: [])
    let rows = lines(table(snapshot) { $0.columns = [.process, .inode] })
    #expect(rows.count == 20_002)
    // "a-much-longer-name.7777" (23 cells), in the last row, is the widest process cell: the
    // first row's is padded to it.
    #expect(rows[1].hasPrefix("postgres.2001" + String(repeating: " ", count: 10) + "  "))
    #expect(rows[20_000] == "a-much-longer-name.7777  19999")
    for (i, row) in rows.dropFirst().dropLast().enumerated() {
      guard row.hasSuffix("  \(i)") else {
        Issue.record("row \(i) out of place: \(row)")
        return
      }
    }
  }
}
