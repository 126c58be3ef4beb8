/// Where `serve` listens: `HOST:PORT`, `[V6]:PORT`, or `PORT` alone (on loopback).
public struct ListenAddress: Sendable, Equatable {
  public var host: String
  public var port: Int

  /// Why a `--listen` value cannot be read.
  public struct Unreadable: Error, CustomStringConvertible {
    public var description: String
  }

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  public init(_ text: String) throws(Unreadable) {
    func port(_ digits: Substring) throws(Unreadable) -> Int {
      guard let value = Int(digits), (0...65535).contains(value) else {
        throw Unreadable(description: "'\(digits)' is not a port (0-65535).")
      }
      return value
    }
    if text.allSatisfy(\.isNumber), !text.isEmpty {
      self.init(host: "127.0.0.1", port: try port(Substring(text)))
      return
    }
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
      let host = text[text.index(after: text.startIndex)..<close]
      let rest = text[text.index(after: close)...]
      guard rest.hasPrefix(":"), !host.isEmpty else {
        throw Unreadable(description: "expected [ADDRESS]:PORT, got '\(text)'.")
      }
      self.init(host: String(host), port: try port(rest.dropFirst()))
      return
    }
    guard let colon = text.lastIndex(of: ":"), colon != text.startIndex else {
      throw Unreadable(description: "expected HOST:PORT, [ADDRESS]:PORT or PORT, got '\(text)'.")
    }
    self.init(host: String(text[..<colon]), port: try port(text[text.index(after: colon)...]))
  }
}
