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

    /// Connects (blocking) with a libpq connection string or URI.
    init(conninfo: String) throws(PostgresError) {
        guard let handle = PQconnectdb(conninfo) else {
            throw PostgresError(sqlState: nil, message: "out of memory", connectionLost: true)
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines()
            PQfinish(handle)
            throw PostgresError(sqlState: nil, message: message, connectionLost: true)
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
