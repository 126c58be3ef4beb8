// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "flowscope",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "flowscope", targets: ["flowscope"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    // The HTTP/1 server of `flowscope serve` (NIOHTTP1 alone: no framework on top, see README).
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
  ],
  targets: [
    // libmnl and the linux/*diag.h headers, with inline shims for what Swift cannot import.
    .systemLibrary(
      name: "CMnl",
      pkgConfig: "libmnl",
      providers: [.apt(["libmnl-dev"])]
    ),
    // libbpf, to load and run the BPF task-file iterator of BPFOwners.
    .systemLibrary(
      name: "CBPF",
      pkgConfig: "libbpf",
      providers: [.apt(["libbpf-dev"])]
    ),
    // Compiles BPFOwners' BPF program (bpf/*.bpf.c) at build time into a Swift byte string.
    .plugin(name: "BPFProgramPlugin", capability: .buildTool()),
    // Pure decoding and request encoding of netlink sock_diag messages: no I/O.
    .target(name: "SockDiag"),
    // The netlink socket, dumps, record and replay of raw replies.
    .target(name: "NetlinkTransport", dependencies: ["SockDiag", "CMnl"]),
    // /proc parsers (pure) and the fd scanner (I/O).
    .target(name: "ProcFS", dependencies: [.product(name: "SystemPackage", package: "swift-system")]),
    // Socket owners from a BPF task-file iterator: every process's socket descriptors in one
    // pass in the kernel, in place of a readlinkat per /proc/<pid>/fd entry (as root).
    .target(
      name: "BPFOwners", dependencies: ["CBPF", "ProcFS"], exclude: ["bpf"],
      plugins: ["BPFProgramPlugin"]),
    // The vocabulary shared by collection and rendering.
    .target(name: "FlowModel"),
    // The query language: lexer, parser, typed tree, evaluator, and the plan of what the
    // kernel can filter. Pure: no I/O, fuzzed like the decoders.
    .target(name: "FlowQuery", dependencies: ["FlowModel", "SockDiag"]),
    // The recording format of `flowscope record` (FSREC2) and ss's raw dumps: encoding and
    // decoding, no I/O; fuzzed like the decoders.
    .target(name: "FlowRecording", dependencies: ["FlowModel", "SockDiag"]),
    // signalfd(2), which the Glibc module leaves out.
    .systemLibrary(name: "CSignalFD"),
    // Signals as a descriptor to poll (signalfd), for the loops that wait on sockets.
    .target(name: "FlowSignals", dependencies: ["CSignalFD"]),
    // Collection: which families to ask, the join by inode, per namespace.
    .target(
      name: "FlowInspector",
      dependencies: [
        "SockDiag", "NetlinkTransport", "ProcFS", "BPFOwners", "FlowModel", "FlowQuery", "FlowRecording",
        "FlowSignals",
      ]
    ),
    // kill: the guards, the confirmation, and what each socket's SOCK_DESTROY answer means.
    .target(name: "FlowKill", dependencies: ["FlowModel", "FlowQuery", "FlowInspector"]),
    // Renderers: table, JSON, NDJSON and CSV of flows, processes and findings, the watch screen.
    .target(name: "FlowRender", dependencies: ["FlowModel", "FlowTerminal"]),
    // The metrics exporter: grouping, counters kept across closes, the exposition writer, and
    // the HTTP endpoint of `flowscope serve`.
    .target(
      name: "FlowExport",
      dependencies: [
        "FlowModel", "FlowInspector", "FlowQuery", "FlowRender", "NetlinkTransport", "SockDiag",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
      ]
    ),
    // The watch screen's terminal: raw mode, alternate screen, size, signals, key decoding.
    .target(name: "FlowTerminal"),
    .executableTarget(
      name: "flowscope",
      dependencies: [
        "FlowInspector", "FlowRender", "FlowModel", "FlowTerminal", "FlowKill", "FlowQuery", "FlowRecording",
        "FlowExport", "NetlinkTransport", "SockDiag", "ProcFS",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .testTarget(name: "SockDiagTests", dependencies: ["SockDiag"], resources: [.copy("Fixtures")]),
    .testTarget(name: "ProcFSTests", dependencies: ["ProcFS"]),
    .testTarget(name: "BPFOwnersTests", dependencies: ["BPFOwners", "ProcFS"]),
    .testTarget(name: "NetlinkTransportTests", dependencies: ["NetlinkTransport", "SockDiag"]),
    .testTarget(name: "FlowModelTests", dependencies: ["FlowModel"]),
    .testTarget(name: "FlowQueryTests", dependencies: ["FlowQuery", "FlowModel", "SockDiag"]),
    .testTarget(name: "FlowRecordingTests", dependencies: ["FlowRecording", "FlowModel", "SockDiag"]),
    .testTarget(
      name: "FlowExportTests",
      dependencies: ["FlowExport", "FlowModel", "FlowInspector", "FlowQuery", "SockDiag"]),
    .testTarget(name: "FlowTerminalTests", dependencies: ["FlowTerminal"]),
    .testTarget(name: "FlowSignalsTests", dependencies: ["FlowSignals"]),
    .testTarget(
      name: "FlowKillTests", dependencies: ["FlowKill", "FlowModel", "FlowQuery", "FlowInspector", "ProcFS"]),
    .testTarget(
      name: "FlowInspectorTests",
      dependencies: [
        "FlowInspector", "NetlinkTransport", "SockDiag", "ProcFS", "FlowModel", "FlowQuery", "FlowRecording",
      ]
    ),
    .testTarget(
      name: "FlowRenderTests", dependencies: ["FlowRender", "FlowModel", "FlowTerminal", "SchemaCheck"],
      exclude: ["Golden"]),
    // Runs the built `flowscope` binary as a user would.
    .testTarget(
      name: "CommandTests", dependencies: ["flowscope", "SchemaCheck"],
      exclude: ["Fixtures", "Golden"]),
    // Checks JSON output against docs/flowscope.schema.json; shared by the test targets.
    .target(name: "SchemaCheck", path: "Tests/Support/SchemaCheck"),
  ],
  swiftLanguageModes: [.v6]
)
