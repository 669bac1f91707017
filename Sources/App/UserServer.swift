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
            router: api.makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "users"),
            logger: logger)
    }

    /// Runs the HTTP server and the relay until SIGINT or SIGTERM: in-flight requests finish, the relay stops
    /// after its current batch, then the store closes.
    public static func run(configuration: UserAppConfiguration, logger: Logger) async throws {
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
