"""Background work: Dramatiq broker and actors, the scheduler tick, the delivery-platform client."""
