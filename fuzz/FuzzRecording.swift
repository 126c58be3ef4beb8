// libFuzzer harness for the readers of files given to --replay (Sources/FlowRecording):
// FSREC2 recordings and ss's raw dumps. fuzz/run.sh compiles it with the module's sources under
// `-module-name FlowRecording`, against uninstrumented FlowModel and SockDiag.
//
// The first byte picks the reader (even: a recording, after the magic this harness prepends;
// odd: a raw dump). Besides "never traps": an error's offset lies inside the input, and a
// recording that reads, written again, reads back to the same frames.

import FlowModel
import SockDiag

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecording(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data, size > 0 else { return 0 }
  let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
  if data[0] % 2 == 0 {
    // Most inputs would fail at the magic: give every one of them.
    let file = RecordingFormat.magic + rest
    do {
      let recording = try RecordingReader.read(file)
      let again = RecordingWriter.header(recording.header) + recording.frames.flatMap(RecordingWriter.frame)
      let reread = try RecordingReader.read(again)
      precondition(reread.header == recording.header && reread.frames.count == recording.frames.count)
      for (a, b) in zip(recording.frames, reread.frames) {
        precondition(a.datagrams == b.datagrams && a.processes == b.processes && a.owners == b.owners)
        precondition(a.warnings == b.warnings && a.namespaces == b.namespaces)
      }
    } catch {
      precondition(error.offset >= 0 && error.offset <= file.count, "offset \(error.offset) of \(file.count)")
    }
  } else {
    do {
      let frame = try rest.withUnsafeBytes { raw throws(RecordingError) in
        try RawDump.frame(raw, inetProtocol: .tcp, time: 0, host: "")
      }
      precondition(frame.datagrams.reduce(0) { $0 + $1.bytes.count } <= rest.count)
    } catch let error as RecordingError {
      precondition(error.offset >= 0 && error.offset <= rest.count)
    } catch {
      preconditionFailure("an error of another type: \(error)")
    }
  }
  return 0
}
