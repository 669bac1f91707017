// relay-bench: the outbox relay to RabbitMQ (Benchmarks/relay.sh).
//
//   relay-bench --write-messages FILE --events 100000
//       writes the messages the relay phase will publish (one per line: routing key, message id, user id,
//       user version, timestamp, envelope JSON, tab-separated) for c/amqp_baseline.c, and exits.
//   relay-bench --phase relay --amqp amqp://… --store sqlite:/tmp/r.sqlite --events 100000 --batch 100
//       commits the events (registrations of users 0..<N, deterministic ids: the same bodies as the file),
//       declares and binds a durable queue, then times `OutboxRelay.publishPendingEvents()` draining them.
//   relay-bench --phase served --amqp amqp://… --store sqlite:/tmp/s.sqlite --events 100000 --batch 100 --users PATH
//       commits the same events, lets `users serve --publisher none` (the binary at PATH) project them into its
//       directory (as after a broker outage: the service went on; only the relay has a backlog), then starts
//       `users serve` on that store with the broker as its publisher (USERS_RELAY_BATCH_SIZE = the batch): the
//       relay as the service runs it, through the wiring the service builds. Times the drain from the first event
//       marked published to the last (the bench reads the first due event from the same file every 25 ms), and
//       the process's start before it. `--phase served-cold` skips the projection first: the relay and the
//       projection start on the backlog together.
//   relay-bench --phase served-lag --amqp amqp://… --store sqlite:/tmp/l.sqlite --rate 1000 --seconds 20 --users PATH
//       POSTs registrations to that `users serve` at a steady rate; a RabbitMQConsumer applies every event through
//       a SQLiteIdempotentConsumer; reports the lag from each 201 (its commit) to its effect's commit.
//   relay-bench --phase lag --amqp amqp://… --store sqlite:/tmp/l.sqlite --rate 1000 --seconds 20
//       saves users through the repository at a steady rate while the relay runs as a service and a
//       RabbitMQConsumer applies every event through a SQLiteIdempotentConsumer; reports the lag from each
//       save's return (its commit) to its effect's commit, p50 / p99 / max.
//
// One JSON line per phase on stdout; notes go to stderr.
import Foundation
import Logging
import Synchronization
import UserDomain
import UserInMemory
import UserPorts
import UserRabbitMQ
import UserSQLite

