public import Hummingbird
public import Logging
import ServiceLifecycle
import UnixSignals
import UserHTTP
import UserPorts

/// `users serve`: the HTTP service over a ``UserSystem``, with graceful shutdown.
public enum UserServer {
    /// Builds the Hummingbird application for a system.
    public static func application(
        system: UserSystem, configuration: UserAppConfiguration, logger: Logger
    ) -> some ApplicationProtocol {
        let api = UserAPI(
            service: system.users, configuration: configuration.http,
            readiness: { _ = try await system.store.page(after: nil, limit: 1) })
        return Application(
            router: api.makeRouter(tokens: configuration.apiTokens),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "users"),
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
        let system = try await UserSystem.open(configuration, logger: logger)
        let app = application(system: system, configuration: configuration, logger: logger)
        // Services shut down in reverse order: the server first (no new requests), then the relay.
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
