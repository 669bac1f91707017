import CLibPQ
import Foundation
public import Logging
public import UserDomain
import UserPorts

/// The statements an effect runs, inside the transaction that also records the event as processed. Valid
/// only during the effect; it runs on a pooled connection's own queue, never on Swift's cooperative pool.
public struct PostgresTransaction: ~Copyable {
    let connection: PostgresConnection

    /// Runs a statement with text parameters (`$1`, `$2`, …; cast them in SQL, as in `$1::uuid`).
    ///
    /// - Returns: the number of rows it changed.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws -> Int {
        try connection.query(sql, parameters).affectedRows
    }

    /// Runs a query and returns its rows, each column as text (`nil` for NULL).
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        let result = try connection.query(sql, parameters)
        let columns = Int(PQnfields(result.handle))
        return (0..<result.rowCount).map { row in
            (0..<columns).map { result.isNull(row, $0) ? nil : result.string(row, $0) }
        }
    }
}

/// An idempotent consumer over PostgreSQL: each event's effect runs in one transaction with the record that
/// the event was processed, so a redelivered event (the relay delivers at least once) has no second effect,
/// and a crash either keeps both or neither. Concurrent deliveries of one event to several instances of the
/// consumer apply it once: the second waits on the first's ledger row and then finds it.
///
/// The ledger is a `processed_events` table in the database it is given (created when missing), next to
/// the tables its effects write.
public final class PostgresIdempotentConsumer: Sendable {
    /// The consumer's name in the ledger: consumers sharing a database keep separate ledgers.
    public let name: String
    private let pool: PostgresPool
    private let url: PostgresURL

    private init(name: String, pool: PostgresPool, url: PostgresURL) {
        self.name = name
        self.pool = pool
        self.url = url
    }

    /// Connects and creates the ledger table when missing.
    ///
    /// - Parameters:
    ///   - url: the database, `postgres://…` (its password is never logged).
    ///   - name: the consumer's name in the ledger.
    ///   - maximumConnections: the pool's size.
    ///   - acquireTimeout: how long a call waits for a free connection before it fails with `unavailable`.
    ///   - logger: for the pool's connects and failures.
    /// - Throws: `UserStoreError`, with the password redacted, when the database can't be used.
    public static func open(
        url: String, name: String, maximumConnections: Int = 4, acquireTimeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "user-postgres.consumer", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> PostgresIdempotentConsumer {
        let (pool, url) = try await PostgresPool.onDemand(
            url: url, maximumConnections: maximumConnections, acquireTimeout: acquireTimeout, logger: logger
        ) { connection, _ in
            _ = try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS processed_events (
                    consumer text NOT NULL,
                    event_id uuid NOT NULL,
                    processed_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (consumer, event_id)
                )
                """)
        }
        return PostgresIdempotentConsumer(name: name, pool: pool, url: url)
    }

    /// Applies `effect` and records the event in one transaction, unless this consumer processed the event
    /// before. A throwing effect rolls both back: the event stays unprocessed and a redelivery runs it again.
    ///
    /// - Returns: `true` when the effect ran, `false` for a duplicate.
    @discardableResult
    public func handle(
        _ event: UserEventEnvelope, _ effect: @escaping @Sendable (borrowing PostgresTransaction) throws -> Void
    ) async throws -> Bool {
        try await handle([event]) { transaction, _ in try effect(transaction) }[0]
    }

    /// Applies `effect` to each event this consumer did not process before, in order, and records them, all
    /// in one transaction: one commit for a batch of deliveries (`RabbitMQConsumer`'s batch handler). A
    /// throwing effect rolls the whole batch back: none is recorded, and a redelivery runs them again.
    ///
    /// - Returns: for each event, at the same index, `true` when its effect ran, `false` for a duplicate
    ///   (processed before, or earlier in `events`).
    @discardableResult
    public func handle(
        _ events: [UserEventEnvelope],
        _ effect: @escaping @Sendable (borrowing PostgresTransaction, UserEventEnvelope) throws -> Void
    ) async throws -> [Bool] {
        guard !events.isEmpty else { return [] }
        let name = name
        return try await withConnection { connection in
            try connection.execute("BEGIN")
            do {
                var ran: [Bool] = []
                ran.reserveCapacity(events.count)
                for event in events {
                    let inserted = try connection.query(
                        """
                        INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2::uuid)
                        ON CONFLICT DO NOTHING
                        """, [name, event.eventID.uuidString]
                    ).affectedRows
                    if inserted == 1 { try effect(PostgresTransaction(connection: connection), event) }
                    ran.append(inserted == 1)
                }
                try connection.execute("COMMIT")
                return ran
            } catch {
                if PQtransactionStatus(connection.handle) != PQTRANS_IDLE { _ = try? connection.execute("ROLLBACK") }
                throw error
            }
        }
    }

    /// Whether this consumer processed `event`.
    public func hasProcessed(_ event: UserEventEnvelope) async throws -> Bool {
        let name = name
        return try await withConnection { connection in
            try connection.query(
                "SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2::uuid",
                [name, event.eventID.uuidString]
            ).rowCount == 1
        }
    }

    /// Closes every connection.
    public func close() async {
        await pool.close()
    }

    /// Runs `body` on a pooled connection, with the store's release and error mapping.
    private func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T)
        async throws -> T
    {
        try await PostgresUserStore.withConnection(pool: pool, url: url, body)
    }
}
