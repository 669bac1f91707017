package import Configuration
import Foundation
import UserAppCore

/// Typed settings read from a `ConfigReader`, the same way for every service (`users serve`, `users directory
/// serve`): a value of the wrong type or out of range is a `ConfigurationError` naming the key, never a silent
/// fall-back to the default.
package enum ConfigValues {
    /// Whether `key` has a value of any type. `ConfigReader.string(forKey:)` answers `nil` both for a key
    /// that is absent and for one whose value is of another type (a list, a number where text is read), and a
    /// value of the wrong type must never fall back to the default: `apiTokens: [a, b]` silently meant "no
    /// tokens", an unauthenticated server. swift-configuration's error type is not public, so absence is told
    /// apart by its message.
    package static func isPresent(_ reader: ConfigReader, _ key: String, isSecret: Bool = false) -> Bool {
        do {
            _ = try reader.requiredString(forKey: ConfigKey(key), isSecret: isSecret)
            return true
        } catch {
            return !String(describing: error).hasPrefix("Missing required config value")
        }
    }

    /// A text setting: `nil` when absent, an error when present with a value that is not text.
    package static func string(_ reader: ConfigReader, _ key: String, isSecret: Bool = false) throws -> String? {
        if let value = reader.string(forKey: ConfigKey(key), isSecret: isSecret) { return value }
        if isPresent(reader, key, isSecret: isSecret) {
            throw ConfigurationError(key: key, "\(key) must be text (a string), not a list, a number or null.")
        }
        return nil
    }

    /// An integer setting: the default when absent, an error when present but not a whole number in `range`
    /// (never a silent fall-back to the default).
    package static func int(_ reader: ConfigReader, _ key: String, default: Int, in range: ClosedRange<Int>) throws
        -> Int
    {
        let value: Int
        if let number = reader.int(forKey: ConfigKey(key)) {
            value = number
        } else if let text = reader.string(forKey: ConfigKey(key)) {
            guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ConfigurationError(key: key, "\(key) must be a whole number, not \"\(text)\".")
            }
            value = number
        } else if isPresent(reader, key) {
            throw ConfigurationError(key: key, "\(key) must be a whole number.")
        } else {
            return `default`
        }
        guard range.contains(value) else {
            throw ConfigurationError(
                key: key, "\(key) must be from \(range.lowerBound) to \(range.upperBound), not \(value).")
        }
        return value
    }

    /// A Boolean setting (`true`/`false`, `yes`/`no`, `1`/`0`): the default when absent, an error otherwise.
    package static func bool(_ reader: ConfigReader, _ key: String, default: Bool) throws -> Bool {
        if let value = reader.bool(forKey: ConfigKey(key)) { return value }
        guard let text = reader.string(forKey: ConfigKey(key)) else {
            if isPresent(reader, key) { throw ConfigurationError(key: key, "\(key) must be true or false.") }
            return `default`
        }
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: throw ConfigurationError(key: key, "\(key) must be true or false, not \"\(text)\".")
        }
    }
}

extension HTTPConnectionLimits {
    /// The limits under a service's prefix: `PREFIX.http.idleTimeoutMs` (75000), `requestHeadTimeoutMs` (10000),
    /// `requestBodyTimeoutMs` (30000), `maxConnections` (1024).
    package init(_ reader: ConfigReader, prefix: String) throws {
        self.init(
            idleTimeout: .milliseconds(
                try ConfigValues.int(reader, prefix + ".http.idleTimeoutMs", default: 75_000, in: 1...3_600_000)),
            requestHeadTimeout: .milliseconds(
                try ConfigValues.int(reader, prefix + ".http.requestHeadTimeoutMs", default: 10_000, in: 1...600_000)),
            requestBodyTimeout: .milliseconds(
                try ConfigValues.int(reader, prefix + ".http.requestBodyTimeoutMs", default: 30_000, in: 1...3_600_000)),
            maximumConnections: try ConfigValues.int(
                reader, prefix + ".http.maxConnections", default: 1024, in: 1...1_000_000))
    }
}
