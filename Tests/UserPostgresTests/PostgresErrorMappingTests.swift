import Foundation
import Testing
import UserPorts
@testable import UserPostgres

@Suite("PostgreSQL error mapping")
struct PostgresErrorMappingTests {
    let url = try! PostgresURL("postgres://app:hunter2@db.example:5432/users", connectTimeout: .seconds(2))

    func code(_ error: PostgresError, connecting: Bool = true) -> UserStoreError.Code? {
        (PostgresErrors.map(error, url: url, connecting: connecting) as? UserStoreError)?.code
    }

    @Test("a server's refusal to connect is classified by its SQLSTATE, whatever the message's language")
    func bySQLState() {
        // The messages are a German server's: no English to match.
        let german = "Verbindung zum Server fehlgeschlagen: SCHWERWIEGEND:  "
        #expect(
            code(
                .init(
                    sqlState: "28P01", message: german + "Passwort-Authentifizierung fehlgeschlagen",
                    connectionLost: true))
                == .accessDenied)
        #expect(
            code(.init(sqlState: "3D000", message: german + "Datenbank »x« existiert nicht", connectionLost: true))
                == .invalidConfiguration)
        #expect(
            code(.init(sqlState: "53300", message: german + "zu viele Verbindungen", connectionLost: true))
                == .unavailable)
        #expect(
            code(.init(sqlState: "57P03", message: german + "das Datenbanksystem startet", connectionLost: true))
                == .unavailable)
        // English text that once decided the mapping no longer does: the code does.
        #expect(
            code(.init(sqlState: "53300", message: "database \"x\" does not exist", connectionLost: true))
                == .unavailable)
        #expect(
            code(
                .init(sqlState: "42501", message: "password authentication failed", connectionLost: false),
                connecting: false) == .accessDenied)
        #expect(
            PostgresErrors.map(
                PostgresError(sqlState: "57014", message: "", connectionLost: false), url: url, connecting: false)
                is CancellationError)
    }

    @Test("a missing password is told by PQconnectionNeedsPassword; text only where libpq has no code")
    func withoutSQLState() {
        #expect(
            code(.init(sqlState: nil, message: "fe_sendauth: keine", connectionLost: true, passwordMissing: true))
                == .accessDenied)
        #expect(
            code(.init(sqlState: nil, message: "invalid sslmode value: \"bogus\"", connectionLost: true))
                == .invalidConfiguration)
        #expect(code(.init(sqlState: nil, message: "Connection refused", connectionLost: true)) == .unavailable)
        #expect(code(.init(sqlState: nil, message: "timeout expired", connectionLost: true)) == .unavailable)
        // Client-side text that mentions authentication but carries no code is not guessed at: unavailable.
        #expect(code(.init(sqlState: nil, message: "etwas Unbekanntes", connectionLost: true)) == .unavailable)
    }

    @Test("the SQLSTATE is read from libpq's verbose layout, the last server error winning")
    func startupSQLState() {
        #expect(
            PostgresConnection.startupSQLState(
                in: "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  28P01: password authentication "
                    + "failed for user \"app\"\nLOCATION:  auth_failed, auth.c:326\n") == "28P01")
        #expect(
            PostgresConnection.startupSQLState(
                in: "connection to server at \"a\" failed: FATAL:  57P03: the database system is starting up\n"
                    + "connection to server at \"b\" failed: SCHWERWIEGEND:  3D000: Datenbank »x« existiert nicht\n")
                == "3D000")
        #expect(
            PostgresConnection.startupSQLState(
                in: "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server running "
                    + "on that host and accepting TCP/IP connections?\n") == nil)
        #expect(PostgresConnection.startupSQLState(in: "invalid sslmode value: \"bogus\"\n") == nil)
        #expect(
            PostgresConnection.primaryLines(of: "x failed: FATAL:  28P01: no\nLOCATION:  auth.c:326\n")
                == "x failed: FATAL:  28P01: no")
    }

    @Test("against the server: wrong credentials are 28P01, an unknown database 3D000, read from libpq")
    func serverCodes() async throws {
        let good = try #require(URLComponents(string: try TestPostgres.url))
        let host = "\(good.host!):\(good.port!)"
        func failure(_ url: String) throws -> PostgresError? {
            let conninfo = try PostgresURL(url, connectTimeout: .seconds(5)).conninfo
            do {
                _ = try PostgresConnection(conninfo: conninfo)
                Issue.record("connected to \(url)")
                return nil
            } catch {
                return error
            }
        }
        func sqlState(_ url: String) throws -> String? { try failure(url)?.sqlState }
        #expect(try sqlState("postgres://app:wrong-pw@\(host)/users_test") == "28P01")
        #expect(try sqlState("postgres://app:\(good.password!)@\(host)/no_such_database") == "3D000")
        #expect(try sqlState("postgres://app:\(good.password!)@127.0.0.1:1/users_test") == nil)
        let withoutPassword = try failure("postgres://app@\(host)/users_test")
        #expect(withoutPassword?.passwordMissing == true, "\(String(describing: withoutPassword))")
    }
}
