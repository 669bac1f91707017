import Foundation
import Testing
@testable import UserDomain

/// `UserEventEnvelope(jsonData:)` reads the canonical form with a reader of its own and everything else
/// through `JSONDecoder`: the two must agree on every input, and the fast one must take every envelope this
/// package writes.
@Suite("UserEventEnvelope reading")
struct UserEventEnvelopeReadingTests {
    static let texts = [
        "Ada", "a\"b", "back\\slash", "a/b", "Zoë 👩‍💻", "e\u{301}", "tab\there", "line\nbreak", "\u{1}\u{1F}",
        "\u{7F}", "\u{2028}\u{2029}", "\u{08}\u{0C}\r", "", "名前", "Ada Lovelace", String(repeating: "x", count: 300),
    ]

    /// Every event type with each of ``texts`` as its name and e-mail address (unvalidated: the writer and
    /// both readers get texts the validating types refuse too).
    static func envelopes() -> [UserEventEnvelope] {
        var envelopes: [UserEventEnvelope] = []
        let id = UserID(UUID())
        for (index, text) in texts.enumerated() {
            let name = DisplayName(trustedValue: text)
            let email = EmailAddress(trustedValue: text + "@example.com", canonical: text.lowercased() + "@example.com")
            let events: [UserEvent] = [
                .registered(email: email, displayName: name), .renamed(displayName: name, previous: name),
                .emailChanged(email: email, previous: email), .deactivated, .reactivated, .deleted,
            ]
            for event in events {
                envelopes.append(
                    UserEventEnvelope(
                        eventID: UUID(), userID: id, userVersion: index * 1_000_003 + 1,
                        occurredAt: Date(epochMilliseconds: 1_764_000_000_123 + Int64(index)), event: event))
            }
        }
        return envelopes
    }

    /// Both readers on `data`: equal envelopes, or both refuse.
    func expectAgreement(_ data: Data, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let fast = try? UserEventEnvelope(jsonData: data)
        let generic = try? JSONDecoder().decode(UserEventEnvelope.self, from: data)
        #expect(fast == generic, comment, sourceLocation: sourceLocation)
    }

