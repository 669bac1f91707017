import CLibPQ
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One libpq connection: parameters are always bound (`PQexecParams`, `PQexecPrepared`), statements are
/// prepared once per connection, results are read in place.
///
/// Not Sendable: a connection is owned by one ``PostgresWorker`` and used only on that worker's queue.
final class PostgresConnection {
    let handle: OpaquePointer
    private var preparedNames: [String: String] = [:]

    /// Connects (blocking, within the conninfo's `connect_timeout`) with a libpq connection string or URI.
    ///
    /// - Throws: a ``PostgresError`` with the server's SQLSTATE when the server refused the connection (wrong
    ///   credentials `28P01`, an unknown database `3D000`, too many connections `53300`, …); without one when
    ///   the server was never reached or libpq refused the options, with ``PostgresError/passwordMissing``
    ///   set when the server asked for a password and none was given; without one either when `wakeFD`
    ///   (the read end of a wake-up channel, `user_domain_wake_open`) became readable first: the owner is
    ///   stopping.
    init(conninfo: String, wakeFD: Int32 = -1) throws(PostgresError) {
        guard let handle = PQconnectStart(conninfo) else {
            throw PostgresError(sqlState: nil, message: "out of memory", connectionLost: true)
        }
        // A server's refusal during start-up is an ErrorResponse with a SQLSTATE, but libpq keeps that
        // result to itself: a failed connection has only PQerrorMessage. In verbose mode libpq writes the
        // code into that message ("FATAL:  28P01: …"), in a layout that does not depend on the server's or
        // the client's language; so the connection is made in verbose mode (which PQconnectdb can't be told)
        // and the code is read from there (``startupSQLState(in:)``).
        PQsetErrorVerbosity(handle, PQERRORS_VERBOSE)
        let outcome = Self.completeConnection(handle, wakeFD: wakeFD)
        PQsetErrorVerbosity(handle, PQERRORS_DEFAULT)
        if outcome == .woken {
            PQfinish(handle)
            throw PostgresError(sqlState: nil, message: "connection attempt stopped", connectionLost: true)
        }
        let timedOut = outcome == .timedOut
        guard !timedOut, PQstatus(handle) == CONNECTION_OK else {
            let verbose = String(cString: PQerrorMessage(handle))
            let passwordMissing = PQconnectionNeedsPassword(handle) == 1
            PQfinish(handle)
            throw PostgresError(
                sqlState: timedOut ? nil : Self.startupSQLState(in: verbose),
                message: timedOut ? "timeout expired" : Self.primaryLines(of: verbose), connectionLost: true,
                passwordMissing: passwordMissing)
        }
        // Server notices (NOTICE, WARNING) are not errors; libpq would print them to stderr.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        // Every statement here is prepared once and keyed on indexes, so one generic plan serves every call.
        // Left to decide, the server kept planning the one-statement writes (array parameters) afresh on
        // every execution: 28 % of an insert. PostgreSQL 12+; an older server just keeps its default.
        PQclear(PQexec(handle, "SET plan_cache_mode = force_generic_plan"))
        self.handle = handle
    }

    deinit {
        PQfinish(handle)
    }

    /// Drives a connection started by `PQconnectStart` to success or failure, waiting on its socket as
    /// libpq asks, for at most the conninfo's `connect_timeout` (libpq's rules: unset or 0 waits for ever,
    /// less than 2 means 2). Unlike PQconnectdb, the time limit covers every address and host together.
    ///
    /// How ``completeConnection(_:wakeFD:)`` ended.
    private enum Completion {
        case finished, timedOut, woken
    }

    /// - Returns: whether libpq finished (succeeded or failed), the time limit ran out or `wakeFD` (when
    ///   not negative) became readable first.
    private static func completeConnection(_ handle: OpaquePointer, wakeFD: Int32) -> Completion {
        let deadline = connectTimeout(handle).map { ContinuousClock.now + .seconds($0) }
        var polling = PGRES_POLLING_WRITING
        while PQstatus(handle) != CONNECTION_BAD, polling != PGRES_POLLING_OK, polling != PGRES_POLLING_FAILED {
            var timeout: Int32 = -1
            if let deadline {
                let left = ContinuousClock.now.duration(to: deadline)
                guard left > .zero else { return .timedOut }
                timeout = Int32(min(Double(Int32.max), (left / .milliseconds(1)).rounded(.up)))
            }
            let events = Int16(polling == PGRES_POLLING_READING ? POLLIN : POLLOUT)
            let ready: Int32
            if wakeFD >= 0 {
                ready = user_domain_wait(PQsocket(handle), events, wakeFD, timeout)
                if ready == 2 { return .woken }
            } else {
                var descriptor = pollfd(fd: PQsocket(handle), events: events, revents: 0)
                ready = poll(&descriptor, 1, timeout)
                if ready < 0, errno == EINTR { continue }
            }
            if ready == 0 { continue }  // the deadline is checked above
            polling = PQconnectPoll(handle)
        }
        return .finished
    }

