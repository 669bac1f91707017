// Quoted in: Sources/Adapters/RabbitMQ/UserRabbitMQ.docc/UserRabbitMQ.md
// Compiled, not run: it names a broker that is not there.
// snippet.hide
import Logging
import ServiceLifecycle
import UnixSignals
import UserInMemory
import UserPorts
import UserRabbitMQ

let logger = Logger(label: "my-app")
let store = InMemoryUserStore()
// snippet.show
let publisher = RabbitMQPublisher(
    configuration: try .init(url: "amqp://app:secret@127.0.0.1:5672/users"), logger: logger)
let relay = OutboxRelay(outbox: store, publisher: publisher, logger: logger)
// The publisher first, so that it stops after the relay; SIGTERM or SIGINT shut both down gracefully.
let group = ServiceGroup(
    configuration: .init(
        services: [publisher, relay], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await group.run()
