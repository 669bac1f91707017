// The relay as `users serve` runs it: the binary, its configuration, its wiring (Benchmarks/relay.sh).
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Logging
import Synchronization
import UserDomain
import UserPorts
import UserRabbitMQ
import UserSQLite

/// Starts `users serve` on a SQLite store with the broker as its publisher, as an operator would.
func startServe(_ options: Options, path: String, port: Int, log: String, publisher: String? = nil) throws -> Process {
    guard let users = options.users, let amqp = publisher ?? options.amqp else {
        throw BenchError("--users and --amqp are needed")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: users)
    process.arguments = ["serve"]
    process.environment = ProcessInfo.processInfo.environment.merging([
        "USERS_STORE": "sqlite:" + path, "USERS_PUBLISHER": amqp, "USERS_AMQP_EXCHANGE": options.exchange,
        "USERS_RELAY_BATCH_SIZE": String(options.batch), "USERS_PORT": String(port), "USERS_LOG_LEVEL": "warning",
    ]) { $1 }
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    try process.run()
    return process
}

/// SIGTERM, then waits for the process off the cooperative pool.
func stopServe(_ process: Process) async {
    kill(process.processIdentifier, SIGTERM)
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            process.waitUntilExit()
            continuation.resume()
        }
    }
}

func sqlitePath(_ store: String) throws -> String {
    guard store.hasPrefix("sqlite:") else { throw BenchError("the served phases take --store sqlite:PATH") }
    return String(store.dropFirst("sqlite:".count))
}

