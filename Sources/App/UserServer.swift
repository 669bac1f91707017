public import Hummingbird
public import Logging
import Metrics
public import Prometheus
import ServiceLifecycle
import UnixSignals
import UserHTTP
import UserPorts

/// `users serve`: the HTTP service over a ``UserSystem``, with graceful shutdown.
public enum UserServer {
    /// The Prometheus registry behind swift-metrics in this process: installed as the `MetricsSystem` backend
    /// the first time it is read (``run(configuration:logger:)`` reads it). An application that bootstraps
    /// its own metrics backend must not read it: swift-metrics can be bootstrapped only once per process.
    public static let prometheus: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// Builds the Hummingbird application for a system: HTTP/1.1 with the idle and request-head time limits and
    /// the connection bound of ``UserAppConfiguration/connections`` (see `HTTPServerBuilder.limitedHTTP1`).
    ///
    /// - Parameter metrics: the registry `GET /metrics` serves; no `/metrics` route without it.
    public static func application(
        system: UserSystem, configuration: UserAppConfiguration, logger: Logger,
        metrics: PrometheusCollectorRegistry? = nil
    ) -> some ApplicationProtocol {
        var exposition: (@Sendable () -> [UInt8])?
        if let metrics { exposition = { metrics.emitToBuffer() } }
        let api = UserAPI(
            service: system.users, configuration: configuration.http,
            readiness: { _ = try await system.store.page(after: nil, limit: 1) }, metrics: exposition,
            directory: system.directory)
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
            onServerRunning: { await HTTPConnectionLimits.pauseAcceptingWhenOutOfDescriptors($0, logger: logger) },
            logger: logger)
    }

    /// Runs the HTTP server and the relay until SIGINT or SIGTERM: in-flight requests finish, the relay stops
    /// after its current batch, then the store closes.
    ///
    /// - Throws: `UserStoreError` code `invalidConfiguration` when asked to bind a non-loopback address
    ///   without API tokens: an unauthenticated user service is served to this machine only.
    public static func run(configuration: UserAppConfiguration, logger: Logger) async throws {
        if configuration.apiTokens.isEmpty {
            guard configuration.bindsLoopbackOnly else {
                throw UserStoreError(
                    .invalidConfiguration,
                    "Refusing to serve on \(configuration.host) without API tokens: set USERS_API_TOKENS (or "
                        + "users.apiTokensFile), or bind 127.0.0.1.")
            }
            logger.warning(
                "no API tokens configured: serving without authentication, on loopback only",
                metadata: ["host": "\(configuration.host)"])
        }
        let registry = prometheus
        let system = try await UserSystem.open(configuration, logger: logger)
        let app = application(system: system, configuration: configuration, logger: logger, metrics: registry)
        // Services shut down in reverse order: the server first (no new requests), then the relay and the
        // projection.
        let group = ServiceGroup(
            configuration: .init(
                services: system.services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
                    + [.init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        logger.info(
            "users serve listening",
            metadata: [
                "address": "\(configuration.host):\(configuration.port)", "store": "\(configuration.store)",
            ])
        do {
            try await group.run()
        } catch {
            await system.close()
            throw error
        }
        await system.close()
    }
}
