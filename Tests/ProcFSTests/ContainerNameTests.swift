import Foundation
import Testing

@testable import ProcFS

/// Container names from the files the runtimes keep: the parsers on files shaped as docker,
/// podman and the kubelet write them, and the reader on a directory tree laid out like a host.
@Suite("container names")
struct ContainerNameTests {
  static let dockerID = "4f2b9c0d1e3a5b7c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"
  static let podmanID = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9"
  static let criID = "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc"
  static let podUID = "0b7a9c1e-3f4d-4a5b-9c8d-1e2f3a4b5c6d"

  /// A docker `config.v2.json`, trimmed: the real file is one line; a volume's `"Name"` is
  /// nested before the container's own, which is the only top-level one.
  static let dockerConfig = """
    {"StreamConfig":{},"State":{"Running":true,"Paused":false,"Pid":4242,"ExitCode":0,\
    "StartedAt":"2026-12-01T10:00:00.123456789Z"},"ID":"\(dockerID)",\
    "Created":"2026-12-01T09:59:59.5Z","Managed":false,"Path":"nginx","Args":["-g","daemon off;"],\
    "Config":{"Hostname":"4f2b9c0d1e3a","Env":["PATH=/usr/bin"],"Cmd":null,"Labels":{"a\\"b":"c\\\\d"}},\
    "MountPoints":{"/data":{"Source":"","Destination":"/data","RW":true,"Name":"volume-7",\
    "Driver":"local","Type":"volume"}},\
    "Name":"/web-\\u00e9t\\u00e9","Driver":"overlay2","RestartCount":0,"HasBeenStartedBefore":true,\
    "SizeRw":-1.5e3}
    """

  /// Podman's `overlay-containers/containers.json`: every container of the storage.
  static let podmanContainers = """
    [{"id":"1111111111111111111111111111111111111111111111111111111111111111",\
    "names":["other"],"image":"aa","layer":"bb","metadata":"{}","created":"2026-12-01T09:00:00Z"},
     {"id":"\(podmanID)","names":["db","db-alias"],"image":"cc","layer":"dd",\
    "metadata":"{\\"image-name\\":\\"postgres\\"}","created":"2026-12-01T09:30:00Z","flags":{"MountLabel":""}}]
    """

  @Test func dockerNamesTheContainerAtTheTopLevelOnly() {
    #expect(ContainerNameParsers.dockerName(configV2: Array(Self.dockerConfig.utf8)) == "web-été")
    #expect(ContainerNameParsers.dockerName(configV2: Array(#"{"Name":"/"}"#.utf8)) == nil)
    #expect(ContainerNameParsers.dockerName(configV2: Array(#"{"Config":{"Name":"x"}}"#.utf8)) == nil)
    // Cut anywhere, the file is no JSON and names nothing: never a crash.
    let bytes = Array(Self.dockerConfig.utf8)
    for cut in stride(from: 0, to: bytes.count - 1, by: 7) {
      #expect(ContainerNameParsers.dockerName(configV2: Array(bytes[0..<cut])) == nil)
    }
  }

  @Test func podmanNamesByIdWithTheFirstName() {
    let bytes = Array(Self.podmanContainers.utf8)
    #expect(ContainerNameParsers.podmanName(containersJSON: bytes, id: Self.podmanID) == "db")
    #expect(ContainerNameParsers.podmanName(containersJSON: bytes, id: String(repeating: "1", count: 64)) == "other")
    #expect(ContainerNameParsers.podmanName(containersJSON: bytes, id: Self.dockerID) == nil)
  }

