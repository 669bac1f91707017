// Quoted in: Sources/Adapters/RabbitMQ/UserRabbitMQ.docc/UserRabbitMQ.md
// Compiled, not run: it names a broker that is not there.
// snippet.hide
import Logging
import ServiceLifecycle
import UnixSignals
import UserRabbitMQ
import UserSQLite

let logger = Logger(label: "mailer")
// snippet.show
// The application's table, created once when the ledger opens (not in every effect).
let ledger = try await SQLiteIdempotentConsumer.open(path: "mailer.sqlite", name: "welcome-mail") { db in
    try db.execute("CREATE TABLE IF NOT EXISTS outgoing_mail (user_id TEXT NOT NULL, kind TEXT NOT NULL)")
}
let consumer = RabbitMQConsumer(
    configuration: try .init(
        url: "amqp://app:secret@127.0.0.1:5672/users", queue: "mailer.user-events", bindings: ["user.registered"]),
    logger: logger
) { (deliveries: [RabbitMQDelivery]) in
    // The deliveries that arrived together: one transaction, then one acknowledgement for them all.
    try await ledger.handle(deliveries.map(\.envelope)) { db, event in
        try db.execute("INSERT INTO outgoing_mail (user_id, kind) VALUES (?1, 'welcome')", [.text("\(event.userID)")])
    }
    return Array(repeating: .acknowledge, count: deliveries.count)
}
try await ServiceGroup(
    configuration: .init(services: [consumer], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
).run()
