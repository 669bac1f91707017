/// The text form of a one-dimensional PostgreSQL array, to bind a whole column of a batch as one parameter
/// (`$1::text[]`, read back with `unnest`).
enum PostgresArray {
    /// `{"a","b"}`: every element quoted, with `"` and `\` escaped, so that commas, braces, spaces and the
    /// word NULL are taken literally.
    static func literal(_ elements: [String]) -> String {
        var text = "{"
        text.reserveCapacity(elements.reduce(2) { $0 + $1.utf8.count + 3 })
        for (index, element) in elements.enumerated() {
            if index > 0 { text.append(",") }
            text.append("\"")
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { text.append("\\") }
                text.unicodeScalars.append(character)
            }
            text.append("\"")
        }
        text.append("}")
        return text
    }
}
