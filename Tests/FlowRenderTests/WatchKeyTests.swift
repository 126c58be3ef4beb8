import FlowModel
import FlowRender
import FlowTerminal
import Testing

/// watch's keys, on the model alone: what each changes, and what it asks of the screen loop.
@Suite struct WatchKeyTests {
  func model() -> WatchModel {
    let snapshot = Sample.snapshot()
    var model = WatchModel(snapshot: snapshot, rates: RateTable.compute(previous: nil, current: snapshot))
    model.rows = 24
    return model
  }

  @Test func qAndCtrlCQuitAndQuestionMarkShowsTheKeysUntilTheNextKey() {
    var model = model()
    #expect(model.handle(.character("q"), rowCount: 0) == .quit)
    #expect(model.handle(.control("c"), rowCount: 0) == .quit)
    #expect(model.handle(.character("?"), rowCount: 0) == .none)
    #expect(model.showHelp)
    // Any key closes the help; it does nothing else, but q and Ctrl-C still quit.
    #expect(model.handle(.character("v"), rowCount: 0) == .none)
    #expect(!model.showHelp && model.view == .flows)
    #expect(model.handle(.character("h"), rowCount: 0) == .none)
    #expect(model.handle(.character("q"), rowCount: 0) == .quit)
  }

  @Test func vSwitchesTheViewAndKeepsOnlyASortItHas() {
    var model = model()
    model.sort = .proto
    model.scroll = 5
    #expect(model.handle(.character("v"), rowCount: 10) == .rearrange)
    #expect(model.view == .processes && model.sort == .rate && model.scroll == 0)
    #expect(model.handle(.tab, rowCount: 10) == .rearrange)
    #expect(model.view == .flows)
    model.sort = .bytesIn
    #expect(model.handle(.backTab, rowCount: 10) == .rearrange)
    #expect(model.view == .processes && model.sort == .bytesIn)
  }

  @Test func theSortKeysStepThroughTheColumnsNamesFromANumbersBusiestFirst() {
    var model = model()
    #expect(model.handle(.character(">"), rowCount: 0) == .rearrange)
    #expect(model.sort == .proto && !model.descending)
    #expect(model.handle(.right, rowCount: 0) == .rearrange)
    #expect(model.sort == .local)
    #expect(model.handle(.left, rowCount: 0) == .rearrange)
    #expect(model.handle(.character("<"), rowCount: 0) == .rearrange)
    #expect(model.sort == .rate && model.descending)
    // Backwards from the first wraps to the last.
    #expect(model.handle(.character("<"), rowCount: 0) == .rearrange)
    #expect(model.sort == .process && !model.descending)
    #expect(model.handle(.character("r"), rowCount: 0) == .rearrange)
    #expect(model.descending)
    #expect(model.handle(.character("s"), rowCount: 0) == .rearrange)
    #expect(model.sort == .rate && model.descending)
  }

  @Test func pausingAndDeltasChangeTheModelAndRearrangeOnlyWhenTheOrderDependsOnThem() {
    var model = model()
    #expect(model.handle(.character("p"), rowCount: 0) == .none)
    #expect(model.paused)
    #expect(model.handle(.character(" "), rowCount: 0) == .none)
    #expect(!model.paused)
    #expect(model.handle(.character("d"), rowCount: 0) == .none)
    #expect(model.showDeltas)
    model.sort = .bytesOut
    #expect(model.handle(.character("d"), rowCount: 0) == .rearrange)
    #expect(!model.showDeltas)
    #expect(model.handle(.control("l"), rowCount: 0) == .clearScreen)
  }

  @Test func scrollingMovesByALineAPageOrToAnEnd() {
    var model = model()
    let page = WatchScreen.visibleRows(model)
    for (key, scroll) in [
      (Key.down, 1), (.character("j"), 2), (.up, 1), (.character("k"), 0), (.pageDown, page), (.pageUp, 0),
      (.end, 40), (.home, 0), (.character("G"), 40), (.character("g"), 0),
    ] {
      #expect(model.handle(key, rowCount: 40) == .none)
      #expect(model.scroll == scroll, "\(key)")
    }
  }

  @Test func theFilterIsTypedEditedAndClearedAndEachKeyReadsItAgainFromTheTop() {
    var model = model()
    model.scroll = 3
    #expect(model.handle(.character("/"), rowCount: 0) == .none)
    #expect(model.editingFilter)
    // While typing, letters are text, not keys: q does not quit.
    for scalar in "q é".unicodeScalars {
      #expect(model.handle(.character(scalar), rowCount: 0) == .refilter)
    }
    #expect(model.filter == Array("q é".utf8) && model.scroll == 0)
    // Backspace takes a whole character, é's two bytes.
    #expect(model.handle(.backspace, rowCount: 0) == .refilter)
    #expect(model.filter == Array("q ".utf8))
    #expect(model.handle(.control("u"), rowCount: 0) == .refilter)
    #expect(model.filter.isEmpty)
    // Enter keeps a filter that reads, and keeps editing one that does not.
    model.filter = Array("dport ==".utf8)
    model.filterError = Array("expected a value".utf8)
    #expect(model.handle(.enter, rowCount: 0) == .refilter)
    #expect(model.editingFilter)
    model.filterError = []
    #expect(model.handle(.enter, rowCount: 0) == .refilter)
    #expect(!model.editingFilter && model.filter == Array("dport ==".utf8))
    // Esc outside the editor clears a filter; with none, it does nothing.
    #expect(model.handle(.escape, rowCount: 0) == .refilter)
    #expect(model.filter.isEmpty)
    #expect(model.handle(.escape, rowCount: 0) == .none)
    // Esc in the editor clears and leaves it; Ctrl-C quits from it.
    _ = model.handle(.character("/"), rowCount: 0)
    _ = model.handle(.character("x"), rowCount: 0)
    #expect(model.handle(.escape, rowCount: 0) == .refilter)
    #expect(!model.editingFilter && model.filter.isEmpty)
    _ = model.handle(.character("/"), rowCount: 0)
    #expect(model.handle(.control("c"), rowCount: 0) == .quit)
  }

  @Test func xAsksAndOnlyYClosesTheFlowAsked() throws {
    var model = model()
    #expect(model.handle(.character("x"), rowCount: 1) == .askToClose)
    let flow = try #require(model.snapshot.flows.first)
    model.closing = flow
    #expect(model.handle(.character("n"), rowCount: 1) == .none)
    #expect(model.closing == nil && model.message == Array("nothing closed".utf8))
    model.closing = flow
    // The question takes the next key whatever it is: q answers no, it does not quit.
    #expect(model.handle(.character("q"), rowCount: 1) == .none)
    model.closing = flow
    #expect(model.handle(.character("y"), rowCount: 1) == .close(flow))
    #expect(model.closing == nil)
    model.closing = flow
    #expect(model.handle(.character("Y"), rowCount: 1) == .close(flow))
    // The next key clears the message.
    model.message = Array("closed".utf8)
    _ = model.handle(.character("j"), rowCount: 1)
    #expect(model.message.isEmpty)
  }
}