/// Commits N registrations into a new SQLite file, then lets `users serve` relay them; times the drain.
///
/// `warm`: first `users serve --publisher none` on the file until its directory projection has caught up, as
/// after a broker outage (the service went on projecting; only the relay has a backlog); otherwise the relay
/// and the projection both start on the backlog at once.
func servedPhase(_ options: Options, _ url: RabbitMQURL, warm: Bool, logger: Logger) async throws {
    let path = try sqlitePath(options.store)
    let n = options.events
    let (store, close, _) = try await openStore(options.store)
    try await commitBacklog(store, n)
    await close()
    try await declareQueue(url, exchange: options.exchange, queue: options.queue, logger: logger)

    // The bench reads the outbox from the same file (another process, WAL: no lock on the service).
    let reader = try await SQLiteUserStore.open(.init(path: path))
    if warm {
        let last = try await reader.events(after: nil, limit: n + 1).last?.position
        let projecting = try startServe(options, path: path, port: 0, log: path + ".warm.log", publisher: "none")
        let deadline = ContinuousClock.now + .seconds(600)
        while try await reader.directoryReplica.backfillPosition() != last {
            guard projecting.isRunning, ContinuousClock.now < deadline else {
                throw BenchError("the projection did not catch up; see \(path).warm.log")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await stopServe(projecting)
    }
    // The first due event, polled (one indexed read: counting the pending events would scan the backlog every
    // time, which measurably slowed the service beside it): not the first any more when a batch was marked, none
    // when the drain is over.
    let firstPosition = try await reader.unpublishedEvents(limit: 1).first?.position
    let started = ContinuousClock.now
    let server = try startServe(options, path: path, port: 0, log: path + ".serve.log")
    var first: ContinuousClock.Instant?
    var last = started
    while true {
        let due = try await reader.unpublishedEvents(limit: 1).first?.position
        let now = ContinuousClock.now
        if due != firstPosition, first == nil { first = now }
        if due == nil {
            last = now
            break
        }
        guard server.isRunning else { throw BenchError("users serve exited; see \(path).serve.log") }
        guard now - started < .seconds(600) else { throw BenchError("the served relay did not drain in 600 s") }
        try await Task.sleep(for: .milliseconds(25))
    }
    await stopServe(server)
    await reader.close()
    let drain = seconds(last - (first ?? started))
    let startup = seconds((first ?? started) - started)
    emit(
        #"{"peer":"swift-user-domain","backend":"\#(warm ? "sqlite-served" : "sqlite-served-cold")","phase":"relay","batch":\#(options.batch),"ops":\#(n),"seconds":\#(String(format: "%.3f", drain)),"ops_per_s":\#(Int((Double(n) / drain).rounded())),"startup_seconds":\#(String(format: "%.3f", startup))}"#
    )
}

/// POSTs registrations to `users serve` at a steady rate; the lag from each 201 to its effect's commit in a
/// consumer of the broker.
func servedLagPhase(_ options: Options, _ url: RabbitMQURL, logger: Logger) async throws {
    let path = try sqlitePath(options.store)
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    let ledger = try await openLedger(options.consumerStore)
    let total = options.rate * options.seconds
    let committed = CommitTimes()
    let applied = Mutex<[UserID: ContinuousClock.Instant]>([:])
    let consumer = RabbitMQConsumer(
        configuration: .init(url: url, topology: .init(exchange: options.exchange), queue: options.queue),
        logger: logger
    ) { (deliveries: [RabbitMQDelivery]) in
        let envelopes = deliveries.map(\.envelope)
        try await ledger.handle(envelopes) { db, envelope in
            try db.execute(
                "INSERT OR REPLACE INTO bench_users (id, version, name) VALUES (?1, ?2, ?3)",
                [.text("\(envelope.userID)"), .integer(Int64(envelope.userVersion)), .text(envelope.type)])
        }
        let now = ContinuousClock.now
        applied.withLock { for envelope in envelopes { $0[envelope.userID] = now } }
        return Array(repeating: .acknowledge, count: deliveries.count)
    }
    let consumerService = Running { try await consumer.run() }
    try await waitUntil(.seconds(30)) { consumer.status.isReady }

    let port = Int.random(in: 20_000..<60_000)
    let server = try startServe(options, path: path, port: port, log: path + ".serve.log")
    let base = URL(string: "http://127.0.0.1:\(port)/users")!
    let session = URLSession(configuration: .ephemeral)
    let deadline = ContinuousClock.now + .seconds(60)
    while (try? await session.data(from: URL(string: "http://127.0.0.1:\(port)/health/ready")!))?.1
        .isOK != true
    {
        guard ContinuousClock.now < deadline, server.isRunning else { throw BenchError("users serve did not start") }
        try await Task.sleep(for: .milliseconds(50))
    }

    struct Created: Decodable { var id: String }
    let interval = Duration.seconds(1) / options.rate
    let start = ContinuousClock.now + .milliseconds(200)
    // Four clients, each taking every fourth write at its due time: one client, one request after another,
    // reached about 650 writes/s (URLSession's own cost per request), short of the rate asked.
    let clients = 4
    let late = try await withThrowingTaskGroup(of: Int.self) { group in
        for client in 0..<clients {
            group.addTask {
                var late = 0
                for i in stride(from: client, to: total, by: clients) {
                    let due = start + interval * i
                    if ContinuousClock.now < due {
                        try await Task.sleep(until: due, tolerance: .microseconds(50), clock: .continuous)
                    } else if ContinuousClock.now - due > .milliseconds(5) {
                        late += 1
                    }
                    var request = URLRequest(url: base)
                    request.httpMethod = "POST"
                    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                    request.httpBody = Data(#"{"email":"lag\#(i)@example.com","displayName":"Lag \#(i)"}"#.utf8)
                    let (data, response) = try await session.data(for: request)
                    let now = ContinuousClock.now
                    guard (response as? HTTPURLResponse)?.statusCode == 201,
                        let id = UserID(try JSONDecoder().decode(Created.self, from: data).id)
                    else { throw BenchError("POST /users did not answer 201 with an id") }
                    committed.times.withLock { $0[id] = now }
                }
                return late
            }
        }
        return try await group.reduce(0, +)
    }
    let writing = seconds(.now - start)
    try await waitUntil(.seconds(120)) { applied.withLock { $0.count } >= total + 0 }
    await consumerService.stop()
    await stopServe(server)
    await ledger.close()

    let commits = committed.times.withLock { $0 }
    var lags = applied.withLock { $0 }.compactMap { id, at in commits[id].map { seconds(at - $0) * 1000 } }
    lags.sort()
    guard lags.count == total else { throw BenchError("matched \(lags.count) of \(total) events") }
    func percentile(_ p: Double) -> Double { lags[min(lags.count - 1, Int((Double(lags.count) * p).rounded(.up)) - 1)] }
    let f = { (x: Double) in String(format: "%.2f", x) }
    note("\(late) of \(total) writes began more than 5 ms late")
    emit(
        #"{"peer":"swift-user-domain","backend":"sqlite-served","phase":"lag","batch":\#(options.batch),"ops":\#(total),"seconds":\#(String(format: "%.3f", writing)),"ops_per_s":\#(Int((Double(total) / writing).rounded())),"p50_ms":\#(f(percentile(0.5))),"p99_ms":\#(f(percentile(0.99))),"max_ms":\#(f(lags.last!)),"late_writes":\#(late)}"#
    )
}

extension URLResponse {
    fileprivate var isOK: Bool { (self as? HTTPURLResponse)?.statusCode == 200 }
}

/// When each user's registration was acknowledged (its 201), shared by the writing clients.
final class CommitTimes: Sendable {
    let times = Mutex<[UserID: ContinuousClock.Instant]>([:])
}
