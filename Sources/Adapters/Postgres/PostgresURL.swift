import CLibPQ
import Foundation
import UserPorts

/// A validated PostgreSQL connection URL, its libpq connection string and its redacted form.
///
/// `postgres://user:pass@host:port/db?sslmode=require` and `postgresql://…` are accepted; every query
/// parameter passes through to libpq (`sslmode`, `sslrootcert`, `options`, a unix-socket `host=/dir`, …).
/// The password, from the user-info or a `password=` parameter, is replaced by `***` in ``redacted`` and in
/// every message that goes through ``redact(_:)``.
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
            let detail = error.map { String(cString: $0).trimmingTrailingNewlines() } ?? "unknown error"
            PQfreemem(error)
            throw UserStoreError(
                .invalidConfiguration,
                "The PostgreSQL URL \(redacted) is malformed: \(Self.redact(detail, password: Self.userInfoPassword(url)))."
            )
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
        Self.redact(message, password: password)
    }

    private static func redact(_ message: String, password: String?) -> String {
        guard let password, !password.isEmpty else { return message }
        return message.replacingAll(password, with: "***")
    }

    /// The password of the user-info part, as written (percent-encoded or not).
    private static func userInfoPassword(_ url: String) -> String? {
        guard let authority = authority(of: url), let at = authority.lastIndex(of: "@") else { return nil }
        let userInfo = authority[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return nil }
        return String(userInfo[userInfo.index(after: colon)...])
    }

    private static func authority(of url: String) -> Substring? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        return rest[..<end]
    }

    /// The URL with the user-info password and any `password=` parameter replaced by `***`.
    static func redactURL(_ url: String) -> String {
        var result = url
        if let password = userInfoPassword(url), !password.isEmpty, let authority = authority(of: url) {
            let redactedAuthority = authority.replacingAll(":" + password + "@", with: ":***@")
            result = url.replacingAll(String(authority), with: redactedAuthority)
        }
        if let query = result.firstIndex(of: "?") {
            let parameters = result[result.index(after: query)...].split(
                separator: "&", omittingEmptySubsequences: false
            )
            .map { parameter in parameter.hasPrefix("password=") ? "password=***" : String(parameter) }
            result = String(result[...query]) + parameters.joined(separator: "&")
        }
        return result
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
