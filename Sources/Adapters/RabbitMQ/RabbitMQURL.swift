import UserPorts

/// A parsed `amqp://` or `amqps://` URL: `amqp://user:pass@host:port/vhost`.
///
/// User name, password and virtual host are percent-decoded (`%2F` is `/`). Defaults, as RabbitMQ's URI
/// spec: user and password `guest`, port 5672 (`amqps`: 5671); an absent or empty path is the default virtual
/// host `/` (the spec reads `amqp://host/` as the empty vhost, which no broker has: this reading is the useful
/// one). `amqps://` verifies the broker's certificate and host name against the system's CA store, or the
/// file named by the `cacertfile` query parameter. ``redacted`` is the form for logs and errors.
public struct RabbitMQURL: Sendable, Hashable, CustomStringConvertible {
    /// The host name or address.
    public let host: String
    /// The TCP port.
    public let port: Int
    /// The user name.
    public let user: String
    /// The password; never printed (see ``redacted``).
    let password: String
    /// The virtual host, decoded.
    public let virtualHost: String
    /// Whether the connection uses TLS (`amqps://`).
    public let usesTLS: Bool
    /// A PEM file of CA certificates to trust for `amqps://` (query parameter `cacertfile`).
    public let caCertificateFile: String?
    /// The URL with the password as `***`: safe to log.
    public let redacted: String

    /// The query parameters shown in ``redacted``.
    static let visibleParameters: Set<String> = ["cacertfile", "heartbeat", "connection_timeout"]

    /// Parses `url`.
    ///
    /// - Throws: ``RabbitMQError`` code ``RabbitMQError/Code/invalidURL``; its message shows the redacted URL.
    public init(_ url: String) throws(RabbitMQError) {
        let redacted = URLRedaction.redact(url, visibleParameters: Self.visibleParameters)
        func invalid(_ why: String) -> RabbitMQError {
            RabbitMQError(.invalidURL, "The broker URL \(redacted) is invalid: \(why).")
        }
        let tls: Bool
        var rest: Substring
        if url.hasPrefix("amqp://") {
            tls = false
            rest = url.dropFirst("amqp://".count)
        } else if url.hasPrefix("amqps://") {
            tls = true
            rest = url.dropFirst("amqps://".count)
        } else {
            throw invalid("it must start with amqp:// or amqps://")
        }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        // The user-info ends at the last `@`: an unencoded `@` in a password only makes more of it user-info.
        var user = "guest"
        var password = "guest"
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let name = userInfo.prefix { $0 != ":" }
            guard let decodedName = percentDecoded(name) else { throw invalid("the user name has a bad %-escape") }
            user = decodedName
            if name.endIndex < userInfo.endIndex {
                guard let decoded = percentDecoded(userInfo[userInfo.index(after: name.endIndex)...]) else {
                    throw invalid("the password has a bad %-escape")
                }
                password = decoded
            }
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<slash]
        let path = slash < rest.endIndex ? rest[rest.index(after: slash)...] : ""
        guard !path.contains("/") else { throw invalid("a virtual host named with `/` is spelled %2F") }
        guard let vhost = percentDecoded(path) else { throw invalid("the virtual host has a bad %-escape") }
        var port = tls ? 5671 : 5672
        var host: Substring
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("an IPv6 address lacks its `]`") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            authority = authority[authority.index(after: close)...]
        } else {
            host = authority.prefix { $0 != ":" }
            authority = authority[host.endIndex...]
        }
        if authority.first == ":" {
            guard let number = Int(authority.dropFirst()), (1...65535).contains(number) else {
                throw invalid("the port must be a number from 1 to 65535")
            }
            port = number
        } else if !authority.isEmpty {
            throw invalid("the host is malformed")
        }
        guard !host.isEmpty, let decodedHost = percentDecoded(host) else { throw invalid("the host is missing") }
        var caFile: String?
        for parameter in query.split(separator: "&") {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let key = percentDecoded(pair[0]), let value = percentDecoded(pair[1]) else {
                continue
            }
            if key == "cacertfile" { caFile = value }
        }
        self.host = decodedHost
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = vhost.isEmpty ? "/" : vhost
        self.usesTLS = tls
        self.caCertificateFile = caFile
        self.redacted = redacted
    }

    /// ``redacted``: a URL never prints its password.
    public var description: String { redacted }
}