    /// The `connect_timeout` libpq parsed, in seconds; `nil` for none.
    private static func connectTimeout(_ handle: OpaquePointer) -> Int? {
        guard let options = PQconninfo(handle) else { return nil }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "connect_timeout", let value = option.pointee.val,
                let seconds = Int(String(cString: value).trimmingCharacters(in: .whitespaces)), seconds > 0
            {
                return max(2, seconds)
            }
            option += 1
        }
        return nil
    }

    /// The SQLSTATE of the last server error in a connection failure's verbose message: libpq writes each as
    /// `SEVERITY:  CODE: primary message` (the severity is localised; the code and the layout are not). `nil`
    /// when no server error is in it (the server was never reached, or libpq refused the options itself).
    static func startupSQLState(in message: String) -> String? {
        var found: String?
        var rest = Substring(message)
        while let range = rest.range(of: ":  ") {
            let code = rest[range.upperBound...].prefix(7)
            if code.count == 7, code.hasSuffix(": "),
                code.prefix(5).utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) })
            {
                found = String(code.prefix(5))
            }
            rest = rest[range.upperBound...]
        }
        return found
    }

    /// A verbose connection failure message without the lines verbose mode adds (`DETAIL:`, `HINT:`,
    /// `LOCATION:`, …): what the default verbosity would have said, but with the codes in it.
    static func primaryLines(of message: String) -> String {
        message.split(separator: "\n", omittingEmptySubsequences: true)
            .filter { line in
                !["DETAIL:", "HINT:", "LOCATION:", "CONTEXT:", "QUERY:", "STATEMENT:"].contains { line.hasPrefix($0) }
            }
            .joined(separator: "\n")
    }

    var isHealthy: Bool { PQstatus(handle) == CONNECTION_OK && PQtransactionStatus(handle) == PQTRANS_IDLE }

    /// Runs a statement without parameters through the simple protocol (transaction control, DDL).
    @discardableResult
    func execute(_ sql: String) throws(PostgresError) -> PostgresResult {
        try check(PQexec(handle, sql))
    }

    /// Runs a statement with text parameters, preparing it on this connection the first time.
    ///
    /// - Parameter binaryResults: read the columns in binary format (``PostgresResult/uuid(_:_:)``,
    ///   ``PostgresResult/binaryInteger(_:_:)``, ``PostgresResult/timestampMilliseconds(_:_:)``; text columns
    ///   read the same either way): no server-side formatting, no parsing of decimal text.
    @discardableResult
    func query(_ sql: String, _ parameters: [String?] = [], binaryResults: Bool = false) throws(PostgresError)
        -> PostgresResult
    {
        let name: String
        if let existing = preparedNames[sql] {
            name = existing
        } else {
            name = "s\(preparedNames.count)"
            try prepare(name: name, sql, parameterCount: parameters.count)
            preparedNames[sql] = name
        }
        let result = withCStrings(parameters) { values in
            PQexecPrepared(handle, name, Int32(parameters.count), values, nil, nil, binaryResults ? 1 : 0)
        }
        return try check(result)
    }

    // MARK: Pipeline mode (see ``PostgresLookupPipeline``)

    /// Prepares `sql` under `name` (before the connection enters pipeline mode).
    func prepare(name: String, _ sql: String, parameterCount: Int) throws(PostgresError) {
        _ = try check(PQprepare(handle, name, sql, Int32(parameterCount), nil))
    }

    /// Switches the connection to pipeline mode for good: only the pipeline calls below may follow.
    func enterPipelineMode() throws(PostgresError) {
        guard PQenterPipelineMode(handle) == 1 else { throw connectionError() }
    }

    /// Queues the prepared statement `name` with one text parameter, results in binary format.
    func sendPrepared(name: String, parameter: String) throws(PostgresError) {
        let sent = parameter.withCString { value in
            var values: [UnsafePointer<CChar>?] = [value]
            return PQsendQueryPrepared(handle, name, 1, &values, nil, nil, 1)
        }
        guard sent == 1 else { throw connectionError() }
    }

    /// Ends the batch with a sync point and sends everything queued.
    func pipelineSync() throws(PostgresError) {
        guard PQpipelineSync(handle) == 1 else { throw connectionError() }
    }

    /// The result of the next statement of the batch (waiting for it), with the NULL that ends it consumed.
    func nextPipelineResult() throws(PostgresError) -> PostgresResult {
        guard let result = PQgetResult(handle) else { throw connectionError() }
        while let extra = PQgetResult(handle) { PQclear(extra) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
            return PostgresResult(result)
        default:
            let error = PostgresError(result: result, connection: handle)
            PQclear(result)
            throw error
        }
    }

    /// Reads up to the batch's sync point; after it the connection takes a new batch.
    func awaitPipelineSync() throws(PostgresError) {
        var nulls = 0
        while true {
            guard let result = PQgetResult(handle) else {
                // A NULL ends an earlier statement's results; two in a row mean the sync point is not coming.
                nulls += 1
                if PQstatus(handle) != CONNECTION_OK || nulls > 1 { throw connectionError() }
                continue
            }
            nulls = 0
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { return }
        }
    }

    private func connectionError() -> PostgresError {
        PostgresError(
            sqlState: nil, message: String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines(),
            connectionLost: PQstatus(handle) != CONNECTION_OK)
    }

    /// The cancel handle of this connection, usable from any thread.
    func makeCancel() -> OpaquePointer? {
        PQgetCancel(handle)
    }

    private func check(_ result: OpaquePointer?) throws(PostgresError) -> PostgresResult {
        switch result.map(PQresultStatus) {
        case PGRES_COMMAND_OK?, PGRES_TUPLES_OK?, PGRES_EMPTY_QUERY?:
            return PostgresResult(result!)
        default:
            let error = PostgresError(result: result, connection: handle)
            PQclear(result)
            throw error
        }
    }
}

