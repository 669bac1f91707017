import UserPorts

/// Translates libpq's errors into the port's, at the adapter's boundary.
enum PostgresErrors {
    /// Domain errors, `UserStoreError` and `CancellationError` pass through; a cancelled query becomes
    /// `CancellationError`; connection failures `unavailable`; the rest `UserStoreError` with a safe
    /// message. Messages name the redacted URL, never SQL, values or the password.
    static func map(_ error: any Error, url: PostgresURL, connecting: Bool) -> any Error {
        guard let error = error as? PostgresError else { return error }
        let redacted = PostgresError(
            sqlState: error.sqlState, message: url.redact(error.message), constraint: error.constraint,
            connectionLost: error.connectionLost)
        if connecting, error.sqlState == nil {
            return connectionFailure(redacted, url: url)
        }
        let state = error.sqlState ?? ""
        switch state {
        case "57014":
            return CancellationError()
        case "28P01", "28000":
            return UserStoreError(
                .accessDenied, "PostgreSQL refused the credentials for \(url.redacted).", underlying: redacted)
        case "3D000":
            return UserStoreError(
                .invalidConfiguration, "The database of \(url.redacted) does not exist.", underlying: redacted)
        case "42501":
            return UserStoreError(
                .accessDenied, "The PostgreSQL user of \(url.redacted) lacks a privilege.", underlying: redacted)
        default:
            if error.connectionLost || state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" {
                return UserStoreError(
                    .unavailable, "The connection to the PostgreSQL server at \(url.redacted) was lost.",
                    underlying: redacted)
            }
            return UserStoreError(.internal, "A PostgreSQL operation failed (SQLSTATE \(state)).", underlying: redacted)
        }
    }

    /// Classifies a failure to connect by libpq's message (no SQLSTATE is available then).
    private static func connectionFailure(_ error: PostgresError, url: PostgresURL) -> any Error {
        let message = error.message
        if message.contains("password authentication failed") || message.contains("no password supplied")
            || message.contains("authentication failed")
        {
            return UserStoreError(
                .accessDenied, "PostgreSQL refused the credentials for \(url.redacted).", underlying: error)
        }
        if message.contains("does not exist") && message.contains("database") {
            return UserStoreError(
                .invalidConfiguration, "The database of \(url.redacted) does not exist.", underlying: error)
        }
        if message.contains("could not translate host name") {
            return UserStoreError(
                .unavailable, "The host of \(url.redacted) could not be resolved.", underlying: error)
        }
        if message.contains("invalid") || message.contains("unrecognized") {
            return UserStoreError(
                .invalidConfiguration, "The PostgreSQL URL \(url.redacted) was refused by libpq.", underlying: error)
        }
        return UserStoreError(
            .unavailable, "The PostgreSQL server at \(url.redacted) can't be reached.", underlying: error)
    }
}
