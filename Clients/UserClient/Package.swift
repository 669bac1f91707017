// swift-tools-version: 6.0

import PackageDescription

// A typed Swift client of `users serve`, generated at build time by swift-openapi-generator's build plugin
// from the very document the server serves: `scripts/client-check.sh` writes the served `GET /openapi.yaml`
// into Sources/UserClient before it builds this package, then runs `user-client-check` against the server.
let package = Package(
    name: "UserClient",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "UserClient", targets: ["UserClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        .target(
            name: "UserClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
            ],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        // Every conditional write through the generated client, against a live server.
        .executableTarget(
            name: "user-client-check",
            dependencies: [
                "UserClient",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]),
    ]
)
