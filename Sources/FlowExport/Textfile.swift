#if canImport(Glibc)
  import Glibc
#endif

/// Writes `bytes` to `directory/flowscope.prom` atomically, as node_exporter's textfile
/// collector wants: a temporary file in the same directory, fsync, then rename over the old one.
/// Returns nil, or what failed.
public func writeTextfile(_ bytes: [UInt8], directory: String, name: String = "flowscope.prom") -> String? {
  let final = directory + "/" + name
  let temporary = directory + "/." + name + ".\(getpid()).tmp"
  // open(2)
  let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
  guard fd >= 0 else { return "open \(temporary): \(String(cString: strerror(errno)))" }
  var written = 0
  while written < bytes.count {
    // write(2)
    let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
    if count < 0 {
      if errno == EINTR { continue }
      let message = "write \(temporary): \(String(cString: strerror(errno)))"
      close(fd)
      unlink(temporary)
      return message
    }
    written += count
  }
  // fsync(2), close(2)
  if fsync(fd) != 0 || close(fd) != 0 {
    let message = "fsync \(temporary): \(String(cString: strerror(errno)))"
    unlink(temporary)
    return message
  }
  // rename(2): readers see the old file or the new one, never half of one.
  guard rename(temporary, final) == 0 else {
    let message = "rename \(temporary) \(final): \(String(cString: strerror(errno)))"
    unlink(temporary)
    return message
  }
  return nil
}
