import CLibPQ
import Dispatch
import Foundation
import Logging
import UserPorts

/// Point lookups (one row by a key) over one connection of their own, in libpq's pipeline mode.
///
/// Callers queue a lookup and suspend; the pipeline's own thread (never Swift's cooperative pool) takes
/// every lookup queued so far, sends them all before it reads any answer (`PQsendQueryPrepared` … then one
/// `PQpipelineSync`), and resumes each caller with its row. One caller at a time costs what a pooled
/// connection costs, minus the pool's bookkeeping; many at once share round trips, and the server reads
/// and answers them in batches, which is how eight concurrent lookups outrun eight connections each
/// waiting for its own answer.
///
/// The connection is made on first use and remade when lost: a batch that lost its connection is sent
/// once more on a fresh one (a lookup changes nothing, so that is safe). While the server can't be
/// reached, lookups fail at once with `unavailable` for a backoff (100 ms doubling to 5 s), as the pool's
/// do. A lookup is not interrupted by cancellation once queued (it is a single indexed read); one
/// cancelled before it is queued is not sent.
///
/// The thread is started by ``start()`` (the store's `open`), never by the initialiser, and ends in
/// ``close()``, which returns once it has.
final class PostgresLookupPipeline<Row: Sendable>: Sendable {
    typealias Decode = @Sendable (PostgresResult) throws -> Row?

    private struct Request {
        let statement: Int
        let parameter: String
        let continuation: CheckedContinuation<Row?, any Error>
    }

    private struct State {
        var pending: [Request] = []
        var inFlight = 0
        var closed = false
        var closers: [CheckedContinuation<Void, Never>] = []
        var started = false
        var hasFinished = false
    }

    /// The most lookups sent before one sync: keeps what is written ahead of reading well inside the
    /// socket buffers (a blocking pipeline could otherwise wait on a server that waits on us).
    private static var maximumBatch: Int { 64 }

    private let url: PostgresURL
    private let statements: [String]
    private let decode: Decode
    private let logger: Logger
    private let state = Locked(State())
    private let wakeUp = DispatchSemaphore(value: 0)

    /// A pipeline that serves lookups once ``start()`` has started its thread.
    init(url: PostgresURL, statements: [String], logger: Logger, decode: @escaping Decode) {
        self.url = url
        self.statements = statements
        self.decode = decode
        self.logger = logger
    }

    /// Starts the pipeline's thread; it connects on the first lookup. Once; not after ``close()``.
    func start() {
        let start = state.withLock { state in
            guard !state.started, !state.closed else { return false }
            state.started = true
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in run() }
        thread.name = "user-postgres.lookups"
        thread.qualityOfService = .userInitiated
        thread.start()
    }

    /// Whether the thread was started and has not ended: for tests that check nothing outlives a close.
    var isRunning: Bool {
        state.withLock { $0.started && !$0.hasFinished }
    }

    /// Runs statement number `statement` (of those given at init; SQL with one text parameter `$1`) with
    /// `parameter`: the decoded row, or `nil` when there is none.
    func lookup(_ statement: Int, _ parameter: String) async throws -> Row? {
        try Task.checkCancellation()
        return try await withCheckedThrowingContinuation { continuation in
            let queued = state.withLock { state in
                if state.closed { return false }
                state.pending.append(Request(statement: statement, parameter: parameter, continuation: continuation))
                return true
            }
            if queued {
                wakeUp.signal()
            } else {
                continuation.resume(throwing: UserStoreError(.closed, "The PostgreSQL store is closed."))
            }
        }
    }

    /// Lookups queued or in flight: the store sends a lookup to its least busy pipeline.
    var load: Int {
        state.withLock { $0.pending.count + $0.inFlight }
    }

    /// Fails lookups queued from now on, answers those queued or in flight, and returns once the thread is
    /// gone and the connection closed (at once when it never started: then queued lookups fail with
    /// `closed`). Idempotent.
    func close() async {
        var unserved: [Request] = []
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                state.closed = true
                if !state.started {
                    unserved = state.pending
                    state.pending.removeAll()
                    return true
                }
                if state.hasFinished { return true }
                state.closers.append(continuation)
                return false
            }
            if done { continuation.resume() } else { wakeUp.signal() }
        }
        for request in unserved {
            request.continuation.resume(throwing: UserStoreError(.closed, "The PostgreSQL store is closed."))
        }
    }

    // MARK: The pipeline's thread

    private func run() {
        var connection: PostgresConnection?
        var reconnect = PostgresReconnect(url: url, logger: logger)
        while true {
            wakeUp.wait()
            let (batch, closed) = state.withLock { state in
                let count = min(state.pending.count, Self.maximumBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                state.inFlight = count
                if !state.pending.isEmpty { wakeUp.signal() }  // The rest goes in the next batch.
                return (batch, state.closed)
            }
            if batch.isEmpty {
                if closed { break }
                continue
            }
            var outcome: Result<[Row?], any Error> = .failure(CancellationError())
            for attempt in 0..<2 {
                if connection == nil {
                    do {
                        try reconnect.check()
                    } catch {
                        outcome = .failure(error)
                        break
                    }
                    do {
                        connection = try connect()
                        reconnect.succeeded()
                    } catch {
                        outcome = .failure(reconnect.failed(error))
                        break
                    }
                }
                guard let live = connection else { break }
                do {
                    outcome = .success(try send(batch, on: live))
                    break
                } catch let error as PostgresError where error.connectionLost {
                    connection = nil
                    outcome = .failure(PostgresErrors.map(error, url: url, connecting: false))
                    if attempt == 0 { continue }  // Once more on a fresh connection.
                } catch {
                    connection = nil
                    outcome = .failure(PostgresErrors.map(error, url: url, connecting: false))
                    break
                }
            }
            state.withLock { $0.inFlight = 0 }
            switch outcome {
            case .success(let rows):
                for (request, row) in zip(batch, rows) { request.continuation.resume(returning: row) }
            case .failure(let error):
                for request in batch { request.continuation.resume(throwing: error) }
            }
        }
        connection = nil
        let closers = state.withLock { state in
            state.hasFinished = true
            return state.closers
        }
        for closer in closers { closer.resume() }
    }

    /// Connects, prepares every statement, then enters pipeline mode for good.
    private func connect() throws -> PostgresConnection {
        let connection = try PostgresConnection(conninfo: url.conninfo)
        for (index, statement) in statements.enumerated() {
            try connection.prepare(name: "lookup\(index)", statement, parameterCount: 1)
        }
        try connection.enterPipelineMode()
        return connection
    }

    /// Sends the batch, then reads one result per lookup (a failed lookup fails the batch: they are reads
    /// of a fixed shape, so a failure is the connection's or the schema's, not one caller's).
    private func send(_ batch: [Request], on connection: PostgresConnection) throws -> [Row?] {
        for request in batch {
            try connection.sendPrepared(name: "lookup\(request.statement)", parameter: request.parameter)
        }
        try connection.pipelineSync()
        var rows: [Row?] = []
        rows.reserveCapacity(batch.count)
        var failure: (any Error)?
        for _ in batch {
            do {
                let result = try connection.nextPipelineResult()
                if failure == nil { rows.append(try decode(result)) }
            } catch {
                if failure == nil { failure = error }
            }
        }
        try connection.awaitPipelineSync()
        if let failure { throw failure }
        return rows
    }
}
