import UserAppCore
package import Configuration
import Foundation

/// How the API's bearer tokens are read from configuration, under the service's prefix (`users.`, `directory.`).
///
/// - `users.apiTokens` (`USERS_API_TOKENS`): tokens separated by commas, each trimmed of spaces and tabs.
///   The value has no comment syntax: `#Zk9s/tok` is a token. Empty items (`a,,b`, a trailing comma) are
///   skipped.
/// - `users.apiTokensFile` (`USERS_API_TOKENS_FILE`): a UTF-8 file of tokens, one a line, each trimmed of
///   whitespace. A blank line is skipped, and so is a line whose first non-blank character is `#` (a
///   comment); a `#` further on belongs to the token.
///
/// A token is visible ASCII (`!` to `~`) without commas, as a bearer token must be. Both sources may be
/// given; their tokens add up. A source that is configured but yields no token (an empty variable, a file of
/// comments only) or holds a character a token can't have is a configuration error, never "no
/// authentication"; messages name the source and the line or item, never a token.
package enum APITokens {
    /// Reads the tokens of both sources.
    ///
    /// - Returns: the tokens, empty when neither source is configured.
    /// - Throws: `ConfigurationError` naming the source's key, when a configured source yields no token,
    ///   holds an invalid one, or (the file) can't be read.
    /// `prefix` is the service's: `users` (`users.apiTokens`, `USERS_API_TOKENS`) or `directory`.
    package static func read(_ reader: ConfigReader, prefix: String) throws -> [String] {
        let keys = Keys(prefix: prefix)
        var tokens: [String] = []
        if let list = reader.stringArray(forKey: ConfigKey(keys.list), isSecret: true) {
            // A list in a configuration file: each item a token (trimmed; commas not allowed inside).
            tokens += try parseList(list.joined(separator: ","), keys)
        } else if let list = try ConfigValues.string(reader, keys.list, isSecret: true) {
            tokens += try parseList(list, keys)
        }
        if let file = try ConfigValues.string(reader, keys.file) {
            guard let data = FileManager.default.contents(atPath: file),
                let text = String(data: data, encoding: .utf8)
            else {
                throw ConfigurationError(
                    key: keys.file, "The API tokens file \(file) (\(keys.file)) can't be read as UTF-8 text.")
            }
            tokens += try parseFile(text, named: file, keys)
        }
        return tokens
    }

    /// The keys of one service's tokens and their environment variables.
    package struct Keys {
        let list: String
        let file: String
        let listVariable: String

        init(prefix: String) {
            list = prefix + ".apiTokens"
            file = prefix + ".apiTokensFile"
            listVariable = prefix.uppercased() + "_API_TOKENS"
        }
    }

    /// The tokens of a `users.apiTokens` value.
    package static func parseList(_ list: String, _ keys: Keys = Keys(prefix: "users")) throws -> [String] {
        var tokens: [String] = []
        for (index, item) in list.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let token = item.trimmingCharacters(in: .whitespaces)
            if token.isEmpty { continue }
            guard isValid(token) else {
                throw ConfigurationError(
                    key: keys.list,
                    "Token \(index + 1) of \(keys.list) (\(keys.listVariable)) has a character a bearer token can't "
                        + "have: use visible ASCII without spaces or commas.")
            }
            tokens.append(token)
        }
        guard !tokens.isEmpty else {
            throw ConfigurationError(
                key: keys.list,
                "\(keys.list) (\(keys.listVariable)) is set but holds no token: set comma-separated tokens, or unset "
                    + "it to serve without authentication on loopback only.")
        }
        return tokens
    }

    /// The tokens of a tokens file's text.
    package static func parseFile(_ text: String, named file: String, _ keys: Keys = Keys(prefix: "users")) throws -> [String] {
        var tokens: [String] = []
        // `\r\n` is one Character, and a line break like any other.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let token = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if token.isEmpty || token.hasPrefix("#") { continue }
            guard isValid(token) else {
                throw ConfigurationError(
                    key: keys.file,
                    "Line \(index + 1) of the API tokens file \(file) (\(keys.file)) has a character a bearer "
                        + "token can't have: use visible ASCII without spaces or commas, one token a line.")
            }
            tokens.append(token)
        }
        guard !tokens.isEmpty else {
            throw ConfigurationError(
                key: keys.file,
                "The API tokens file \(file) (\(keys.file)) holds no token (only blank lines and # comments).")
        }
        return tokens
    }

    private static func isValid(_ token: String) -> Bool {
        token.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ",") }
    }
}
