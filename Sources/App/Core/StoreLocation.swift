import UserPorts
#if PostgreSQL
import UserPostgres
#endif

/// Where users are stored, parsed from the store URL.
///
/// `sqlite:` and `postgres://` parse only in a build with the package trait of their adapter (`SQLite`,
/// `PostgreSQL`; both default ones).
public enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    /// `memory:` — in this process only.
    case memory
    /// `sqlite:PATH` — a SQLite file (or `sqlite::memory:`).
    case sqlite(path: String)
    /// `postgres://…` or `postgresql://…`.
    case postgres(url: String)

    /// Parses a store URL (the value of `users.store`).
    ///
    /// - Throws: ``ConfigurationError`` for `users.store`; the message never repeats the URL.
    public init(_ text: String) throws {
        if text == "memory:" || text == "memory" {
            self = .memory
        } else if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else {
                throw ConfigurationError(
                    key: "users.store", "The store URL sqlite: needs a path, e.g. sqlite:users.sqlite.")
            }
            #if SQLite
            self = .sqlite(path: path)
            #else
            throw Self.leftOut("SQLite")
            #endif
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            #if PostgreSQL
            self = .postgres(url: text)
            #else
            throw Self.leftOut("PostgreSQL")
            #endif
        } else {
            // The URL is not repeated: it may hold a password.
            throw ConfigurationError(
                key: "users.store",
                "The store URL must be memory:, sqlite:PATH or postgres://….")
        }
    }

    /// The URL, as ``UserSystem/open(store:events:options:storeOptions:logger:)`` takes it (a PostgreSQL URL's
    /// password included: print ``description``).
    public var url: String {
        switch self {
        case .memory: "memory:"
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): url
        }
    }

    /// The URL as it may be printed: a PostgreSQL URL's password and secret parameters replaced by `***`
    /// (`PostgresUserStore.redacted(_:)` of UserPostgres).
    public var description: String {
        switch self {
        case .memory: "memory:"
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url):
            #if PostgreSQL
            PostgresUserStore.redacted(url)
            #else
            URLRedaction.redact(url, visibleParameters: [])
            #endif
        }
    }

    /// The error for a store whose adapter this build leaves out.
    static func leftOut(_ trait: String) -> ConfigurationError {
        ConfigurationError(
            key: "users.store",
            "A \(trait) store needs swift-user-domain's package trait \(trait), which this build leaves out.")
    }
}
