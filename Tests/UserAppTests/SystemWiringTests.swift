import Foundation
import Logging
import Testing
import UserAppCore
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting
import UserRabbitMQ

/// `UserSystem` is the one way to wire the package: where events go is one parameter, the directory is optional,
/// and a broker opens in UserAppCore (the `RabbitMQ` trait), not only in UserApp.
@Suite("UserSystem's wiring")
struct SystemWiringTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("amqp:// parses in UserAppCore and the system opens its broker publisher, the exchange included")
    func brokerOpensInTheCore() async throws {
        let destination = try EventDestination("amqp://app:SECRET@127.0.0.1:1/users")
        #expect(!destination.description.contains("SECRET"))
        guard case .amqp(let url, let exchange) = destination else {
            Issue.record("amqp:// parsed as \(destination)")
            return
        }
        let system = try await UserSystem.open(
            store: "memory:", events: .amqp(url: url, exchange: "app.users"), logger: logger)
        #expect(system.publisher is RabbitMQPublisher, "the system runs a broker publisher")
        #expect(exchange == "users.events", "the default exchange")
        // The publisher runs among the services, before the relay (so that it stops after it).
        let order = system.services.map { "\(type(of: $0))" }
        let publisherAt = try #require(order.firstIndex { $0.hasPrefix("RabbitMQPublisher") })
        let relayAt = try #require(order.firstIndex { $0.hasPrefix("OutboxRelay") })
        #expect(publisherAt < relayAt)
        await system.close()
    }

    @Test("a malformed broker URL is refused when it is parsed, not when the system opens", arguments: [
        "amqp://app:SECRET@127.0.0.1:notaport/users", "amqp://app:SECRET@/users",
    ])
    func malformedBrokerURL(_ text: String) {
        do {
            _ = try EventDestination(text)
            Issue.record("\(text) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.key == "users.publisher")
            #expect(!error.description.contains("SECRET"), "the password is not repeated: \(error)")
        } catch {
            Issue.record("\(text): \(error)")
        }
    }

    @Test("directory: false runs no projection and offers no queries; the use cases and the relay still work")
    func withoutTheDirectory() async throws {
        let publisher = RecordingPublisher()
        let system = try UserSystem(
            store: InMemoryUserStore(), events: .publisher(publisher), options: .init(directory: false),
            logger: logger)
        #expect(system.projection == nil && system.directory == nil)
        #expect(!system.services.contains { "\(type(of: $0))".hasPrefix("DirectoryProjection") })
        _ = try await system.users.register(email: "ada@example.com", displayName: "Ada")
        #expect(try await system.relay?.publishPendingEvents() == 1)
        #expect(await publisher.events.map(\.type) == ["user.registered"])
    }

    @Test("the options' clock and identifiers reach the use cases")
    func clockAndIdentifiers() async throws {
        let clock = ManualWallClock(start: Date(timeIntervalSince1970: 1_700_000_000))
        let system = try UserSystem(
            store: InMemoryUserStore(), events: .none, options: .init(clock: clock), logger: logger)
        let ada = try await system.users.register(email: "ada@example.com", displayName: "Ada")
        #expect(ada.createdAt == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(system.relay == nil, "events: .none runs no relay")
    }

    @Test("a store URL round-trips through StoreLocation.url, which the configuration's store passes to open")
    func storeLocationURL() throws {
        for text in ["memory:", "sqlite:data/u.sqlite", "postgres://app:pw@db/users?sslmode=require"] {
            #expect(try StoreLocation(text).url == text)
        }
    }
}