struct Options {
    var phase = "relay"
    var store = "memory:"
    var amqp: String?
    var events = 100_000
    var batch = 100
    var exchange = "bench.events"
    var queue = "bench.relay"
    var writeMessages: String?
    var rate = 1000
    var seconds = 20
    var consumerStore = "/tmp/relay-bench-consumer.sqlite"
    var users: String?

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            guard let value = iterator.next() else { throw BenchError("\(argument) needs a value") }
            switch argument {
            case "--phase": phase = value
            case "--store": store = value
            case "--amqp": amqp = value
            case "--events": events = try Self.int(value)
            case "--batch": batch = try Self.int(value)
            case "--exchange": exchange = value
            case "--queue": queue = value
            case "--write-messages": writeMessages = value
            case "--rate": rate = try Self.int(value)
            case "--seconds": seconds = try Self.int(value)
            case "--consumer-store": consumerStore = value
            case "--users": users = value
            default: throw BenchError("unknown option \(argument)")
            }
        }
    }

    static func int(_ text: String) throws -> Int {
        guard let value = Int(text), value > 0 else { throw BenchError("\(text) is not a positive number") }
        return value
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// CPU time of the whole process (every thread), user and system.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

func note(_ text: String) { FileHandle.standardError.write(Data("relay-bench: \(text)\n".utf8)) }

func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func hex12(_ i: Int) -> String {
    let hex = String(i, radix: 16)
    return String(repeating: "0", count: 12 - hex.count) + hex
}

/// User i of the backlog and its registration, with deterministic ids (so that the messages file and the
/// relay publish the same bodies).
func registration(_ i: Int, base: Int = 0) -> (User, UserEventEnvelope) {
    let id = UserID("00000000-0000-4000-8000-" + hex12(base + i))!
    let at = Date(timeIntervalSince1970: TimeInterval(1_700_000_000 + i))
    let user = User(
        id: id, email: try! EmailAddress("user\(base + i)@example.com"), displayName: try! DisplayName("User \(i)"),
        status: .active, version: 1, createdAt: at, updatedAt: at)
    let envelope = UserEventEnvelope(
        eventID: UUID(uuidString: "00000000-0000-7000-8000-" + hex12(base + i))!, userID: id, userVersion: 1,
        occurredAt: at, event: .registered(email: user.email, displayName: user.displayName))
    return (user, envelope)
}

/// One line of the messages file: what RabbitMQPublisher sends for the envelope.
func messageLine(_ envelope: UserEventEnvelope) -> String {
    let body = String(decoding: envelope.jsonData(), as: UTF8.self)
    precondition(!body.contains("\t") && !body.contains("\n"))
    return [
        envelope.type, envelope.eventID.uuidString.lowercased(), "\(envelope.userID)", "\(envelope.userVersion)",
        "\(UInt64(max(0, envelope.occurredAt.timeIntervalSince1970)))", body,
    ].joined(separator: "\t")
}

/// A publisher that forwards to RabbitMQ and adds up the time spent in its batch publish (the rest of the
/// relay's time is the store's: reading the batch, renewing the lease, marking it published).
final class TimedPublisher: MessagePublisher {
    let inner: RabbitMQPublisher
    init(inner: RabbitMQPublisher) { self.inner = inner }
    let spent = Mutex<(Duration, Int)>((.zero, 0))

    func publish(_ event: UserEventEnvelope) async throws { try await inner.publish(event) }

    func publish(_ events: [OutboxEvent], notAfter deadline: ContinuousClock.Instant) async -> [PublishOutcome] {
        let start = ContinuousClock.now
        let outcomes = await inner.publish(events, notAfter: deadline)
        let elapsed = ContinuousClock.now - start
        spent.withLock { $0.0 += elapsed; $0.1 += 1 }
        return outcomes
    }
}

/// The outbox side of a store, adding up the time the relay spends in it (reading batches, renewing the
/// lease, marking events published).
final class TimedOutbox<Base: OutboxDelivery & RelayLease>: OutboxDelivery, RelayLease {
    let base: Base
    init(_ base: Base) { self.base = base }
    let spent = Mutex<Duration>(.zero)

    private func timed<T>(_ body: () async throws -> T) async rethrows -> T {
        let start = ContinuousClock.now
        defer { spent.withLock { $0 += ContinuousClock.now - start } }
        return try await body()
    }

    var commitSignal: CommitSignal { base.commitSignal }
    func unpublishedEvents(limit: Int) async throws -> [OutboxEvent] {
        try await timed { try await base.unpublishedEvents(limit: limit) }
    }
    func markPublished(_ positions: [EventPosition]) async throws {
        try await timed { try await base.markPublished(positions) }
    }
    func markFailed(_ position: EventPosition, reason: String, retryAt: Date?) async throws {
        try await timed { try await base.markFailed(position, reason: reason, retryAt: retryAt) }
    }
    func outboxStatus() async throws -> OutboxStatus { try await base.outboxStatus() }
    func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool {
        try await timed { try await base.acquireRelayLease(owner: owner, duration: duration) }
    }
    func releaseRelayLease(owner: String) async throws { try await base.releaseRelayLease(owner: owner) }
}

/// A store that is both a repository and an outbox, with how to close it.
protocol BenchStore: UserRepository, OutboxDelivery, RelayLease {}
extension SQLiteUserStore: BenchStore {}
extension InMemoryUserStore: BenchStore {}

func openStore(_ url: String) async throws -> (any BenchStore, @Sendable () async -> Void, String) {
    if url == "memory:" { return (InMemoryUserStore(), {}, "memory") }
    if url.hasPrefix("sqlite:") {
        let path = String(url.dropFirst("sqlite:".count))
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        SQLiteUserStore.configureProcess()
        let store = try await SQLiteUserStore.open(.init(path: path))
        return (store, { await store.close() }, "sqlite")
    }
    throw BenchError("unsupported store \(url) (memory:, sqlite:PATH)")
}

/// Runs a service in a task until `stop` is called.
final class Running: Sendable {
    private let task: Task<Void, Never>
    init(_ body: @escaping @Sendable () async throws -> Void) {
        task = Task { do { try await body() } catch { note("service ended: \(error)") } }
    }
    func stop() async {
        task.cancel()
        await task.value
    }
}

/// Waits until `condition` holds, up to `timeout`.
func waitUntil(_ timeout: Duration, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw BenchError("timed out after \(timeout)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// Declares and binds the consumer's durable queue (through a RabbitMQConsumer that connects and stops).
func declareQueue(_ url: RabbitMQURL, exchange: String, queue: String, logger: Logger) async throws {
    let consumer = RabbitMQConsumer(
        configuration: .init(url: url, topology: .init(exchange: exchange), queue: queue), logger: logger
    ) { (_: UserEventEnvelope) in throw BenchError("the declaring consumer got a message") }
    let running = Running { try await consumer.run() }
    try await waitUntil(.seconds(30)) { consumer.status.isReady }
    await running.stop()
}

/// A new consumer ledger and its effect's table (created once, when it opens).
func openLedger(_ path: String) async throws -> SQLiteIdempotentConsumer {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    return try await SQLiteIdempotentConsumer.open(path: path, name: "bench") { db in
        try db.execute("CREATE TABLE bench_users (id TEXT PRIMARY KEY, version INTEGER NOT NULL, name TEXT)")
    }
}

/// Commits registrations of users 0..<n (deterministic ids: the bodies of the messages file), 1,000 a batch.
func commitBacklog(_ store: some BenchStore, _ n: Int) async throws {
    let commitStart = ContinuousClock.now
    for start in stride(from: 0, to: n, by: 1000) {
        let changes = (start..<min(start + 1000, n)).map { i in
            let (user, envelope) = registration(i)
            return UserChange(user: user, events: [envelope])
        }
        let outcome = try await store.insert(changes)
        precondition(outcome.rejected.isEmpty && outcome.insertedCount == changes.count)
    }
    note("committed \(n) events in \(String(format: "%.2f", seconds(.now - commitStart))) s")
}

func relayPhase(_ options: Options, _ url: RabbitMQURL, logger: Logger) async throws {
    let (store, close, backend) = try await openStore(options.store)
    try await relayPhase(store, close, backend, options, url, logger: logger)
}

func relayPhase(
    _ store: some BenchStore, _ close: @Sendable () async -> Void, _ backend: String, _ options: Options,
    _ url: RabbitMQURL, logger: Logger
) async throws {
    let n = options.events
    try await commitBacklog(store, n)

    try await declareQueue(url, exchange: options.exchange, queue: options.queue, logger: logger)
    let rabbit = RabbitMQPublisher(
        configuration: .init(url: url, topology: .init(exchange: options.exchange)), logger: logger)
    let publisherService = Running { try await rabbit.run() }
    try await waitUntil(.seconds(30)) { rabbit.status.isReady }
    let publisher = TimedPublisher(inner: rabbit)
    let outbox = TimedOutbox(store)
    let relay = OutboxRelay(
        outbox: outbox, publisher: publisher, configuration: .init(batchSize: options.batch), logger: logger)

    let start = ContinuousClock.now
    let cpuStart = cpuSeconds()
    let published = try await relay.publishPendingEvents()
    let elapsed = seconds(.now - start)
    let cpu = cpuSeconds() - cpuStart
    let (publishing, batches) = publisher.spent.withLock { $0 }
    let storeTime = outbox.spent.withLock { $0 }
    await publisherService.stop()
    await close()
    guard published == n else { throw BenchError("published \(published) of \(n)") }
    emit(
        #"{"peer":"swift-user-domain","backend":"\#(backend)","phase":"relay","batch":\#(options.batch),"ops":\#(n),"seconds":\#(String(format: "%.3f", elapsed)),"ops_per_s":\#(Int((Double(n) / elapsed).rounded())),"cpu_seconds":\#(String(format: "%.3f", cpu)),"publish_seconds":\#(String(format: "%.3f", seconds(publishing))),"store_seconds":\#(String(format: "%.3f", seconds(storeTime))),"batches":\#(batches)}"#
    )
}

func lagPhase(_ options: Options, _ url: RabbitMQURL, logger: Logger) async throws {
    let (store, close, backend) = try await openStore(options.store)
    try await lagPhase(store, close, backend, options, url, logger: logger)
}

func lagPhase(
    _ store: some BenchStore, _ close: @Sendable () async -> Void, _ backend: String, _ options: Options,
    _ url: RabbitMQURL, logger: Logger
) async throws {
    let ledger = try await openLedger(options.consumerStore)

    let total = options.rate * options.seconds
    let committed = Mutex<[UUID: ContinuousClock.Instant]>([:])
    let applied = Mutex<[UUID: ContinuousClock.Instant]>([:])
    let received = Mutex<[UUID: ContinuousClock.Instant]>([:])
    received.withLock { $0.reserveCapacity(total) }
    committed.withLock { $0.reserveCapacity(total) }
    applied.withLock { $0.reserveCapacity(total) }

    let rabbit = RabbitMQPublisher(
        configuration: .init(url: url, topology: .init(exchange: options.exchange)), logger: logger)
    let consumer = RabbitMQConsumer(
        configuration: .init(url: url, topology: .init(exchange: options.exchange), queue: options.queue),
        logger: logger
    ) { (deliveries: [RabbitMQDelivery]) in
        // The deliveries that arrived together: one transaction, one acknowledgement.
        let arrived = ContinuousClock.now
        let envelopes = deliveries.map(\.envelope)
        received.withLock { for envelope in envelopes { $0[envelope.eventID] = arrived } }
        try await ledger.handle(envelopes) { db, envelope in
            try db.execute(
                "INSERT OR REPLACE INTO bench_users (id, version, name) VALUES (?1, ?2, ?3)",
                [.text("\(envelope.userID)"), .integer(Int64(envelope.userVersion)), .text(envelope.type)])
        }
        let now = ContinuousClock.now
        applied.withLock { for envelope in envelopes { $0[envelope.eventID] = now } }
        return Array(repeating: .acknowledge, count: deliveries.count)
    }
    let relay = OutboxRelay(
        outbox: store, publisher: rabbit, configuration: .init(batchSize: options.batch), logger: logger)
    let publisherService = Running { try await rabbit.run() }
    let consumerService = Running { try await consumer.run() }
    try await waitUntil(.seconds(30)) { rabbit.status.isReady && consumer.status.isReady }
    let relayService = Running { try await relay.run() }

    // The writer: user i saved at start + i / rate, through the repository (its event in the same commit).
    let interval = Duration.seconds(1) / options.rate
    let start = ContinuousClock.now + .milliseconds(200)
    var late = 0
    for i in 0..<total {
        let due = start + interval * i
        if ContinuousClock.now < due { try await Task.sleep(until: due, tolerance: .microseconds(50), clock: .continuous) } else if ContinuousClock.now - due > .milliseconds(5) { late += 1 }
        let (user, envelope) = registration(i, base: 0x1_0000_0000)
        try await store.save(user, expectedVersion: 0, events: [envelope])
        let now = ContinuousClock.now
        committed.withLock { $0[envelope.eventID] = now }
    }
    let writing = seconds(.now - start)
    try await waitUntil(.seconds(60)) { applied.withLock { $0.count } >= total }
    await relayService.stop()
    await consumerService.stop()
    await publisherService.stop()
    await ledger.close()
    await close()

    let commits = committed.withLock { $0 }
    var lags = applied.withLock { $0 }.compactMap { id, at in commits[id].map { seconds(at - $0) * 1000 } }
    lags.sort()
    guard lags.count == total else { throw BenchError("matched \(lags.count) of \(total) events") }
    var delivered = received.withLock { $0 }.compactMap { id, at in commits[id].map { seconds(at - $0) * 1000 } }
    delivered.sort()
    func percentile(_ p: Double, _ lags: [Double] = lags) -> Double {
        lags[min(lags.count - 1, Int((Double(lags.count) * p).rounded(.up)) - 1)]
    }
    let f = { (x: Double) in String(format: "%.2f", x) }
    note("\(late) of \(total) writes began more than 5 ms late")
    emit(
        #"{"peer":"swift-user-domain","backend":"\#(backend)","phase":"lag","batch":\#(options.batch),"ops":\#(total),"seconds":\#(String(format: "%.3f", writing)),"ops_per_s":\#(Int((Double(total) / writing).rounded())),"p50_ms":\#(f(percentile(0.5))),"p99_ms":\#(f(percentile(0.99))),"max_ms":\#(f(lags.last!)),"to_handler_p50_ms":\#(f(percentile(0.5, delivered))),"to_handler_p99_ms":\#(f(percentile(0.99, delivered))),"late_writes":\#(late)}"#
    )
}

func run(_ options: Options) async throws {
    if let path = options.writeMessages {
        var text = ""
        text.reserveCapacity(options.events * 400)
        for i in 0..<options.events {
            text += messageLine(registration(i).1)
            text += "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        note("wrote \(options.events) messages to \(path)")
        return
    }
    guard let amqp = options.amqp else { throw BenchError("--amqp URL is needed") }
    let url = try RabbitMQURL(amqp)
    var logger = Logger(label: "relay-bench")
    logger.logLevel = .warning
    switch options.phase {
    case "relay": try await relayPhase(options, url, logger: logger)
    case "lag": try await lagPhase(options, url, logger: logger)
    case "served": try await servedPhase(options, url, warm: true, logger: logger)
    case "served-cold": try await servedPhase(options, url, warm: false, logger: logger)
    case "served-lag": try await servedLagPhase(options, url, logger: logger)
    default: throw BenchError("unknown phase \(options.phase) (relay, lag, served, served-lag)")
    }
}

LoggingSystem.bootstrap(StreamLogHandler.standardError)
let options: Options
do {
    options = try Options(CommandLine.arguments)
} catch {
    note("\(error)")
    exit(64)
}
let finished = DispatchSemaphore(value: 0)
// Everything runs in a detached task: awaits from main.swift's top level would hop through the main thread.
Task.detached {
    do {
        try await run(options)
    } catch {
        note("\(error)")
        exit(1)
    }
    finished.signal()
}
finished.wait()
