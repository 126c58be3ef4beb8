#if canImport(Glibc)
  import Glibc
#endif

/// What a cheap look at a process says (`watch`'s refreshes, see OwnerCache): whether it is the
/// same process as before and whether its descriptors changed, without reading them.
public struct ProcessProbe: Sendable, Equatable {
  /// Clock ticks since boot when it started: with the pid, identifies the process over time.
  public var startTimeTicks: UInt64
  /// `st_size` of `/proc/<pid>/fd`: the number of open descriptors (Linux ≥ 6.2); -1 unread.
  public var descriptorSize: Int64
  public var command: [UInt8]
}

extension ProcScanner {
  /// `/proc/<pid>/stat` and the size of `/proc/<pid>/fd` under `root`; nil when the process is
  /// gone or unreadable. `buffer` is scratch space for the stat line.
  public static func probe(root: String, pid: Int32, buffer: inout [UInt8]) -> ProcessProbe? {
    let directory = "\(root)/\(pid)"
    guard case .success(let fd) = Sys.openat(AT_FDCWD, directory + "/stat", O_RDONLY | O_CLOEXEC) else {
      return nil
    }
    var count = 0
    while count < buffer.count {
      let result = buffer.withUnsafeMutableBytes {
        Sys.read(fd, UnsafeMutableRawBufferPointer(rebasing: $0[count...]))
      }
      guard case .success(let n) = result, n > 0 else { break }
      count += n
    }
    Sys.close(fd)
    guard count > 0,
      let stat = buffer.withUnsafeBytes({ try? ProcParsers.stat(UnsafeRawBufferPointer(rebasing: $0[0..<count])) })
    else { return nil }
    // st_size of a /proc fd directory is the number of open descriptors.
    let size: Int64 =
      if case .success(let info) = Sys.fstatat(AT_FDCWD, directory + "/fd", 0) { Int64(info.st_size) } else { -1 }
    return ProcessProbe(startTimeTicks: stat.startTimeTicks, descriptorSize: size, command: stat.command)
  }

  /// The numeric entries of `root` (the pids), sorted: one directory read.
  public static func listPIDs(root: String) -> [Int32] {
    guard case .success(let fd) = Sys.openat(AT_FDCWD, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) else {
      return []
    }
    guard case .success(let directory) = Sys.fdopendir(fd) else {
      Sys.close(fd)
      return []
    }
    defer { Sys.closedir(directory) }
    var pids: [Int32] = []
    while case .success(let entry?) = Sys.readdir(directory) {
      let pid = withUnsafeBytes(of: &entry.pointee.d_name) { raw -> Int32? in
        ProcParsers.numericName(UnsafeRawBufferPointer(rebasing: raw[0..<(raw.firstIndex(of: 0) ?? raw.count)]))
          .flatMap { $0 > 0 ? $0 : nil }
      }
      if let pid { pids.append(pid) }
    }
    pids.sort()
    return pids
  }
}
