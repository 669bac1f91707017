#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPTypes
public import HummingbirdCore
public import Logging
public import NIOCore
import NIOHTTPTypes
import Synchronization
import UserPorts

/// The time limits and the bound on open connections of the HTTP/1.1 server.
///
/// - ``idleTimeout``: how long a connection may wait without a request, before its first byte and between
///   requests of a keep-alive connection; then it is closed without a response (RFC 9112, section 9.5).
/// - ``requestHeadTimeout``: how long a request head may take to arrive once its first byte has: a client
///   that sends a header byte every few seconds (slowloris) is answered 408 and closed at this limit,
///   counted from the first byte, not from the last one.
/// - ``requestBodyTimeout``: how long a request body may take to arrive once its head has: a client that
///   stops sending a body (or trickles it) is answered 408 and closed at this limit, so stalled uploads can't
///   hold connections.
/// - ``maximumConnections``: how many connections are open at most. See `HTTPServerBuilder.limitedHTTP1(_:logger:)`
///   for what happens at the bound.
public struct HTTPConnectionLimits: Sendable, Hashable {
    /// How long a connection may wait for a request (before its first byte, and between requests).
    public var idleTimeout: Duration
    /// How long the head of a request may take to arrive, from its first byte.
    public var requestHeadTimeout: Duration
    /// How long the body of a request may take to arrive, from its head.
    public var requestBodyTimeout: Duration
    /// The most connections open at once.
    public var maximumConnections: Int

    /// File descriptors ``effectiveMaximumConnections(openFileLimit:)`` keeps for the rest of the process
    /// (store files and connections, the event loops' epoll and event descriptors, log files).
    public static let reservedFileDescriptors = 128

    /// Creates limits.
    ///
    /// The idle timeout's default, 75 s, is longer than the 60 s idle timeout of common load balancers, so
    /// that the balancer, not this server, closes an unused connection (when the server closes first, the
    /// balancer may send a request down a connection that is being closed).
    public init(
        idleTimeout: Duration = .seconds(75), requestHeadTimeout: Duration = .seconds(10),
        requestBodyTimeout: Duration = .seconds(30), maximumConnections: Int = 1024
    ) {
        self.idleTimeout = idleTimeout
        self.requestHeadTimeout = requestHeadTimeout
        self.requestBodyTimeout = requestBodyTimeout
        self.maximumConnections = maximumConnections
    }

    /// The process's soft limit on open files (`RLIMIT_NOFILE`), `nil` when unlimited or unknown.
    public static func openFileLimit() -> Int? {
        var limit = rlimit()
        #if os(Linux)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        // RLIM_INFINITY is all ones on Linux, 2^63 - 1 on Darwin: either way not below Int.max.
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < rlim_t(Int.max) else {
            return nil
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// The bound the server applies: ``maximumConnections``, lowered to leave
    /// ``reservedFileDescriptors`` of the open-file limit for the rest of the process (at least 1).
    ///
    /// Connections then never exhaust the file descriptors: `accept` does not fail with `EMFILE`. When it
    /// does all the same (something else used them up), ``pauseAcceptingWhenOutOfDescriptors(_:pause:logger:)``
    /// keeps the event loop from spinning on it.
    public func effectiveMaximumConnections(openFileLimit: Int? = Self.openFileLimit()) -> Int {
        guard let openFileLimit else { return maximumConnections }
        return max(1, min(maximumConnections, openFileLimit - Self.reservedFileDescriptors))
    }
}

extension HTTPConnectionLimits {
    /// Makes the listening channel stop accepting for `pause` when `accept` fails for want of file
    /// descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), then try again; for `Application`'s
    /// `onServerRunning`.
    ///
    /// Without it the server spins: NIO's server socket channel keeps the listening socket registered for
    /// reading after a failed accept (its pending read is not cleared), so epoll reports the waiting
    /// connections at once and `accept` fails again — `strace` on `users serve` under `ulimit -n 1024` with
    /// 1,100 idle connections counted 24,635 failed `accept4` and as many `epoll_wait` in 5 s, one core at
    /// 100 %. The `AcceptBackoffHandler` that `ServerBootstrap` installs delays the next `read()`, but none
    /// comes. Turning `autoRead` off unregisters the socket from epoll; turning it back on reads again.
    public static func pauseAcceptingWhenOutOfDescriptors(
        _ serverChannel: any Channel, pause: TimeAmount = .seconds(1), logger: Logger
    ) async {
        try? await serverChannel.eventLoop.submit {
            try serverChannel.pipeline.syncOperations.addHandler(
                AcceptPauseHandler(pause: pause, logger: logger), position: .first)
        }.get()
    }
}

/// See ``HTTPConnectionLimits/pauseAcceptingWhenOutOfDescriptors(_:pause:logger:)``. It sits first in the server
/// channel's pipeline, so it sees the error before `ServerBootstrap`'s `AcceptBackoffHandler` swallows it.
final class AcceptPauseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let pause: TimeAmount
    private let logger: Logger
    private var paused = false

    init(pause: TimeAmount, logger: Logger) {
        self.pause = pause
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !paused, let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode),
            let options = context.channel.syncOptions, (try? options.setOption(.autoRead, value: false)) != nil
        {
            paused = true
            logger.warning(
                "accept failed: out of file descriptors; not accepting for a moment",
                metadata: ["error": "\(error)", "pause.ms": "\(pause.nanoseconds / 1_000_000)"])
            context.eventLoop.assumeIsolated().scheduleTask(in: pause) { [self] in
                self.paused = false
                try? context.channel.syncOptions?.setOption(.autoRead, value: true)
            }
        }
        context.fireErrorCaught(error)
    }
}

