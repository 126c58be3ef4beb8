#if canImport(Glibc)
  import Glibc
#endif

/// A BPF iterator program, loaded into the kernel and attached once; each `pass` reads it from
/// the start. Nothing is pinned: the link lives as long as this object, and a pass is read
/// through `bpf_iter_create`.
///
/// Loading needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN), a kernel with BPF iterators
/// and its BTF (`/sys/kernel/btf/vmlinux`).
final class LoadedIterator {
  private let object: OpaquePointer
  private let link: OpaquePointer

  /// Opens, relocates, loads and attaches `program` of the object file `objectHex` holds
  /// (compiled at build time, see Plugins/BPFProgramPlugin).
  init(objectHex: StaticString, program name: String) throws(BPFError) {
    LibBPF.silence()
    let bytes = Self.decodeHex(objectHex)
    let opened = bytes.withUnsafeBytes { LibBPF.openObject($0) }
    let object = try opened.get()
    do {
      try LibBPF.load(object).get()
      let program = try LibBPF.program(object, named: name).get()
      link = try LibBPF.attachIterator(program).get()
    } catch {
      LibBPF.close(object: object)
      throw error
    }
    self.object = object
  }

  deinit {
    LibBPF.destroy(link: link)
    LibBPF.close(object: object)
  }

  /// One pass: hands `body` the output as the kernel gives it, a chunk at a time (a record may
  /// be cut between two chunks).
  func pass(_ body: (UnsafeRawBufferPointer) -> Void) throws(BPFError) {
    let fd = try LibBPF.createIterator(LibBPF.linkDescriptor(link)).get()
    defer { LibBPF.close(fd) }
    // The kernel hands a pass out 8 pages at a time; a larger buffer saves no call.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    defer { buffer.deallocate() }
    while true {
      let count = try LibBPF.read(fd, buffer).get()
      if count == 0 { break }
      body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }
  }

  /// Hex digits, two per byte, into bytes; stops at the first character that is not one.
  static func decodeHex(_ text: StaticString) -> [UInt8] {
    text.withUTF8Buffer { digits in
      var bytes: [UInt8] = []
      bytes.reserveCapacity(digits.count / 2)
      var index = 0
      while index + 1 < digits.count {
        guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { break }
        bytes.append(high << 4 | low)
        index += 2
      }
      return bytes
    }
  }

  private static func nibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
  }
}
