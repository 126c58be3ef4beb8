#if canImport(Glibc)
  import Glibc
#endif

/// The container a cgroup path names: the runtime and full id (from `docker-<id>.scope`,
/// `/docker/<id>`, …) and, in Kubernetes, the pod's UID.
public struct ContainerReference: Sendable, Equatable {
  /// `docker`, `libpod`, `cri-containerd`, `crio`, `containerd` or `cri`; nil for a pod's own cgroup.
  public var runtime: String?
  /// The container's id as the cgroup path spells it (64 hex digits for the common runtimes).
  public var id: String?
  /// The Kubernetes pod's UID, with dashes.
  public var podUID: String?

  public init(runtime: String?, id: String?, podUID: String?) {
    self.runtime = runtime
    self.id = id
    self.podUID = podUID
  }

  /// What `container` shows: `docker:0123456789ab`, `k8s:<pod uid>/cri-containerd:0123456789ab`,
  /// `k8s:<pod uid>`: the id cut to 12 digits, as `docker ps` shows it.
  public var identity: String {
    let container = runtime.flatMap { runtime in id.map { "\(runtime):\($0.prefix(12))" } }
    switch (podUID, container) {
    case (let pod?, let container?): return "k8s:\(pod)/\(container)"
    case (let pod?, nil): return "k8s:\(pod)"
    case (nil, let container?): return container
    case (nil, nil): return ""
    }
  }
}

/// Container names from the files the runtimes keep on the host: pure parsers, no I/O.
public enum ContainerNameParsers {
  /// Docker's `containers/<id>/config.v2.json`: its top-level `"Name"` (`"/web"`) without the slash.
  public static func dockerName(configV2 bytes: [UInt8]) -> String? {
    guard case .object(let members)? = TinyJSON.parse(bytes),
      case .string(let name)? = members.first(where: { $0.key == "Name" })?.value
    else { return nil }
    let trimmed = name.hasPrefix("/") ? String(name.dropFirst()) : name
    return trimmed.isEmpty ? nil : trimmed
  }

  /// Podman's `storage/<driver>-containers/containers.json`: an array of `{"id": …, "names": [...]}`;
  /// the first name of the entry whose id is `id`.
  public static func podmanName(containersJSON bytes: [UInt8], id: String) -> String? {
    guard case .array(let entries)? = TinyJSON.parse(bytes) else { return nil }
    for case .object(let members) in entries {
      guard case .string(id)? = members.first(where: { $0.key == "id" })?.value else { continue }
      guard case .array(let names)? = members.first(where: { $0.key == "names" })?.value,
        case .string(let name)? = names.first, !name.isEmpty
      else { return nil }
      return name
    }
    return nil
  }

  /// The kubelet's `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` links: the
  /// container `id`'s name as `<namespace>/<pod>/<container>`. Names of pods, namespaces and
  /// containers are DNS labels, which hold no `_`.
  public static func kubernetesContainerName(logFileNames names: [String], id: String) -> String? {
    let suffix = "-\(id).log"
    for name in names where name.hasSuffix(suffix) {
      let parts = name.dropLast(suffix.count).split(separator: "_", omittingEmptySubsequences: false)
      guard parts.count == 3, !parts.contains(where: \.isEmpty) else { continue }
      return "\(parts[1])/\(parts[0])/\(parts[2])"
    }
    return nil
  }

  /// The kubelet's `/var/log/pods/<namespace>_<pod>_<uid>` directories: the pod `uid`'s name as
  /// `<namespace>/<pod>`.
  public static func kubernetesPodName(podDirectoryNames names: [String], uid: String) -> String? {
    let suffix = "_\(uid)"
    for name in names where name.hasSuffix(suffix) {
      let parts = name.dropLast(suffix.count).split(separator: "_", omittingEmptySubsequences: false)
      guard parts.count == 2, !parts.contains(where: \.isEmpty) else { continue }
      return "\(parts[0])/\(parts[1])"
    }
    return nil
  }
}