@available(*, unavailable)
extension AcceptPauseHandler: Sendable {}

extension HTTPServerBuilder {
    /// Hummingbird's HTTP/1.1 server, with the idle and request-head time limits and the connection bound of
    /// `limits`.
    ///
    /// At the bound, a new connection is still accepted and the connection that has waited longest for a
    /// request (idle between requests, or still sending a head), one with no request being handled, is
    /// closed for it. When every connection has a request in flight, the new connection is closed at once.
    ///
    /// Why not Hummingbird's `MaximumAvailableConnections`: it stops accepting at the bound, so a new client
    /// waits in the listen backlog until some connection closes; with the bound filled by idle connections
    /// (or slowloris ones), an ordinary request waits for an idle timeout, which is what an attacker wants.
    /// Reserving headroom instead only moves the bound: the reserve fills the same way. Evicting the
    /// longest-waiting connection keeps the file descriptors bounded and always serves the newest client;
    /// an evicted keep-alive client sees its idle connection closed, which HTTP/1.1 clients must expect
    /// anyway (RFC 9112, section 9.5) and retry on a new one. Under a flood of new connections, a client's
    /// new connection survives at least until the bound's worth of newer ones arrived, and once it has sent
    /// its request head it is not evicted while it is answered. A connection still receiving a request body
    /// can be evicted too, but only when no connection waits for a request: the one whose body began
    /// longest ago goes first (with the body timeout, stalled uploads can't fill the bound).
    ///
    /// - Parameters:
    ///   - limits: the time limits and the connection bound.
    ///   - logger: where closed and refused connections are logged (at `debug`).
    public static func limitedHTTP1(_ limits: HTTPConnectionLimits, logger: Logger) -> HTTPServerBuilder {
        .init { responder in
            LimitedHTTP1Channel(responder: responder, limits: limits, logger: logger)
        }
    }
}

/// `HTTP1Channel` with a ``ConnectionGuardHandler`` after its HTTP codec and a ``RequestByteObserver``
/// before its decoder.
struct LimitedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let registry: ConnectionRegistry

    init(responder: @escaping HTTPChannelHandler.Responder, limits: HTTPConnectionLimits, logger: Logger) {
        let registry = ConnectionRegistry(maximum: limits.effectiveMaximumConnections(), logger: logger)
        let timeouts = ConnectionGuardHandler.Timeouts(
            idle: TimeAmount(limits.idleTimeout), head: TimeAmount(limits.requestHeadTimeout),
            body: TimeAmount(limits.requestBodyTimeout))
        // Hummingbird's own idle timeout (HTTPConnectionStateHandler) stays off: it cannot tell waiting for a
        // request from receiving a head (it sees decoded parts, not bytes), and its state is not visible to
        // the registry, which must know which connections are idle.
        self.http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(
                additionalChannelHandlers: [ConnectionGuardHandler(timeouts: timeouts, registry: registry, logger: logger)]
            ))
        self.registry = registry
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // The decoder hides bytes until a head is complete: the observer in front of it tells the guard
            // when a request starts to arrive.
            let pipeline = channel.pipeline.syncOperations
            let guardHandler = try pipeline.handler(type: ConnectionGuardHandler.self)
            try pipeline.addHandler(RequestByteObserver(guardHandler), position: .first)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}
