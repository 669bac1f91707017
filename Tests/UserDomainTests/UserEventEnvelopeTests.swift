import Foundation
import Testing
import UserDomain

/// The generic encoder's form of an envelope (its `Codable` conformance), which `UserEventEnvelope.jsonData()`
/// must match byte for byte.
func codableJSONData(_ envelope: UserEventEnvelope) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Encoding these value types can't fail: every field is a string or an integer.
    // swiftlint:disable:next force_try
    return try! encoder.encode(envelope)
}

@Suite("UserEventEnvelope JSON")
struct UserEventEnvelopeTests {
    let userID = UserID("0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a")!
    let eventID = UUID(uuidString: "0190F5A4-7C3E-7D1A-9B2C-000000000001")!
    let at = Date(epochMilliseconds: 1_764_205_323_456)

    @Test("registered encodes to the documented, stable JSON")
    func registeredJSON() throws {
        let envelope = UserEventEnvelope(
            eventID: eventID, userID: userID, userVersion: 1, occurredAt: at,
            event: .registered(email: try EmailAddress("Ada@Example.com"), displayName: try DisplayName("Ada Lovelace"))
        )
        let json = String(decoding: envelope.jsonData(), as: UTF8.self)
        #expect(
            json
                == #"{"data":{"displayName":"Ada Lovelace","email":"Ada@Example.com"},"eventId":"0190f5a4-7c3e-7d1a-9b2c-000000000001","occurredAt":"2025-11-27T01:02:03.456Z","schemaVersion":1,"type":"user.registered","userId":"0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a","userVersion":1}"#
        )
    }

    @Test("every event type round-trips", arguments: 0..<6)
    func roundTrip(_ index: Int) throws {
        let events: [UserEvent] = [
            .registered(email: try EmailAddress("Ada@Example.com"), displayName: try DisplayName("Ada")),
            .renamed(displayName: try DisplayName("Zoë 👩‍💻"), previous: try DisplayName("Ada")),
            .emailChanged(email: try EmailAddress("ADA@example.com"), previous: try EmailAddress("Ada@Example.com")),
            .deactivated, .reactivated, .deleted,
        ]
        let envelope = UserEventEnvelope(
            eventID: eventID, userID: userID, userVersion: index + 1, occurredAt: at, event: events[index])
        let decoded = try UserEventEnvelope(jsonData: envelope.jsonData())
        #expect(decoded == envelope)
        #expect(decoded.type == UserEvent.typeNames[index])
    }

    @Test("data of the simple events is an empty object")
    func emptyData() throws {
        let envelope = UserEventEnvelope(
            eventID: eventID, userID: userID, userVersion: 2, occurredAt: at, event: .deleted)
        #expect(String(decoding: envelope.jsonData(), as: UTF8.self).hasPrefix(#"{"data":{},"eventId""#))
    }

    @Test("unknown types, newer schemas and bad fields are refused")
    func refusals() {
        let good =
            #"{"data":{},"eventId":"0190f5a4-7c3e-7d1a-9b2c-000000000001","occurredAt":"2025-11-27T01:02:03.456Z","schemaVersion":1,"type":"user.deleted","userId":"0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a","userVersion":1}"#
        #expect((try? UserEventEnvelope(jsonData: Data(good.utf8))) != nil)
        for bad in [
            good.replacingOccurrences(of: "user.deleted", with: "user.exploded"),
            good.replacingOccurrences(of: #""schemaVersion":1"#, with: #""schemaVersion":2"#),
            good.replacingOccurrences(of: "2025-11-27T01:02:03.456Z", with: "yesterday"),
            good.replacingOccurrences(of: "1f0e2d3c4b5a", with: "nope"),
            good.replacingOccurrences(of: #""data":{},"#, with: #""data":{"email":"x"},"#)
                .replacingOccurrences(of: "user.deleted", with: "user.registered"),
        ] {
            #expect(throws: DecodingError.self) { try UserEventEnvelope(jsonData: Data(bad.utf8)) }
        }
    }

    @Test("RFC 3339 timestamps: formatting, offsets and fractions")
    func timestamps() throws {
        func decode(_ time: String) throws -> Date {
            let json =
                #"{"data":{},"eventId":"0190f5a4-7c3e-7d1a-9b2c-000000000001","occurredAt":"\#(time)","schemaVersion":1,"type":"user.deleted","userId":"0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a","userVersion":1}"#
            return try UserEventEnvelope(jsonData: Data(json.utf8)).occurredAt
        }
        #expect(try decode("2025-11-27T01:02:03.456Z") == at)
        #expect(try decode("2025-11-27T02:02:03.456+01:00") == at)
        #expect(try decode("2025-11-27T01:02:03.4561234Z") == at)
        #expect(try decode("2025-11-27T01:02:03Z") == Date(epochMilliseconds: 1_764_205_323_000))
        #expect(try decode("1970-01-01T00:00:00.000Z") == Date(epochMilliseconds: 0))
        #expect(try decode("2024-02-29T23:59:59.999Z") == Date(epochMilliseconds: 1_709_251_199_999))
        #expect(throws: DecodingError.self) { try decode("2023-02-29T00:00:00Z") }
        #expect(throws: DecodingError.self) { try decode("2025-11-27T01:02:03") }
        #expect(throws: DecodingError.self) { try decode("2025-11-27T01:02:03.Z") }
        let early = UserEventEnvelope(
            eventID: eventID, userID: userID, userVersion: 1, occurredAt: Date(epochMilliseconds: -1), event: .deleted)
        #expect(String(decoding: early.jsonData(), as: UTF8.self).contains("1969-12-31T23:59:59.999Z"))
        #expect(try UserEventEnvelope(jsonData: early.jsonData()) == early)
    }
}

@Suite("UserID and PageCursor")
struct IdentityTests {
    @Test("ids parse in either case, print in lower case, and order by bytes")
    func ids() throws {
        let id = try #require(UserID("0190F5A4-7C3E-7D1A-9B2C-1F0E2D3C4B5A"))
        #expect(id.description == "0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a")
        #expect(UserID("not-a-uuid") == nil)
        #expect(UserID("00000000-0000-4000-8000-000000000001")! < UserID("00000000-0000-4000-8000-000000000002")!)
        #expect(UserID("00000000-0000-4000-8000-0000000000ff")! < UserID("00000000-0000-4000-8001-000000000000")!)
        #expect(!(id < id))
    }

    @Test("a cursor round-trips through its opaque form")
    func cursorRoundTrip() throws {
        let id = UserID(UUID())
        let cursor = PageCursor(after: id)
        let decoded = try PageCursor(encoded: cursor.encoded)
        #expect(decoded.lastID == id)
        #expect(cursor.encoded.count == 24)
        #expect(cursor.encoded.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    @Test(
        "altered or foreign cursors are refused",
        arguments: ["", "abc", "!!!!", "dGVzdA", String(repeating: "A", count: 24)])
    func badCursors(_ text: String) {
        #expect(throws: UserError.invalidCursor) { try PageCursor(encoded: text) }
    }

    @Test("flipping one character of a cursor is detected")
    func tamper() {
        let encoded = PageCursor(after: UserID(UUID())).encoded
        var characters = Array(encoded)
        characters[10] = characters[10] == "A" ? "B" : "A"
        #expect(throws: UserError.invalidCursor) { try PageCursor(encoded: String(characters)) }
    }
}

@Suite("Event JSON writer")
struct EventJSONWriterTests {
    @Test("the hand-written JSON equals JSONEncoder's, byte for byte, for every type and awkward text")
    func matchesJSONEncoder() throws {
        for envelope in UserEventEnvelopeReadingTests.envelopes() {
            #expect(
                String(decoding: envelope.jsonData(), as: UTF8.self)
                    == String(decoding: codableJSONData(envelope), as: UTF8.self), "\(envelope.event)")
        }
    }
}
