import FlowModel

/// What renderers write of each owning process and each namespace, made safe once per render
/// rather than once per flow: 100k flows share a few hundred processes, and reading a process
/// from the snapshot's dictionary copies its arrays and strings, retaining each one, from two
/// threads at once. Lookups return offsets into one byte array, so they retain nothing.
struct SharedTexts {
  private struct Entry {
    /// The command as a table or CSV cell, and its width on a terminal.
    var command: Range<Int32>
    var commandWidth: Int32
    /// The value of JSON's `"command":`, with `,"command_bytes":…` when it is not UTF-8.
    var jsonCommand: Range<Int32>
    /// The value of JSON's `"user":`, then `,"ppid":…,"unit":…,"container":…,"container_name":…,"exe":…,"cmdline":…`.
    var jsonUser: Range<Int32>
  }

  private let bytes: [UInt8]
  private let entries: [Int32: Entry]
  /// The value of JSON's `"netns_name":` per namespace inode.
  private let jsonNamespaceNames: [UInt64: Range<Int32>]

  init(
    _ processes: [Int32: OwningProcess], namespaces: [UInt64: NetworkNamespace] = [:],
    mode: CellMode
  ) {
    var out = OutputBuffer(capacity: 64 * processes.count + 16)
    var entries: [Int32: Entry] = [:]
    entries.reserveCapacity(processes.count)
    for (pid, process) in processes {
      let command = out.count
      process.command.withUnsafeBufferPointer { p in
        switch mode {
        case .table: appendSanitized(p, into: &out)
        case .csv: appendCSVText(p, into: &out)
        }
      }
      let jsonCommand = out.count
      let commandWidth = out.withUnsafeBufferPointer {
        TableRenderer.cellWidth(UnsafeBufferPointer(rebasing: $0[command..<jsonCommand]))
      }
      // Cached JSON: a value (and the members after it), written by a writer of its own.
      JSONWriter.write(into: &out) { $0.string(process.command, exactIn: .commandBytes) }
      let jsonUser = out.count
      JSONWriter.write(into: &out) { json in
        json.string(process.user)
        Self.appendJSONOrigin(of: process, into: &json)
      }
      let end = out.count
      entries[pid] = Entry(
        command: Int32(command)..<Int32(jsonCommand), commandWidth: Int32(commandWidth),
        jsonCommand: Int32(jsonCommand)..<Int32(jsonUser), jsonUser: Int32(jsonUser)..<Int32(end))
    }
    var names: [UInt64: Range<Int32>] = [:]
    for (inode, namespace) in namespaces {
      guard let name = namespace.name ?? namespace.container else { continue }
      let start = out.count
      JSONWriter.write(into: &out) { $0.string(name) }
      names[inode] = Int32(start)..<Int32(out.count)
    }
    bytes = out.bytes
    self.entries = entries
    jsonNamespaceNames = names
  }

  /// Appends the command of `pid` as a cell; false when the process was not read.
  func appendCommand(of pid: Int32, into out: inout OutputBuffer) -> Bool {
    guard let entry = entries[pid] else { return false }
    append(entry.command, into: &out)
    return true
  }

  /// The width of the command of `pid` as a table cell; nil when the process was not read.
  func commandWidth(of pid: Int32) -> Int? { entries[pid].map { Int($0.commandWidth) } }

  /// Writes the JSON value of the command of `pid`, `null` when the process was not read.
  func appendJSONCommand(of pid: Int32, into json: inout JSONWriter) {
    if let entry = entries[pid] { append(entry.jsonCommand, into: &json) } else { json.null() }
  }

  /// Writes the JSON value of the user of `pid` (`null` when unknown) and the keys that say
  /// where the process comes from (`ppid`, `unit`, `container`, `container_name`, `exe`, `cmdline`; null when not
  /// read).
  func appendJSONUser(of pid: Int32, into json: inout JSONWriter) {
    if let entry = entries[pid] {
      append(entry.jsonUser, into: &json)
    } else {
      json.null()
      json.field(.ppid, nil)
      json.field(.unit, nil)
      json.field(.container, nil)
      json.field(.containerName, nil)
      json.field(.exe, nil)
      json.field(.cmdline, nil)
    }
  }

  /// Writes the JSON value of the name of namespace `inode`, `null` when it has none.
  func appendJSONNamespaceName(of inode: UInt64, into json: inout JSONWriter) {
    if let range = jsonNamespaceNames[inode] { append(range, into: &json) } else { json.null() }
  }

  /// `"ppid":N,"unit":…,"container":…,"container_name":…,"exe":…,"cmdline":[…]` of a process (the flows' owners
  /// and `proc` write it).
  static func appendJSONOrigin(of process: OwningProcess, into json: inout JSONWriter) {
    json.field(.ppid, Int64(process.ppid))
    json.key(.unit)
    json.string(process.unit)
    json.key(.container)
    json.string(process.container)
    json.key(.containerName)
    json.string(process.containerName)
    // Read only when asked for (-o exe, -o cmdline); bytes that are not UTF-8 are repaired.
    json.key(.exe)
    if let executable = process.executable { json.string(executable) } else { json.null() }
    json.key(.cmdline)
    if let arguments = process.commandLine {
      json.beginArray()
      for argument in arguments { json.string(argument) }
      json.endArray()
    } else {
      json.null()
    }
  }

  private func append(_ range: Range<Int32>, into json: inout JSONWriter) {
    bytes.withUnsafeBufferPointer {
      json.encoded(UnsafeBufferPointer(rebasing: $0[Int(range.lowerBound)..<Int(range.upperBound)]))
    }
  }
  private func append(_ range: Range<Int32>, into out: inout OutputBuffer) {
    bytes.withUnsafeBufferPointer {
      out.append(contentsOf: UnsafeBufferPointer(rebasing: $0[Int(range.lowerBound)..<Int(range.upperBound)]))
    }
  }
}
