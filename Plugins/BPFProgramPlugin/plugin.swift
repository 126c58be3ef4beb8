import Foundation
import PackagePlugin

/// Compiles the BPF programs of a target (`bpf/*.bpf.c` in its folder) with the toolchain's clang
/// (`-target bpf -O2 -g`: the `-g` gives the BTF that libbpf's CO-RE relocations need) and turns
/// each object into a Swift source file holding it as a hex string, so that `swift build` alone
/// builds them into the binary: no step for users, no file to install beside the binary.
@main
struct BPFProgramPlugin: BuildToolPlugin {
  /// Each program's file name (without `.bpf.c`), and the Swift constant that holds its object.
  static let programs = [
    ("socket_owners", "socketOwnersObjectHex"),
    ("tcp_sockets", "tcpSocketsObjectHex"),
  ]

  func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
    guard target is SourceModuleTarget else { return [] }
    let clang = try context.tool(named: "clang").url
    // (`SourceModuleTarget.directoryURL` needs tools 6.1; the target sits in Sources/<name>.)
    let folder = context.package.directoryURL.appending(path: "Sources/\(target.name)/bpf")
    let work = context.pluginWorkDirectoryURL
    // One shell command per program: clang, then od(1) writes the object's bytes as hex digits.
    let script = """
      set -e
      "$1" -target bpf -O2 -g -Wall -Werror -c "$2" -o "$3"
      { printf '// Generated from bpf/%s by BPFProgramPlugin: do not edit.\\n' "$(basename "$2")"
        printf 'let %s: StaticString = "' "$5"
        od -An -v -tx1 "$3" | tr -d ' \\n'
        printf '"\\n'; } > "$4.tmp"
      mv "$4.tmp" "$4"
      """
    return Self.programs.map { name, constant in
      let program = folder.appending(path: "\(name).bpf.c")
      let object = work.appending(path: "\(name).bpf.o")
      let swift = work.appending(path: "\(constant).swift")
      return .buildCommand(
        displayName: "Compiling BPF program \(name).bpf.c",
        executable: URL(filePath: "/bin/sh"),
        arguments: ["-c", script, "sh", clang.path, program.path, object.path, swift.path, constant],
        inputFiles: [program],
        outputFiles: [swift])
    }
  }
}
