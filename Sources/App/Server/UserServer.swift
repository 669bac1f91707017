public import UserAppCore
public import Hummingbird
public import NIOCore
public import Logging
import Metrics
public import Prometheus
import ServiceLifecycle
import UnixSignals
import UserHTTP
import UserPorts
import UserRabbitMQ
public import ServiceSupport

/// `users serve`: the HTTP service over a `UserSystem`, with graceful shutdown.
public enum UserServer {
    /// The Prometheus registry behind swift-metrics in this process: installed as the `MetricsSystem` backend
    /// the first time it is read (``run(configuration:logger:)`` reads it). An application that bootstraps
    /// its own metrics backend must not read it: swift-metrics can be bootstrapped only once per process.
    public static var prometheus: PrometheusCollectorRegistry { ServiceMetrics.prometheus }

    /// Builds the Hummingbird application for a system: HTTP/1.1 with the idle and request-head time limits and
    /// the connection bound of ``UserAppConfiguration/connections`` (see `HTTPServerBuilder.limitedHTTP1`).
    ///
    /// - Parameters:
    ///   - system: the use cases and the directory the routes serve.
    ///   - configuration: the address, the API's rules, the connection limits and the tokens.
    ///   - logger: the server's logger (access lines, connection events).
    ///   - metrics: the registry `GET /metrics` serves; no `/metrics` route without it.
    ///   - onServerRunning: called once the server's socket is bound and listening.
    public static func application<Store>(
        system: UserSystem<Store>, configuration: UserAppConfiguration, logger: Logger,
        metrics: PrometheusCollectorRegistry? = nil,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        var exposition: (@Sendable () -> [UInt8])?
        if let metrics { exposition = { metrics.emitToBuffer() } }
        let api = UserAPI(
            service: system.users, configuration: configuration.http,
            readiness: { _ = try await system.store.page(after: nil, limit: 1) }, metrics: exposition,
            directory: system.directory
        ).servingEvents(from: system.store)
        .reportingHealth { [broker = system.publisher as? RabbitMQPublisher] in
            guard let broker else { return [:] }
            return ["publisher": broker.status.phase.rawValue]
        }
        let limits = configuration.connections
        let bound = limits.effectiveMaximumConnections()
        if bound < limits.maximumConnections {
            logger.warning(
                "users.http.maxConnections lowered below the open-file limit",
                metadata: [
                    "configured": "\(limits.maximumConnections)", "applied": "\(bound)",
                    "openFileLimit": "\(HTTPConnectionLimits.openFileLimit().map(String.init) ?? "unlimited")",
                ])
        }
        return Application(
            router: api.makeRouter(tokens: configuration.apiTokens),
            server: .limitedHTTP1(limits, logger: logger),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "users"),
            onServerRunning: { channel in
                await HTTPConnectionLimits.pauseAcceptingWhenOutOfDescriptors(channel, logger: logger)
                await onServerRunning(channel)
            },
            logger: logger)
    }

    /// Runs the HTTP server and the relay until SIGINT or SIGTERM: in-flight requests finish, the relay stops
    /// after its current batch, then the store closes.
    ///
    /// The host is resolved first, and the server binds the numeric address it resolved to. Without API
    /// tokens, every address the host resolves to must be loopback (127.0.0.0/8 or `::1`): an
    /// unauthenticated user service is served to this machine only. "users serve listening" is logged once
    /// the socket is bound.
    ///
    /// - Throws: `ConfigurationError` for `users.host` when the host does not resolve, or resolves to an
    ///   address beyond loopback without API tokens; the store's `UserStoreError` when it can't be opened;
    ///   `ListenError` when the address can't be bound (in use, not permitted).
    public static func run(configuration: UserAppConfiguration, logger: Logger) async throws {
        var configuration = configuration
        let addresses = await ServiceSupport.BindAddress.resolve(configuration.host)
        guard let address = addresses.first else {
            throw ConfigurationError(
                key: "users.host", "The host \(configuration.host) (users.host) does not resolve to an address.")
        }
        if configuration.apiTokens.isEmpty {
            guard addresses.allSatisfy(\.isLoopback) else {
                throw ConfigurationError(
                    key: "users.host",
                    "Refusing to serve on \(configuration.host) without API tokens: it resolves to "
                        + "\(addresses.filter { !$0.isLoopback }.map(\.numeric).joined(separator: ", ")), beyond "
                        + "loopback. Set USERS_API_TOKENS (or users.apiTokensFile), or bind 127.0.0.1.")
            }
            logger.warning(
                "no API tokens configured: serving without authentication, on loopback only",
                metadata: ["host": "\(configuration.host)"])
        }
        let requested = "\(configuration.host):\(configuration.port)"
        configuration.host = address.numeric
        let registry = prometheus
        let store = try await AnyUserStore.open(
            configuration.store, options: configuration.storeOptions, logger: logger)
        do {
            // The store is opened into its own type: the use cases, the API and the relay are specialised for
            // it, with no forwarding through AnyUserStore on any request.
            try await serve(
                store.base, configuration: configuration, requested: requested, registry: registry, logger: logger)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    private static func serve<Store: UserStore>(
        _ store: Store, configuration: UserAppConfiguration, requested: String, registry: PrometheusCollectorRegistry,
        logger: Logger
    ) async throws {
        let system = try UserSystem(
            store: store, events: configuration.publisher, options: configuration.systemOptions, logger: logger)
        let listening = Locked(false)
        let location = configuration.store.description
        let app = application(
            system: system, configuration: configuration, logger: logger, metrics: registry,
            onServerRunning: { channel in
                listening.withLock { $0 = true }
                var bound = requested
                if let local = channel.localAddress, let ip = local.ipAddress, let port = local.port {
                    bound = ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
                }
                logger.info("users serve listening", metadata: ["address": "\(bound)", "store": "\(location)"])
            })
        // Services shut down in reverse order: the server first (no new requests), then the relay and the
        // projection.
        let group = ServiceGroup(
            configuration: .init(
                services: system.services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
                    + [.init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            await system.close()
            if error is IOError, !listening.withLock({ $0 }) {
                throw ListenError(address: requested, underlying: error)
            }
            throw error
        }
        await system.close()
    }

    /// The address could not be bound (in use, not permitted).
    public typealias ListenError = ServiceSupport.ListenError
}
