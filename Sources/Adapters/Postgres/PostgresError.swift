import CLibPQ

/// A failed libpq call: the SQLSTATE (when the server sent one), the server's primary message and the
/// violated constraint's name.
///
/// The primary message never contains bound values (PostgreSQL puts them in DETAIL, which is never read
/// here), and connection messages are passed through ``PostgresURL/redact(_:)`` so that the password never
/// appears. Kept for debugging only; callers see `UserStoreError`.
struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The five-character SQLSTATE, e.g. `23505`; `nil` for client-side failures (connection lost).
    let sqlState: String?
    /// The primary message.
    let message: String
    /// The name of the violated constraint, for integrity errors.
    let constraint: String?
    /// Whether the connection is unusable after the failure.
    let connectionLost: Bool
    /// Whether a connection failed because the server asked for a password and none was given
    /// (`PQconnectionNeedsPassword`): libpq's own refusal, which has no SQLSTATE.
    let passwordMissing: Bool

    var description: String {
        "PostgreSQL error \(sqlState ?? "-----"): \(message)" + (constraint.map { " (constraint \($0))" } ?? "")
    }

    /// The error of a failed result on `connection`.
    init(result: OpaquePointer?, connection: OpaquePointer) {
        // The PG_DIAG_* field codes are character macros, which Swift does not import.
        func field(_ code: UInt8) -> String? {
            guard let result, let value = PQresultErrorField(result, Int32(code)) else { return nil }
            return String(cString: value)
        }
        self.sqlState = field(UInt8(ascii: "C"))  // PG_DIAG_SQLSTATE
        self.message =
            field(UInt8(ascii: "M"))  // PG_DIAG_MESSAGE_PRIMARY
            ?? String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines()
        self.constraint = field(UInt8(ascii: "n"))  // PG_DIAG_CONSTRAINT_NAME
        self.connectionLost = PQstatus(connection) != CONNECTION_OK
        self.passwordMissing = false
    }

    init(
        sqlState: String?, message: String, constraint: String? = nil, connectionLost: Bool,
        passwordMissing: Bool = false
    ) {
        self.sqlState = sqlState
        self.message = message
        self.constraint = constraint
        self.connectionLost = connectionLost
        self.passwordMissing = passwordMissing
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }
}
