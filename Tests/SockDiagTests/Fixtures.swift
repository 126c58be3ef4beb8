import Foundation
import Testing

@testable import SockDiag

/// Loads test fixtures from the bundled `Fixtures` directory.
enum Fixture {
  struct Missing: Error { let name: String }

  static func url(_ name: String) throws -> URL {
    guard let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
      throw Missing(name: "Fixtures")
    }
    return directory.appendingPathComponent(name)
  }

  static func data(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: url(name)))
  }

  /// Parses an annotated `.hex` fixture: per line, hex bytes (spaces allowed) before an optional
  /// `#` comment; blank and comment-only lines are skipped.
  static func annotated(_ name: String) throws -> [UInt8] {
    let text = try String(contentsOf: url(name), encoding: .utf8)
    var bytes: [UInt8] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let code =
        line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
      let digits = code.filter { !$0.isWhitespace }
      guard digits.count % 2 == 0 else {
        throw Missing(name: "\(name): odd hex digits in '\(line)'")
      }
      var index = digits.startIndex
      while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        guard let byte = UInt8(digits[index..<next], radix: 16) else {
          throw Missing(name: "\(name): bad hex in '\(line)'")
        }
        bytes.append(byte)
        index = next
      }
    }
    return bytes
  }

  /// Decodes every datagram of an FSRECv1 file.
  static func records(_ name: String) throws -> (
    records: [SocketRecord], statuses: [DumpDatagramStatus]
  ) {
    let file = try data(name)
    var records: [SocketRecord] = []
    var statuses: [DumpDatagramStatus] = []
    try file.withUnsafeBytes { buffer in
      try RecordFile.forEachChunk(in: buffer) { query, datagram in
        statuses.append(decodeDumpDatagram(datagram, query: query, into: &records))
      }
    }
    return (records, statuses)
  }

  /// The single SOCK_DIAG_BY_FAMILY payload of an annotated message (header checked).
  static func payload(of message: [UInt8]) -> [UInt8] {
    Array(message.dropFirst(16))
  }
}

/// Decodes a whole netlink message (header + payload) the way a dump reader would.
func decodeMessage(_ message: [UInt8], query: SockDiagQuery) throws -> [SocketRecord] {
  var records: [SocketRecord] = []
  try message.withUnsafeBytes { buffer in
    try forEachNetlinkMessage(in: buffer) { header, payload in
      if header.type == NetlinkConstants.sockDiagByFamily {
        records.append(try decodeSocketRecord(payload, query: query))
      }
    }
  }
  return records
}

func decodePayload(_ payload: [UInt8], query: SockDiagQuery) throws -> SocketRecord {
  try payload.withUnsafeBytes { try decodeSocketRecord($0, query: query) }
}

extension SocketRecord {
  var inetSocket: InetSocket? { if case .inet(let s) = self { return s } else { return nil } }
  var unixSocket: UnixSocket? { if case .unix(let s) = self { return s } else { return nil } }
  var packetSocket: PacketSocket? { if case .packet(let s) = self { return s } else { return nil } }
  var netlinkSocket: NetlinkSocket? {
    if case .netlink(let s) = self { return s } else { return nil }
  }
}

let tcp4: SockDiagQuery = .inet(family: 2, proto: .tcp)
