import FlowModel
import FlowRender
import Testing

@Suite struct GoldenTests {
  @Test func defaultTable() throws {
    let bytes = Sample.render {
      TableRenderer.render(Sample.snapshot(), options: Sample.options, into: &$0)
    }
    try expectGolden(bytes, named: "table-default.txt")
  }

  @Test func everyColumnExactBytes() throws {
    var options = Sample.options
    options.columns = Column.allCases
    options.exactBytes = true
    let bytes = Sample.render {
      TableRenderer.render(Sample.snapshot(), options: options, into: &$0)
    }
    try expectGolden(bytes, named: "table-all-columns.txt")
  }

  @Test func fittedTo100ColumnsWithColour() throws {
    var options = Sample.options
    options.terminalWidth = 100
    options.color = true
    options.columns = [.proto, .local, .remote, .bytesIn, .state, .rtt, .process]
    let bytes = Sample.render {
      TableRenderer.render(Sample.snapshot(), options: options, into: &$0)
    }
    try expectGolden(bytes, named: "table-fit100-colour.txt")
  }

  @Test func jsonDocument() throws {
    let bytes = Sample.render {
      JSONRenderer.render(Sample.snapshot(), options: Sample.options, into: &$0)
    }
    try expectGolden(bytes, named: "snapshot.json")
  }

  @Test func ndjson() throws {
    let bytes = Sample.render {
      JSONRenderer.renderLines(Sample.snapshot(), options: Sample.options, into: &$0)
    }
    try expectGolden(bytes, named: "snapshot.ndjson.txt")
  }

  @Test func csvEveryColumn() throws {
    var options = Sample.options
    options.columns = Column.allCases
    let bytes = Sample.render { CSVRenderer.render(Sample.snapshot(), options: options, into: &$0) }
    try expectGolden(bytes, named: "snapshot.csv")
  }
}
