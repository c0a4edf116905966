"""The built-in trainers (registered by key in :data:`trainers.registry.BUILTIN`)."""