  @Test func kubeletLogNamesGiveNamespacePodAndContainer() {
    let links = [
      "coredns-5d78c9869d-abcde_kube-system_coredns-\(Self.dockerID).log",
      "api-7d9f8b6c5-x2x9q_shop_app-\(Self.criID).log",
    ]
    #expect(
      ContainerNameParsers.kubernetesContainerName(logFileNames: links, id: Self.criID)
        == "shop/api-7d9f8b6c5-x2x9q/app")
    #expect(ContainerNameParsers.kubernetesContainerName(logFileNames: links, id: Self.podmanID) == nil)
    // A name with the wrong number of parts is not guessed at.
    #expect(
      ContainerNameParsers.kubernetesContainerName(logFileNames: ["a_b-\(Self.criID).log"], id: Self.criID) == nil)
    #expect(
      ContainerNameParsers.kubernetesPodName(
        podDirectoryNames: ["shop_api-7d9f8b6c5-x2x9q_\(Self.podUID)", "x_y_z"], uid: Self.podUID)
        == "shop/api-7d9f8b6c5-x2x9q")
  }

  @Test func tinyJSONReadsEscapesAndRefusesWhatIsNotJSON() {
    #expect(
      TinyJSON.parse(Array(#" "a\"\\\/\b\f\n\r\t\u0041\ud83d\ude00" "#.utf8)) == .string("a\"\\/\u{8}\u{c}\n\r\tA😀"))
    // A lone surrogate becomes U+FFFD rather than an invalid string.
    #expect(TinyJSON.parse(Array(#""\ud800x""#.utf8)) == .string("\u{FFFD}x"))
    #expect(
      TinyJSON.parse(Array(#"{"a":[1,true,null,{}],"b":[]}"#.utf8))
        == .object([
          ("a", .array([.scalar, .scalar, .scalar, .object([])])), ("b", .array([])),
        ]))
    for bad in [
      "", "{", "}", "[1,]", "{\"a\"}", "{\"a\":}", "\"abc", "\"a\u{1}\"", "\"\\x\"", "\"\\u12\"", "[1] 2", "{1:2}",
    ] {
      #expect(TinyJSON.parse(Array(bad.utf8)) == nil, "\(bad)")
    }
    // Nesting is bounded: a deep file is refused, not a stack overflow.
    let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
    #expect(TinyJSON.parse(Array(deep.utf8)) == nil)
    let shallow = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
    #expect(TinyJSON.parse(Array(shallow.utf8)) != nil)
  }

  @Test func cgroupPathsKeepTheWholeId() {
    let docker = ProcParsers.containerReference(cgroupPath: "/system.slice/docker-\(Self.dockerID).scope")
    #expect(docker == ContainerReference(runtime: "docker", id: Self.dockerID, podUID: nil))
    #expect(docker?.identity == "docker:4f2b9c0d1e3a")
    let pod = ProcParsers.containerReference(
      cgroupPath: "/kubepods/besteffort/pod\(Self.podUID)/\(Self.criID)")
    #expect(pod == ContainerReference(runtime: "cri", id: Self.criID, podUID: Self.podUID))
    #expect(pod?.identity == "k8s:\(Self.podUID)/cri:c0ffee001122")
  }

  /// A directory laid out like a host's root with docker, podman and kubelet files.
  @Test func namesAreReadFromARootLaidOutLikeAHost() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("flowscope-root-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    func write(_ path: String, _ text: String) throws {
      let url = URL(fileURLWithPath: root + path)
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try text.write(to: url, atomically: false, encoding: .utf8)
    }
    try write("/var/lib/docker/containers/\(Self.dockerID)/config.v2.json", Self.dockerConfig)
    try write("/var/lib/containers/storage/overlay-containers/containers.json", Self.podmanContainers)
    try write("/var/log/containers/api-7d9f8b6c5-x2x9q_shop_app-\(Self.criID).log", "")
    try FileManager.default.createDirectory(
      atPath: root + "/var/log/pods/shop_api-7d9f8b6c5-x2x9q_\(Self.podUID)", withIntermediateDirectories: true)

    let names = ContainerNames(root: root + "/")
    #expect(names.name(of: ContainerReference(runtime: "docker", id: Self.dockerID, podUID: nil)) == "web-été")
    #expect(names.name(of: ContainerReference(runtime: "libpod", id: Self.podmanID, podUID: nil)) == "db")
    #expect(
      names.name(of: ContainerReference(runtime: "cri-containerd", id: Self.criID, podUID: Self.podUID))
        == "shop/api-7d9f8b6c5-x2x9q/app")
    // The pod's own cgroup (a pause process, or a container the kubelet keeps no link for).
    #expect(
      names.name(of: ContainerReference(runtime: nil, id: nil, podUID: Self.podUID)) == "shop/api-7d9f8b6c5-x2x9q")
    // Unknown ids, runtimes without such files, and ids that are no path component.
    #expect(names.name(of: ContainerReference(runtime: "docker", id: Self.podmanID, podUID: nil)) == nil)
    #expect(names.name(of: ContainerReference(runtime: "crio", id: Self.criID, podUID: nil)) == nil)
    #expect(names.name(of: ContainerReference(runtime: "docker", id: "../../../etc", podUID: nil)) == nil)
    #expect(
      ContainerNames(root: "/nonexistent-\(getpid())").name(
        of: ContainerReference(runtime: "docker", id: Self.dockerID, podUID: nil)) == nil)
  }
}
