// Quoted in: Sources/Ports/UserPorts.docc/GettingStarted.md
import Logging
import ServiceLifecycle
import UnixSignals
import UserInMemory
import UserPorts

let logger = Logger(label: "my-app")
let store = InMemoryUserStore()
let bus = InMemoryEventBus()
let relay = OutboxRelay(outbox: store, publisher: bus, logger: logger)
let subscription = await bus.subscribe()

// SIGTERM or SIGINT: the relay finishes its batch, gives its lease back and returns.
let group = ServiceGroup(
    configuration: .init(services: [relay], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
// snippet.hide
let running = Task { try await group.run() }
_ = try await UserService(repository: store).register(email: "ada@example.com", displayName: "Ada")
for await event in subscription {
    precondition(event.type == "user.registered")
    break
}
await group.triggerGracefulShutdown()
try await running.value
