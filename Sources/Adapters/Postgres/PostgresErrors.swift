import UserPorts

/// Translates libpq's errors into the port's, at the adapter's boundary.
enum PostgresErrors {
    /// Domain errors, `UserStoreError` and `CancellationError` pass through; a cancelled query becomes
    /// `CancellationError`; connection failures `unavailable`; the rest `UserStoreError` with a safe
    /// message. Messages name the redacted URL, never SQL, values or the password.
    ///
    /// Failures are classified by SQLSTATE (a server's refusal to connect carries one too, see
    /// ``PostgresConnection/init(conninfo:)``) and by libpq's connection state (`PQstatus`,
    /// `PQconnectionNeedsPassword`); libpq's message text is read only for a failure to connect that has
    /// neither (``connectionFailure(_:url:)``).
    static func map(_ error: any Error, url: PostgresURL, connecting: Bool) -> any Error {
        guard let error = error as? PostgresError else { return error }
        let redacted = PostgresError(
            sqlState: error.sqlState, message: url.redact(error.message), constraint: error.constraint,
            connectionLost: error.connectionLost, passwordMissing: error.passwordMissing)
        if error.passwordMissing {
            return UserStoreError(
                .accessDenied, "PostgreSQL asked for a password for \(url.redacted) and none was given.",
                underlying: redacted)
        }
        if connecting, error.sqlState == nil {
            return connectionFailure(redacted, url: url)
        }
        let state = error.sqlState ?? ""
        switch state {
        case "57014":  // query_canceled
            return CancellationError()
        case "28P01", "28000":  // invalid_password, invalid_authorization_specification
            return UserStoreError(
                .accessDenied, "PostgreSQL refused the credentials for \(url.redacted).", underlying: redacted)
        case "3D000":  // invalid_catalog_name: the database does not exist
            return UserStoreError(
                .invalidConfiguration, "The database of \(url.redacted) does not exist.", underlying: redacted)
        case "42501":  // insufficient_privilege
            return UserStoreError(
                .accessDenied, "The PostgreSQL user of \(url.redacted) lacks a privilege.", underlying: redacted)
        default:
            // Class 08 connection exceptions, class 57P operator intervention (shutting down, starting up, in
            // recovery), 53300 too_many_connections; or libpq reports the connection gone (PQstatus).
            if error.connectionLost || state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" {
                return UserStoreError(
                    .unavailable, "The connection to the PostgreSQL server at \(url.redacted) was lost.",
                    underlying: redacted)
            }
            return UserStoreError(.internal, "A PostgreSQL operation failed (SQLSTATE \(state)).", underlying: redacted)
        }
    }

    /// Classifies a failure to connect that has no SQLSTATE: the server was never reached (refused, unknown
    /// host, timed out, TLS failed) or libpq refused an option's value before trying. libpq reports these
    /// only as text, with no code and no connection state beyond `CONNECTION_BAD`, so the text is the last
    /// resort, and it is read narrowly: a message that is not recognised is `unavailable` (retry later),
    /// which is also what a translated libpq message (a client with another `LC_MESSAGES`) ends as.
    private static func connectionFailure(_ error: PostgresError, url: PostgresURL) -> any Error {
        let message = error.message
        // libpq's options check (connectOptions2): "invalid sslmode value: …", "invalid port number: …".
        if message.hasPrefix("invalid ") {
            return UserStoreError(
                .invalidConfiguration, "The PostgreSQL URL \(url.redacted) was refused by libpq.", underlying: error)
        }
        // getaddrinfo failed for the host: only the wording differs from the default.
        if message.contains("could not translate host name") {
            return UserStoreError(
                .unavailable, "The host of \(url.redacted) could not be resolved.", underlying: error)
        }
        return UserStoreError(
            .unavailable, "The PostgreSQL server at \(url.redacted) can't be reached.", underlying: error)
    }
}
