import Foundation
import PackagePlugin

/// Compiles the BPF program of a target (`bpf/*.bpf.c` in its folder) with the toolchain's clang
/// (`-target bpf -O2 -g`: the `-g` gives the BTF that libbpf's CO-RE relocations need) and turns
/// the object into a Swift source file holding it as a hex string, so that `swift build` alone
/// builds it into the binary: no step for users, no file to install beside the binary.
@main
struct BPFProgramPlugin: BuildToolPlugin {
  func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
    guard let target = target as? SourceModuleTarget else { return [] }
    let clang = try context.tool(named: "clang").url
    // (`SourceModuleTarget.directoryURL` needs tools 6.1; the target sits in Sources/<name>.)
    let folder = context.package.directoryURL.appending(path: "Sources/\(target.name)/bpf")
    let program = folder.appending(path: "socket_owners.bpf.c")
    let work = context.pluginWorkDirectoryURL
    let object = work.appending(path: "socket_owners.bpf.o")
    let swift = work.appending(path: "SocketOwnersObject.swift")
    // One shell command: clang, then od(1) writes the object's bytes as hex digits.
    let script = """
      set -e
      "$1" -target bpf -O2 -g -Wall -Werror -c "$2" -o "$3"
      { printf '// Generated from bpf/socket_owners.bpf.c by BPFProgramPlugin: do not edit.\\n'
        printf 'let socketOwnersObjectHex: StaticString = "'
        od -An -v -tx1 "$3" | tr -d ' \\n'
        printf '"\\n'; } > "$4.tmp"
      mv "$4.tmp" "$4"
      """
    return [
      .buildCommand(
        displayName: "Compiling BPF program socket_owners.bpf.c",
        executable: URL(filePath: "/bin/sh"),
        arguments: ["-c", script, "sh", clang.path, program.path, object.path, swift.path],
        inputFiles: [program],
        outputFiles: [swift])
    ]
  }
}
