import Foundation
package import UserDomain

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
