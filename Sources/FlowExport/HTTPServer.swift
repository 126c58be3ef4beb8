import NIOCore
import NIOHTTP1
import NIOPosix

// The endpoint of `flowscope serve`: SwiftNIO's HTTP/1 server (no framework on top). `/metrics`
// gives the exposition (OpenMetrics when the scraper's Accept header asks for it), `/` a short
// page that links to it; anything else 404. Scrapes run their collection off the event loop.

public final class MetricsHTTPServer: Sendable {
  private let exporter: MetricsExporter
  private let group: MultiThreadedEventLoopGroup
  private let pool: NIOThreadPool
  private let channel: Channel

  /// The address it listens on, as bound (the port chosen when 0 was asked).
  public var localAddress: String {
    guard let address = channel.localAddress else { return "?" }
    let host = address.ipAddress ?? "?"
    let port = address.port ?? 0
    return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
  }

  /// Binds `host:port`; throws when the address is taken or not allowed.
  public init(exporter: MetricsExporter, host: String, port: Int) throws {
    self.exporter = exporter
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    pool = NIOThreadPool(numberOfThreads: 2)
    pool.start()
    let pool = self.pool
    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(ChannelOptions.backlog, value: 64)
      .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
          try channel.pipeline.syncOperations.addHandler(MetricsHandler(exporter: exporter, pool: pool))
        }
      }
      .childChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    do {
      channel = try bootstrap.bind(host: host, port: port).wait()
    } catch {
      try? pool.syncShutdownGracefully()
      try? group.syncShutdownGracefully()
      throw error
    }
  }

  /// Serves until the channel closes (`stop`, or a signal ending the process).
  public func wait() throws {
    try channel.closeFuture.wait()
  }

  public func stop() {
    try? channel.close().wait()
    try? pool.syncShutdownGracefully()
    try? group.syncShutdownGracefully()
  }
}

final class MetricsHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let exporter: MetricsExporter
  private let pool: NIOThreadPool
  private var request: HTTPRequestHead?

  init(exporter: MetricsExporter, pool: NIOThreadPool) {
    self.exporter = exporter
    self.pool = pool
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head): request = head
    case .body: break
    case .end:
      guard let head = request else { return }
      request = nil
      handle(head, context: context)
    }
  }

  private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
    let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
    guard head.method == .GET || head.method == .HEAD else {
      respond(
        context, head, status: .methodNotAllowed, type: "text/plain; charset=utf-8", body: Array("GET only\n".utf8))
      return
    }
    switch path {
    case "/metrics":
      let format = ExpositionFormat.negotiate(accept: head.headers["accept"].joined(separator: ","))
      let exporter = self.exporter
      let future = pool.runIfActive(eventLoop: context.eventLoop) { exporter.scrape(format) }
      future.assumeIsolated().whenComplete { result in
        switch result {
        case .success(let body):
          self.respond(context, head, status: .ok, type: format.contentType, body: body)
        case .failure:
          self.respond(
            context, head, status: .serviceUnavailable, type: "text/plain; charset=utf-8",
            body: Array("shutting down\n".utf8))
        }
      }
    case "/":
      respond(context, head, status: .ok, type: "text/html; charset=utf-8", body: Array(Self.indexPage.utf8))
    default:
      respond(
        context, head, status: .notFound, type: "text/plain; charset=utf-8",
        body: Array("not found; try /metrics\n".utf8))
    }
  }

  private func respond(
    _ context: ChannelHandlerContext, _ request: HTTPRequestHead, status: HTTPResponseStatus, type: String,
    body: [UInt8]
  ) {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: type)
    headers.add(name: "Content-Length", value: String(body.count))
    let keepAlive = request.isKeepAlive
    if !keepAlive { headers.add(name: "Connection", value: "close") }
    let head = HTTPResponseHead(version: request.version, status: status, headers: headers)
    context.write(wrapOutboundOut(.head(head)), promise: nil)
    if request.method != .HEAD {
      var buffer = context.channel.allocator.buffer(capacity: body.count)
      buffer.writeBytes(body)
      context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }
    let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
    if !keepAlive {
      done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
  }

  static let indexPage = """
    <!DOCTYPE html>
    <html><head><meta charset="utf-8"><title>flowscope</title></head>
    <body><h1>flowscope</h1>
    <p>Per-process network metrics for Prometheus: <a href="/metrics">/metrics</a>.</p>
    <p>See <code>man flowscope</code>, section SERVE.</p>
    </body></html>

    """
}
