import Foundation
package import UserDomain
import HTTPTypes
import UserPorts
import ServiceSupport

/// A user as the API shows it: camelCase keys, RFC 3339 UTC timestamps with milliseconds.
package struct UserRepresentation: Codable, Sendable {
    package var id: String
    var email: String
    var displayName: String
    var status: String
    var version: Int
    var createdAt: String
    var updatedAt: String

    package init(_ user: User) {
        id = user.id.description
        email = user.email.value
        displayName = user.displayName.value
        status = user.status.rawValue
        version = user.version
        createdAt = RFC3339.string(from: user.createdAt)
        updatedAt = RFC3339.string(from: user.updatedAt)
    }
}

extension UserRepresentation {
    /// Appends the representation's JSON: sorted keys, as `JSONEncoder` would write it (tests hold the two
    /// equal).
    package func appendJSON(to json: inout JSONText) {
        json.raw(#"{"createdAt":"#)
        json.quotedVerbatim(createdAt)
        json.raw(#","displayName":"#)
        json.quoted(displayName)
        json.raw(#","email":"#)
        json.quoted(email)
        json.raw(#","id":"#)
        json.quotedVerbatim(id)
        json.raw(#","status":"#)
        json.quotedVerbatim(status)
        json.raw(#","updatedAt":"#)
        json.quotedVerbatim(updatedAt)
        json.raw(#","version":"#)
        json.integer(version)
        json.raw("}")
    }

    /// The representation as JSON bytes.
    package var json: [UInt8] {
        var json = JSONText(capacity: 256)
        appendJSON(to: &json)
        return json.bytes
    }
}

/// A page of users: `{"items":[…],"nextCursor":"…"|null}`.
package struct PageRepresentation: Encodable, Sendable {
    package var items: [UserRepresentation]
    package var nextCursor: String?

    package init(items: [UserRepresentation], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)  // null, not absent, on the last page
    }

    private enum CodingKeys: String, CodingKey {
        case items, nextCursor
    }

    /// The JSON object as a string, as `JSONEncoder.sorted` would write it.
    /// The page as JSON bytes.
    package var json: [UInt8] {
        var json = JSONText(capacity: 64 + items.count * 256)
        json.raw(#"{"items":["#)
        for (index, item) in items.enumerated() {
            if index > 0 { json.raw(",") }
            item.appendJSON(to: &json)
        }
        json.raw(#"],"nextCursor":"#)
        if let nextCursor { json.quoted(nextCursor) } else { json.raw("null") }
        json.raw("}")
        return json.bytes
    }
}

/// The body of `POST /users`.
struct RegistrationRequest: Decodable {
    var email: String
    var displayName: String
}

/// The body of `PATCH /users/{id}`: each field optional.
struct UpdateRequest: Decodable {
    var email: String?
    var displayName: String?
}
