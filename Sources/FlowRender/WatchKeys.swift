import FlowModel
import FlowTerminal

// What each key does on `flowscope watch`'s screen. Pure: the model changes here, and what
// needs the terminal, the query parser or the kernel is handed back to the screen loop as a
// `WatchKeyAction`.

/// What the screen loop does after a key changed the model.
public enum WatchKeyAction: Sendable, Equatable {
  /// Nothing more: draw the model as it is now.
  case none
  case quit
  /// The view, the sort or the byte columns changed: arrange the rows again.
  case rearrange
  /// The `/` filter's text changed: read it as a query again, then arrange the rows.
  case refilter
  /// `x`: ask about closing the flow on the first row shown.
  case askToClose
  /// `y` to that question: close this flow.
  case close(Flow)
  /// Ctrl-L: clear the terminal, so that the next drawing starts on a clean screen.
  case clearScreen
}

extension WatchModel {
  /// Applies `key` to the model. `rowCount` is how many rows the screen has arranged (End
  /// scrolls past them; the loop clamps the scroll when it draws).
  public mutating func handle(_ key: Key, rowCount: Int) -> WatchKeyAction {
    if let flow = closing {
      // The answer to `x`'s question: y closes, any other key does not.
      closing = nil
      guard key == .character("y") || key == .character("Y") else {
        message = Array("nothing closed".utf8)
        return .none
      }
      return .close(flow)
    }
    message = []
    if editingFilter { return editFilter(key) }
    if showHelp {
      showHelp = false
      return key == .character("q") || key == .control("c") ? .quit : .none
    }
    let page = WatchScreen.visibleRows(self)
    switch key {
    case .character("q"), .control("c"): return .quit
    case .character("v"), .tab, .backTab:
      view = view == .flows ? .processes : .flows
      if !WatchSortField.cycle(view).contains(sort) { sort = .rate }
      scroll = 0
      return .rearrange
    case .character("<"), .character(">"), .left, .right:
      let cycle = WatchSortField.cycle(view)
      let at = cycle.firstIndex(of: sort) ?? 0
      let step = (key == .character("<") || key == .left) ? cycle.count - 1 : 1
      sort = cycle[(at + step) % cycle.count]
      // Numbers busiest first, names from A.
      descending = ![.proto, .local, .remote, .state, .process, .command, .pid].contains(sort)
      return .rearrange
    case .character("s"):
      sort = .rate
      descending = true
      return .rearrange
    case .character("r"):
      descending.toggle()
      return .rearrange
    case .character("p"), .character(" "):
      paused.toggle()
    case .character("d"):
      showDeltas.toggle()
      // The byte columns' order changes with what they show.
      if sort == .bytesIn || sort == .bytesOut { return .rearrange }
    case .character("/"):
      editingFilter = true
    case .escape:
      if !filter.isEmpty {
        filter = []
        return .refilter
      }
    case .character("x"): return .askToClose
    case .character("?"), .character("h"): showHelp = true
    case .up, .character("k"): scroll -= 1
    case .down, .character("j"): scroll += 1
    case .pageUp: scroll -= page
    case .pageDown: scroll += page
    case .home, .character("g"): scroll = 0
    case .end, .character("G"): scroll = rowCount
    case .control("l"): return .clearScreen
    default: break
    }
    return .none
  }

  /// A key while the `/` filter is typed: every key but Ctrl-C reads the filter again and
  /// starts at the first row.
  private mutating func editFilter(_ key: Key) -> WatchKeyAction {
    switch key {
    case .character(let scalar):
      filter += Array(String(Character(scalar)).utf8)
    case .backspace:
      // A whole UTF-8 sequence: its continuation bytes, then its first.
      while let last = filter.popLast(), last & 0xC0 == 0x80 {}
    case .control("u"): filter = []
    case .control("c"): return .quit
    case .enter:
      // A filter that cannot be read stays open, its error on the line.
      if filterError.isEmpty { editingFilter = false }
    case .escape:
      filter = []
      editingFilter = false
    default: break
    }
    scroll = 0
    return .refilter
  }
}
