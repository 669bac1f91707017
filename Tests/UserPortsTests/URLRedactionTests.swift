import Testing
import UserDomain
@testable import UserPorts

@Suite("URL redaction")
struct URLRedactionTests {
    @Test("passwords become *** however they are spelled", arguments: [
        ("postgres://u:Zm9v/YmFy+SECRET=@127.0.0.1:1/db", "postgres://u:***@127.0.0.1:1/db"),
        ("postgres://u:pa?ss=SECRET@h/db", "postgres://u:***@h/db"),
        ("postgres://u:p@SECRET@h:5432/db?sslmode=require", "postgres://u:***@h:5432/db?sslmode=require"),
        ("postgres://u:pa#SECRET@h/db", "postgres://u:***@h/db"),
        ("postgresql://u:p%40SECRET@h/db", "postgresql://u:***@h/db"),
        ("postgres://u@h/db?password=SECRET&sslmode=disable", "postgres://u@h/db?password=***&sslmode=disable"),
        ("postgres://u@h/db?sslpassword=SECRET", "postgres://u@h/db?sslpassword=***"),
        ("postgres://u@h/db?%70assword=SECRET", "postgres://u@h/db?%70assword=***"),
        ("postgres://u@h/db?pass%77ord=SECRET", "postgres://u@h/db?pass%77ord=***"),
        ("postgres://u@h/db?PASSWORD=SECRET", "postgres://u@h/db?PASSWORD=***"),
        ("postgres://u@h/db?unknown=SECRET", "postgres://u@h/db?unknown=***"),
        ("postgres://u@h/db?%zz=SECRET", "postgres://u@h/db?***=***"),
        ("postgres://u@h/db?SECRET", "postgres://u@h/db?***"),
        ("postgres://h/db?password=a:SECRET@b", "postgres://***:***@b"),
        ("postgres://u@h/db#SECRET", "postgres://u@h/db#***"),
        ("postgres://u:SECRET@h/d b", "postgres://u:***@h/***"),
        ("postgres://u:SECRET@bad host/db", "postgres://u:***@***"),
        ("postgres://u:SECRET", "postgres://***"),
        ("postgres:u:SECRET@h", "postgres:***"),
        ("u:SECRET@h", "u:***"),
        ("SECRET", "***"),
        ("postgres://u%3ASECRET@127.0.0.1:1/db", "postgres://***@127.0.0.1:1/db"),
        ("postgres://SECRET:SECRET/db", "postgres://***"),
        ("postgres://[::1:SECRET]/db", "postgres://***"),
    ])
    func redacted(_ url: String, _ expected: String) {
        #expect(URLRedaction.redact(url) == expected)
        #expect(!URLRedaction.redact(url).contains("SECRET"))
    }

    @Test("what is not secret is shown as written")
    func shown() {
        for url in [
            "postgres://app@/users?host=/tmp/pg.x&port=5433", "postgresql://u@[::1]:5432/db?sslmode=verify-full",
            "postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write&options=-csearch_path%3Dh_1",
        ] {
            #expect(URLRedaction.redact(url) == url)
        }
    }

    @Test("random URLs with a marked password never show it")
    func randomised() {
        var random = SplitMix64(seed: 7)
        let alphabet = Array("abcAZ09-._~%/?#@:=&+ ,;[]!$'()*\"\\")
        for _ in 0..<5_000 {
            let password = "SECRET" + String((0..<Int(random.next() % 8)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            let noise = String((0..<Int(random.next() % 10)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            for url in [
                "postgres://u:\(password)@h\(noise)/db", "postgres://u@h/db?password=\(password)\(noise)",
                "postgres://u@h/db?\(noise)=\(password)", "postgres://\(noise)u:\(password)@h/db",
            ] {
                #expect(!URLRedaction.redact(url).contains("SECRET"), "\(url) -> \(URLRedaction.redact(url))")
            }
        }
    }
}
