#if canImport(Glibc)
  import Glibc
#endif

/// A file written from the start (`flowscope record --output FILE`): created or truncated, mode 0600
/// (a recording holds process names and addresses), every write whole or an error.
public final class FileWriter {
  private let fd: Int32
  public let path: String
  public private(set) var bytesWritten = 0

  public init(path: String) throws(TransportError) {
    self.path = path
    // open(2)
    let opened = retryingInterrupts("open \(path)", failed: { $0 < 0 }) {
      open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    }
    switch opened {
    case .success(let fd): self.fd = fd
    case .failure(let error): throw error
    }
  }

  deinit {
    // close(2)
    _ = close(fd)
  }

  public func write(_ bytes: [UInt8]) throws(TransportError) {
    var offset = 0
    while offset < bytes.count {
      // write(2)
      let result = bytes.withUnsafeBytes { raw in
        retryingInterrupts("write \(path)", failed: { $0 < 0 }) {
          Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
        }
      }
      switch result {
      case .success(let written): offset += written
      case .failure(let error): throw error
      }
    }
    bytesWritten += bytes.count
  }
}
