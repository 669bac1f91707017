import Foundation
import UserPorts

/// Where a Redis directory lives: `redis://[user[:password]@]host[:port][/db][?prefix=…&timeoutMs=…]`.
///
/// - `user`: a Redis 6 ACL user (`AUTH user password`); with a password alone, `AUTH password`.
/// - `db`: the logical database (`SELECT`), 0 by default.
/// - `prefix`: what every key of the directory starts with (default `users-directory:`), so that several
///   directories share one Redis.
/// - `timeoutMs`: the connect and command timeout (default 5000).
///
/// `rediss://` (TLS) is refused: Debian 12's hiredis (0.14) has no TLS. The password is never printed
/// (``redacted``).
struct RedisURL: Sendable {
    let host: String
    let port: Int32
    let user: String?
    let password: String?
    let database: Int
    let prefix: String
    let timeout: Duration
    /// The URL with its password replaced by `***`.
    let redacted: String

    static let defaultPrefix = "users-directory:"

    init(_ text: String) throws(UserStoreError) {
        let redacted = URLRedaction.redact(text, visibleParameters: ["prefix", "timeoutMs"])
        self.redacted = redacted
        func invalid(_ reason: String) -> UserStoreError {
            UserStoreError(.invalidConfiguration, "The Redis URL \(redacted) is not valid: \(reason)")
        }
        if text.hasPrefix("rediss://") {
            throw invalid("TLS (rediss://) is not available: this build's hiredis (0.14) has no TLS support.")
        }
        guard text.hasPrefix("redis://"), let components = URLComponents(string: text) else {
            throw invalid("it must be redis://[user[:password]@]host[:port][/db][?prefix=…].")
        }
        guard let host = components.host, !host.isEmpty else { throw invalid("it names no host.") }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let port = components.port ?? 6379
        guard (1...65535).contains(port) else { throw invalid("the port must be 1…65535.") }
        self.port = Int32(port)
        let user = components.percentEncodedUser.flatMap { percentDecoded($0) }
        self.user = user?.isEmpty == false ? user : nil
        self.password = components.percentEncodedPassword.flatMap { percentDecoded($0) }
        let path = components.path.drop { $0 == "/" }
        if path.isEmpty {
            database = 0
        } else if let database = Int(path), database >= 0 {
            self.database = database
        } else {
            throw invalid("the path must be a database number, e.g. /0.")
        }
        var prefix = Self.defaultPrefix
        var timeoutMilliseconds = 5000
        for item in components.queryItems ?? [] {
            switch item.name {
            case "prefix":
                guard let value = item.value, !value.isEmpty, value.utf8.count <= 200 else {
                    throw invalid("prefix must be 1 to 200 bytes.")
                }
                prefix = value
            case "timeoutMs":
                guard let value = item.value.flatMap(Int.init), (1...600_000).contains(value) else {
                    throw invalid("timeoutMs must be 1…600000.")
                }
                timeoutMilliseconds = value
            default:
                throw invalid("unknown parameter \(item.name.allSatisfy { $0.isLetter } ? item.name : "***").")
            }
        }
        self.prefix = prefix
        self.timeout = .milliseconds(timeoutMilliseconds)
    }
}
