/// The text form of a one-dimensional PostgreSQL array, to bind a whole column of a batch as one parameter
/// (`$1::text[]`, read back with `unnest`).
enum PostgresArray {
    /// `{"a","b"}`: every element quoted, with `"` and `\` escaped, so that commas, braces, spaces and the
    /// word NULL are taken literally.
    ///
    /// Built as UTF-8 bytes, copying each element whole when it has nothing to escape (an event's JSON has
    /// quotes, so it is copied run by run): appending scalar by scalar was a sixth of an insert's time.
    static func literal(_ elements: [String]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(elements.reduce(2) { $0 + $1.utf8.count + 3 } + 16)
        bytes.append(UInt8(ascii: "{"))
        for (index, element) in elements.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            var element = element
            element.withUTF8 { utf8 in
                var start = 0
                for (offset, byte) in utf8.enumerated() where byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<offset]))
                    bytes.append(UInt8(ascii: "\\"))
                    start = offset
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
