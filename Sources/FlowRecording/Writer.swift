import FlowModel
import SockDiag

/// Encodes a recording. Pure: the caller writes the bytes (the header once, then each frame
/// as it is captured).
public enum RecordingWriter {
  public static func header(_ header: RecordingHeader) -> [UInt8] {
    var out = ByteWriter(bytes: RecordingFormat.magic)
    out.record(.header) {
      $0.u16(header.major)
      $0.u16(header.minor)
      $0.text(header.host)
      $0.text(header.kernel)
      $0.text(header.writer)
    }
    return out.bytes
  }

  public static func frame(_ frame: RecordedFrame) -> [UInt8] {
    var out = ByteWriter()
    out.record(.frameBegin) {
      $0.f64(frame.time)
      $0.text(frame.host)
    }
    for namespace in frame.namespaces {
      out.record(.namespace) {
        $0.u64(namespace.inode)
        $0.u8(namespace.isOwn ? 1 : 0)
        $0.u8(namespace.name == nil ? 0 : 1)
        $0.text(namespace.name ?? "")
        $0.u8(namespace.container == nil ? 0 : 1)
        $0.text(namespace.container ?? "")
      }
    }
    for datagram in frame.datagrams {
      out.record(.datagram) {
        $0.u64(datagram.netns)
        $0.u8(RecordFile.tag(for: datagram.query))
        $0.data(datagram.bytes)
      }
    }
    for process in frame.processes {
      out.record(.process) { encode(process, into: &$0) }
    }
    out.record(.owners) {
      $0.u32(UInt32(truncatingIfNeeded: frame.owners.count))
      for owner in frame.owners {
        $0.u64(owner.netns)
        $0.u64(owner.inode)
        $0.i32(owner.owner.pid)
        $0.i32(owner.owner.fd)
      }
    }
    for warning in frame.warnings {
      out.record(.warning) { encode(warning, into: &$0) }
    }
    for (inode, counters) in frame.namespaceCounters.sorted(by: { $0.key < $1.key }) {
      out.record(.namespaceCounters) {
        $0.u64(inode)
        $0.u8(counters.localPortRange == nil ? 0 : 1)
        $0.u16(counters.localPortRange?.lowerBound ?? 0)
        $0.u16(counters.localPortRange?.upperBound ?? 0)
        $0.optionalU64(counters.listenOverflows)
        $0.optionalU64(counters.listenDrops)
      }
    }
    if let host = frame.hostCounters {
      out.record(.hostCounters) {
        $0.optionalU64(host.orphans)
        $0.optionalU64(host.maxOrphans)
      }
    }
    out.record(.frameEnd) { _ in }
    return out.bytes
  }

  static func encode(_ process: OwningProcess, into out: inout ByteWriter) {
    out.i32(process.pid)
    out.i32(process.ppid)
    out.u32(process.uid)
    out.u64(process.startTimeTicks)
    out.optionalU64(process.netns)
    out.u8(process.descriptorsReadable ? 1 : 0)
    out.u64(UInt64(max(0, process.descriptorCount)))
    out.u64(UInt64(max(0, process.socketCount)))
    out.optionalU64(process.fdLimitSoft)
    out.optionalU64(process.fdLimitHard)
    out.data(process.command)
    out.u8(process.user == nil ? 0 : 1)
    out.text(process.user ?? "")
    out.u8(process.commandLine == nil ? 0 : 1)
    let arguments = process.commandLine ?? []
    out.u32(UInt32(truncatingIfNeeded: arguments.count))
    for argument in arguments { out.data(argument) }
    // Added in format 1.1; a 1.0 file ends the record here.
    out.u8(process.unit == nil ? 0 : 1)
    out.text(process.unit ?? "")
    out.u8(process.container == nil ? 0 : 1)
    out.text(process.container ?? "")
    out.u8(process.executable == nil ? 0 : 1)
    out.data(process.executable ?? [])
    // Added in format 1.2.
    out.u8(process.containerName == nil ? 0 : 1)
    out.text(process.containerName ?? "")
  }

  static func encode(_ warning: SnapshotWarning, into out: inout ByteWriter) {
    switch warning {
    case .familyUnsupported(let family):
      out.u8(0)
      out.text(family)
    case .dumpFailed(let family, let detail):
      out.u8(1)
      out.text(family)
      out.text(detail)
    case .dumpInterrupted(let family, let attempts):
      out.u8(2)
      out.text(family)
      out.u32(UInt32(clamping: max(0, attempts)))
    case .processesDenied(let count, let pids):
      out.u8(3)
      out.u32(UInt32(clamping: max(0, count)))
      out.u32(UInt32(truncatingIfNeeded: pids.count))
      for pid in pids { out.i32(pid) }
    case .netnsUnreadable(let name, let detail):
      out.u8(4)
      out.text(name)
      out.text(detail)
    case .namespacesSkipped(let count, let reason):
      out.u8(5)
      out.u32(UInt32(clamping: max(0, count)))
      out.text(reason)
    case .other(let text):
      out.u8(6)
      out.text(text)
    }
  }
}