    @Test("every envelope this package writes is read by the canonical reader, equal to JSONDecoder's result")
    func canonicalForm() throws {
        for envelope in Self.envelopes() {
            let data = envelope.jsonData()
            let generic = try? JSONDecoder().decode(UserEventEnvelope.self, from: data)
            // Texts the validating types refuse (empty, control characters) are refused by both.
            #expect(UserEventEnvelope(canonicalJSON: data) == generic, "\(envelope.event)")
            if generic != nil { #expect(UserEventEnvelope(canonicalJSON: data) == envelope) }
            expectAgreement(data)
        }
        let valid = Self.envelopes().filter { (try? JSONDecoder().decode(UserEventEnvelope.self, from: $0.jsonData())) != nil }
        #expect(valid.count > 50)
    }

    @Test("other spellings of the same JSON go through JSONDecoder and give the same envelope")
    func otherForms() throws {
        let envelope = UserEventEnvelope(
            eventID: UUID(), userID: UserID(UUID()), userVersion: 3, occurredAt: Date(epochMilliseconds: 1_764_000_000_123),
            event: .renamed(displayName: try DisplayName("Zoë/Ada"), previous: try DisplayName("Ada")))
        let json = envelope.jsonString()
        // Escapes the canonical reader reads itself, and spellings only JSONDecoder reads: the same envelope.
        let variants = [
            json.replacingOccurrences(of: "Zoë", with: #"Zo\u00eb"#),
            json.replacingOccurrences(of: "Zoë", with: #"Zo\u00EB"#),
            json.replacingOccurrences(of: "/", with: #"\/"#),
            json.replacingOccurrences(of: #"":"#, with: #"": "#).replacingOccurrences(of: ",", with: " ,\n"),
            json.replacingOccurrences(of: #""userVersion":3}"#, with: #""userVersion":3,"extra":[1,{"a":null}]}"#),
            json.replacingOccurrences(of: #"{"data":"#, with: #"{"schemaVersion":1,"data":"#),
            json.replacingOccurrences(of: envelope.eventID.lowercasedString, with: envelope.eventID.uuidString),
            json.replacingOccurrences(of: ".123Z", with: ".123+00:00").replacingOccurrences(of: "T", with: "t"),
        ]
        for variant in variants {
            expectAgreement(Data(variant.utf8), "\(variant)")
            #expect(try UserEventEnvelope(jsonData: Data(variant.utf8)) == envelope, "\(variant)")
        }
        for escaped in variants[0..<3] { #expect(UserEventEnvelope(canonicalJSON: Data(escaped.utf8)) == envelope) }
        for other in variants[3..<6] { #expect(UserEventEnvelope(canonicalJSON: Data(other.utf8)) == nil) }
        // An emoji as a surrogate pair, as another writer may escape it.
        let emoji = UserEventEnvelope(
            eventID: UUID(), userID: UserID(UUID()), userVersion: 1, occurredAt: Date(epochMilliseconds: 0),
            event: .renamed(displayName: try DisplayName("a😀"), previous: try DisplayName("b")))
        let escaped = emoji.jsonString().replacingOccurrences(of: "😀", with: #"\ud83d\ude00"#)
        #expect(UserEventEnvelope(canonicalJSON: Data(escaped.utf8)) == emoji)
        expectAgreement(Data(escaped.utf8))
    }

    @Test("broken and hostile inputs are refused by both, never crash")
    func brokenForms() {
        let good = UserEventEnvelope(
            eventID: UUID(), userID: UserID(UUID()), userVersion: 12, occurredAt: Date(epochMilliseconds: 1_000),
            event: .deleted
        ).jsonString()
        func with(_ target: String, _ replacement: String) -> String {
            good.replacingOccurrences(of: target, with: replacement)
        }
        // Not an envelope: refused by both.
        var refused: [String] = ["", "{", "}", "null", "[]", #"{"data":"#, good + "x", String(good.dropLast())]
        refused += [
            with(#""userVersion":12"#, #""userVersion":99999999999999999999999"#),
            with(#""userVersion":12"#, #""userVersion":"12""#),
            with(#""schemaVersion":1"#, #""schemaVersion":0"#),
            with(#""schemaVersion":1"#, #""schemaVersion":2"#),
            with("user.deleted", "user.registered"),
            with("user.deleted", #"user.dele\u0000ted"#),
        ]
        for (name, previous) in [("", "Ada"), ("Ada", String(repeating: "x", count: 5_000)), ("\\u0001", "Ada")] {
            refused.append(
                with("user.deleted", "user.renamed").replacingOccurrences(
                    of: #""data":{}"#, with: #""data":{"displayName":"\#(name)","previousDisplayName":"\#(previous)"}"#))
        }
        refused.append(
            with("user.deleted", "user.emailChanged").replacingOccurrences(
                of: #""data":{}"#, with: #""data":{"email":"not an address","previousEmail":"a@example.com"}"#))
        for input in refused {
            expectAgreement(Data(input.utf8), "\(input)")
            #expect(throws: DecodingError.self, "\(input)") { try UserEventEnvelope(jsonData: Data(input.utf8)) }
        }
        // Not the canonical form, but JSONDecoder reads it (it is lenient with numbers, ignores `data` of an
        // event without fields): the canonical reader leaves them all to it.
        let lenient = [
            good + " ",
            with(#""userVersion":12"#, #""userVersion":012"#),
            with(#""userVersion":12"#, #""userVersion":-12"#),
            with(#""userVersion":12"#, #""userVersion":12.0"#),
            with(#""data":{}"#, #""data":{"email":"a@example.com"}"#),
            with(#""data":{}"#, #""data":{"a":"1","b":"2","c":"3"}"#),
            with(#""data":{}"#, #""data":{"a":"\ud83d"}"#),
            with(#""data":{}"#, #""data":{"a":"\ude00"}"#),
            // JSONDecoder does not look into a value it does not decode.
            with(#""data":{}"#, #""data":{"a":"\u12"}"#),
            with(#""data":{}"#, #""data":{"a":"\q"}"#),
            with(#""data":{}"#, "\"data\":{\"a\":\"\u{1}\"}"),
        ]
        for input in lenient {
            expectAgreement(Data(input.utf8), "\(input)")
            #expect(UserEventEnvelope(canonicalJSON: Data(input.utf8)) == nil, "\(input)")
        }
        // Invalid UTF-8 inside a string.
        var bytes = Array(good.utf8)
        let at = bytes.firstIndex(of: UInt8(ascii: "}"))!
        bytes.replaceSubrange(at...at, with: Array(#""a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8))
        expectAgreement(Data(bytes))
        #expect(UserEventEnvelope(canonicalJSON: Data(bytes)) == nil)
    }
}
