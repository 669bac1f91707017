// `import UserHTTP` brings the HTTP plumbing its API is made of (`Problem`, `RequestIDMiddleware`,
// `UserRequestContext`, `HTTPConnectionLimits`, …), which lives in ServiceSupport, shared with the directory
// service.
@_exported public import ServiceSupport
