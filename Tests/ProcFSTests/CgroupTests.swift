import Testing

@testable import ProcFS

/// /proc/<pid>/cgroup as this kind of machine and others write it, and the unit and container
/// read from the path.
@Suite("cgroup paths")
struct CgroupTests {
  /// This machine's hybrid layout: v1 controllers, systemd's named hierarchy, the v2 mount.
  static let hybrid = """
    12:memory:/system.slice/test-web.service
    9:name=systemd:/system.slice/test-web.service
    8:pids:/
    0::/system.slice/test-web.service

    """

  @Test func thePathThatNamesTheServiceIsChosen() {
    #expect(ProcParsers.cgroupPath(ArraySlice(Array(Self.hybrid.utf8))) == "/system.slice/test-web.service")
    // Pure v2.
    #expect(
      ProcParsers.cgroupPath(ArraySlice(Array("0::/user.slice/user-1000.slice/session-3.scope\n".utf8)))
        == "/user.slice/user-1000.slice/session-3.scope")
    // v2 at the root (a process outside any unit there): systemd's hierarchy says more.
    #expect(
      ProcParsers.cgroupPath(ArraySlice(Array("1:name=systemd:/system.slice/cron.service\n0::/\n".utf8)))
        == "/system.slice/cron.service")
    // Only v1 controllers: the first line with a path.
    #expect(
      ProcParsers.cgroupPath(ArraySlice(Array("4:cpu,cpuacct:/docker/abc\n2:pids:/other\n".utf8))) == "/docker/abc")
    #expect(ProcParsers.cgroupPath(ArraySlice(Array("garbage\n".utf8))) == nil)
    #expect(ProcParsers.cgroupPath([]) == nil)
  }

  static let units: [(String, String?)] = [
    ("/system.slice/nginx.service", "nginx.service"),
    ("/user.slice/user-1000.slice/session-3.scope", "session-3.scope"),
    (
      "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-4242.scope",
      "app-gnome-firefox-4242.scope"
    ),
    ("/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service", "syncthing.service"),
    ("/system.slice/docker-0123456789abcdef0123456789abcdef.scope", nil),
    ("/", nil),
    ("/init.scope", "init.scope"),
  ]

  @Test func theUnitIsTheDeepestServiceOrScope() {
    for (path, unit) in Self.units {
      #expect(ProcParsers.systemdUnit(cgroupPath: path) == unit, "\(path)")
    }
  }

  static let containers: [(String, String?)] = [
    ("/system.slice/docker-0123456789abcdef0123456789abcdef.scope", "docker:0123456789ab"),
    ("/docker/0123456789abcdef0123456789abcdef", "docker:0123456789ab"),
    ("/machine.slice/libpod-fedcba9876543210fedcba9876543210.scope/container", "libpod:fedcba987654"),
    (
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b7a9c1e_3f4d_4a5b_9c8d_1e2f3a4b5c6d.slice/cri-containerd-0123456789abcdef0123456789abcdef.scope",
      "k8s:0b7a9c1e-3f4d-4a5b-9c8d-1e2f3a4b5c6d/cri-containerd:0123456789ab"
    ),
    (
      "/kubepods/besteffort/pod0b7a9c1e-3f4d-4a5b-9c8d-1e2f3a4b5c6d/fedcba9876543210fedcba9876543210",
      "k8s:0b7a9c1e-3f4d-4a5b-9c8d-1e2f3a4b5c6d/cri:fedcba987654"
    ),
    (
      "/kubepods.slice/kubepods-pod0b7a9c1e_3f4d_4a5b_9c8d_1e2f3a4b5c6d.slice",
      "k8s:0b7a9c1e-3f4d-4a5b-9c8d-1e2f3a4b5c6d"
    ),
    ("/system.slice/nginx.service", nil),
    ("/user.slice/user-1000.slice/session-3.scope", nil),
  ]

  @Test func containersAndPodsAreNamedByRuntimeAndId() {
    for (path, container) in Self.containers {
      #expect(ProcParsers.containerIdentity(cgroupPath: path) == container, "\(path)")
    }
  }
}
