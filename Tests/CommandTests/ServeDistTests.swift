import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

// What ships beside `serve`: the Grafana dashboard, the systemd unit's capabilities, and the
// man page's account of the options.

/// The PromQL expressions of dist/grafana-dashboard.json (panels' targets), with Grafana's
/// variables replaced so that Prometheus can run them.
func dashboardExpressions() throws -> (raw: [String], runnable: [String]) {
  let data = try Data(contentsOf: packageRoot.appendingPathComponent("dist/grafana-dashboard.json"))
  let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  let panels = try #require(dashboard["panels"] as? [[String: Any]])
  var raw: [String] = []
  for panel in panels {
    for target in panel["targets"] as? [[String: Any]] ?? [] {
      if let expr = target["expr"] as? String { raw.append(expr) }
    }
  }
  for variable in (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] {
    if variable["type"] as? String == "query", let query = variable["query"] as? String { raw.append(query) }
  }
  let runnable = raw.filter { !$0.hasPrefix("label_values(") }.map {
    $0.replacingOccurrences(of: "$__rate_interval", with: "1m")
      .replacingOccurrences(of: "$instance", with: ".*").replacingOccurrences(of: "$command", with: ".*")
  }
  return (raw, runnable)
}

@Suite struct ServeDistTests {
  @Test func everyMetricTheDashboardQueriesExists() throws {
    let (expressions, _) = try dashboardExpressions()
    #expect(expressions.count >= 8)
    let used = Set(expressions.flatMap { $0.matches(of: /flowscope_[a-z_]+/).map { String($0.output) } })
    #expect(used.count >= 10)
    let exposition = try flowscope("metrics").text
    for name in used {
      #expect(exposition.contains("# TYPE \(name) "), "the dashboard queries \(name), which flowscope does not export")
    }
    // The panels the issue asks for.
    for needed in [
      "flowscope_sockets", "flowscope_sent_bytes_total", "flowscope_fd_usage_ratio", "flowscope_flagged_flows",
    ] {
      #expect(used.contains(needed))
    }
  }

  @Test func everyOptionOfMetricsAndServeIsInTheManPage() throws {
    let manual = try String(contentsOf: packageRoot.appendingPathComponent("man/flowscope.8"), encoding: .utf8)
    for command in ["metrics", "serve"] {
      let help = try flowscope(command, "--help").text
      let options = Set(help.matches(of: /--([a-z0-9][a-z0-9-]*)/).map { String($0.output.1) })
      #expect(options.count > 15)
      for option in options {
        #expect(manual.contains("Fl -\(option)"), "man/flowscope.8 lacks --\(option) (\(command))")
      }
    }
    #expect(manual.contains(".Sh SERVE"))
    #expect(manual.contains("9847"))
    // Every family the exposition has is explained.
    let exposition = try flowscope("metrics").text
    let families = exposition.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map {
      String($0.split(separator: " ")[2])
    }
    #expect(families.count > 15)
    for family in families {
      #expect(manual.contains(family), "man/flowscope.8 does not explain \(family)")
    }
  }

  /// The unit's AmbientCapabilities, as setpriv(1) names them.
  func serviceCapabilities() throws -> [String] {
    let unit = try String(contentsOf: packageRoot.appendingPathComponent("dist/flowscope.service"), encoding: .utf8)
    let line = try #require(unit.split(separator: "\n").first { $0.hasPrefix("AmbientCapabilities=") })
    return line.dropFirst("AmbientCapabilities=".count).split(separator: " ").map {
      "+" + $0.lowercased().replacingOccurrences(of: "cap_", with: "")
    }
  }

  @Test(.enabled(if: runningAsRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
  func theServiceCapabilitiesSeeWhatRootSees() throws {
    let capabilities = try serviceCapabilities().joined(separator: ",")
    #expect(capabilities.contains("net_admin") && capabilities.contains("sys_ptrace"))
    let binary = try BinaryForNobody("service")
    let asService = [
      "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=\(capabilities)",
      "--ambient-caps=\(capabilities)",
    ]
    func unreadable(_ text: String) -> String? {
      text.split(separator: "\n").first { $0.hasPrefix("flowscope_unreadable_processes ") }.map(String.init)
    }
    let root = try flowscope("metrics")
    let service = try run("/usr/bin/setpriv", asService + [binary.path, "metrics"])
    #expect(service.status == 0, "\(service.stderr)")
    #expect(unreadable(service.text) != nil)
    #expect(unreadable(service.text) == unreadable(root.text))
    // Without them, nobody cannot read root's processes.
    let plain = try run(
      "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", binary.path, "metrics"])
    #expect(unreadable(plain.text) != unreadable(root.text))

    // And serve joins the destroy groups with them.
    let port = freeLoopbackPort()
    let serve = try Spawned(
      "/usr/bin/setpriv", asService + [binary.path, "serve", "--listen", "127.0.0.1:\(port)"])
    defer { serve.stop() }
    #expect(serve.wait(seconds: 10) { _, err in err.contains("serving metrics on") })
    #expect(!serve.stderr.contains("destroy groups"), "\(serve.stderr)")
    let body = String(decoding: httpGet(port: port, "/metrics")?.body ?? Data(), as: UTF8.self)
    #expect(body.contains("flowscope_collector_success{collector=\"destroy_events\"} 1\n"))
  }
}
