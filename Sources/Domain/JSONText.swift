/// Hand-written JSON for the package's fixed shapes (the event envelope, the HTTP representations): the
/// bytes `JSONEncoder` with sorted keys and unescaped slashes gives, without its generic machinery, which
/// costs more than the rest of a lookup or an append. Tests hold the two equal.
package enum JSONText {
    /// Appends `text` as a JSON string: quotes, backslashes and control characters escaped as `JSONEncoder`
    /// escapes them; slashes and everything else as is.
    package static func appendQuoted(_ text: String, to json: inout String) {
        json += "\""
        if !text.utf8.contains(where: { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 }) {
            json += text
        } else {
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": json += "\\\""
                case "\\": json += "\\\\"
                case "\u{08}": json += "\\b"
                case "\u{0C}": json += "\\f"
                case "\n": json += "\\n"
                case "\r": json += "\\r"
                case "\t": json += "\\t"
                case let control where control.value < 0x20:
                    let hex = String(control.value, radix: 16)
                    json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: json.unicodeScalars.append(scalar)
                }
            }
        }
        json += "\""
    }
}
