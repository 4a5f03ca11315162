"""One module per REST resource. Each defines ``register(router: http.Router)`` to add its
routes (with their schemas, for the OpenAPI document) and may define ``setup(ctx)`` to
prepare state when the application starts. Modules are discovered by name: adding a
resource is adding a module here."""
