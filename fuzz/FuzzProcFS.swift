// libFuzzer harness for every /proc parser of Sources/ProcFS. fuzz/run.sh compiles it together
// with the module's sources under `-module-name ProcFS`.
//
// The first input byte picks the parser the rest is fed to (selector % 10):
//   0 /proc/<pid>/stat         1 /proc/<pid>/status        2 /proc/<pid>/limits
//   3 /proc/<pid>/cmdline      4 an fd link target (socket:[N], pipe:[N], anon_inode:…, path)
//   5 a getdents64 buffer, each name through numericName as the scanner does
//   6 a pid or fd directory name   7 /proc/net/sockstat   8 /proc/<pid>/cgroup and its container id
//   9 a container runtime's JSON file (docker's config.v2.json, podman's containers.json)
// Besides "never traps", the results are checked against the input where that is cheap.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProcFS(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data, size > 0 else { return 0 }
  let rest = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
  switch data[0] % 10 {
  case 0:
    if let st = try? ProcParsers.stat(rest) {
      precondition(st.pid >= 0 && st.ppid >= 0 && st.command.count < rest.count)
    }
  case 1:
    if let status = try? ProcParsers.status(rest) {
      precondition(status.namespacePIDs.allSatisfy { $0 >= 0 })
    }
  case 2:
    _ = try? ProcParsers.openFilesLimit(rest)
  case 3:
    // Joining the arguments back must give the input (less a final NUL).
    let args = ProcParsers.commandLine(rest)
    var joined = Array(args.joined(separator: [0]))
    if rest.last == 0 { joined.append(0) }
    precondition(joined.elementsEqual(rest), "cmdline split loses bytes")
  case 4:
    fdLink(rest)
  case 5:
    var total = 0
    _ = ProcParsers.forEachDirent(rest) { name, _ in
      precondition(!name.contains(0))
      total += name.count
      _ = ProcParsers.numericName(name)
    }
    precondition(total <= rest.count)
  case 6:
    if let n = ProcParsers.numericName(rest) { precondition(n >= 0 && rest.count <= 10) }
  case 7:
    if let n = ProcParsers.socketsInUse(rest) { precondition(n >= 0) }
  case 8:
    if let path = ProcParsers.cgroupPath(ArraySlice(rest)) {
      _ = ProcParsers.containerIdentity(cgroupPath: path)
    }
  default:
    let bytes = Array(rest)
    if let name = ContainerNameParsers.dockerName(configV2: bytes) { precondition(!name.isEmpty) }
    _ = ContainerNameParsers.podmanName(containersJSON: bytes, id: "0123456789ab")
  }
  return 0
}

/// The allocation-free classification and the full parse must agree.
private func fdLink(_ link: UnsafeRawBufferPointer) {
  let target = ProcParsers.fdTarget(link)
  switch (ProcParsers.fdTargetKind(link), target) {
  case (.socket(let a), .socket(let b)), (.pipe(let a), .pipe(let b)): precondition(a == b)
  case (.anonInode, .anonInode(let name)): precondition(name.count <= link.count - 11)
  case (.path, .path(let bytes)), (.other, .other(let bytes)):
    precondition(bytes.elementsEqual(link))
  default: preconditionFailure("fdTargetKind and fdTarget disagree")
  }
}
