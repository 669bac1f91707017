import Foundation
import ServiceSupport

/// The OpenAPI 3.1 document of ``UserAPI``, served as is at `GET /openapi.yaml`.
///
/// The document is a resource of this module (`openapi.yaml`, next to the routes it describes), read once, the
/// first time it is asked for (``UserAPI/addRoutes(to:)`` asks for it when it builds the routes). Its
/// operations and the router's routes are one set: the tests compare them, and the 405 `Allow` lists and the
/// routes open without a token come from one route table. `scripts/api-conformance.sh` validates it with
/// openapi-spec-validator and fuzzes a live server against it with schemathesis, and `scripts/client-check.sh`
/// calls a live server through the Swift client swift-openapi-generator generates from it.
public enum OpenAPIDocument {
    /// The document, as YAML.
    public static let yaml: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            // The resource is part of the module: without it the build or the installation is broken.
            fatalError("UserHTTP's resource openapi.yaml is missing from \(Bundle.module.bundlePath)")
        }
        return text
    }()
}
