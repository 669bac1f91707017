// Quoted in: Sources/Adapters/RabbitMQ/UserRabbitMQ.docc/UserRabbitMQ.md
// Compiled, not run: it names a broker that is not there.
// snippet.hide
import Logging
import ServiceLifecycle
import UserInMemory
import UserPorts
import UserRabbitMQ

let logger = Logger(label: "my-app")
let store = InMemoryUserStore()
// snippet.show
let publisher = RabbitMQPublisher(
    configuration: try .init(url: "amqp://app:secret@127.0.0.1:5672/users"), logger: logger)
let relay = OutboxRelay(outbox: store, publisher: publisher, logger: logger)
let group = ServiceGroup(services: [publisher, relay], logger: logger)   // the publisher first
try await group.run()
