/// The OpenAPI 3.1 document of ``UserAPI``, served at `GET /openapi.yaml`.
///
/// Written by hand next to the routes it describes; `scripts/test.sh` validates it with
/// openapi-spec-validator and fuzzes a live server against it with schemathesis, so a route or a response
/// that departs from it fails the tests.
public enum OpenAPIDocument {
    /// The document, as YAML.
    public static let yaml = #"""
        openapi: 3.1.0
        info:
          title: swift-user-domain user service
          version: 1.0.0
          summary: Register, find and change users; every change commits its domain events.
          description: >-
            The resource endpoints under /users read and write the write model: a client always reads its own
            writes. Every error is an RFC 9457 problem (application/problem+json) whose `type` is a stable URI
            under https://swift-user-domain.github.io/problems/. Every response carries X-Request-ID.
            When the server is configured with API tokens, every route but the health checks and this document
            requires `Authorization: Bearer <token>`.
          license:
            name: Apache-2.0
            identifier: Apache-2.0
        security:
          - {}
          - bearerAuth: []
        paths:
          /users:
            post:
              operationId: registerUser
              summary: Register a user.
              parameters:
                - $ref: '#/components/parameters/IdempotencyKey'
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      $ref: '#/components/schemas/Registration'
              responses:
                '201':
                  description: The user, registered at version 1.
                  headers:
                    Location:
                      description: The user's URL.
                      schema: {type: string}
                    ETag:
                      $ref: '#/components/headers/ETag'
                    Consistency-Token:
                      $ref: '#/components/headers/ConsistencyToken'
                    X-Request-ID:
                      $ref: '#/components/headers/XRequestID'
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/User'
                  links:
                    GetUser:
                      operationId: getUser
                      parameters: {id: '$response.body#/id'}
                    UpdateUser:
                      operationId: updateUser
                      parameters: {id: '$response.body#/id'}
                    DeactivateUser:
                      operationId: deactivateUser
                      parameters: {id: '$response.body#/id'}
                    ReactivateUser:
                      operationId: reactivateUser
                      parameters: {id: '$response.body#/id'}
                    DeleteUser:
                      operationId: deleteUser
                      parameters: {id: '$response.body#/id'}
                '400': {$ref: '#/components/responses/BadRequest'}
                '401': {$ref: '#/components/responses/Unauthorized'}
                '409': {$ref: '#/components/responses/Conflict'}
                '413': {$ref: '#/components/responses/ContentTooLarge'}
                '415': {$ref: '#/components/responses/UnsupportedMediaType'}
                '422': {$ref: '#/components/responses/Unprocessable'}
                '503': {$ref: '#/components/responses/Unavailable'}
            get:
              operationId: listUsers
              summary: A page of users in id order, or the user with an e-mail address.
              description: >-
                With `email`, a page holding the one user whose address matches without regard to letter case, or
                no user. Otherwise keyset pages ordered by id; the next page's URL is in the Link header, and the
                last page has no Link and a null nextCursor.
              parameters:
                - name: email
                  in: query
                  schema: {type: string}
                - name: limit
                  in: query
                  schema: {type: integer, minimum: 1, maximum: 500, default: 50}
                - name: cursor
                  in: query
                  description: The nextCursor of the previous page, as it was given (opaque; any other value is 400).
                  schema: {type: string, minLength: 1, pattern: '^[A-Za-z0-9_-]+$'}
              responses:
                '200':
                  description: A page of users.
                  headers:
                    Link:
                      description: <…>; rel="next", on every page but the last.
                      schema: {type: string}
                    X-Request-ID:
                      $ref: '#/components/headers/XRequestID'
                  content:
                    application/json:
                      schema:
                        $ref: '#/components/schemas/Page'
                '400': {$ref: '#/components/responses/BadRequest'}
                '401': {$ref: '#/components/responses/Unauthorized'}
                '422': {$ref: '#/components/responses/Unprocessable'}
                '503': {$ref: '#/components/responses/Unavailable'}
          /users/{id}:
            parameters:
              - $ref: '#/components/parameters/UserID'
            get:
              operationId: getUser
              summary: A user.
              responses:
                '200': {$ref: '#/components/responses/User'}
                '401': {$ref: '#/components/responses/Unauthorized'}
                '404': {$ref: '#/components/responses/NotFound'}
                '503': {$ref: '#/components/responses/Unavailable'}
            patch:
              operationId: updateUser
              summary: Change a user's display name, e-mail address, or both, in one change.
              parameters:
                - $ref: '#/components/parameters/IfMatch'
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      $ref: '#/components/schemas/Update'
              responses:
                '200': {$ref: '#/components/responses/User'}
                '400': {$ref: '#/components/responses/BadRequest'}
                '401': {$ref: '#/components/responses/Unauthorized'}
                '404': {$ref: '#/components/responses/NotFound'}
                '409': {$ref: '#/components/responses/Conflict'}
                '412': {$ref: '#/components/responses/PreconditionFailed'}
                '413': {$ref: '#/components/responses/ContentTooLarge'}
                '415': {$ref: '#/components/responses/UnsupportedMediaType'}
                '422': {$ref: '#/components/responses/Unprocessable'}
                '428': {$ref: '#/components/responses/PreconditionRequired'}
                '503': {$ref: '#/components/responses/Unavailable'}
            delete:
              operationId: deleteUser
              summary: Delete a user; its e-mail address is free again.
              parameters:
                - $ref: '#/components/parameters/IfMatch'
              responses:
                '204':
                  description: Deleted.
                  headers:
                    Consistency-Token:
                      $ref: '#/components/headers/ConsistencyToken'
                    X-Request-ID:
                      $ref: '#/components/headers/XRequestID'
                '400': {$ref: '#/components/responses/BadRequest'}
                '401': {$ref: '#/components/responses/Unauthorized'}
                '404': {$ref: '#/components/responses/NotFound'}
                '409': {$ref: '#/components/responses/Conflict'}
                '412': {$ref: '#/components/responses/PreconditionFailed'}
                '428': {$ref: '#/components/responses/PreconditionRequired'}
                '503': {$ref: '#/components/responses/Unavailable'}
          /users/{id}/deactivate:
            parameters:
              - $ref: '#/components/parameters/UserID'
            post:
              operationId: deactivateUser
              summary: Deactivate a user; repeating it is a no-op.
              parameters:
                - $ref: '#/components/parameters/IfMatch'
              responses:
                '200': {$ref: '#/components/responses/User'}
                '400': {$ref: '#/components/responses/BadRequest'}
                '401': {$ref: '#/components/responses/Unauthorized'}
                '404': {$ref: '#/components/responses/NotFound'}
                '409': {$ref: '#/components/responses/Conflict'}
                '412': {$ref: '#/components/responses/PreconditionFailed'}
                '503': {$ref: '#/components/responses/Unavailable'}
          /users/{id}/reactivate:
            parameters:
              - $ref: '#/components/parameters/UserID'
            post:
              operationId: reactivateUser
              summary: Reactivate a user; repeating it is a no-op.
              parameters:
                - $ref: '#/components/parameters/IfMatch'
              responses:
                '200': {$ref: '#/components/responses/User'}
                '400': {$ref: '#/components/responses/BadRequest'}
                '401': {$ref: '#/components/responses/Unauthorized'}
                '404': {$ref: '#/components/responses/NotFound'}
                '409': {$ref: '#/components/responses/Conflict'}
                '412': {$ref: '#/components/responses/PreconditionFailed'}
                '503': {$ref: '#/components/responses/Unavailable'}
          /directory/users:
            get:
              operationId: searchDirectory
              summary: Search the user directory (the read model) by e-mail or display-name prefix, ignoring case.
              description: >-
                Eventually consistent with the write model; send the Consistency-Token of a write to wait until
                the directory includes it (503 with Retry-After when it does not in time).
              parameters:
                - name: prefix
                  in: query
                  schema: {type: string}
                - name: limit
                  in: query
                  schema: {type: integer, minimum: 1, maximum: 100, default: 20}
                - $ref: '#/components/parameters/ConsistencyToken'
              responses:
                '200':
                  description: Matching users, by display name then id.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [items]
                        properties:
                          items:
                            type: array
                            items: {$ref: '#/components/schemas/User'}
                '400': {$ref: '#/components/responses/BadRequest'}
                '401': {$ref: '#/components/responses/Unauthorized'}
                '503': {$ref: '#/components/responses/Unavailable'}
          /directory/stats:
            get:
              operationId: directoryStatistics
              summary: Counts of the user directory by status.
              parameters:
                - $ref: '#/components/parameters/ConsistencyToken'
              responses:
                '200':
                  description: The counts.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [active, deactivated, total]
                        properties:
                          active: {type: integer, minimum: 0}
                          deactivated: {type: integer, minimum: 0}
                          total: {type: integer, minimum: 0}
                '400': {$ref: '#/components/responses/BadRequest'}
                '401': {$ref: '#/components/responses/Unauthorized'}
                '503': {$ref: '#/components/responses/Unavailable'}
          /health/live:
            get:
              operationId: live
              summary: The process is up.
              security: [{}]
              responses:
                '200': {$ref: '#/components/responses/Health'}
          /health/ready:
            get:
              operationId: ready
              summary: The store can be reached.
              security: [{}]
              responses:
                '200': {$ref: '#/components/responses/Health'}
                '503': {$ref: '#/components/responses/Unavailable'}
          /metrics:
            get:
              operationId: metrics
              summary: Metrics in the Prometheus text format (served by `users serve`).
              responses:
                '200':
                  description: The metrics.
                  content:
                    text/plain:
                      schema: {type: string}
                '401': {$ref: '#/components/responses/Unauthorized'}
          /openapi.yaml:
            get:
              operationId: openAPIDocument
              summary: This document.
              security: [{}]
              responses:
                '200':
                  description: The OpenAPI document.
                  content:
                    application/yaml:
                      schema: {type: string}
        components:
          securitySchemes:
            bearerAuth:
              type: http
              scheme: bearer
          parameters:
            UserID:
              name: id
              in: path
              required: true
              description: The user's id; a value that is not a UUID names no user (404).
              schema: {type: string, format: uuid}
            IfMatch:
              name: If-Match
              in: header
              description: >-
                The ETag last read ("3"), a list of ETags ("3", "4": any of them), or * (any version of an existing
                user); the change is refused with 412 when the user is at none of them. The comparison is strong:
                a weak tag (W/"3") never matches. Without If-Match the change applies to the current version. A
                value that is not valid as sent is percent-decoded once (%223%22 is "3"), for clients that encode
                header values. Required (428 without it) when the server is configured to require it.
              schema: {type: string, pattern: '^(\*|[ \t]*(W/)?"[0-9]{1,18}"([ \t]*,[ \t]*(W/)?"[0-9]{1,18}")*[ \t]*)$'}
            ConsistencyToken:
              name: Consistency-Token
              in: header
              description: The Consistency-Token of a write; the read waits until the directory includes it.
              schema: {type: string, pattern: '^[1-9][0-9]{0,17}$'}
            IdempotencyKey:
              name: Idempotency-Key
              in: header
              description: >-
                1 to 255 characters, compared after percent-decoding (a%20b and "a b" are one key) and per caller
                (each bearer token has keys of its own). A retry with the same key and registration (the same
                fields, however the JSON is spelled) returns the first response; the same key with another
                registration is 422.
              schema: {type: string, minLength: 1, maxLength: 255}
          headers:
            ETag:
              description: The user's version as a strong ETag, e.g. "1".
              schema: {type: string}
            XRequestID:
              description: The request's id (the client's X-Request-ID, or a generated one).
              schema: {type: string}
            RetryAfter:
              description: Seconds to wait before retrying.
              schema: {type: string}
            ConsistencyToken:
              description: >-
                On a write that changed something: the position of its last event. Send it back on a directory
                read to read this write there.
              schema: {type: string, pattern: '^[0-9]+$'}
          schemas:
            User:
              type: object
              required: [id, email, displayName, status, version, createdAt, updatedAt]
              properties:
                id: {type: string, format: uuid}
                email:
                  type: string
                  description: The address as registered; lookups and uniqueness ignore letter case.
                displayName: {type: string}
                status: {type: string, enum: [active, deactivated]}
                version: {type: integer, minimum: 1}
                createdAt: {type: string, format: date-time}
                updatedAt: {type: string, format: date-time}
            Page:
              type: object
              required: [items, nextCursor]
              properties:
                items:
                  type: array
                  items: {$ref: '#/components/schemas/User'}
                nextCursor:
                  type: [string, 'null']
            Registration:
              type: object
              required: [email, displayName]
              properties:
                email:
                  type: string
                  description: >-
                    An e-mail address: one @, at most 254 octets of UTF-8, a dotted domain of letters, digits and
                    hyphens that IDNA accepts; surrounding white space is trimmed. Unique by its canonical form
                    (domain as IDNA A-labels, local part case-folded and NFKC-normalised), so another spelling of a
                    registered mailbox is 409. The pattern is necessary, not sufficient (422 otherwise).
                  pattern: '^\s*[^@\s]+@[^@\s]+\s*$'
                displayName:
                  type: string
                  description: >-
                    1 to 100 characters and at most 400 bytes of UTF-8 after trimming and NFC, no control characters
                    or line breaks (422 otherwise).
                  minLength: 1
            Update:
              type: object
              properties:
                email:
                  type: [string, 'null']
                  pattern: '^\s*[^@\s]+@[^@\s]+\s*$'
                displayName:
                  type: [string, 'null']
                  minLength: 1
            Problem:
              type: object
              required: [type, title, status, detail, instance]
              properties:
                type: {type: string, format: uri}
                title: {type: string}
                status: {type: integer}
                detail: {type: string}
                instance: {type: string}
                requestId: {type: string}
                errors:
                  type: array
                  items:
                    type: object
                    required: [field, code, detail]
                    properties:
                      field: {type: string}
                      code: {type: string}
                      detail: {type: string}
          responses:
            User:
              description: The user.
              headers:
                ETag:
                  $ref: '#/components/headers/ETag'
                Consistency-Token:
                  $ref: '#/components/headers/ConsistencyToken'
                X-Request-ID:
                  $ref: '#/components/headers/XRequestID'
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/User'
            Health:
              description: The check passed.
              content:
                application/json:
                  schema:
                    type: object
                    required: [status]
                    properties:
                      status: {type: string}
            BadRequest:
              description: Malformed JSON, a field of the wrong type, a bad limit, cursor, If-Match or Idempotency-Key.
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
            Unauthorized:
              description: A missing or unknown bearer token (only when the server has API tokens).
              headers:
                WWW-Authenticate:
                  description: Bearer.
                  schema: {type: string}
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
            NotFound:
              description: No user has this id.
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
            Conflict:
              description: >-
                The e-mail address is taken, the user changed meanwhile (without If-Match), the operation is not
                allowed in the user's status, or a request with the same Idempotency-Key is still running.
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
            PreconditionFailed:
              description: If-Match names a version the user no longer has.
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
            PreconditionRequired:
              description: The server requires If-Match and the request has none.
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
            ContentTooLarge:
              description: The body is larger than the server accepts (64 KiB by default).
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
            UnsupportedMediaType:
              description: The body is not application/json.
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
            Unprocessable:
              description: >-
                A field breaks a rule (errors lists each field), or an Idempotency-Key is reused with another registration.
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
            Unavailable:
              description: >-
                The store can't be reached right now, or the directory has not caught up with the Consistency-Token
                in time.
              headers:
                Retry-After:
                  $ref: '#/components/headers/RetryAfter'
              content:
                application/problem+json:
                  schema: {$ref: '#/components/schemas/Problem'}
        """#
}
