import Dispatch

extension OutputBuffer {
  /// Appends what `body` renders for items `0..<count`, in order. From four chunks of
  /// `perChunk` items on, chunks are rendered two at a time by two threads, each into a buffer of
  /// its own, then appended (or written, with a sink): the bytes are the same, and memory holds
  /// two chunks, not the output.
  /// `body` is called concurrently with itself and must only read what it shares.
  mutating func appendChunked(
    count: Int, perChunk: Int, _ body: (Range<Int>, inout OutputBuffer) -> Void
  ) {
    guard count >= 4 * perChunk else { return body(0..<count, &self) }
    var chunks = [OutputBuffer](repeating: OutputBuffer(capacity: 0), count: 2)
    withoutActuallyEscaping(body) { body in
      let render = SharedForChunks(value: body)
      var start = 0
      while start < count {
        let middle = min(start + perChunk, count)
        let end = min(middle + perChunk, count)
        let halves = [start..<middle, middle..<end]
        chunks.withUnsafeMutableBufferPointer { slots in
          let slots = SharedForChunks(value: slots.baseAddress!)
          DispatchQueue.concurrentPerform(iterations: 2) { k in
            // Each thread writes only its own chunk, emptied with its capacity kept, and writes
            // it on its own stack: the two slots share a cache line, and a count updated there
            // by both threads at every append cost more than the second thread saved.
            var chunk = OutputBuffer(capacity: 0)
            swap(&chunk, &slots.value[k])
            chunk.removeAll()
            render.value(halves[k], &chunk)
            swap(&chunk, &slots.value[k])
          }
        }
        appendBypassingBuffer(chunks[0])
        appendBypassingBuffer(chunks[1])
        start = end
      }
    }
  }
}

/// What the two threads of `appendChunked` share: the renderer, which only reads, and the two
/// chunks, one per thread.
private struct SharedForChunks<Value>: @unchecked Sendable {
  let value: Value
}
