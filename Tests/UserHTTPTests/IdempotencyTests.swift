import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
@testable import ServiceSupport
@testable import UserHTTP

extension UserAPISecurityTests {
    @Test(
        "an Idempotency-Key is scoped by the caller's token: another token's same key gets nothing of the first",
        arguments: UserAPITests.Transport.allCases)
    func idempotencyScopedByToken(_ transport: UserAPITests.Transport) async throws {
        try await withClient(tokens: ["alice-token", "bob-token"], transport: transport) { client in
            func register(_ token: String, _ email: String) async throws -> (HTTPResponse.Status, String) {
                var headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(token)"]
                headers[HTTPField.Name("Idempotency-Key")!] = "shared-key"
                return try await client.execute(
                    uri: "/users", method: .post, headers: headers,
                    body: ByteBuffer(string: #"{"email":"\#(email)","displayName":"X"}"#)
                ) { ($0.status, String(buffer: $0.body)) }
            }
            let alice = try await register("alice-token", "alice@example.com")
            #expect(alice.0 == .created)
            let bob = try await register("bob-token", "bob@example.com")
            #expect(bob.0 == .created, "Bob's key is his own: his request runs (not a 422 for Alice's body)")
            let bobWithAlicesBody = try await register("bob-token", "alice@example.com")
            #expect(bobWithAlicesBody.0 == .unprocessableContent, "never a replay of Alice's response")
            #expect(!bobWithAlicesBody.1.contains("alice@example.com"))
            #expect(try await register("alice-token", "alice@example.com") == alice, "Alice's retry replays")
        }
    }

    @Test(
        "an Idempotency-Key is compared after percent-decoding (a generated Swift client and curl agree)",
        arguments: UserAPITests.Transport.allCases)
    func idempotencyKeyDecoded(_ transport: UserAPITests.Transport) async throws {
        try await withClient(transport: transport) { client in
            let body = #"{"email":"decoded@example.com","displayName":"D"}"#
            var statuses: [HTTPResponse.Status] = []
            for key in ["order 7/a", "order%207%2Fa"] {
                var headers: HTTPFields = [.contentType: "application/json"]
                headers[HTTPField.Name("Idempotency-Key")!] = key
                statuses.append(
                    try await client.execute(
                        uri: "/users", method: .post, headers: headers, body: ByteBuffer(string: body)
                    ) { $0.status })
            }
            #expect(statuses == [.created, .created], "the second is the first's replay, not a 409 e-mail taken")
        }
    }

    @Test(
        "a retry whose JSON is spelled differently (key order, spacing, escapes) is the same registration",
        arguments: UserAPITests.Transport.allCases)
    func idempotencyComparesFields(_ transport: UserAPITests.Transport) async throws {
        try await withClient(transport: transport) { client in
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[HTTPField.Name("Idempotency-Key")!] = "spelled"
            var responses: [String] = []
            for body in [
                #"{"email":"same@example.com","displayName":"Same"}"#,
                #"{ "displayName" : "Same", "email" : "same@example.com" }"#,
            ] {
                responses.append(
                    try await client.execute(
                        uri: "/users", method: .post, headers: headers, body: ByteBuffer(string: body)
                    ) { response in
                        #expect(response.status == .created)
                        return String(buffer: response.body)
                    })
            }
            #expect(responses[0] == responses[1])
        }
    }
}

@Suite("IdempotencyCache")
struct IdempotencyCacheTests {
    static func response(_ bytes: Int) -> IdempotencyCache.Stored {
        .init(status: .created, headers: [.contentType: "application/json"], body: ByteBuffer(repeating: 0x61, count: bytes))
    }

    static func key(_ index: Int, scope: String = "anonymous") -> IdempotencyCache.Key {
        .init(scope: scope, key: "key-\(index)")
    }

    @Test("stored responses stay under the byte bound: the oldest are forgotten first")
    func byteBound() async {
        let cache = IdempotencyCache(capacity: 10_000, maximumBytes: 100_000)
        for index in 0..<2_000 {
            #expect(await cache.begin(Self.key(index), digest: [1]) == .proceed)
            await cache.finish(Self.key(index), digest: [1], response: Self.response(1_000))
            #expect(await cache.storedBytes <= 100_000)
        }
        #expect(await cache.count < 100)
        #expect(await cache.begin(Self.key(0), digest: [2]) == .proceed, "the oldest key was forgotten")
        if case .replay = await cache.begin(Self.key(1_999), digest: [1]) {} else {
            Issue.record("the newest key is remembered")
        }
    }

    @Test("the key bound holds too; abandoned keys leave nothing behind")
    func keyBound() async {
        let cache = IdempotencyCache(capacity: 10, maximumBytes: 1 << 20)
        for index in 0..<1_000 {
            _ = await cache.begin(Self.key(index), digest: [1])
            if index.isMultiple(of: 2) {
                await cache.abandon(Self.key(index))
            } else {
                await cache.finish(Self.key(index), digest: [1], response: Self.response(10))
            }
        }
        #expect(await cache.count == 10)
        for index in 990..<1_000 where !index.isMultiple(of: 2) {
            if case .replay = await cache.begin(Self.key(index), digest: [1]) {} else {
                Issue.record("key \(index) is among the newest and remembered")
            }
        }
        let empty = IdempotencyCache(capacity: 10, maximumBytes: 1 << 20)
        for index in 0..<1_000 {
            _ = await empty.begin(Self.key(index), digest: [1])
            await empty.abandon(Self.key(index))
        }
        #expect(await empty.count == 0)
        #expect(await empty.storedBytes == 0)
    }

    @Test("a response larger than the whole bound is not stored; scopes keep keys apart")
    func oversizedAndScoped() async {
        let cache = IdempotencyCache(capacity: 10, maximumBytes: 1_000)
        _ = await cache.begin(Self.key(1), digest: [1])
        await cache.finish(Self.key(1), digest: [1], response: Self.response(5_000))
        #expect(await cache.begin(Self.key(1), digest: [1]) == .proceed)
        #expect(await cache.begin(Self.key(2, scope: "token-0"), digest: [1]) == .proceed)
        #expect(await cache.begin(Self.key(2, scope: "token-1"), digest: [9]) == .proceed)
    }
}

extension IdempotencyCache.Lookup: Equatable {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.proceed, .proceed), (.mismatch, .mismatch), (.inProgress, .inProgress): true
        case (.replay(let a), .replay(let b)): a.body == b.body && a.status == b.status
        default: false
        }
    }
}