/// Reads container names from the runtimes' files under `root` (`/`, or a host's root mounted
/// elsewhere), once per container per instance: a snapshot makes one.
public final class ContainerNames {
  public let root: String
  private var names: [String: String?] = [:]
  private var directories: [String: [String]] = [:]

  public init(root: String = "/") {
    self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
  }

  /// The name the runtime gave the container, or nil when no file the runtime keeps names it
  /// (another data root, a runtime without such a file, no permission).
  public func name(of container: ContainerReference) -> String? {
    let key = "\(container.runtime ?? "")/\(container.id ?? "")/\(container.podUID ?? "")"
    if let known = names[key] { return known }
    let found = lookUp(container)
    names[key] = found
    return found
  }

  private func lookUp(_ container: ContainerReference) -> String? {
    if let pod = container.podUID {
      if let id = container.id,
        let name = ContainerNameParsers.kubernetesContainerName(
          logFileNames: entries(of: "/var/log/containers"), id: id)
      {
        return name
      }
      return ContainerNameParsers.kubernetesPodName(podDirectoryNames: entries(of: "/var/log/pods"), uid: pod)
    }
    guard let id = container.id, id.allSatisfy(\.isHexDigit) else { return nil }
    switch container.runtime {
    case "docker":
      guard case .success(let bytes) = Sys.readWhole("\(root)/var/lib/docker/containers/\(id)/config.v2.json")
      else { return nil }
      return ContainerNameParsers.dockerName(configV2: bytes)
    case "libpod":
      let storage = "/var/lib/containers/storage"
      for directory in entries(of: storage) where directory.hasSuffix("-containers") {
        guard
          case .success(let bytes) = Sys.readWhole("\(root)\(storage)/\(directory)/containers.json", limit: 64 << 20),
          let name = ContainerNameParsers.podmanName(containersJSON: bytes, id: id)
        else { continue }
        return name
      }
      return nil
    default:
      return nil
    }
  }

  /// The names in the directory `path` under the root; none when it cannot be read.
  private func entries(of path: String) -> [String] {
    if let known = directories[path] { return known }
    var found: [String] = []
    if case .success(let fd) = Sys.openat(AT_FDCWD, root + path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) {
      if case .success(let stream) = Sys.fdopendir(fd) {
        while case .success(let entry?) = Sys.readdir(stream) {
          let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
          }
          if name != "." && name != ".." { found.append(name) }
        }
        Sys.closedir(stream)
      } else {
        Sys.close(fd)
      }
    }
    directories[path] = found
    return found
  }
}

/// Just enough JSON for the runtimes' files: objects, arrays, strings (with escapes), and the
/// scalars skipped as opaque. Nesting is bounded; anything malformed is nil.
enum TinyJSON: Equatable {
  case object([(key: String, value: TinyJSON)])
  case array([TinyJSON])
  case string(String)
  case scalar

  static func == (lhs: TinyJSON, rhs: TinyJSON) -> Bool {
    switch (lhs, rhs) {
    case (.object(let a), .object(let b)):
      a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    case (.array(let a), .array(let b)): a == b
    case (.string(let a), .string(let b)): a == b
    case (.scalar, .scalar): true
    default: false
    }
  }

  static let maximumDepth = 64

  static func parse(_ bytes: [UInt8]) -> TinyJSON? {
    var index = 0
    guard let value = parseValue(bytes, &index, depth: 0) else { return nil }
    skipSpace(bytes, &index)
    return index == bytes.count ? value : nil
  }

  private static func skipSpace(_ bytes: [UInt8], _ index: inout Int) {
    while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
  }

