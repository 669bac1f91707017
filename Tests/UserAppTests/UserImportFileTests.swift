import Foundation
import Testing
import UserApp
import UserPorts

@Suite("Import files")
struct UserImportFileTests {
    static func read(_ text: String, _ format: UserImportFile.Format) throws -> [UserImportFile.Record] {
        try UserImportFile(data: Data(text.utf8), format: format).records
    }

    static func ok(_ line: Int, _ email: String, _ name: String) -> UserImportFile.Record {
        .init(line: line, content: .success(Registration(email: email, displayName: name)))
    }

    @Test("CSV: header in any order, quotes, doubled quotes, commas and line breaks inside quotes, CRLF, BOM")
    func csv() throws {
        let text =
            "\u{FEFF}id,Display_Name,EMAIL\r\n"
            + "1,Ada,ada@example.com\r\n"
            + "2,\"Bob \"\"the\"\" Builder, Jr.\",bob@example.com\r\n"
            + "\r\n"
            + "3,\"Two\nlines\",two@example.com\n"
            + "4,Eve,eve@example.com"
        #expect(
            try Self.read(text, .csv) == [
                Self.ok(2, "ada@example.com", "Ada"), Self.ok(3, "bob@example.com", "Bob \"the\" Builder, Jr."),
                Self.ok(5, "two@example.com", "Two\nlines"), Self.ok(7, "eve@example.com", "Eve"),
            ])
    }

    @Test("CSV: a bad row is a rejection with its line; the rows after it are read")
    func csvBadRows() throws {
        let records = try Self.read(
            "email,name\na@example.com\nb@example.com,B\"ob\nc@example.com,C\nd@example.com,\"D", .csv)
        #expect(records.map(\.line) == [2, 3, 4, 5])
        guard case .failure(let short) = records[0].content, case .failure(let quote) = records[1].content,
            case .failure(let open) = records[3].content
        else {
            Issue.record("expected rejections, got \(records)")
            return
        }
        #expect(short.description.contains("1 fields"))
        #expect(quote.description.contains("quote"))
        #expect(open.description.contains("not closed"))
        #expect(records[2] == Self.ok(4, "c@example.com", "C"))
    }

    @Test("CSV: a header without the needed columns, an empty file and non-UTF-8 text are refused whole")
    func csvRefused() {
        #expect(throws: UserImportFile.ReadError.self) { try Self.read("mail,who\na,b\n", .csv) }
        #expect(throws: UserImportFile.ReadError.self) { try Self.read("", .csv) }
        #expect(throws: UserImportFile.ReadError.self) {
            try UserImportFile(data: Data([0x65, 0xFF, 0x0A]), format: .jsonLines)
        }
    }

    @Test("JSON lines: objects with email and displayName, extra fields ignored, blank lines skipped")
    func jsonLines() throws {
        let text = """
            {"email":"ada@example.com","displayName":"Ada"}

            {"id":"x","email":"bob@example.com","displayName":"Bob","status":"active","version":3}
            not json
            {"email":"c@example.com"}
            ["email","displayName"]
            {"email":"d@example.com","displayName":"D"}\r
            """
        let records = try Self.read(text, .jsonLines)
        #expect(records.map(\.line) == [1, 3, 4, 5, 6, 7])
        #expect(records[0] == Self.ok(1, "ada@example.com", "Ada"))
        #expect(records[1] == Self.ok(3, "bob@example.com", "Bob"))
        #expect(records[5] == Self.ok(7, "d@example.com", "D"))
        let reasons = records[2...4].map { record in
            if case .failure(let error) = record.content { error.description } else { "" }
        }
        #expect(reasons[0] == "The line is not a JSON object.")
        #expect(reasons[1] == "The object needs the string fields email and displayName.")
        #expect(reasons[2] == "The line is not a JSON object.")
    }

    @Test("the format follows the file name")
    func formatByName() {
        #expect(UserImportFile.format(forPath: "/tmp/users.CSV") == .csv)
        #expect(UserImportFile.format(forPath: "users.jsonl") == .jsonLines)
        #expect(UserImportFile.format(forPath: "-") == .jsonLines)
    }
}
