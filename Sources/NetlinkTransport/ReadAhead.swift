import Dispatch
import SockDiag

#if canImport(Glibc)
  import Glibc
#endif

// The datagrams of one dump received on a helper thread while the caller decodes those
// before them: the kernel fills the next replies (most of a large dump's cost, done inside
// recvmsg) on one CPU while the caller decodes on the other, without asking the kernel for
// more work.

/// One dump's replies, received ahead into a ring of buffers. The caller takes them in order
/// with `next()` (each valid until the next call), then calls `finish()`.
final class ReadAhead: @unchecked Sendable {
  static let slotCount = 16
  static let slotSize = NetlinkSocket.receiveBufferSize

  private let socket: NetlinkSocket
  private let ring: UnsafeMutableRawBufferPointer
  /// Per slot, written by the receiver before it signals `filled`, read by the caller after.
  private var lengths = [Int](repeating: 0, count: slotCount)
  private var failures = [TransportError?](repeating: nil, count: slotCount)
  private var endsDump = [Bool](repeating: false, count: slotCount)
  private let filled = DispatchSemaphore(value: 0)
  private let free = DispatchSemaphore(value: slotCount)
  private let receiverDone = DispatchSemaphore(value: 0)
  /// The caller's side: the slot it holds, and whether it has taken the dump's last one.
  private var held: Int? = nil
  private var nextSlot = 0
  private var tookLast = false

  /// Starts receiving from `socket`, which has just been sent a dump request.
  init(receivingFrom socket: NetlinkSocket) {
    self.socket = socket
    ring = .allocate(byteCount: Self.slotCount * Self.slotSize, alignment: 8)
    DispatchQueue.global().async { [self] in
      receive()
      receiverDone.signal()
    }
  }

  deinit { ring.deallocate() }

  private func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(rebasing: ring[(index * Self.slotSize)..<((index + 1) * Self.slotSize)])
  }

  /// Receives from `socket` until the datagram that ends the dump, or a failure, into the free
  /// slots.
  private func receive() {
    var index = 0
    while true {
      free.wait()
      var last = true
      do {
        let count = try socket.receive(into: slot(index))
        lengths[index] = count
        failures[index] = nil
        last = datagramEndsDump(UnsafeRawBufferPointer(start: slot(index).baseAddress, count: count))
      } catch {
        failures[index] = error
      }
      endsDump[index] = last
      filled.signal()
      if last { return }
      index = (index + 1) % Self.slotCount
    }
  }

  /// The next datagram, valid until the next call. A dump that ended (as the receiver saw it)
  /// before the caller saw its end is an error rather than a wait for ever.
  func next() throws(TransportError) -> UnsafeRawBufferPointer {
    release()
    guard !tookLast else { throw TransportError(operation: "recvmsg (dump ended without NLMSG_DONE)", errno: EIO) }
    filled.wait()
    let index = nextSlot
    nextSlot = (nextSlot + 1) % Self.slotCount
    held = index
    tookLast = endsDump[index]
    if let failure = failures[index] { throw failure }
    return UnsafeRawBufferPointer(start: slot(index).baseAddress, count: lengths[index])
  }

  private func release() {
    if held != nil { free.signal() }
    held = nil
  }

  /// Lets the receiver read what is left of the dump (the socket is then clean for the next
  /// request) and waits for it.
  func finish() {
    release()
    while !tookLast {
      filled.wait()
      tookLast = endsDump[nextSlot]
      nextSlot = (nextSlot + 1) % Self.slotCount
      free.signal()
    }
    receiverDone.wait()
  }
}
