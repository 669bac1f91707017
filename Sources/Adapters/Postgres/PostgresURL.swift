import CLibPQ
import Foundation
import UserPorts

/// A validated PostgreSQL connection URL, its libpq connection string and its redacted form.
///
/// `postgres://user:pass@host:port/db?sslmode=require` and `postgresql://…` are accepted; every query
/// parameter passes through to libpq (`sslmode`, `sslrootcert`, `options`, a unix-socket `host=/dir`, …).
/// ``redacted`` is the URL as `URLRedaction` (UserPorts) prints it (the password and every secret parameter as `***`);
/// ``redact(_:)`` replaces the password that libpq parsed wherever it appears in a message.
struct PostgresURL: Sendable {
    /// What libpq is given.
    let conninfo: String
    /// The URL with the password replaced: safe for logs and errors.
    let redacted: String
    private let password: String?

    /// Validates `url` and adds `connect_timeout` and `application_name` unless the URL sets them.
    ///
    /// - Throws: `UserStoreError` code `invalidConfiguration`, with the password redacted.
    init(_ url: String, connectTimeout: Duration) throws {
        let redacted = Self.redactURL(url)
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw UserStoreError(
                .invalidConfiguration, "The PostgreSQL URL \(redacted) must start with postgres:// or postgresql://.")
        }
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &error) else {
            // libpq's message quotes the part it could not parse, which may be part of the password: not shown.
            PQfreemem(error)
            throw UserStoreError(
                .invalidConfiguration,
                "The PostgreSQL URL \(redacted) is malformed (libpq can't parse it); percent-encode any '/', '?', "
                    + "'#', '@' or ':' in the user name or the password.")
        }
        var password: String?
        var keywords: Set<String> = []
        var option = options
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            if let value = option.pointee.val {
                keywords.insert(name)
                if name == "password" { password = String(cString: value) }
            }
            option += 1
        }
        PQconninfoFree(options)
        var conninfo = url
        var separator = url.contains("?") ? "&" : "?"
        if !keywords.contains("connect_timeout") {
            let seconds = max(
                1, connectTimeout.components.seconds + (connectTimeout.components.attoseconds > 0 ? 1 : 0))
            conninfo += "\(separator)connect_timeout=\(seconds)"
            separator = "&"
        }
        if !keywords.contains("application_name") {
            conninfo += "\(separator)application_name=swift-user-domain"
        }
        self.conninfo = conninfo
        self.redacted = redacted
        self.password = password
    }

    /// `message` with the password replaced by `***`.
    func redact(_ message: String) -> String {
        guard let password, !password.isEmpty else { return message }
        return message.replacingAll(password, with: "***")
    }

    /// The URL with the password, and every parameter that is or may be secret, replaced by `***`
    /// (`URLRedaction`).
    static func redactURL(_ url: String) -> String {
        URLRedaction.redact(url)
    }
}

extension StringProtocol {
    /// Every occurrence of `target` replaced (no Foundation needed).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return String(self) }
        var result = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
