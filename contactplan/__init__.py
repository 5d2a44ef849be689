"""contactplan: wiring (settings, app factory, CLI, embedded services, DB init)."""