  private static func parseValue(_ bytes: [UInt8], _ index: inout Int, depth: Int) -> TinyJSON? {
    guard depth < maximumDepth else { return nil }
    skipSpace(bytes, &index)
    guard index < bytes.count else { return nil }
    switch bytes[index] {
    case UInt8(ascii: "{"):
      index += 1
      var members: [(key: String, value: TinyJSON)] = []
      skipSpace(bytes, &index)
      if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
        index += 1
        return .object(members)
      }
      while true {
        skipSpace(bytes, &index)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = parseString(bytes, &index) else {
          return nil
        }
        skipSpace(bytes, &index)
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
        index += 1
        guard let value = parseValue(bytes, &index, depth: depth + 1) else { return nil }
        members.append((key, value))
        skipSpace(bytes, &index)
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: ",") {
          index += 1
          continue
        }
        guard bytes[index] == UInt8(ascii: "}") else { return nil }
        index += 1
        return .object(members)
      }
    case UInt8(ascii: "["):
      index += 1
      var elements: [TinyJSON] = []
      skipSpace(bytes, &index)
      if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
        index += 1
        return .array(elements)
      }
      while true {
        guard let value = parseValue(bytes, &index, depth: depth + 1) else { return nil }
        elements.append(value)
        skipSpace(bytes, &index)
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: ",") {
          index += 1
          continue
        }
        guard bytes[index] == UInt8(ascii: "]") else { return nil }
        index += 1
        return .array(elements)
      }
    case UInt8(ascii: "\""):
      return parseString(bytes, &index).map(TinyJSON.string)
    default:
      // A number, true, false or null: the run of characters that can spell one.
      let start = index
      while index < bytes.count,
        bytes[index].isScalarCharacter
      {
        index += 1
      }
      return index > start ? .scalar : nil
    }
  }

  /// The string starting at the quote at `index`; decodes `\n`-style and `\uXXXX` escapes
  /// (surrogate pairs joined, a lone one replaced).
  private static func parseString(_ bytes: [UInt8], _ index: inout Int) -> String? {
    index += 1
    var scalars = String.UnicodeScalarView()
    var run: [UInt8] = []
    func flush() {
      scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
      run.removeAll(keepingCapacity: true)
    }
    while index < bytes.count {
      let byte = bytes[index]
      index += 1
      switch byte {
      case UInt8(ascii: "\""):
        flush()
        return String(scalars)
      case UInt8(ascii: "\\"):
        guard index < bytes.count else { return nil }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): run.append(escape)
        case UInt8(ascii: "b"): run.append(0x08)
        case UInt8(ascii: "f"): run.append(0x0C)
        case UInt8(ascii: "n"): run.append(0x0A)
        case UInt8(ascii: "r"): run.append(0x0D)
        case UInt8(ascii: "t"): run.append(0x09)
        case UInt8(ascii: "u"):
          guard var unit = hex4(bytes, &index) else { return nil }
          flush()
          if (0xD800..<0xDC00).contains(unit), index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
            bytes[index + 1] == UInt8(ascii: "u")
          {
            var after = index + 2
            if let low = hex4(bytes, &after), (0xDC00..<0xE000).contains(low) {
              unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
              index = after
            }
          }
          scalars.append(Unicode.Scalar(unit) ?? "\u{FFFD}")
        default: return nil
        }
      case 0..<0x20:
        return nil
      default:
        run.append(byte)
      }
    }
    return nil
  }

  private static func hex4(_ bytes: [UInt8], _ index: inout Int) -> UInt32? {
    guard index + 4 <= bytes.count else { return nil }
    var value: UInt32 = 0
    for byte in bytes[index..<(index + 4)] {
      guard let digit = hexDigitValue(byte) else { return nil }
      value = value << 4 | UInt32(digit)
    }
    index += 4
    return value
  }

  private static func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}

extension UInt8 {
  /// A character of a JSON number or literal (`-1.5e+3`, `true`, `null`).
  fileprivate var isScalarCharacter: Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self)
      || self == UInt8(ascii: "-") || self == UInt8(ascii: "+") || self == UInt8(ascii: ".")
      || self == UInt8(ascii: "E")
  }
}
