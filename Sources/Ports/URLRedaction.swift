/// The one way this package prints a connection URL (a store URL, a broker URL): with every secret replaced
/// by `***`, built so that it cannot fail open.
///
/// It does not try to find the password and cut it out, which fails when the password is spelled in a way
/// the finder did not expect (a base64 password holds `/` and `+`, a careless one `?` or `@`). It rebuilds
/// the URL from the parts it can prove harmless and replaces everything else:
///
/// - the user-info is everything before the **last** `@` of the URL: the user name is shown when it is made
///   of URL-safe characters, and a password, however spelled, becomes `***`;
/// - the host is shown when it is a list of `host[:port]` (names, IPv4, `[IPv6]`, numeric ports); when it is
///   not, the URL does not parse, and nothing after the user name is shown;
/// - the path (the database name) is shown when it is made of URL-safe characters, otherwise `/***`;
/// - a query parameter without `=` is `***`; a query parameter's value is shown only when its key, after percent-decoding, is one the caller
///   listed as harmless (``libpqVisibleParameters`` by default) and the value is made of URL-safe
///   characters; every other value (`password`, `sslpassword`, `%70assword`, an unknown key) is `***`;
/// - a fragment is never shown.
package enum URLRedaction {
    /// The libpq connection parameters whose values are not secret (PostgreSQL 15's list, less `password`
    /// and `sslpassword`).
    package static let libpqVisibleParameters: Set<String> = [
        "host", "hostaddr", "port", "dbname", "user", "passfile", "channel_binding", "connect_timeout",
        "client_encoding", "options", "application_name", "fallback_application_name", "keepalives",
        "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
        "gssencmode", "sslmode", "requiressl", "sslcompression", "sslcert", "sslkey", "sslrootcert", "sslsni",
        "sslcrl", "sslcrldir", "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version",
        "krbsrvname", "gsslib", "service", "target_session_attrs", "load_balance_hosts", "require_auth",
        "sslcertmode", "gssdelegation",
    ]

    /// `url` with its secrets replaced by `***` (see the type's rules).
    ///
    /// - Parameter visibleParameters: the query keys whose values may be shown.
    package static func redact(_ url: String, visibleParameters: Set<String> = libpqVisibleParameters) -> String {
        let text = Substring(url)
        guard let separator = text.firstRange(of: "://"), text[..<separator.lowerBound].allSatisfy(isSchemeCharacter),
            !text[..<separator.lowerBound].isEmpty
        else {
            // Not a URL with an authority: show the scheme at most.
            if let colon = text.firstIndex(of: ":"), text[..<colon].allSatisfy(isSchemeCharacter) {
                return text[...colon] + "***"
            }
            return "***"
        }
        var result = String(text[..<separator.upperBound])
        var rest = text[separator.upperBound...]

        // The user-info ends at the last `@`, wherever it is: a password may hold `/`, `?`, `#` or `@`
        // unencoded, and an `@` later in the URL only makes more of it hidden.
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            let user = userInfo.prefix { $0 != ":" }
            // A `%3A` in the user name is a colon the writer meant as the separator, perhaps: hidden too.
            let userShown = user.allSatisfy(isSafe) && !(percentDecoded(user)?.contains(":") ?? true)
            result += userShown ? String(user) : "***"
            if user.endIndex < userInfo.endIndex { result += ":***" }
            result += "@"
            rest = rest[rest.index(after: at)...]
        }
        // Anything after `#` is not sent and may hold anything: never shown.
        var hadFragment = false
        if let hash = rest.firstIndex(of: "#") {
            rest = rest[..<hash]
            hadFragment = true
        }
        let hostEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let host = rest[..<hostEnd]
        guard isHostList(host) else { return result + "***" }  // does not parse
        result += host
        rest = rest[hostEnd...]

        if rest.first == "/" {
            let pathEnd = rest.firstIndex(of: "?") ?? rest.endIndex
            let path = rest[rest.index(after: rest.startIndex)..<pathEnd]
            result += "/" + (path.allSatisfy(isSafe) ? String(path) : "***")
            rest = rest[pathEnd...]
        }
        if rest.first == "?" {
            let parameters = rest.dropFirst().split(separator: "&", omittingEmptySubsequences: false).map {
                parameter -> String in
                guard let equals = parameter.firstIndex(of: "=") else { return "***" }
                let key = parameter[..<equals]
                let value = parameter[parameter.index(after: equals)...]
                guard key.allSatisfy(isSafe), let name = percentDecoded(key) else { return "***=***" }
                let shown = visibleParameters.contains(name) && value.allSatisfy(isSafe)
                return key + "=" + (shown ? String(value) : "***")
            }
            result += "?" + parameters.joined(separator: "&")
        }
        if hadFragment { result += "#***" }
        return result
    }

    private static func isSchemeCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "+" || c == "-" || c == ".")
    }

    /// RFC 3986's unreserved characters, `%` for percent-encoding, and the few sub-delimiters and path
    /// characters that connection URLs use (`/` for socket directories, `:` and `,` in lists).
    private static func isSafe(_ c: Character) -> Bool {
        guard c.isASCII else { return false }
        if c.isLetter || c.isNumber { return true }
        return "-._~%/:,".contains(c)
    }

    /// Whether `text` is empty or a comma-separated list of `host[:port]`, where a host is a name or an IPv4
    /// address (letters, digits, `-._~%`) or an IPv6 address in brackets, and a port is digits.
    private static func isHostList(_ text: Substring) -> Bool {
        text.isEmpty
            || text.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { element in
                var rest = element[...]
                if rest.first == "[" {
                    guard let close = rest.firstIndex(of: "]"),
                        rest[rest.index(after: rest.startIndex)..<close].allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "%" })
                    else { return false }
                    rest = rest[rest.index(after: close)...]
                } else {
                    let name = rest.prefix { $0 != ":" }
                    guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._~%".contains($0)) })
                    else { return false }
                    rest = rest[name.endIndex...]
                }
                if rest.isEmpty { return true }
                guard rest.first == ":" else { return false }
                let port = rest.dropFirst()
                return !port.isEmpty && port.allSatisfy { $0.isASCII && $0.isNumber }
            }
    }
}