/// A query's result, cleared when released. Values are read in place, in text format.
final class PostgresResult {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        PQclear(handle)
    }

    var rowCount: Int { Int(PQntuples(handle)) }

    /// Rows affected by an INSERT, UPDATE or DELETE.
    var affectedRows: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    func isNull(_ row: Int, _ column: Int) -> Bool {
        PQgetisnull(handle, Int32(row), Int32(column)) == 1
    }

    func string(_ row: Int, _ column: Int) -> String {
        let length = Int(PQgetlength(handle, Int32(row), Int32(column)))
        guard let pointer = PQgetvalue(handle, Int32(row), Int32(column)) else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    /// Whether two columns of a row hold the same bytes (a decoder then makes one String of them, not two).
    func sameBytes(_ row: Int, _ column: Int, _ other: Int) -> Bool {
        let count = PQgetlength(handle, Int32(row), Int32(column))
        guard count == PQgetlength(handle, Int32(row), Int32(other)),
            let first = PQgetvalue(handle, Int32(row), Int32(column)),
            let second = PQgetvalue(handle, Int32(row), Int32(other))
        else { return false }
        return memcmp(first, second, Int(count)) == 0
    }

    func int64(_ row: Int, _ column: Int) -> Int64 {
        guard let pointer = PQgetvalue(handle, Int32(row), Int32(column)) else { return 0 }
        return strtoll(pointer, nil, 10)
    }

    /// The bytes of a binary-format value.
    private func bytes(_ row: Int, _ column: Int) -> UnsafeRawBufferPointer? {
        guard let pointer = PQgetvalue(handle, Int32(row), Int32(column)) else { return nil }
        return UnsafeRawBufferPointer(start: pointer, count: Int(PQgetlength(handle, Int32(row), Int32(column))))
    }

    /// A binary `uuid`; `nil` when the column holds anything else.
    func uuid(_ row: Int, _ column: Int) -> UUID? {
        guard let bytes = bytes(row, column), bytes.count == 16 else { return nil }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { $0.copyMemory(from: bytes) }
        return UUID(uuid: uuid)
    }

    /// A binary `int2`, `int4` or `int8` (network byte order); 0 for anything else.
    func binaryInteger(_ row: Int, _ column: Int) -> Int64 {
        guard let bytes = bytes(row, column) else { return 0 }
        switch bytes.count {
        case 2: return Int64(Int16(bigEndian: bytes.loadUnaligned(as: Int16.self)))
        case 4: return Int64(Int32(bigEndian: bytes.loadUnaligned(as: Int32.self)))
        case 8: return Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
        default: return 0
        }
    }

    /// A binary `timestamptz` (microseconds since 2000-01-01 UTC) as milliseconds since 1970.
    func timestampMilliseconds(_ row: Int, _ column: Int) -> Int64 {
        let microseconds = binaryInteger(row, column)
        let milliseconds = microseconds >= 0 ? microseconds / 1000 : (microseconds - 999) / 1000
        return milliseconds + 946_684_800_000
    }
}

/// Calls `body` with a C array of NUL-terminated copies of `strings` (NULL for `nil`), freed afterwards.
private func withCStrings<T>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> T) -> T {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { copies.forEach { free($0) } }
    return copies.map { $0.map { UnsafePointer($0) } }.withUnsafeBufferPointer { body($0.baseAddress) }
}
