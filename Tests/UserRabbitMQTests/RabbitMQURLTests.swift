import Testing
@testable import UserRabbitMQ

@Suite("RabbitMQ URL")
struct RabbitMQURLTests {
    @Test("user, password, host, port and vhost, percent-decoded")
    func full() throws {
        let url = try RabbitMQURL("amqp://us%40er:p%3Ass%2Fw@broker.example:5673/my%2Fvhost")
        #expect(url.user == "us@er")
        #expect(url.password == "p:ss/w")
        #expect(url.host == "broker.example")
        #expect(url.port == 5673)
        #expect(url.virtualHost == "my/vhost")
        #expect(!url.usesTLS)
        #expect(!url.redacted.contains("p%3Ass"))
        #expect(url.redacted == "amqp://us%40er:***@broker.example:5673/my%2Fvhost")
        #expect("\(url)" == url.redacted)
    }

    @Test("defaults: guest, port 5672 (amqps 5671), vhost /")
    func defaults() throws {
        let plain = try RabbitMQURL("amqp://localhost")
        #expect(plain.user == "guest" && plain.password == "guest" && plain.port == 5672 && plain.virtualHost == "/")
        #expect(try RabbitMQURL("amqp://localhost/").virtualHost == "/")
        #expect(try RabbitMQURL("amqp://localhost/%2F").virtualHost == "/")
        let tls = try RabbitMQURL("amqps://u:p@[::1]/v?cacertfile=/etc/ca.pem")
        #expect(tls.usesTLS && tls.port == 5671 && tls.host == "::1" && tls.caCertificateFile == "/etc/ca.pem")
    }

    @Test("malformed URLs are refused, with the password redacted")
    func invalid() {
        for text in [
            "http://u:topsecret@h/", "amqp://u:topsecret@h:99999/", "amqp://u:topsecret@h/a/b", "amqp://u:topsecret@/",
            "amqp://u:top%zzsecret@h/",
        ] {
            #expect {
                try RabbitMQURL(text)
            } throws: { error in
                guard let error = error as? RabbitMQError else { return false }
                return error.code == .invalidURL && !error.description.contains("topsecret")
            }
        }
    }
}
