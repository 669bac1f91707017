import Foundation

/// One page of users ordered by id, and the cursor of the next page.
public struct UserPage: Sendable, Hashable {
    /// The users of this page, in ascending id order.
    public let users: [User]
    /// Where the next page starts; `nil` on the last page.
    public let nextCursor: PageCursor?

    /// The largest page a store hands out in one call.
    public static let maximumLimit = 1000

    /// Creates a page.
    public init(users: [User], nextCursor: PageCursor?) {
        self.users = users
        self.nextCursor = nextCursor
    }

    /// The page of a store that read one row more than `limit` (the look-ahead row): the first `limit` users,
    /// and a cursor after the last of them when the look-ahead row was there.
    ///
    /// - Parameters:
    ///   - fetched: up to `limit + 1` users in id order.
    ///   - limit: the page size asked for.
    public init(lookingAhead fetched: [User], limit: Int) {
        guard fetched.count > limit, limit > 0 else {
            self.init(users: fetched, nextCursor: nil)
            return
        }
        let users = Array(fetched.prefix(limit))
        self.init(users: users, nextCursor: PageCursor(after: users[limit - 1].id))
    }

    /// Checks a requested page size.
    ///
    /// - Throws: ``UserError/invalidPageSize(_:)`` when `limit` is outside `1...maximumLimit`.
    public static func validate(limit: Int) throws(UserError) {
        guard (1...maximumLimit).contains(limit) else { throw .invalidPageSize(limit) }
    }
}

/// A keyset cursor: the page that follows starts after ``lastID``.
///
/// Keyset paging stays correct while users are added and removed between pages: no user is shown twice,
/// and users inserted after the cursor's position appear on later pages. Its textual form (``encoded``)
/// is opaque to clients: 24 URL-safe characters that only ``init(encoded:)`` reads back.
public struct PageCursor: Hashable, Sendable, CustomStringConvertible {
    /// The id of the last user of the previous page; a page starts at the first id greater than it.
    public let lastID: UserID

    /// A cursor that continues after `lastID`.
    public init(after lastID: UserID) {
        self.lastID = lastID
    }

    private static let tag: UInt8 = 0x75  // "u": cursor format 1 over user ids

    /// The opaque, URL-safe textual form.
    public var encoded: String {
        var bytes: [UInt8] = [Self.tag]
        withUnsafeBytes(of: lastID.uuid.uuid) { bytes.append(contentsOf: $0) }
        bytes.append(bytes.reduce(0, &+))
        return Base64URL.encode(bytes)
    }

    /// Reads a cursor back from ``encoded``.
    ///
    /// - Throws: ``UserError/invalidCursor`` for anything this type did not produce.
    public init(encoded: String) throws(UserError) {
        guard let bytes = Base64URL.decode(encoded), bytes.count == 18, bytes[0] == Self.tag,
            bytes[17] == bytes[0..<17].reduce(0, &+)
        else { throw .invalidCursor }
        let uuid = (
            bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
            bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15], bytes[16]
        )
        self.lastID = UserID(.init(uuid: uuid))
    }

    /// The opaque textual form.
    public var description: String { encoded }
}

/// Unpadded base64url (RFC 4648 §5).
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            let available = min(3, bytes.count - index) + 1
            for shift in [18, 12, 6, 0].prefix(available) {
                out.append(alphabet[Int(triple >> UInt32(shift) & 0x3F)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt32] = []
        values.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(UInt32(byte - UInt8(ascii: "A")))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(UInt32(byte - UInt8(ascii: "a")) + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(UInt32(byte - UInt8(ascii: "0")) + 52)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            default: return nil
            }
        }
        if values.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var accumulator: UInt32 = 0
            for value in chunk { accumulator = accumulator << 6 | value }
            accumulator <<= UInt32(6 * (4 - chunk.count))
            let produced = chunk.count - 1
            for position in 0..<produced {
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(16 - 8 * position)))
            }
            index += 4
        }
        // Refuse non-canonical encodings (set bits beyond the last byte): one cursor, one spelling.
        guard encode(out) == text else { return nil }
        return out
    }
}
